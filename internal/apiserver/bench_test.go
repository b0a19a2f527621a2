package apiserver

import (
	"fmt"
	"testing"

	"github.com/lodestone-bt/lodestone/api"
)

func BenchmarkDecodeRequest(b *testing.B) {
	frame := []byte(`{"id":"12345","method":"task.get","params":{"task_id":"0123456789abcdef0123456789abcdef01234567"}}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeRequest(frame); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeResponse(b *testing.B) {
	task := api.Task{TaskID: "0123456789abcdef0123456789abcdef01234567", Name: "debian-13.iso", Size: 700 << 20,
		Completed: 300 << 20, State: api.StateDownloading, AddedAt: "2026-11-27T08:00:00Z", Labels: []string{"linux"}}
	b.ReportAllocs()
	for b.Loop() {
		resultResponse("12345", task)
	}
}

// BenchmarkTaskListEncode10000 encodes a task.list result of 10,000 tasks,
// in full and with a two-field projection (the service's List is not
// included: see bench/apiscale for the whole round trip).
func BenchmarkTaskListEncode10000(b *testing.B) {
	tasks := make([]api.Task, 10000)
	for i := range tasks {
		tasks[i] = api.Task{TaskID: fmt.Sprintf("%040x", i), Name: fmt.Sprintf("t%05d.bin", i), Size: 20000 + int64(i),
			Completed: 20000, State: api.StateSeeding, AddedAt: "2026-11-27T08:00:00.123456789Z", ETASeconds: -1,
			Pieces: 2, PieceSize: 16 << 10, Labels: []string{}, DownloadDir: "/srv/downloads"}
	}
	for _, bc := range []struct {
		name   string
		fields []string
	}{{"full", nil}, {"projected", []string{"name", "state"}}} {
		b.Run(bc.name, func(b *testing.B) {
			sel := allTaskFields
			if bc.fields != nil {
				sel, _ = fieldSelection(bc.fields)
			}
			b.ReportAllocs()
			for b.Loop() {
				out := resultResponse("1", encoded(appendTaskList(make([]byte, 0, 16+len(tasks)*taskSizeHint(sel)), tasks, sel)))
				b.SetBytes(int64(len(out)))
			}
		})
	}
}
