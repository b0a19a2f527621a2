package main

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/internal/cluster"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
)

// clusterKeys are the cluster flags' keys in the [cluster] table, as
// docs/CLUSTER.md and the issue name them.
var clusterKeys = map[string]string{
	"cluster": "url", "cluster-embedded": "embedded", "node-id": "node_id", "cluster-name": "name",
	"cluster-user": "user", "cluster-password": "password", "cluster-creds": "creds",
	"cluster-tls-ca": "tls_ca", "cluster-tls-cert": "tls_cert", "cluster-tls-key": "tls_key",
	"cluster-client-addr": "client_addr", "cluster-listen": "listen", "cluster-routes": "routes",
	"max-tasks": "max_tasks", "cluster-failover-after": "failover_after",
}

// settleCluster settles serve's configuration of args, env and the file
// text (none when ""), and returns its cluster.Config.
func settleCluster(t *testing.T, args []string, env map[string]string, file string) (*settled, error) {
	t.Helper()
	dir := t.TempDir()
	if env == nil {
		env = map[string]string{}
	}
	env["HOME"] = dir // no user's file
	if file != "" {
		path := filepath.Join(dir, "config.toml")
		if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append([]string{"--config", path}, args...)
	}
	return settle(args, envMap(env), io.Discard)
}

// Every cluster flag, its variable and its [cluster] key reach
// daemon.Config.Cluster; a flag beats the variable, which beats the file.
func TestClusterFlagsReachConfig(t *testing.T) {
	want := cluster.Config{
		URLs: []string{"nats://10.0.0.1:4222", "nats://10.0.0.2:4222", "nats://10.0.0.3:4222"}, NodeID: "node-a", Name: "seedboxes",
		User: "lode", Password: "s3cret", TLSCA: "/etc/ca.pem", TLSCert: "/etc/c.pem", TLSKey: "/etc/k.pem",
		ClientAddr: cluster.DefaultClientAddr, MaxTasks: 500, FailoverAfter: 45 * time.Second,
	}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		file string
	}{
		{name: "flags", args: []string{"--cluster", "nats://10.0.0.1:4222,nats://10.0.0.2:4222", "--cluster", "nats://10.0.0.3:4222",
			"--node-id", "node-a", "--cluster-name", "seedboxes", "--cluster-user", "lode", "--cluster-password", "s3cret",
			"--cluster-tls-ca", "/etc/ca.pem", "--cluster-tls-cert", "/etc/c.pem", "--cluster-tls-key", "/etc/k.pem",
			"--max-tasks", "500", "--cluster-failover-after", "45s"}},
		{name: "environment", env: map[string]string{
			"LODESTONE_CLUSTER_URL": "nats://10.0.0.1:4222, nats://10.0.0.2:4222,nats://10.0.0.3:4222", "LODESTONE_CLUSTER_NODE_ID": "node-a",
			"LODESTONE_CLUSTER_NAME": "seedboxes", "LODESTONE_CLUSTER_USER": "lode", "LODESTONE_CLUSTER_PASSWORD": "s3cret",
			"LODESTONE_CLUSTER_TLS_CA": "/etc/ca.pem", "LODESTONE_CLUSTER_TLS_CERT": "/etc/c.pem", "LODESTONE_CLUSTER_TLS_KEY": "/etc/k.pem",
			"LODESTONE_CLUSTER_MAX_TASKS": "500", "LODESTONE_CLUSTER_FAILOVER_AFTER": "45s"}},
		{name: "file", file: `[cluster]
url = ["nats://10.0.0.1:4222", "nats://10.0.0.2:4222", "nats://10.0.0.3:4222"]
node_id = "node-a"
name = "seedboxes"
user = "lode"
password = "s3cret"
tls_ca = "/etc/ca.pem"
tls_cert = "/etc/c.pem"
tls_key = "/etc/k.pem"
max_tasks = 500
failover_after = "45s"
`},
		// The file's password and node id are overridden.
		{name: "flag over env over file", args: []string{"--node-id", "node-a"},
			env: map[string]string{"LODESTONE_CLUSTER_PASSWORD": "s3cret", "LODESTONE_CLUSTER_NODE_ID": "node-b"},
			file: `[cluster]
url = ["nats://10.0.0.1:4222", "nats://10.0.0.2:4222", "nats://10.0.0.3:4222"]
node_id = "node-c"
name = "seedboxes"
user = "lode"
password = "from-the-file"
tls_ca = "/etc/ca.pem"
tls_cert = "/etc/c.pem"
tls_key = "/etc/k.pem"
max_tasks = 500
failover_after = "45s"
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := settleCluster(t, tt.args, tt.env, tt.file)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(s.cfg.Cluster, want) {
				t.Errorf("cluster config:\n got %+v\nwant %+v", s.cfg.Cluster, want)
			}
			if !s.cfg.Cluster.Enabled() {
				t.Error("not enabled")
			}
			if err := s.cfg.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}

// The embedded server's flags, and the defaults: without any cluster flag
// the daemon is not in a cluster.
func TestClusterEmbeddedFlags(t *testing.T) {
	s, err := settleCluster(t, nil, nil, `[cluster]
embedded = true
node_id = "a"
creds = "/etc/lodestone/nats.creds"
client_addr = "127.0.0.1:4222"
listen = "127.0.0.1:6222"
routes = ["127.0.0.2:6222", "127.0.0.3:6222"]
`)
	if err != nil {
		t.Fatal(err)
	}
	want := cluster.Config{Embedded: true, NodeID: "a", Name: cluster.DefaultName, CredsFile: "/etc/lodestone/nats.creds",
		ClientAddr: "127.0.0.1:4222", Listen: "127.0.0.1:6222", Routes: []string{"127.0.0.2:6222", "127.0.0.3:6222"},
		FailoverAfter: cluster.DefaultFailoverAfter}
	if !reflect.DeepEqual(s.cfg.Cluster, want) {
		t.Errorf("cluster config:\n got %+v\nwant %+v", s.cfg.Cluster, want)
	}
	if err := s.cfg.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	s, err = settleCluster(t, []string{"--cluster-embedded", "--cluster-routes", "127.0.0.2:6222,127.0.0.3:6222", "--cluster-listen", "127.0.0.1:6222"}, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if c := s.cfg.Cluster; !c.Embedded || c.Listen != "127.0.0.1:6222" || !reflect.DeepEqual(c.Routes, []string{"127.0.0.2:6222", "127.0.0.3:6222"}) {
		t.Errorf("embedded flags: %+v", c)
	}
	s, err = settleCluster(t, nil, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if s.cfg.Cluster.Enabled() {
		t.Errorf("no cluster flag, yet in a cluster: %+v", s.cfg.Cluster)
	}
}

// A bad value is refused with the check's or cluster.Config.Validate's
// words: by settle for a value that is wrong by itself (a file's with its
// line), by Validate for values that do not go together.
func TestClusterFlagErrors(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		file     string
		settle   string // part of settle's error; "" if settle passes
		validate string // part of Validate's error
	}{
		{name: "url without a scheme", args: []string{"--cluster", "127.0.0.1:4222"}, settle: "--cluster: want a URL such as nats://127.0.0.1:4222"},
		{name: "route without a port", args: []string{"--cluster-embedded", "--cluster-listen", "127.0.0.1:6222", "--cluster-routes", "127.0.0.2"},
			settle: "--cluster-routes: address 127.0.0.2: missing port in address"},
		{name: "file route without a port", file: "[cluster]\nembedded = true\nlisten = \"127.0.0.1:6222\"\nroutes = [\"x\"]\n", settle: ":4: key cluster.routes: address x: missing port"},
		{name: "file max_tasks a string", file: "[cluster]\nmax_tasks = \"many\"\n", settle: ":2: key cluster.max_tasks: want an integer, not a string"},
		{name: "bad failover duration", args: []string{"--cluster-failover-after", "soon"}, settle: "invalid value"},
		{name: "bad node id", args: []string{"--cluster-embedded", "--node-id", "node a"}, validate: `node-id "node a": use 1 to 64 letters, digits, '-' or '_'`},
		{name: "both kinds", args: []string{"--cluster-embedded", "--cluster", "nats://127.0.0.1:4222"}, validate: "give --cluster (external NATS) or --cluster-embedded, not both"},
		{name: "failover too short", args: []string{"--cluster-embedded", "--cluster-failover-after", "1s"}, validate: "cluster-failover-after 1s: want at least 3s"},
		{name: "negative max-tasks", args: []string{"--cluster-embedded", "--max-tasks", "-1"}, validate: "max-tasks -1: want 0 (no limit) or more"},
		{name: "user without password", args: []string{"--cluster-embedded", "--cluster-user", "u"}, validate: "cluster-user and cluster-password go together"},
		{name: "routes outside a cluster", args: []string{"--cluster-listen", "127.0.0.1:6222"}, validate: "cluster-listen and cluster-routes need --cluster-embedded"},
		{name: "routes without listen", args: []string{"--cluster-embedded", "--cluster-routes", "127.0.0.2:6222"}, validate: "cluster-routes needs cluster-listen"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := settleCluster(t, tt.args, nil, tt.file)
			if tt.settle != "" {
				if err == nil || !strings.Contains(err.Error(), tt.settle) {
					t.Fatalf("settle: %v, want an error with %q", err, tt.settle)
				}
				return
			}
			if err != nil {
				t.Fatalf("settle: %v", err)
			}
			if err := s.cfg.Validate(); err == nil || !strings.Contains(err.Error(), tt.validate) {
				t.Errorf("Validate: %v, want an error with %q", err, tt.validate)
			}
		})
	}
}

// `config show` never prints the cluster password, nor a password in a
// NATS URL, and says where each came from; `config check` refuses a bad
// cluster configuration with Validate's words.
func TestConfigShowMasksClusterSecrets(t *testing.T) {
	dir := t.TempDir()
	env := envMap(map[string]string{"HOME": dir, "LODESTONE_CLUSTER_PASSWORD": "pw-Zq3u8Lw0"})
	path := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(path, []byte("[cluster]\nurl = [\"nats://lode:url-Xk9Tq@127.0.0.1:4222\", \"tls://127.0.0.2:4222\"]\nuser = \"lode\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := runConfig([]string{"show", path}, env, &out, &errb); code != 0 {
		t.Fatalf("show: %d %s", code, errb.String())
	}
	for _, secret := range []string{"pw-Zq3u8Lw0", "url-Xk9Tq"} {
		if strings.Contains(out.String(), secret) {
			t.Errorf("show prints the secret %q:\n%s", secret, out.String())
		}
	}
	for _, want := range []string{
		"\n[cluster]\n",
		`password = "xxxxx"  # env LODESTONE_CLUSTER_PASSWORD`,
		`url = ["nats://lode:xxxxx@127.0.0.1:4222", "tls://127.0.0.2:4222"]  # file ` + path + ":2",
		`user = "lode"  # file ` + path + ":3",
		`failover_after = "30s"  # default`,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("show lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	errb.Reset()
	if code := runConfig([]string{"check", "--node-id", "a.b", path}, env, &out, &errb); code != 1 || !strings.Contains(errb.String(), `node-id "a.b"`) {
		t.Errorf("check of a bad node id: %d %q", code, errb.String())
	}
}

// serve refuses a bad cluster configuration before it starts anything,
// with cluster.Config.Validate's words and without showing the password.
func TestServeRefusesBadClusterConfig(t *testing.T) {
	bin := daemontest.Binary(t)
	dirs := daemontest.NewDirs(t)
	path := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(path, []byte(serveConfig(dirs, "[cluster]\nembedded = true\nnode_id = \"a b\"\nfailover_after = \"1s\"\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "--config", path)
	cmd.Env = append(os.Environ(), "LODESTONE_CLUSTER_PASSWORD=pw-Zq3u8Lw0")
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
		t.Fatalf("serve with a bad cluster config: %v\n%s", err, out)
	}
	for _, want := range []string{`node-id "a b": use 1 to 64 letters, digits, '-' or '_'`, "cluster-failover-after 1s: want at least 3s", "cluster-user and cluster-password go together"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("serve's error lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "pw-Zq3u8Lw0") {
		t.Errorf("serve's error shows the password:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(dirs.Data, "cluster")); err == nil {
		t.Error("the cluster store was made: the node started")
	}
}
