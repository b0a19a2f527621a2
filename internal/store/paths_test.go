package store

import (
	"errors"
	"slices"
	"testing"
)

// A task's paths are reserved with its record: a colliding path of
// another task (the same file, a folder of it, a file in it) refuses the
// write whole and names the holder; removing the task frees them; the
// files of a task removed without its data are known as left by it.
func TestPathReservations(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutTaskPaths(Task{ID: "aa"}, []string{"/dl/shared.bin", "/dl/Photos/IMG_0001.jpg"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path, held string
	}{
		{"/dl/shared.bin", "/dl/shared.bin"},                                   // the same file
		{"/dl/Photos", "/dl/Photos/IMG_0001.jpg"},                              // a file where its folder is
		{"/dl/shared.bin/x", "/dl/shared.bin"},                                 // a file inside its file
		{"/dl/Photos/IMG_0001.jpg/../IMG_0001.jpg", "/dl/Photos/IMG_0001.jpg"}, // spelled otherwise
	} {
		err := s.PutTaskPaths(Task{ID: "bb"}, []string{"/dl/other.bin", c.path})
		var pc *PathConflictError
		if !errors.As(err, &pc) || !errors.Is(err, ErrPathConflict) || pc.TaskID != "aa" || pc.Held != c.held {
			t.Fatalf("reserving %s: %v, want a conflict with aa's %s", c.path, err, c.held)
		}
	}
	if ts, _ := s.Tasks(); len(ts) != 1 {
		t.Fatalf("a refused reservation stored its task: %d tasks", len(ts))
	}
	// A folder may be shared by files that differ.
	if err := s.PutTaskPaths(Task{ID: "bb"}, []string{"/dl/Photos/IMG_0002.jpg"}); err != nil {
		t.Fatalf("a different file in the same folder: %v", err)
	}
	// Moving bb onto aa's file is refused, leaving bb as it was.
	err = s.UpdateTaskPaths("bb", []string{"/dl/shared.bin"}, func(r *Task) { r.DownloadDir = "/elsewhere" })
	if !errors.Is(err, ErrPathConflict) {
		t.Fatalf("UpdateTaskPaths onto a held path: %v", err)
	}
	if p, ok, _ := s.TaskPaths("bb"); !ok || !slices.Equal(p, []string{"/dl/Photos/IMG_0002.jpg"}) {
		t.Fatalf("bb's paths after a refused update: %v %v", p, ok)
	}
	if err := s.DeleteTask("aa"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.TaskPaths("aa"); ok {
		t.Fatal("a removed task still has paths")
	}
	if err := s.UpdateTaskPaths("bb", []string{"/dl/shared.bin"}, nil); err != nil {
		t.Fatalf("a path freed by a removal: %v", err)
	}
	if err := s.DeleteTaskLeaving("bb"); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, err := s.LeftBy("bb", []string{"/dl/shared.bin", "/dl/Photos/IMG_0002.jpg"}); err != nil || !slices.Equal(got, []string{"/dl/shared.bin"}) {
		t.Fatalf("LeftBy(bb) after a reopen: %v %v, want [/dl/shared.bin]", got, err)
	}
	if got, _ := s.LeftBy("cc", []string{"/dl/shared.bin"}); got != nil {
		t.Fatalf("LeftBy(cc): %v, want none", got)
	}
	// Reserved again by anyone, the path is no longer left.
	if err := s.PutTaskPaths(Task{ID: "cc"}, []string{"/dl/shared.bin"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.LeftBy("bb", []string{"/dl/shared.bin"}); got != nil {
		t.Fatalf("LeftBy(bb) after cc reserved it: %v", got)
	}
}
