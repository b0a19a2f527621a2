package api

// Cluster mode (issue 20, docs/CLUSTER.md): many nodes behind one API on
// NATS JetStream. Every method and event below exists on every daemon; a
// daemon not in a cluster answers cluster.status with Enabled false and
// refuses cluster.drain with CodeNotClustered.

// Cluster methods.
const (
	// MethodClusterStatus lists the cluster's nodes, live or not.
	MethodClusterStatus = "cluster.status"
	// MethodClusterDrain stops placing tasks on a node and moves its
	// tasks to the others (ClusterDrainParams.Drain false undoes it).
	MethodClusterDrain = "cluster.drain"
)

// Cluster events.
const (
	// EventTaskMoved: a task was placed again on another node (its node
	// died or was drained). It starts there again from the swarm.
	EventTaskMoved = "task.moved"
	// EventClusterNode: a node joined, left, died, or its drain flag
	// changed, as this daemon's membership saw it.
	EventClusterNode = "cluster.node"
)

// States of a node in ClusterNode.State and ClusterNodeData.State.
const (
	NodeStateLive     = "live"
	NodeStateDraining = "draining"
	// NodeStateDown: the node holds tasks in the cluster's task list but
	// sends no heartbeat.
	NodeStateDown = "down"
)

// ClusterInfo is ServerInfo.Cluster: present only in cluster mode.
type ClusterInfo struct {
	// Name is the cluster's name (serve --cluster-name).
	Name string `json:"name"`
	// Node is this daemon's node id (serve --node-id).
	Node string `json:"node"`
}

// ClusterStatusResult is the result of cluster.status.
type ClusterStatusResult struct {
	// Enabled is false for a daemon not in a cluster; the other fields
	// are then empty.
	Enabled bool `json:"enabled"`
	// Name is the cluster's name, Node the id of the node that answered.
	Name string `json:"name,omitempty"`
	Node string `json:"node,omitempty"`
	// Connected says the answering node reaches NATS; while false it
	// refuses commands with CodeClusterUnavailable.
	Connected bool `json:"connected"`
	// FailoverSeconds is the failover time in force
	// (--cluster-failover-after).
	FailoverSeconds int64 `json:"failover_seconds"`
	// Tasks is the number of tasks in the cluster's task list.
	Tasks int `json:"tasks"`
	// Nodes are the live nodes and those down but still holding tasks,
	// sorted by id.
	Nodes []ClusterNode `json:"nodes"`
}

// ClusterNode is one node in ClusterStatusResult.
type ClusterNode struct {
	ID string `json:"id"`
	// State is NodeStateLive, NodeStateDraining or NodeStateDown.
	State string `json:"state"`
	// APIURL is the node's WebSocket API URL.
	APIURL  string `json:"api_url"`
	Version string `json:"version"`
	// FreeDisk is the free space, in bytes, where the node's tasks' data
	// goes.
	FreeDisk uint64 `json:"free_disk"`
	// Tasks is how many tasks the cluster's task list places on the
	// node; MaxTasks its --max-tasks (0: no limit).
	Tasks    int `json:"tasks"`
	MaxTasks int `json:"max_tasks"`
	// DownloadRate and UploadRate are the node's totals, bytes per
	// second, as of its last heartbeat.
	DownloadRate int64 `json:"download_rate"`
	UploadRate   int64 `json:"upload_rate"`
	// LastHeartbeat is when the node last beat, RFC 3339 UTC, by the
	// node's clock; absent for a node that is down.
	LastHeartbeat string `json:"last_heartbeat,omitempty"`
}

// ClusterDrainParams are the params of cluster.drain.
type ClusterDrainParams struct {
	// Node is the node's id.
	Node string `json:"node"`
	// Drain false clears the flag (new tasks may be placed there again;
	// tasks moved away stay where they are). Absent means true.
	Drain *bool `json:"drain,omitempty"`
}

// ClusterDrainResult is the result of cluster.drain.
type ClusterDrainResult struct {
	Node     string `json:"node"`
	Draining bool   `json:"draining"`
	// Moving is how many tasks the node held when the flag was set: they
	// are placed on the other nodes (task.moved events follow).
	Moving int `json:"moving"`
}

// TaskMovedData is the data of task.moved.
type TaskMovedData struct {
	TaskID string `json:"task_id"`
	// From and To are node ids.
	From string `json:"from"`
	To   string `json:"to"`
	// Reason is "node_down" or "drained".
	Reason string `json:"reason"`
	// Generation counts the task's placements, from 1.
	Generation uint64 `json:"generation"`
}

// ClusterNodeData is the data of cluster.node.
type ClusterNodeData struct {
	Node string `json:"node"`
	// State is NodeStateLive, NodeStateDraining or NodeStateDown.
	State string `json:"state"`
}
