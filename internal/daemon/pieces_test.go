package daemon_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/bits"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

func onesIn(b []byte) int {
	n := 0
	for _, x := range b {
		n += bits.OnesCount8(x)
	}
	return n
}

func TestTaskPieces(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.Content{Name: "pieces.bin", Size: 1_000_001, Seed: 62, PieceLength: 32 << 10})
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{}, tr)
	d := daemontest.Start(t, daemontest.Options{})
	c := d.Client(t)
	ctx := ctxT(t, 60*time.Second)

	var ae *api.Error
	if _, _, err := c.TaskPieces(ctx, "0000000000000000000000000000000000000001"); !errors.As(err, &ae) || ae.Code != api.CodeTaskNotFound {
		t.Fatalf("task.pieces of an unknown task: %v, want 202", err)
	}
	res := addMagnet(t, c, tr.Magnet([]string{seeder.Addr}))
	waitEvent(t, c, api.EventTaskFinished, 60*time.Second, forTask(res.TaskID))
	n, have, err := c.TaskPieces(ctx, res.TaskID)
	if err != nil {
		t.Fatal(err)
	}
	const want = (1_000_001 + 32<<10 - 1) / (32 << 10) // 31 pieces
	if n != want || len(have) != (want+7)/8 || onesIn(have) != want {
		t.Fatalf("task.pieces after finish = %d pieces, %d bytes, %d set; want %d, %d, %d", n, len(have), onesIn(have), want, (want+7)/8, want)
	}
	if have[len(have)-1]&(1<<(8-want%8)-1) != 0 {
		t.Errorf("bits past the last piece are set: %08b", have[len(have)-1])
	}
}

func TestTaskPiecesPaused(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.Content{Name: "nothing.bin", Size: 200_000, Seed: 63, PieceLength: 16 << 10})
	d := daemontest.Start(t, daemontest.Options{})
	c := d.Client(t)
	ctx := ctxT(t, 30*time.Second)
	res, err := c.AddTask(ctx, api.TaskAddParams{Type: api.TaskTypeTorrent, Data: base64.StdEncoding.EncodeToString(tr.MetaInfo), Paused: true})
	if err != nil {
		t.Fatal(err)
	}
	n, have, err := c.TaskPieces(ctx, res.TaskID)
	if err != nil {
		t.Fatal(err)
	}
	if n != 13 || len(have) != 2 || onesIn(have) != 0 {
		t.Errorf("task.pieces of a task with no data = %d pieces, %x; want 13 pieces, none set", n, have)
	}
}

func TestSessionStatsEvent(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.Content{Name: "live.bin", Size: 3_000_000, Seed: 64})
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{}, tr)
	d := daemontest.Start(t, daemontest.Options{})
	c := d.Client(t)
	ctx := ctxT(t, 60*time.Second)
	if err := c.Subscribe(ctx, api.EventTaskFinished, api.EventTaskProgress, api.EventSessionStats); err != nil {
		t.Fatal(err)
	}
	res := addMagnet(t, c, tr.Magnet([]string{seeder.Addr}))
	// Published every second, whatever happens: one that counts the
	// finished download comes within a few.
	ev := waitEvent(t, c, api.EventSessionStats, 60*time.Second, func(raw json.RawMessage) bool {
		var st api.SessionStats
		return json.Unmarshal(raw, &st) == nil && st.Tasks == 1 && st.TasksByState[api.StateSeeding] == 1 && st.Downloaded >= 3_000_000
	})
	if st := decode[api.SessionStats](t, ev.Data); st.FreeDiskBytes <= 0 || len(st.TasksByState) != 1 || ev.ID == "" {
		t.Errorf("session.stats event %s = %+v, want an id, free disk space and one task's state", ev.ID, st)
	}
	task, err := c.GetTask(ctx, res.TaskID)
	if err != nil {
		t.Fatal(err)
	}
	if task.Downloaded < 3_000_000 {
		t.Errorf("downloaded = %d after finishing", task.Downloaded)
	}
}
