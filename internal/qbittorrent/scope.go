package qbittorrent

import "github.com/lodestone-bt/lodestone/api"

// adminRoutes change the daemon rather than tasks: its settings, global
// limits, categories (which are the WebSocket API's category.set and
// category.remove), and shutting it down. They need an admin credential.
var adminRoutes = map[string]bool{
	"app/setPreferences":             true,
	"app/shutdown":                   true,
	"transfer/toggleSpeedLimitsMode": true,
	"transfer/setSpeedLimitsMode":    true,
	"transfer/setDownloadLimit":      true,
	"transfer/setUploadLimit":        true,
	"torrents/createCategory":        true,
	"torrents/editCategory":          true,
	"torrents/removeCategories":      true,
}

// routeScope is the scope an API key needs for route name: reads (every
// route that changes nothing) are read, changes of tasks control, and
// adminRoutes admin. auth/logout is anyone's.
func routeScope(name string, rt route) api.Scope {
	switch {
	case name == "auth/logout" || !rt.change:
		return api.ScopeRead
	case adminRoutes[name]:
		return api.ScopeAdmin
	}
	return api.ScopeControl
}
