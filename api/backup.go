package api

// BackupPath is the HTTP path of the daemon's backup (GET, admin scope):
// a tar of the data dir's store, taken consistently while the daemon
// runs. With the query with_token=true it holds the API token too. See
// docs/API.md and docs/OPERATIONS.md.
const BackupPath = "/backup"
