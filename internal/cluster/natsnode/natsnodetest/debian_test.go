package natsnodetest

import (
	"slices"
	"testing"
)

// The leftover check sees a running server by its config path, and a
// killed or stopped one is gone from it; a server comes back on its port
// after Kill and after Stop.
func TestDebianProcessLifecycle(t *testing.T) {
	d := DebianCluster(t, 1, DebianOptions{User: "u", Password: "p w\"d"}) // a password that needs quoting
	pid := func() int {
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.procs[0].cmd.Process.Pid
	}
	if got := processesUsing(d.dir); !slices.Equal(got, []int{pid()}) {
		t.Fatalf("processes using the cluster dir %v, want [%d]", got, pid())
	}
	d.Kill(0)
	if got := processesUsing(d.dir); len(got) != 0 {
		t.Fatalf("after Kill, processes %v", got)
	}
	d.Start(0)
	d.Stop(0)
	if got := processesUsing(d.dir); len(got) != 0 {
		t.Fatalf("after Stop, processes %v", got)
	}
	d.Start(0)
	if got := processesUsing(d.dir); !slices.Equal(got, []int{pid()}) {
		t.Fatalf("after Start, processes %v, want [%d]", got, pid())
	}
}
