package apiserver

import (
	"errors"
	"testing"

	"github.com/lodestone-bt/lodestone/api"
)

// A select must say what it selects (acting on every task takes an
// explicit all), with a known state, and never beside a task_id: these are
// refused as invalid params before any task is looked at, and the single
// function is never called. (What valid selects select is TestBulk's, in
// internal/daemon, against real tasks.)
func TestBulkRefusesBadSelects(t *testing.T) {
	s := &Server{} // no service: a refused select must not reach it
	for _, tc := range []struct {
		name string
		id   string
		sel  *api.TaskSelect
	}{
		{"empty", "", &api.TaskSelect{}},
		{"empty task_ids", "", &api.TaskSelect{TaskIDs: []string{}}},
		{"unknown state", "", &api.TaskSelect{State: "asleep"}},
		{"task_id and select", "abc", &api.TaskSelect{All: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			called := false
			res, err := s.bulk(tc.id, tc.sel, func(string) (any, error) { called = true; return api.Empty{}, nil })
			if !errors.Is(err, errInvalidParams) || res != nil || called {
				t.Errorf("bulk = %v, %v (single called: %v), want invalid params", res, err, called)
			}
			if code, msg := errorCode(err); code != api.CodeInvalidParams || msg == "" {
				t.Errorf("code %d %q", code, msg)
			}
		})
	}
	// Without select, the single-task form: single's own answer.
	want := errors.New("single")
	if _, err := s.bulk("abc", nil, func(id string) (any, error) {
		if id != "abc" {
			t.Errorf("single called with %q", id)
		}
		return nil, want
	}); err != want {
		t.Errorf("task_id form: %v, want single's error", err)
	}
}
