//go:build !unix

package connguard

// fileLimit is unknown here.
func fileLimit() (uint64, bool) { return 0, false }

// outOfFiles recognises no error here: accept errors go to http.Server.
func outOfFiles(error) bool { return false }
