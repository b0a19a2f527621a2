package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/apiserver"
	"github.com/lodestone-bt/lodestone/internal/cluster"
	"github.com/lodestone-bt/lodestone/internal/cluster/membership"
	"github.com/lodestone-bt/lodestone/internal/service"
	"github.com/lodestone-bt/lodestone/internal/version"
)

// joinTimeout bounds how long New waits to join the cluster: an embedded
// server whose peers are all down waits for them that long, then the
// daemon does not start (a node alone could diverge).
const joinTimeout = 5 * time.Minute

// joinCluster joins the cluster of cfg.Cluster, if any, once the API
// listens (its URL goes into the heartbeats) and before the guard is
// made (the token may be the cluster's).
func (d *Daemon) joinCluster() error {
	if !d.cfg.Cluster.Enabled() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), joinTimeout)
	defer cancel()
	d.log.Info("joining the cluster", "cluster", d.cfg.Cluster.WithDefaults().Name, "node", d.cfg.Cluster.WithDefaults().NodeID)
	node, err := cluster.Start(ctx, d.cfg.Cluster, cluster.Deps{
		DataDir: d.cfg.DataDir, APIURL: d.APIURL(), Version: version.Get().Version,
		Token: d.token, TokenGiven: d.cfg.Token != "",
		Logger: d.log,
	})
	if err != nil {
		return err
	}
	d.cluster = node
	if tok := node.Token(); tok != d.token {
		// A generated token gives way to the cluster's; the token file
		// follows, so the CLI and `lodestone wait` still find it.
		if err := writeTokenFile(d.cfg.DataDir, tok); err != nil {
			return err
		}
		d.log.Info("this node uses the cluster's API token", "token_file", filepath.Join(d.cfg.DataDir, TokenFile))
		d.token = tok
	}
	return nil
}

// runCluster starts the node's work that needs the daemon's parts.
func (d *Daemon) runCluster() error {
	if d.cluster == nil {
		return nil
	}
	return d.cluster.Run(cluster.Local{
		Call:     d.api.Call,
		Identify: d.svc.Identify,
		Tasks:    func() []api.Task { return d.svc.List(service.ListFilter{}) },
		Status: func() membership.Status {
			st := d.svc.Stats()
			free, _, _ := d.svc.DiskSpace(d.cfg.DownloadDir)
			return membership.Status{FreeDisk: uint64(max(free, 0)), DownloadRate: st.DownloadRate, UploadRate: st.UploadRate}
		},
		Hub:      d.hub,
		Settings: d.store,
	})
}

// addClusterMethods adds cluster.status and cluster.drain for a daemon
// not in a cluster (in one, the cluster's router answers them first).
func (d *Daemon) addClusterMethods(methods map[string]apiserver.Handler) {
	methods[api.MethodClusterStatus] = apiserver.Method(func(context.Context, struct{}) (api.ClusterStatusResult, error) {
		return api.ClusterStatusResult{Nodes: []api.ClusterNode{}}, nil
	})
	methods[api.MethodClusterDrain] = apiserver.Method(func(context.Context, api.ClusterDrainParams) (api.ClusterDrainResult, error) {
		return api.ClusterDrainResult{}, &api.Error{Code: api.CodeNotClustered, Message: "this daemon is not in a cluster (serve --cluster or --cluster-embedded)"}
	})
}

// writeTokenFile replaces the data dir's token file.
func writeTokenFile(dataDir, tok string) error {
	path := filepath.Join(dataDir, TokenFile)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(tok+"\n"), 0o600); err != nil {
		return fmt.Errorf("write token: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write token: %w", err)
	}
	return nil
}

// clusterNodeID is this daemon's node id in its cluster; "" for a daemon
// not in one.
func clusterNodeID(cfg Config) string {
	if !cfg.Cluster.Enabled() {
		return ""
	}
	return cfg.Cluster.WithDefaults().NodeID
}
