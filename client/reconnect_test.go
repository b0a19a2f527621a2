package client_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/client"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// cutter is a TCP proxy on loopback whose connections the test can cut,
// and which can refuse new ones for a while: a network blip.
type cutter struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	conns []net.Conn
	down  bool
}

func newCutter(t *testing.T, target string) *cutter {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutter{ln: ln, target: target}
	t.Cleanup(func() { ln.Close(); p.cut() })
	go p.serve()
	return p
}

func (p *cutter) serve() {
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			in.Close()
			continue
		}
		out, err := net.Dial("tcp", p.target)
		if err != nil {
			in.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, in, out)
		p.mu.Unlock()
		go func() { io.Copy(out, in); out.Close() }()
		go func() { io.Copy(in, out); in.Close() }()
	}
}

// cut drops every connection and refuses new ones until up.
func (p *cutter) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *cutter) up() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}

// A reconnecting client gets every event exactly once across a dropped
// connection, including the task.finished events of tasks that finished
// while it was away, and keeps its subscription.
func TestReconnectReplaysMissedEvents(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	proxy := newCutter(t, d.APIAddr())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := client.DialOptions(ctx, "ws://"+proxy.ln.Addr().String()+"/ws", daemontest.Token, client.Options{Reconnect: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Subscribe(ctx, api.EventTaskAdded, api.EventTaskFinished); err != nil {
		t.Fatal(err)
	}
	direct := d.Client(t) // a second client that sees everything
	trs := []*enginetest.Torrent{
		enginetest.Generate(t, enginetest.Content{Name: "c1.bin", Size: 200_000, Seed: 1}),
		enginetest.Generate(t, enginetest.Content{Name: "c2.bin", Size: 300_000, Seed: 2}),
		enginetest.Generate(t, enginetest.Content{Name: "c3.bin", Size: 100_000, Seed: 3}),
	}
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{}, trs...)
	add := func(tr *enginetest.Torrent) string {
		res, err := direct.AddTask(ctx, api.TaskAddParams{Type: api.TaskTypeMagnet, Data: tr.Magnet([]string{seeder.Addr})})
		if err != nil {
			t.Fatal(err)
		}
		return res.TaskID
	}
	var got []api.Event
	next := func() api.Event {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				t.Fatalf("events closed: %v", c.Err())
			}
			got = append(got, ev)
			return ev
		case <-ctx.Done():
			t.Fatalf("timed out; got %d events", len(got))
		}
		return api.Event{}
	}
	id1 := add(trs[0])
	for len(got) < 2 { // added, finished
		next()
	}

	// The blip: tasks 2 and 3 are added and finish while c is cut off.
	proxy.cut()
	id2, id3 := add(trs[1]), add(trs[2])
	finished := map[string]bool{}
	for len(finished) < 2 {
		select {
		case ev := <-direct.Events():
			if ev.Name == api.EventTaskFinished {
				var fd api.TaskFinishedData
				json.Unmarshal(ev.Data, &fd)
				finished[fd.TaskID] = true
			}
		case <-ctx.Done():
			t.Fatal("tasks did not finish")
		}
	}
	proxy.up()
	for len(got) < 6 {
		next()
	}
	// Nothing more, and nothing twice.
	select {
	case ev := <-c.Events():
		t.Fatalf("extra event %s %s", ev.Name, ev.Data)
	case <-time.After(time.Second):
	}
	seen := map[string]bool{}
	count := map[string]int{}
	var last uint64
	for _, ev := range got {
		if seen[ev.ID] {
			t.Fatalf("event %s delivered twice", ev.ID)
		}
		seen[ev.ID] = true
		var d struct {
			TaskID string `json:"task_id"`
		}
		json.Unmarshal(ev.Data, &d)
		count[ev.Name+" "+d.TaskID]++
		var seq uint64
		json.Unmarshal([]byte(ev.ID), &seq)
		if seq <= last {
			t.Errorf("event ids out of order: %v", got)
		}
		last = seq
		if ev.Name != api.EventTaskAdded && ev.Name != api.EventTaskFinished {
			t.Errorf("unsubscribed event %s after reconnect", ev.Name)
		}
	}
	for _, id := range []string{id1, id2, id3} {
		if count[api.EventTaskAdded+" "+id] != 1 || count[api.EventTaskFinished+" "+id] != 1 {
			t.Errorf("task %s: events %v", id, count)
		}
	}
	if c.Reconnects() != 1 {
		t.Errorf("reconnected %d times, want 1", c.Reconnects())
	}
	// Calls work on the new connection.
	if _, err := c.ListTasks(ctx); err != nil {
		t.Fatal(err)
	}
}
