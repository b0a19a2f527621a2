package gen

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/lodestone-bt/lodestone/api"
)

// Schema is a JSON Schema (the subset of draft-07 that AsyncAPI 3.0's
// default schema format accepts, which draft 2020-12 validators read the
// same way). Properties keep the Go fields' order, so that the document
// reads like the api package.
type Schema struct {
	Ref         string `json:"$ref,omitempty"`
	Description string `json:"description,omitempty"`
	// Type is a string, or a []string for a nullable type.
	Type      any      `json:"type,omitempty"`
	Format    string   `json:"format,omitempty"`
	Encoding  string   `json:"contentEncoding,omitempty"`
	Const     any      `json:"const,omitempty"`
	Enum      []any    `json:"enum,omitempty"`
	Pattern   string   `json:"pattern,omitempty"`
	MinLength *int     `json:"minLength,omitempty"`
	Minimum   *float64 `json:"minimum,omitempty"`
	// Properties and Required describe an object's fields.
	Properties *Props   `json:"properties,omitempty"`
	Required   []string `json:"required,omitempty"`
	// AdditionalProperties is false (no field but Properties) or a
	// *Schema (a map's values).
	AdditionalProperties any       `json:"additionalProperties,omitempty"`
	PropertyNames        *Schema   `json:"propertyNames,omitempty"`
	Items                *Schema   `json:"items,omitempty"`
	AllOf                []*Schema `json:"allOf,omitempty"`
	OneOf                []*Schema `json:"oneOf,omitempty"`
	Not                  *Schema   `json:"not,omitempty"`
}

// Props are an object's properties in order (and, as ordered, any JSON
// object of the document whose keys keep their order).
type Props struct {
	names []string
	m     map[string]any
}

func (p *Props) add(name string, s *Schema) { p.addAny(name, s) }

func (p *Props) addAny(name string, v any) {
	if p.m == nil {
		p.m = map[string]any{}
	}
	if _, dup := p.m[name]; !dup {
		p.names = append(p.names, name)
	}
	p.m[name] = v
}

func (p *Props) get(name string) *Schema {
	s, _ := p.m[name].(*Schema)
	return s
}

func (p *Props) del(name string) {
	delete(p.m, name)
	p.names = slices.DeleteFunc(p.names, func(n string) bool { return n == name })
}

func (p *Props) clone() *Props {
	c := &Props{names: slices.Clone(p.names), m: make(map[string]any, len(p.m))}
	for k, v := range p.m {
		c.m[k] = v
	}
	return c
}

// MarshalJSON writes the properties in their order.
func (p *Props) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, n := range p.names {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(n)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		v, err := marshal(p.m[n])
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// marshal encodes v without HTML escaping (descriptions hold "<" and ">").
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// marshalIndent encodes v indented, with a final newline.
func marshalIndent(v any) ([]byte, error) {
	raw, err := marshal(v)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		return nil, err
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}

// clone copies s one level deep: its properties and required list may be
// changed without changing s.
func (s *Schema) clone() *Schema {
	c := *s
	if s.Properties != nil {
		c.Properties = s.Properties.clone()
	}
	c.Required = slices.Clone(s.Required)
	return &c
}

// refPrefix is where component schemas live in the AsyncAPI document.
const refPrefix = "#/components/schemas/"

// reflector turns Go types into schemas. Every named struct becomes a
// component schema (defs), referred to by name.
type reflector struct {
	docs  *docs
	defs  map[string]*Schema
	order []string // defs' names, in the order first met
	types map[string]reflect.Type
}

func newReflector(d *docs) *reflector {
	return &reflector{docs: d, defs: map[string]*Schema{}, types: map[string]reflect.Type{}}
}

func ref(name string) *Schema { return &Schema{Ref: refPrefix + name} }

// define records def under name unless it is already there.
func (r *reflector) define(name string, t reflect.Type, build func() *Schema) *Schema {
	if prev, ok := r.types[name]; ok {
		if prev != t {
			panic("gen: two types named " + name + ": " + prev.String() + " and " + t.String())
		}
		return ref(name)
	}
	r.types[name] = t
	r.order = append(r.order, name)
	r.defs[name] = nil // placeholder: a recursive type refers to it
	r.defs[name] = build()
	return ref(name)
}

var (
	rawType   = reflect.TypeFor[json.RawMessage]()
	bytesType = reflect.TypeFor[[]byte]()
	timeType  = reflect.TypeFor[time.Time]()
	stateType = reflect.TypeFor[api.TaskState]()
	scopeType = reflect.TypeFor[api.Scope]()
	codeType  = reflect.TypeFor[api.Code]()
)

// schemaOf returns the schema of values of t as encoding/json writes and
// reads them.
func (r *reflector) schemaOf(t reflect.Type) *Schema {
	switch t {
	case rawType:
		return &Schema{}
	case bytesType:
		return &Schema{Type: "string", Encoding: "base64"}
	case timeType:
		return &Schema{Type: "string", Format: "date-time"}
	case stateType:
		return r.define("TaskState", t, func() *Schema {
			s := &Schema{Type: "string", Description: r.docs.types["TaskState"]}
			for _, st := range api.TaskStates {
				s.Enum = append(s.Enum, string(st))
			}
			return s
		})
	case scopeType:
		return r.define("Scope", t, func() *Schema {
			return &Schema{Type: "string", Description: r.docs.types["Scope"],
				Enum: []any{string(api.ScopeRead), string(api.ScopeControl), string(api.ScopeAdmin)}}
		})
	case codeType:
		return r.define("ErrorCode", t, r.codes)
	}
	switch t.Kind() {
	case reflect.Pointer:
		return nullable(r.schemaOf(t.Elem()))
	case reflect.Struct:
		if t.Name() == "" {
			return r.object(t)
		}
		return r.define(t.Name(), t, func() *Schema {
			s := r.object(t)
			s.Description = r.docs.types[t.Name()]
			return s
		})
	case reflect.Slice, reflect.Array:
		return &Schema{Type: "array", Items: r.schemaOf(t.Elem())}
	case reflect.Map:
		s := &Schema{Type: "object", AdditionalProperties: r.schemaOf(t.Elem())}
		switch {
		case t.Key() == stateType:
			s.PropertyNames = r.schemaOf(stateType)
		case t.Key().Kind() >= reflect.Int && t.Key().Kind() <= reflect.Int64:
			s.PropertyNames = &Schema{Pattern: "^-?[0-9]+$"}
		case t.Key().Kind() >= reflect.Uint && t.Key().Kind() <= reflect.Uint64:
			s.PropertyNames = &Schema{Pattern: "^[0-9]+$"}
		}
		return s
	case reflect.String:
		return &Schema{Type: "string"}
	case reflect.Bool:
		return &Schema{Type: "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return &Schema{Type: "integer"}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		zero := 0.0
		return &Schema{Type: "integer", Minimum: &zero}
	case reflect.Float32, reflect.Float64:
		return &Schema{Type: "number"}
	case reflect.Interface:
		return &Schema{}
	}
	panic("gen: no schema for " + t.String())
}

// nullable lets s be null too, as a nil pointer encodes.
func nullable(s *Schema) *Schema {
	if typ, ok := s.Type.(string); ok && s.Ref == "" && s.Enum == nil {
		c := *s
		c.Type = []string{typ, "null"}
		return &c
	}
	return &Schema{OneOf: []*Schema{s, {Type: "null"}}}
}

// object is the schema of a struct: its fields as encoding/json names
// them, required unless omitempty (or omitzero), and no other field.
func (r *reflector) object(t reflect.Type) *Schema {
	s := &Schema{Type: "object", Properties: &Props{}, AdditionalProperties: false}
	r.fields(t, s)
	return s
}

func (r *reflector) fields(t reflect.Type, s *Schema) {
	for f := range t.Fields() {
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				r.fields(ft, s) // promoted fields, as encoding/json does
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		// The schema tag refines what reflection cannot see:
		// "optional", "partial[=kept,...]" or "oneOf=A|B" (see
		// docs/API.md, Schema).
		stag := f.Tag.Get("schema")
		var fs *Schema
		switch {
		case stag == "partial" || strings.HasPrefix(stag, "partial="):
			_, kept, _ := strings.Cut(stag, "=")
			fs = r.partial(f.Type, kept)
		case strings.HasPrefix(stag, "oneOf="):
			fs = r.oneOf(t, f, strings.TrimPrefix(stag, "oneOf="))
		default:
			fs = r.schemaOf(f.Type)
		}
		if doc := r.docs.fields[t.Name()+"."+f.Name]; doc != "" {
			c := *fs
			c.Description = doc
			fs = &c
		}
		s.Properties.add(name, fs)
		// schema:"optional": a field the daemon reads as its zero value
		// when absent, though Go always writes it.
		optional := stag == "optional"
		for o := range strings.SplitSeq(opts, ",") {
			optional = optional || o == "omitempty" || o == "omitzero"
		}
		if !optional {
			s.Required = append(s.Required, name)
		}
	}
}

// partial is the schema of a field tagged schema:"partial": a struct, or
// a slice of them, whose fields may each be left out (task.list with
// fields) but those named in kept (comma-separated). The struct gets a
// second component schema, NamePartial.
func (r *reflector) partial(t reflect.Type, kept string) *Schema {
	if t.Kind() == reflect.Slice {
		return &Schema{Type: "array", Items: r.partial(t.Elem(), kept)}
	}
	if t.Kind() != reflect.Struct || t.Name() == "" {
		panic("gen: schema:\"partial\" on " + t.String() + ", not a named struct or a slice of them")
	}
	full := r.schemaOf(t)
	return r.define(t.Name()+"Partial", reflect.PointerTo(t), func() *Schema {
		s := r.defs[strings.TrimPrefix(full.Ref, refPrefix)].clone()
		s.Required = nil
		s.Description = t.Name() + " with only some of its fields (task.list with fields): every field may be left out"
		if kept != "" {
			for k := range strings.SplitSeq(kept, ",") {
				if s.Properties.get(k) == nil {
					panic("gen: schema:\"partial=" + kept + "\": " + t.Name() + " has no field " + k)
				}
				s.Required = append(s.Required, k)
			}
			s.Description += " but " + strings.Join(s.Required, ", ")
		}
		s.Description += "."
		return s
	})
}

// oneOf is the schema of a json.RawMessage field tagged
// schema:"oneOf=A|B": one of the alternatives, each "string", "integer",
// "number", "boolean" or the name of a struct type of package api that
// the catalogue names elsewhere.
func (r *reflector) oneOf(owner reflect.Type, f reflect.StructField, alts string) *Schema {
	s := &Schema{}
	for a := range strings.SplitSeq(alts, "|") {
		switch a {
		case "string", "integer", "number", "boolean":
			s.OneOf = append(s.OneOf, &Schema{Type: a})
			continue
		}
		t, ok := r.types[a]
		if !ok {
			for _, spec := range api.Methods {
				for _, v := range []any{spec.Params, spec.Result} {
					if v != nil && reflect.TypeOf(v).Name() == a {
						t, ok = reflect.TypeOf(v), true
					}
				}
			}
		}
		if !ok {
			panic("gen: " + owner.Name() + "." + f.Name + `: schema:"oneOf=` + alts + `": ` + a + " is no type the catalogue names")
		}
		s.OneOf = append(s.OneOf, r.schemaOf(t))
	}
	return s
}

// codes is the schema of an error code: every code, named.
func (r *reflector) codes() *Schema {
	var lines []string
	s := &Schema{Type: "integer"}
	for _, c := range api.Codes {
		s.Enum = append(s.Enum, int(c))
		line := strings.TrimSpace(strings.Join([]string{itoa(int(c)), c.String()}, " "))
		if doc := r.docs.codes[int(c)]; doc != "" {
			line += ": " + doc
		}
		lines = append(lines, line)
	}
	s.Description = "An error code: 0 on success, else why the request failed. 1xx: the message itself; 2xx: the task or its content; 4xx: access; 5xx: the daemon. " + strings.Join(lines, "; ") + "."
	return s
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }
