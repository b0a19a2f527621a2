// Package validate checks WebSocket API frames against the API's schema
// (the AsyncAPI document package schema embeds): requests by their method,
// responses by the method of the request they answer (failures against
// the error response), events by their name. The daemon's tests run every
// frame of their clients through it (daemontest), so a message the schema
// does not describe fails the test.
package validate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/schema"
	"github.com/lodestone-bt/lodestone/internal/schema/gen"
)

// docURL names the document for the compiler; nothing is fetched.
const docURL = "https://schema.lodestone.invalid/asyncapi.json"

// Validator holds the compiled schema of every message. It is safe for
// concurrent use.
type Validator struct {
	requests  map[string]*jsonschema.Schema // by method
	responses map[string]*jsonschema.Schema // by method
	events    map[string]*jsonschema.Schema // by event name
	failure   *jsonschema.Schema            // the error response
}

// New compiles the embedded document's message schemas.
func New() (*Validator, error) {
	return Compile(schema.JSON())
}

// Compile compiles the message schemas of an AsyncAPI document made by
// package gen.
func Compile(document []byte) (*Validator, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(document))
	if err != nil {
		return nil, fmt.Errorf("parse schema: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft7)
	if err := c.AddResource(docURL, doc); err != nil {
		return nil, fmt.Errorf("load schema: %w", err)
	}
	compile := func(key string) (*jsonschema.Schema, error) {
		s, err := c.Compile(docURL + "#/components/messages/" + key + "/payload")
		if err != nil {
			return nil, fmt.Errorf("compile %s: %w", key, err)
		}
		return s, nil
	}
	v := &Validator{requests: map[string]*jsonschema.Schema{}, responses: map[string]*jsonschema.Schema{}, events: map[string]*jsonschema.Schema{}}
	if v.failure, err = compile(gen.ErrorKey); err != nil {
		return nil, err
	}
	for _, m := range api.Methods {
		if v.requests[m.Name], err = compile(gen.RequestKey(m.Name)); err != nil {
			return nil, err
		}
		if v.responses[m.Name], err = compile(gen.ResponseKey(m.Name)); err != nil {
			return nil, err
		}
	}
	for _, e := range api.Events {
		if v.events[e.Name], err = compile(gen.EventKey(e.Name)); err != nil {
			return nil, err
		}
	}
	return v, nil
}

func decode(frame []byte) (any, error) {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(frame))
	if err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	return inst, nil
}

// Request validates a request frame and returns its id and method.
func (v *Validator) Request(frame []byte) (id, method string, err error) {
	var env struct {
		ID     string `json:"id"`
		Method string `json:"method"`
	}
	if err := json.Unmarshal(frame, &env); err != nil {
		return "", "", fmt.Errorf("request is not an envelope: %w", err)
	}
	s := v.requests[env.Method]
	if s == nil {
		return env.ID, env.Method, fmt.Errorf("request of unknown method %q", env.Method)
	}
	inst, err := decode(frame)
	if err != nil {
		return env.ID, env.Method, err
	}
	return env.ID, env.Method, s.Validate(inst)
}

// Response validates the response to a request of method: a success
// against the method's response, a failure against the error response.
// With method "" (its request is unknown) only a failure is valid.
func (v *Validator) Response(method string, frame []byte) error {
	var env struct {
		Error api.Code `json:"error"`
	}
	if err := json.Unmarshal(frame, &env); err != nil {
		return fmt.Errorf("response is not an envelope: %w", err)
	}
	s := v.failure
	if env.Error == api.CodeOK {
		if s = v.responses[method]; s == nil {
			return fmt.Errorf("a success answers a request of unknown method %q", method)
		}
	}
	inst, err := decode(frame)
	if err != nil {
		return err
	}
	return s.Validate(inst)
}

// Event validates an event frame.
func (v *Validator) Event(frame []byte) error {
	var env struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal(frame, &env); err != nil {
		return fmt.Errorf("event is not an envelope: %w", err)
	}
	s := v.events[env.Name]
	if s == nil {
		return fmt.Errorf("event of unknown name %q", env.Name)
	}
	inst, err := decode(frame)
	if err != nil {
		return err
	}
	return s.Validate(inst)
}

// Conn validates the frames of one connection: it remembers each request
// sent until its response comes. It is safe for concurrent use.
//
// A request the schema refuses is an error only if the daemon accepts it
// (answers with success): tests send invalid params on purpose to check
// that the daemon refuses them, and then the two agree.
type Conn struct {
	v *Validator

	mu      sync.Mutex
	pending map[string]sent // by request id, until answered
}

// sent is a request awaiting its answer.
type sent struct {
	method string
	frame  []byte // when invalid
	err    error  // why the schema refuses it
}

// Conn returns a validator for one connection.
func (v *Validator) Conn() *Conn { return &Conn{v: v, pending: map[string]sent{}} }

// Sent validates a request the client sent. Its verdict comes with the
// answer (Received).
func (c *Conn) Sent(frame []byte) {
	id, method, err := c.v.Request(frame)
	rq := sent{method: method}
	if err != nil {
		rq.frame, rq.err = bytes.Clone(frame), err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pending[id] = rq
}

// SentRaw notes a frame sent as a test wrote it, which may be invalid on
// purpose (the test then checks the error answer, which Received
// validates): it is not validated, but its answer is matched to its
// method when it has one.
func (c *Conn) SentRaw(frame []byte) {
	var env struct {
		ID     string `json:"id"`
		Method string `json:"method"`
	}
	if json.Unmarshal(frame, &env) == nil {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.pending[env.ID] = sent{method: env.Method}
	}
}

// Received validates a response or an event. A success answering a
// request the schema refuses is an error too.
func (c *Conn) Received(frame []byte) error {
	var probe struct {
		ID    string          `json:"id"`
		Name  json.RawMessage `json:"name"`
		Error json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(frame, &probe); err != nil {
		return fmt.Errorf("frame is not a JSON object: %w", err)
	}
	if probe.Name != nil && probe.Error == nil {
		return c.v.Event(frame)
	}
	c.mu.Lock()
	rq, ok := c.pending[probe.ID]
	delete(c.pending, probe.ID)
	c.mu.Unlock()
	if !ok && probe.ID != "" {
		return errors.Join(fmt.Errorf("response to id %q, which no request sent", probe.ID), c.v.Response("", frame))
	}
	err := c.v.Response(rq.method, frame)
	if err == nil && rq.err != nil && string(probe.Error) == "0" {
		return fmt.Errorf("the daemon accepted a request the schema refuses: %s: %w", rq.frame, rq.err)
	}
	return err
}
