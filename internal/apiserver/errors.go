package apiserver

import (
	"errors"
	"fmt"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/events"
	"github.com/lodestone-bt/lodestone/internal/service"
)

// Errors of the server's own checks of a request, before or beside the
// service. errorCode maps them, like the service's, to wire codes.
var (
	errParse          = errors.New("parse error")
	errInvalidRequest = errors.New("invalid request")
	errUnknownMethod  = errors.New("unknown method")
	errInvalidParams  = errors.New("invalid params")
	errShuttingDown   = errors.New("daemon is shutting down")
)

// checkError is a failed check whose message is sent as it is, without
// the text of the sentinel it unwraps to.
type checkError struct {
	kind error
	msg  string
}

func (e *checkError) Error() string { return e.msg }
func (e *checkError) Unwrap() error { return e.kind }

// refuse returns a checkError of kind with a formatted message.
func refuse(kind error, format string, args ...any) error {
	return &checkError{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// errorCode is the one mapping of a Go error to the wire: it returns the
// error's code and the message sent with it. An error it does not know is
// CodeInternal.
func errorCode(err error) (api.Code, string) {
	var ae *api.Error
	switch {
	case errors.As(err, &ae):
		// Methods served beside the service's (Config.Methods) say their
		// code themselves.
		return ae.Code, ae.Message
	case errors.Is(err, errParse):
		return api.CodeParseError, err.Error()
	case errors.Is(err, errInvalidRequest):
		return api.CodeInvalidRequest, err.Error()
	case errors.Is(err, errUnknownMethod):
		return api.CodeUnknownMethod, err.Error()
	case errors.Is(err, errInvalidParams), errors.Is(err, service.ErrInvalidParams), errors.Is(err, service.ErrUnsafePath):
		return api.CodeInvalidParams, err.Error()
	case errors.Is(err, service.ErrBadTorrent):
		return api.CodeBadTorrent, err.Error()
	case errors.Is(err, service.ErrBadMagnet):
		return api.CodeBadMagnet, err.Error()
	case errors.Is(err, service.ErrUnsupported):
		return api.CodeUnsupported, err.Error()
	case errors.Is(err, service.ErrTaskNotFound):
		return api.CodeTaskNotFound, err.Error()
	case errors.Is(err, service.ErrFetch):
		return api.CodeFetchFailed, err.Error()
	case errors.Is(err, service.ErrNoSpace):
		return api.CodeNoSpace, err.Error()
	case errors.Is(err, service.ErrPathConflict):
		return api.CodePathConflict, err.Error()
	case errors.Is(err, service.ErrNoSuchCategory):
		return api.CodeNoSuchCategory, err.Error()
	case errors.Is(err, service.ErrTaskState):
		return api.CodeTaskState, err.Error()
	case errors.Is(err, errShuttingDown), errors.Is(err, service.ErrClosed), errors.Is(err, events.ErrClosed):
		return api.CodeUnavailable, errShuttingDown.Error()
	}
	return api.CodeInternal, "internal error: " + err.Error()
}
