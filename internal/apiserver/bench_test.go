package apiserver

import (
	"testing"

	"github.com/lodestone-bt/lodestone/api"
)

func BenchmarkDecodeRequest(b *testing.B) {
	frame := []byte(`{"id":"12345","method":"task.get","params":{"task_id":"0123456789abcdef0123456789abcdef01234567"}}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, code, _ := decodeRequest(frame); code != api.CodeOK {
			b.Fatal(code)
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
