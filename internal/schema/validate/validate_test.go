package validate

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/lodestone-bt/lodestone/api"
)

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The validator accepts what the daemon sends and refuses what the schema
// does not describe: an unknown field, a string for a number, a missing
// field, a state that does not exist, both task_id and select.
func TestValidatorRefusesWhatTheSchemaDoesNotDescribe(t *testing.T) {
	v, err := New()
	if err != nil {
		t.Fatal(err)
	}
	task := mustJSON(t, api.Task{TaskID: "0123456789abcdef0123456789abcdef01234567", Name: "x", State: api.StatePaused, Labels: []string{}, AddedAt: "2026-12-07T05:00:00Z"})
	stripped := strings.TrimSuffix(task, "}")
	type frame struct {
		name, method, frame string
		ok                  bool
	}
	responses := []frame{
		{"task", api.MethodTaskGet, `{"id":"1","error":0,"result":` + task + `}`, true},
		{"unknown field in task", api.MethodTaskGet, `{"id":"1","error":0,"result":` + stripped + `,"bogus":1}}`, false},
		{"string for a number", api.MethodTaskGet, `{"id":"1","error":0,"result":` + strings.Replace(task, `"size":0`, `"size":"0"`, 1) + `}`, false},
		{"missing field", api.MethodTaskGet, `{"id":"1","error":0,"result":` + strings.Replace(task, `"size":0,`, ``, 1) + `}`, false},
		{"no such state", api.MethodTaskGet, `{"id":"1","error":0,"result":` + strings.Replace(task, `"paused"`, `"sleeping"`, 1) + `}`, false},
		{"null labels", api.MethodTaskGet, `{"id":"1","error":0,"result":` + strings.Replace(task, `"labels":[]`, `"labels":null`, 1) + `}`, false},
		{"another method's result", api.MethodTaskFiles, `{"id":"1","error":0,"result":` + task + `}`, false},
		{"partial tasks in a list", api.MethodTaskList, `{"id":"1","error":0,"result":{"tasks":[{"task_id":"ab","name":"x"}]}}`, true},
		{"partial task without its id", api.MethodTaskList, `{"id":"1","error":0,"result":{"tasks":[{"name":"x"}]}}`, false},
		{"unknown field in a partial task", api.MethodTaskList, `{"id":"1","error":0,"result":{"tasks":[{"task_id":"ab","nmae":"x"}]}}`, false},
		{"bulk result", api.MethodTaskPause, `{"id":"1","error":0,"result":{"results":[{"task_id":"ab","error":202,"message":"no such task"},{"task_id":"cd","error":0}]}}`, true},
		{"single result of a bulk method", api.MethodTaskPause, `{"id":"1","error":0,"result":{}}`, true},
		{"bulk item with an unknown code", api.MethodTaskPause, `{"id":"1","error":0,"result":{"results":[{"task_id":"ab","error":999}]}}`, false},
		{"error", api.MethodTaskGet, `{"id":"1","error":202,"message":"no task","result":null}`, true},
		{"error with a result", api.MethodTaskGet, `{"id":"1","error":202,"message":"no task","result":{}}`, false},
		{"error of no code", api.MethodTaskGet, `{"id":"1","error":7,"message":"?","result":null}`, false},
		{"success with a message", api.MethodSessionGet, `{"id":"1","error":0,"message":"hm","result":{}}`, false},
	}
	for _, tc := range responses {
		t.Run("response/"+tc.name, func(t *testing.T) {
			err := v.Response(tc.method, []byte(tc.frame))
			if (err == nil) != tc.ok {
				t.Errorf("Response(%s, %s) = %v; want valid=%v", tc.method, tc.frame, err, tc.ok)
			}
		})
	}
	requests := []frame{
		{"add", "", `{"id":"1","method":"task.add","params":{"type":"magnet","data":"magnet:?"}}`, true},
		{"add without data", "", `{"id":"1","method":"task.add","params":{"type":"magnet"}}`, false},
		{"add with a misspelt field", "", `{"id":"1","method":"task.add","params":{"type":"magnet","data":"m","pasued":true}}`, false},
		{"pause one", "", `{"id":"1","method":"task.pause","params":{"task_id":"ab"}}`, true},
		{"pause a select (as the Go client sends it)", "", `{"id":"1","method":"task.pause","params":{"task_id":"","select":{"all":true}}}`, true},
		{"pause a select", "", `{"id":"1","method":"task.pause","params":{"select":{"label":"x"}}}`, true},
		{"pause with both", "", `{"id":"1","method":"task.pause","params":{"task_id":"ab","select":{"all":true}}}`, false},
		{"pause with neither", "", `{"id":"1","method":"task.pause","params":{}}`, false},
		{"files with select", "", `{"id":"1","method":"task.files","params":{"task_id":"ab","select":{"all":true}}}`, false},
		{"info with null params", "", `{"id":"1","method":"server.info","params":null}`, true},
		{"info without params", "", `{"id":"1","method":"server.info"}`, true},
		{"set file priorities", "", `{"id":"1","method":"task.set","params":{"task_id":"ab","file_priorities":{"0":"skip","12":"high"}}}`, true},
		{"set file priorities by name", "", `{"id":"1","method":"task.set","params":{"task_id":"ab","file_priorities":{"a":"skip"}}}`, false},
		{"unknown method", "", `{"id":"1","method":"task.explode","params":{}}`, false},
		{"preview a saved rule", "", `{"id":"1","method":"rss.preview","params":{"rule":"tv"}}`, true},
		{"preview an unsaved rule", "", `{"id":"1","method":"rss.preview","params":{"rule":{"name":"x","include":"foo"}}}`, true},
		{"preview a rule of a number", "", `{"id":"1","method":"rss.preview","params":{"rule":7}}`, false},
		{"preview a rule with a misspelt field", "", `{"id":"1","method":"rss.preview","params":{"rule":{"name":"x","inclde":"foo"}}}`, false},
	}
	for _, tc := range requests {
		t.Run("request/"+tc.name, func(t *testing.T) {
			_, _, err := v.Request([]byte(tc.frame))
			if (err == nil) != tc.ok {
				t.Errorf("Request(%s) = %v; want valid=%v", tc.frame, err, tc.ok)
			}
		})
	}
	events := []frame{
		{"state", "", `{"id":"12","name":"task.state","data":{"task_id":"ab","from":"paused","to":"downloading"}}`, true},
		{"state to nowhere", "", `{"id":"12","name":"task.state","data":{"task_id":"ab","from":"paused","to":"away"}}`, false},
		{"id not a number", "", `{"id":"x","name":"task.state","data":{"task_id":"ab","from":"paused","to":"seeding"}}`, false},
		{"stats by state", "", `{"id":"13","name":"session.stats","data":{"download_rate":0,"upload_rate":0,"downloaded":0,"uploaded":0,"tasks":1,"tasks_by_state":{"paused":1},"free_disk_bytes":5}}`, true},
		{"stats by no state", "", `{"id":"13","name":"session.stats","data":{"download_rate":0,"upload_rate":0,"downloaded":0,"uploaded":0,"tasks":1,"tasks_by_state":{"napping":1},"free_disk_bytes":5}}`, false},
		{"unknown event", "", `{"id":"14","name":"task.exploded","data":{}}`, false},
	}
	for _, tc := range events {
		t.Run("event/"+tc.name, func(t *testing.T) {
			err := v.Event([]byte(tc.frame))
			if (err == nil) != tc.ok {
				t.Errorf("Event(%s) = %v; want valid=%v", tc.frame, err, tc.ok)
			}
		})
	}
}

// A connection's responses are validated by the method of the request
// with their id, and a deliberately broken raw request is not validated
// though its answer is.
func TestConnMatchesResponsesToRequests(t *testing.T) {
	v, err := New()
	if err != nil {
		t.Fatal(err)
	}
	c := v.Conn()
	c.Sent([]byte(`{"id":"7","method":"task.pieces","params":{"task_id":"ab"}}`))
	c.Sent([]byte(`{"id":"8","method":"task.export","params":{"task_id":"ab"}}`))
	// Answered out of order: each by its own method.
	if err := c.Received([]byte(`{"id":"8","error":0,"result":{"torrent":"ZA=="}}`)); err != nil {
		t.Errorf("export's answer: %v", err)
	}
	if err := c.Received([]byte(`{"id":"7","error":0,"result":{"torrent":"ZA=="}}`)); err == nil {
		t.Error("task.pieces answered with an export result: valid")
	}
	c.SentRaw([]byte(`{"id":"9","method":"task.get","params":{}}`))
	if err := c.Received([]byte(`{"id":"9","error":103,"message":"task_id is required","result":null}`)); err != nil {
		t.Errorf("the error answer to a raw request: %v", err)
	}
	if err := c.Received([]byte(`{"id":"","error":100,"message":"not JSON","result":null}`)); err != nil {
		t.Errorf("a parse error's answer: %v", err)
	}
	if err := c.Received([]byte(`{"id":"99","error":0,"result":{}}`)); err == nil {
		t.Error("an answer to no request: valid")
	}
	// A request the schema refuses is fine when the daemon refuses it
	// too, and an error when the daemon accepts it.
	c.Sent([]byte(`{"id":"10","method":"task.pause","params":{"task_id":"ab","select":{"all":true}}}`))
	if err := c.Received([]byte(`{"id":"10","error":103,"message":"give task_id or select, not both","result":null}`)); err != nil {
		t.Errorf("refusal of an invalid request: %v", err)
	}
	c.Sent([]byte(`{"id":"11","method":"task.pause","params":{"task_id":"ab","select":{"all":true}}}`))
	if err := c.Received([]byte(`{"id":"11","error":0,"result":{}}`)); err == nil || !strings.Contains(err.Error(), "accepted a request the schema refuses") {
		t.Errorf("success answering an invalid request: %v", err)
	}
}
