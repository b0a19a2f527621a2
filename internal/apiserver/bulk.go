package apiserver

import (
	"fmt"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/service"
)

// bulk answers a call that may carry task_id or select: with task_id it
// is single(id), answered as today; with select it runs single on every
// task selected, one after another, and answers a TaskBulkResult. A
// task's failure is its entry's, not the call's: the others still run.
func (s *Server) bulk(id string, sel *api.TaskSelect, single func(id string) (any, error)) (any, error) {
	if sel == nil {
		return single(id)
	}
	if id != "" {
		return nil, fmt.Errorf("%w: give task_id or select, not both", errInvalidParams)
	}
	ids, err := s.selectTasks(sel)
	if err != nil {
		return nil, err
	}
	res := api.TaskBulkResult{Results: make([]api.TaskBulkItem, 0, len(ids))}
	for _, tid := range ids {
		item := api.TaskBulkItem{TaskID: tid}
		if _, err := single(tid); err != nil {
			item.Error, item.Message = errorCode(err)
		}
		res.Results = append(res.Results, item)
	}
	return res, nil
}

// selectTasks returns the ids of the tasks sel selects: those of
// sel.TaskIDs (in order, once each; unknown ones too, so that their
// entries say so) that pass its other criteria, or else every task passing
// them, oldest first.
func (s *Server) selectTasks(sel *api.TaskSelect) ([]string, error) {
	if len(sel.TaskIDs) == 0 && sel.Label == "" && sel.Category == "" && sel.State == "" && !sel.All {
		return nil, fmt.Errorf("%w: select needs at least one of task_ids, label, category, state, or all: true", errInvalidParams)
	}
	if sel.State != "" && !validState(sel.State) {
		return nil, fmt.Errorf("%w: unknown state %q", errInvalidParams, sel.State)
	}
	tasks := s.svc.List(service.ListFilter{State: sel.State, Label: sel.Label, Category: sel.Category})
	if len(sel.TaskIDs) == 0 {
		ids := make([]string, len(tasks))
		for i, t := range tasks {
			ids[i] = t.TaskID
		}
		return ids, nil
	}
	passing := make(map[string]bool, len(tasks))
	for _, t := range tasks {
		passing[t.TaskID] = true
	}
	ids := make([]string, 0, len(sel.TaskIDs))
	seen := make(map[string]bool, len(sel.TaskIDs))
	for _, tid := range sel.TaskIDs {
		if seen[tid] {
			continue
		}
		seen[tid] = true
		if passing[tid] {
			ids = append(ids, tid)
			continue
		}
		// Not passing: either no such task (its entry says so) or one
		// the other criteria leave out.
		if _, err := s.svc.Get(tid); err != nil {
			ids = append(ids, tid)
		}
	}
	return ids, nil
}
