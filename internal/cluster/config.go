// Package cluster joins a daemon to a Lodestone cluster on NATS JetStream
// (issue 20, docs/CLUSTER.md). It composes the parts under it: a node's
// NATS (natsnode), its seat and the live list (membership), the durable
// commands and the event stream (bus), the cluster's task list (tasklist),
// reads between nodes (rpc), the event forwarding (eventfeed) and the
// shared credentials (keyring). It places tasks, routes API calls to the
// task's node, reconciles the node's own tasks with the task list, and
// moves the tasks of a dead or drained node to the others.
package cluster

import (
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"strings"
	"time"
)

// Defaults of Config.
const (
	DefaultName          = "lodestone"
	DefaultFailoverAfter = 30 * time.Second
	DefaultClientAddr    = "127.0.0.1:0"
)

// Config is a daemon's cluster configuration (serve's --cluster* flags and
// the config file's [cluster] table). The zero value is a daemon not in a
// cluster.
type Config struct {
	// URLs are external NATS servers (--cluster nats://HOST:4222,…).
	URLs []string
	// Embedded runs a NATS server with JetStream in the daemon
	// (--cluster-embedded).
	Embedded bool
	// NodeID is this node's id (--node-id); empty means the host name,
	// cleaned to a subject token.
	NodeID string
	// Name is the cluster's name (--cluster-name); empty means
	// DefaultName. A node refuses to join a cluster of another name.
	Name string
	// User and Password authenticate to NATS (--cluster-user,
	// --cluster-password or LODESTONE_CLUSTER_PASSWORD); the embedded
	// server requires them of clients and routes when set.
	User, Password string
	// CredsFile is a NATS creds file (--cluster-creds).
	CredsFile string
	// TLSCA, TLSCert and TLSKey turn on TLS to NATS (--cluster-tls-ca,
	// --cluster-tls-cert, --cluster-tls-key).
	TLSCA, TLSCert, TLSKey string
	// ClientAddr is the embedded server's client address
	// (--cluster-client-addr); empty means DefaultClientAddr.
	ClientAddr string
	// Listen is the embedded server's route address (--cluster-listen);
	// empty means a server of one, with no routes.
	Listen string
	// Routes are the other embedded servers' route addresses
	// (--cluster-routes).
	Routes []string
	// MaxTasks caps the tasks placed on this node (--max-tasks); 0 means
	// no limit.
	MaxTasks int
	// FailoverAfter is how long a node may be silent before its tasks are
	// placed elsewhere (--cluster-failover-after); zero means
	// DefaultFailoverAfter.
	FailoverAfter time.Duration
}

// Enabled reports whether the daemon is in a cluster.
func (c Config) Enabled() bool { return len(c.URLs) > 0 || c.Embedded }

// nodeIDPattern is a NATS subject token that is also readable in a path.
var nodeIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// WithDefaults returns c with its empty fields set: the node id from the
// host name, the cluster name, the client address and the failover time.
func (c Config) WithDefaults() Config {
	if c.NodeID == "" {
		c.NodeID = DefaultNodeID()
	}
	if c.Name == "" {
		c.Name = DefaultName
	}
	if c.ClientAddr == "" {
		c.ClientAddr = DefaultClientAddr
	}
	if c.FailoverAfter == 0 {
		c.FailoverAfter = DefaultFailoverAfter
	}
	return c
}

// DefaultNodeID is the host name with every character that cannot be in a
// node id replaced by '-', or "node" without one.
func DefaultNodeID() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "node"
	}
	h, _, _ = strings.Cut(h, ".")
	b := []byte(h)
	for i, ch := range b {
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '_' || ch == '-') {
			b[i] = '-'
		}
	}
	if len(b) > 64 {
		b = b[:64]
	}
	return string(b)
}

// Validate reports every mistake in an enabled configuration (after
// WithDefaults); a disabled one is valid whatever its other fields say,
// except flags that only make sense in a cluster.
func (c Config) Validate() error {
	var errs []error
	if !c.Enabled() {
		if c.Listen != "" || len(c.Routes) > 0 {
			errs = append(errs, errors.New("cluster-listen and cluster-routes need --cluster-embedded"))
		}
		return errors.Join(errs...)
	}
	if len(c.URLs) > 0 && c.Embedded {
		errs = append(errs, errors.New("give --cluster (external NATS) or --cluster-embedded, not both"))
	}
	if !nodeIDPattern.MatchString(c.NodeID) {
		errs = append(errs, fmt.Errorf("node-id %q: use 1 to 64 letters, digits, '-' or '_'", c.NodeID))
	}
	if !nodeIDPattern.MatchString(c.Name) {
		errs = append(errs, fmt.Errorf("cluster-name %q: use 1 to 64 letters, digits, '-' or '_'", c.Name))
	}
	for _, u := range c.URLs {
		if !strings.Contains(u, "://") {
			errs = append(errs, fmt.Errorf("cluster %q: want a URL such as nats://127.0.0.1:4222", u))
		}
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("cluster-tls-cert and cluster-tls-key go together"))
	}
	if c.CredsFile != "" && c.User != "" {
		errs = append(errs, errors.New("give cluster-creds or cluster-user, not both"))
	}
	if (c.User == "") != (c.Password == "") {
		errs = append(errs, errors.New("cluster-user and cluster-password go together"))
	}
	if c.Embedded {
		if _, _, err := net.SplitHostPort(c.ClientAddr); err != nil {
			errs = append(errs, fmt.Errorf("cluster-client-addr %q: %w", c.ClientAddr, err))
		}
		if c.Listen != "" {
			if _, _, err := net.SplitHostPort(c.Listen); err != nil {
				errs = append(errs, fmt.Errorf("cluster-listen %q: %w", c.Listen, err))
			}
		}
		if len(c.Routes) > 0 && c.Listen == "" {
			errs = append(errs, errors.New("cluster-routes needs cluster-listen (this server's own route address)"))
		}
	} else if c.Listen != "" || len(c.Routes) > 0 || c.ClientAddr != DefaultClientAddr && c.ClientAddr != "" {
		errs = append(errs, errors.New("cluster-listen, cluster-routes and cluster-client-addr are for --cluster-embedded"))
	}
	if c.MaxTasks < 0 {
		errs = append(errs, fmt.Errorf("max-tasks %d: want 0 (no limit) or more", c.MaxTasks))
	}
	if c.FailoverAfter < 3*time.Second {
		errs = append(errs, fmt.Errorf("cluster-failover-after %s: want at least 3s (heartbeats go every third of it)", c.FailoverAfter))
	}
	return errors.Join(errs...)
}
