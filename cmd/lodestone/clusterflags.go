package main

import (
	"flag"
	"fmt"
	"strings"

	"github.com/lodestone-bt/lodestone/internal/cluster"
)

// addClusterFlags adds cluster mode's flags (issue 20, docs/CLUSTER.md)
// to serve's set, bound to c. Their keys are the config file's [cluster]
// table (internal/config's tableKeys). The defaults are cluster.Config's,
// written out so that `config init` and the man page show them; the node
// id's, the host name, is left empty since it differs per machine.
func addClusterFlags(fs *flag.FlagSet, c *cluster.Config) {
	fs.Var(commaListOf(&c.URLs), "cluster", "join a cluster through these external NATS servers: nats://HOST:4222, comma-separated (repeatable; a password in a URL is masked as --cluster-password is); see docs/CLUSTER.md")
	fs.BoolVar(&c.Embedded, "cluster-embedded", false, "join a cluster through a NATS server with JetStream run inside this daemon (its store in <data dir>/cluster/nats); with --cluster-listen and --cluster-routes the nodes' servers form one NATS cluster")
	fs.StringVar(&c.NodeID, "node-id", "", "this node's id in the cluster: 1 to 64 letters, digits, '-' or '_' (default: the host name, other characters as '-')")
	fs.StringVar(&c.Name, "cluster-name", cluster.DefaultName, "the cluster's name: a node refuses to join a cluster of another name")
	fs.StringVar(&c.User, "cluster-user", "", "user name to authenticate to NATS (with --cluster-password); the embedded server requires it of clients and routes")
	fs.StringVar(&c.Password, "cluster-password", "", "password of --cluster-user (default: $LODESTONE_CLUSTER_PASSWORD; on the command line every local user sees it in ps)")
	fs.StringVar(&c.CredsFile, "cluster-creds", "", "NATS credentials file (JWT and seed) to authenticate with, instead of --cluster-user")
	fs.StringVar(&c.TLSCA, "cluster-tls-ca", "", "PEM CA certificate to verify the NATS servers with (turns on TLS)")
	fs.StringVar(&c.TLSCert, "cluster-tls-cert", "", "PEM client certificate for NATS (with --cluster-tls-key)")
	fs.StringVar(&c.TLSKey, "cluster-tls-key", "", "PEM private key of --cluster-tls-cert")
	fs.StringVar(&c.ClientAddr, "cluster-client-addr", cluster.DefaultClientAddr, "with --cluster-embedded: the embedded NATS server's client address (port 0: any free port)")
	fs.StringVar(&c.Listen, "cluster-listen", "", "with --cluster-embedded: the embedded NATS server's route address, host:port, where the other nodes' servers connect (default: none, a server of one)")
	fs.Var(commaListOf(&c.Routes), "cluster-routes", "with --cluster-listen: the other nodes' route addresses, host:port, comma-separated (repeatable)")
	fs.IntVar(&c.MaxTasks, "max-tasks", 0, "place at most this many of the cluster's tasks on this node (0: no limit)")
	fs.DurationVar(&c.FailoverAfter, "cluster-failover-after", cluster.DefaultFailoverAfter, "how long a node may send no heartbeat before its tasks are placed on the other nodes (3s at least)")
}

// clusterChecks are serveChecks' checks of the cluster flags' values;
// the checks across them are cluster.Config.Validate's.
func clusterChecks() map[string]func(string) error {
	return map[string]func(string) error{
		"cluster":             natsURL,
		"cluster-client-addr": hostPort,
		"cluster-listen":      hostPort,
		"cluster-routes":      hostPort,
	}
}

// natsURL checks a NATS server URL. It never shows the value: it may
// hold a password.
func natsURL(s string) error {
	if !strings.Contains(s, "://") {
		return fmt.Errorf("want a URL such as nats://127.0.0.1:4222")
	}
	return nil
}

// commaList is a string list flag of comma-separated values, repeatable:
// each value's items are appended, blank ones skipped.
type commaList struct{ p *[]string }

func commaListOf(p *[]string) *commaList { return &commaList{p: p} }

func (l *commaList) String() string {
	if l == nil || l.p == nil {
		return ""
	}
	return strings.Join(*l.p, ",")
}

func (l *commaList) Get() any { return *l.p }

func (l *commaList) Set(v string) error {
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			*l.p = append(*l.p, item)
		}
	}
	return nil
}
