package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
)

// cluster status's text: the header line, the lost-NATS line, and a row
// per node with "-" for no limit and no heartbeat; a node id with a
// terminal escape is sanitized.
func TestWriteClusterStatus(t *testing.T) {
	beat := "2026-12-07T08:18:56Z"
	at, _ := time.Parse(time.RFC3339, beat)
	local := at.Local().Format("2006-01-02 15:04:05")
	var out bytes.Buffer
	e := &env{stdout: &out}
	err := writeClusterStatus(e, api.ClusterStatusResult{Enabled: true, Name: "seedboxes", Node: "b", Connected: false, FailoverSeconds: 90, Tasks: 1,
		Nodes: []api.ClusterNode{
			{ID: "a", State: api.NodeStateLive, FreeDisk: 812514983936, Tasks: 1, DownloadRate: 11534336, UploadRate: 786432, LastHeartbeat: beat},
			{ID: "b", State: api.NodeStateDraining, FreeDisk: 1 << 30, MaxTasks: 500, LastHeartbeat: beat},
			{ID: "c\x1b[2J", State: api.NodeStateDown, Tasks: 0},
		}})
	if err != nil {
		t.Fatal(err)
	}
	want := "cluster seedboxes, answered by b, failover after 1m30s, 1 task\n" +
		"b has lost NATS: it refuses cluster work until it is back, and may show an old view\n" +
		"NODE   STATE     TASKS  MAX  FREE       DOWN        UP           HEARTBEAT\n" +
		"a      live      1      -    756.7 GiB  11.0 MiB/s  768.0 KiB/s  " + local + "\n" +
		"b      draining  0      500  1.0 GiB    0 B/s       0 B/s        " + local + "\n" +
		"c\uFFFD[2J  down      0      -    0 B        0 B/s       0 B/s        -\n"
	if out.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", out.String(), want)
	}
	out.Reset()
	if err := writeClusterStatus(e, api.ClusterStatusResult{Nodes: []api.ClusterNode{}}); err != nil || out.String() != "not in a cluster\n" {
		t.Errorf("not in a cluster: %q %v", out.String(), err)
	}
}

// ls's table has a NODE column after STATE only when a task has a node.
func TestWriteTableNodeColumn(t *testing.T) {
	tasks := []api.Task{
		{TaskID: "0123456789abcdef0123456789abcdef01234567", Name: "one", Size: 10, State: api.StatePaused, Node: "a", Labels: []string{}},
		{TaskID: "89abcdef0123456789abcdef0123456789abcdef", Name: "two", Size: 10, State: api.StatePaused, Labels: []string{}},
	}
	var out bytes.Buffer
	if err := writeTable(&out, tasks, nil); err != nil {
		t.Fatal(err)
	}
	l := strings.Split(out.String(), "\n")
	if !strings.HasPrefix(l[0], "ID        NAME  SIZE  DONE  STATE   NODE  DOWN") ||
		!strings.HasPrefix(l[1], "01234567  one   10 B  0.0%  paused  a     0 B/s") ||
		!strings.HasPrefix(l[2], "89abcdef  two   10 B  0.0%  paused  -     0 B/s") {
		t.Errorf("with a node:\n%s", out.String())
	}
	out.Reset()
	tasks[0].Node = ""
	if err := writeTable(&out, tasks, nil); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "NODE") || !strings.HasPrefix(out.String(), "ID        NAME  SIZE  DONE  STATE   DOWN") {
		t.Errorf("without a node:\n%s", out.String())
	}
}
