package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/events"
	"github.com/lodestone-bt/lodestone/internal/service"
)

// The codes and messages are the wire's: the daemon's golden transcripts
// pin them end to end, this test pins errorCode alone.
func TestErrorCode(t *testing.T) {
	badParams := func() error {
		_, err := method(func(context.Context, api.TaskIDParams) (api.Empty, error) {
			return api.Empty{}, nil
		})(context.Background(), nil, json.RawMessage(`{"task_id":7}`))
		return err
	}()
	for _, tc := range []struct {
		err  error
		code api.Code
		msg  string
	}{
		{refuse(errParse, "message is not valid JSON"), api.CodeParseError, "message is not valid JSON"},
		{refuse(errInvalidRequest, `"id" is required`), api.CodeInvalidRequest, `"id" is required`},
		{refuse(errUnknownMethod, "unknown method %q", "x.y"), api.CodeUnknownMethod, `unknown method "x.y"`},
		{badParams, api.CodeInvalidParams, `invalid params: field "task_id" must be of type string, not number`},
		{fmt.Errorf("%w: unknown state %q", errInvalidParams, "x"), api.CodeInvalidParams, `invalid params: unknown state "x"`},
		{fmt.Errorf("%w: no task_id", service.ErrInvalidParams), api.CodeInvalidParams, "invalid params: no task_id"},
		{fmt.Errorf("task ab: %w", service.ErrTaskNotFound), api.CodeTaskNotFound, "task ab: task not found"},
		{fmt.Errorf("add: %w", service.ErrTaskState), api.CodeTaskState, "add: task state does not allow this"},
		{errShuttingDown, api.CodeUnavailable, "daemon is shutting down"},
		{fmt.Errorf("list: %w", service.ErrClosed), api.CodeUnavailable, "daemon is shutting down"},
		{fmt.Errorf("replay: %w", events.ErrClosed), api.CodeUnavailable, "daemon is shutting down"},
		{fmt.Errorf("watch: %w", &api.Error{Code: api.CodeNoSuchWatch, Message: "no watched folder /x"}), api.CodeNoSuchWatch, "no watched folder /x"},
		{errors.New("disk on fire"), api.CodeInternal, "internal error: disk on fire"},
	} {
		code, msg := errorCode(tc.err)
		if code != tc.code || msg != tc.msg {
			t.Errorf("errorCode(%v) = %d %q, want %d %q", tc.err, code, msg, tc.code, tc.msg)
		}
	}
}

func TestDecodeRequestErrors(t *testing.T) {
	for frame, want := range map[string]string{
		`{`:                                  `{"id":"","error":100,"message":"message is not valid JSON","result":null}`,
		`[]`:                                 `{"id":"","error":101,"message":"message must be a JSON object {id, method, params}","result":null}`,
		`{"method":"x"}`:                     `{"id":"","error":101,"message":"\"id\" is required","result":null}`,
		`{"id":null,"method":"x"}`:           `{"id":"","error":101,"message":"\"id\" must be a string","result":null}`,
		`{"id":"a"}`:                         `{"id":"a","error":101,"message":"\"method\" is required","result":null}`,
		`{"id":"a","method":""}`:             `{"id":"a","error":101,"message":"\"method\" must be a non-empty string","result":null}`,
		`{"id":"a","method":"m","params":1}`: `{"id":"a","error":103,"message":"\"params\" must be an object","result":null}`,
	} {
		req, err := decodeRequest([]byte(frame))
		if err == nil {
			t.Errorf("%s: accepted", frame)
			continue
		}
		if got := string(errorResponse(req.ID, err)); got != want {
			t.Errorf("%s:\n got %s\nwant %s", frame, got, want)
		}
	}
}
