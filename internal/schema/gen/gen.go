// Package gen generates the machine-readable schema of Lodestone's
// WebSocket API from the api package: an AsyncAPI 3.0 document (committed
// as docs/asyncapi.json and internal/schema/asyncapi.json, which the daemon
// embeds and serves at GET /api/schema) and the web UI's TypeScript types
// (web/src/api.gen.ts).
//
// It reflects over the Go types the api package's catalogue names
// (api.Methods, api.Events, api.Codes) as encoding/json encodes them: json
// tags name fields, omitempty makes a field optional, a pointer is
// nullable, json.RawMessage is any JSON, and every object refuses fields it
// does not list, so that a message with an undocumented field fails
// validation. The api package's doc comments become descriptions.
// `go generate ./api` runs it (internal/schema/cmd/genschema).
package gen

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/lodestone-bt/lodestone/api"
)

// Files are the generated files' contents.
type Files struct {
	// AsyncAPI is docs/asyncapi.json (and internal/schema/asyncapi.json).
	AsyncAPI []byte
	// TypeScript is web/src/api.gen.ts.
	TypeScript []byte
}

// Paths of the generated files, relative to the repository's root.
const (
	DocsPath     = "docs/asyncapi.json"
	EmbedPath    = "internal/schema/asyncapi.json"
	TypeScriptTo = "web/src/api.gen.ts"
)

// Message keys of the AsyncAPI document (components/messages and the
// channel's messages).
func RequestKey(method string) string  { return method + ".request" }
func ResponseKey(method string) string { return method + ".response" }
func EventKey(event string) string     { return event + ".event" }

// ErrorKey is the key of the error response, the same for every method.
const ErrorKey = "error.response"

// Generate builds the files from the api package, whose source (for its
// doc comments) is in apiDir.
func Generate(apiDir string) (Files, error) {
	d, err := parseDocs(apiDir)
	if err != nil {
		return Files{}, err
	}
	r := newReflector(d)
	doc, err := r.document()
	if err != nil {
		return Files{}, err
	}
	js, err := marshalIndent(doc)
	if err != nil {
		return Files{}, err
	}
	return Files{AsyncAPI: js, TypeScript: r.typescript()}, nil
}

// ordered is a JSON object whose keys keep their order.
type ordered = Props

func obj(kv ...any) *ordered {
	o := &ordered{}
	for i := 0; i < len(kv); i += 2 {
		o.addAny(kv[i].(string), kv[i+1])
	}
	return o
}

// document builds the AsyncAPI 3.0 document.
func (r *reflector) document() (*ordered, error) {
	msgs := &ordered{}   // components/messages
	chMsgs := &ordered{} // the channel's messages: refs to msgs
	ops := &ordered{}    // operations
	channel := "#/channels/api"
	addMsg := func(key string, m *ordered) {
		msgs.addAny(key, m)
		chMsgs.addAny(key, obj("$ref", "#/components/messages/"+key))
	}
	msgRef := func(key string) *ordered { return obj("$ref", channel+"/messages/"+key) }

	addMsg(ErrorKey, obj(
		"name", "error",
		"title", "Error response",
		"summary", "The answer to a request that failed: its code and a message, and a null result.",
		"payload", &Schema{
			Type: "object",
			Properties: props(
				"id", &Schema{Type: "string", Description: "The id of the request answered; \"\" when none could be read."},
				"error", &Schema{AllOf: []*Schema{r.schemaOf(reflect.TypeFor[api.Code]()), {Not: &Schema{Const: 0}}}},
				"message", &Schema{Type: "string", Description: "Why, in words."},
				"result", &Schema{Type: "null"},
			),
			Required:             []string{"id", "error", "message", "result"},
			AdditionalProperties: false,
		},
	))

	seen := map[string]bool{}
	for _, m := range api.Methods {
		if seen[m.Name] {
			return nil, fmt.Errorf("method %s has two rows in api.Methods", m.Name)
		}
		seen[m.Name] = true
		params, err := r.params(m)
		if err != nil {
			return nil, err
		}
		result := r.schemaOf(reflect.TypeOf(m.Result))
		if m.Bulk {
			result = &Schema{OneOf: []*Schema{result, r.schemaOf(reflect.TypeFor[api.TaskBulkResult]())},
				Description: "The single task's result with task_id; a TaskBulkResult with select."}
		}
		addMsg(RequestKey(m.Name), obj(
			"name", m.Name,
			"title", m.Name+" request",
			"payload", &Schema{
				Type: "object",
				Properties: props(
					"id", &Schema{Type: "string", Description: "Chosen by the client and echoed in the response."},
					"method", &Schema{Const: m.Name},
					"params", params,
				),
				Required:             []string{"id", "method"},
				AdditionalProperties: false,
			},
		))
		addMsg(ResponseKey(m.Name), obj(
			"name", m.Name,
			"title", m.Name+" response",
			"payload", &Schema{
				Type: "object",
				Properties: props(
					"id", &Schema{Type: "string", Description: "The id of the request answered."},
					"error", &Schema{Const: 0},
					"result", result,
				),
				Required:             []string{"id", "error", "result"},
				AdditionalProperties: false,
			},
		))
		op := obj(
			"action", "receive",
			"channel", obj("$ref", channel),
			"title", m.Name,
		)
		if doc := r.docs.consts[r.constName(m.Name, "Method")]; doc != "" {
			op.addAny("description", doc)
		}
		op.addAny("messages", []any{msgRef(RequestKey(m.Name))})
		op.addAny("reply", obj(
			"channel", obj("$ref", channel),
			"messages", []any{msgRef(ResponseKey(m.Name)), msgRef(ErrorKey)},
		))
		ops.addAny(m.Name, op)
	}
	seen = map[string]bool{}
	for _, e := range api.Events {
		if seen[e.Name] {
			return nil, fmt.Errorf("event %s has two rows in api.Events", e.Name)
		}
		seen[e.Name] = true
		addMsg(EventKey(e.Name), obj(
			"name", e.Name,
			"title", e.Name+" event",
			"payload", &Schema{
				Type: "object",
				Properties: props(
					"id", &Schema{Type: "string", Pattern: "^[0-9]+$", Description: "Unique for the daemon's data directory, increasing: the decimal form of a sequence number."},
					"name", &Schema{Const: e.Name},
					"node", &Schema{Type: "string", Description: "Cluster mode: the node the event comes from (see docs/CLUSTER.md); absent otherwise."},
					"data", r.schemaOf(reflect.TypeOf(e.Data)),
				),
				Required:             []string{"id", "name", "data"},
				AdditionalProperties: false,
			},
		))
		op := obj(
			"action", "send",
			"channel", obj("$ref", channel),
			"title", e.Name,
		)
		if doc := r.docs.consts[r.constName(e.Name, "Event")]; doc != "" {
			op.addAny("description", doc)
		}
		op.addAny("messages", []any{msgRef(EventKey(e.Name))})
		ops.addAny(EventKey(e.Name), op)
	}

	schemas := &ordered{}
	for _, name := range r.order {
		schemas.addAny(name, r.defs[name])
	}
	return obj(
		"asyncapi", "3.0.0",
		"info", obj(
			"title", "Lodestone WebSocket API",
			"version", itoa(api.Version),
			"description", "Lodestone's WebSocket API (docs/API.md is the prose reference). "+
				"The operations are the daemon's: it receives requests and replies with a response (or the error response), and sends events. "+
				"Generated from the Go package github.com/lodestone-bt/lodestone/api by `go generate ./api`; do not edit.",
		),
		"defaultContentType", "application/json",
		"servers", obj("daemon", obj(
			"host", "127.0.0.1:6810",
			"protocol", "ws",
			"pathname", api.Path,
			"description", "A daemon at its default --api-addr (wss with --tls-cert). GET /api/schema serves this document.",
			"security", []any{obj("$ref", "#/components/securitySchemes/bearer"), obj("$ref", "#/components/securitySchemes/query")},
		)),
		"channels", obj("api", obj(
			"address", api.Path,
			"title", "The API connection",
			"description", "One WebSocket connection carries requests, their responses (matched by id) and pushed events, each a JSON text frame.",
			"messages", chMsgs,
		)),
		"operations", ops,
		"components", obj(
			"schemas", schemas,
			"messages", msgs,
			"securitySchemes", obj(
				"bearer", obj("type", "http", "scheme", "bearer", "description", "The API token (or an API key): Authorization: Bearer <token>."),
				"query", obj("type", "httpApiKey", "name", "token", "in", "query", "description", "The API token as ?token=, for browsers."),
			),
		),
	), nil
}

// constName finds the name of the api constant whose value is wire (a
// method or event name) and whose name starts with prefix.
func (r *reflector) constName(wire, prefix string) string {
	var names []string
	for n, v := range r.docs.Strings {
		if v == wire && strings.HasPrefix(n, prefix) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	if len(names) == 0 {
		return ""
	}
	return names[0]
}

// params is the schema of a method's params. A method taking none takes
// an empty object, null, or nothing. The select field of a params type is
// dropped unless the method is a bulk one; a bulk method takes task_id or
// select, not both.
func (r *reflector) params(m api.MethodSpec) (*Schema, error) {
	if m.Params == nil {
		return &Schema{Type: []string{"object", "null"}, Properties: &Props{}, AdditionalProperties: false,
			Description: "None: an empty object, null, or absent."}, nil
	}
	t := reflect.TypeOf(m.Params)
	s := r.schemaOf(t)
	def := r.defs[strings.TrimPrefix(s.Ref, refPrefix)]
	if def == nil || def.Properties == nil {
		return nil, fmt.Errorf("method %s: params %s are not a struct", m.Name, t)
	}
	hasSelect := def.Properties.get("select") != nil
	switch {
	case m.Bulk:
		if !hasSelect || def.Properties.get("task_id") == nil {
			return nil, fmt.Errorf("method %s is bulk but its params %s have no task_id and select", m.Name, t)
		}
		c := def.clone()
		c.Description = ""
		c.Required = slices.DeleteFunc(c.Required, func(n string) bool { return n == "task_id" || n == "select" })
		one := 1
		c.OneOf = []*Schema{
			{Description: "One task: task_id.", Required: []string{"task_id"},
				Properties: props("task_id", &Schema{MinLength: &one}, "select", &Schema{Type: "null"})},
			{Description: "The tasks select selects: select, and task_id absent or \"\".", Required: []string{"select"},
				Properties: props("task_id", &Schema{Const: ""}, "select", &Schema{Type: "object"})},
		}
		return c, nil
	case hasSelect:
		c := def.clone()
		c.Description = ""
		c.Properties.del("select")
		return c, nil
	}
	return s, nil
}

func props(kv ...any) *Props {
	p := &Props{}
	for i := 0; i < len(kv); i += 2 {
		p.add(kv[i].(string), kv[i+1].(*Schema))
	}
	return p
}
