package apiserver

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/lodestone-bt/lodestone/api"
)

// This file writes the JSON of task.get and task.list by hand: with
// 10,000 tasks, encoding/json's reflection (and, for a projection, a
// marshal-unmarshal round trip per task) would be most of task.list's time.
// The output is byte for byte what encoding/json writes for the same
// values (TestAppendTaskMatchesEncodingJSON checks every field), so the
// wire format does not change.

// taskField writes one field of a Task. ok is false when the field is
// omitted (the omitempty fields, when empty).
type taskField struct {
	name string
	enc  func(b []byte, t *api.Task) (_ []byte, ok bool)
}

// taskFields lists every field of api.Task in declaration order, which is
// the order encoding/json writes them in. It is never modified.
var taskFields = [...]taskField{
	{"task_id", func(b []byte, t *api.Task) ([]byte, bool) { return appendString(b, t.TaskID), true }},
	{"name", func(b []byte, t *api.Task) ([]byte, bool) { return appendString(b, t.Name), true }},
	{"size", func(b []byte, t *api.Task) ([]byte, bool) { return strconv.AppendInt(b, t.Size, 10), true }},
	{"completed", func(b []byte, t *api.Task) ([]byte, bool) { return strconv.AppendInt(b, t.Completed, 10), true }},
	{"state", func(b []byte, t *api.Task) ([]byte, bool) { return appendString(b, string(t.State)), true }},
	{"error", func(b []byte, t *api.Task) ([]byte, bool) { return appendString(b, t.Error), t.Error != "" }},
	{"busy", func(b []byte, t *api.Task) ([]byte, bool) { return appendString(b, t.Busy), t.Busy != "" }},
	{"network", func(b []byte, t *api.Task) ([]byte, bool) { return appendString(b, t.Network), t.Network != "" }},
	{"added_at", func(b []byte, t *api.Task) ([]byte, bool) { return appendString(b, t.AddedAt), true }},
	{"finished_at", func(b []byte, t *api.Task) ([]byte, bool) { return appendString(b, t.FinishedAt), t.FinishedAt != "" }},
	{"download_rate", func(b []byte, t *api.Task) ([]byte, bool) { return strconv.AppendInt(b, t.DownloadRate, 10), true }},
	{"upload_rate", func(b []byte, t *api.Task) ([]byte, bool) { return strconv.AppendInt(b, t.UploadRate, 10), true }},
	{"peers", func(b []byte, t *api.Task) ([]byte, bool) { return strconv.AppendInt(b, int64(t.Peers), 10), true }},
	{"downloaded", func(b []byte, t *api.Task) ([]byte, bool) { return strconv.AppendInt(b, t.Downloaded, 10), true }},
	{"uploaded", func(b []byte, t *api.Task) ([]byte, bool) { return strconv.AppendInt(b, t.Uploaded, 10), true }},
	{"ratio", func(b []byte, t *api.Task) ([]byte, bool) { return appendFloat(b, t.Ratio), true }},
	{"eta_seconds", func(b []byte, t *api.Task) ([]byte, bool) { return strconv.AppendInt(b, t.ETASeconds, 10), true }},
	{"pieces", func(b []byte, t *api.Task) ([]byte, bool) { return strconv.AppendInt(b, int64(t.Pieces), 10), true }},
	{"piece_size", func(b []byte, t *api.Task) ([]byte, bool) { return strconv.AppendInt(b, t.PieceSize, 10), true }},
	{"labels", func(b []byte, t *api.Task) ([]byte, bool) { return appendStrings(b, t.Labels), true }},
	{"category", func(b []byte, t *api.Task) ([]byte, bool) { return appendString(b, t.Category), true }},
	{"download_dir", func(b []byte, t *api.Task) ([]byte, bool) { return appendString(b, t.DownloadDir), true }},
	{"sequential", func(b []byte, t *api.Task) ([]byte, bool) { return strconv.AppendBool(b, t.Sequential), true }},
	{"download_rate_limit", func(b []byte, t *api.Task) ([]byte, bool) { return strconv.AppendInt(b, t.DownloadRateLimit, 10), true }},
	{"upload_rate_limit", func(b []byte, t *api.Task) ([]byte, bool) { return strconv.AppendInt(b, t.UploadRateLimit, 10), true }},
	{"private", func(b []byte, t *api.Task) ([]byte, bool) { return strconv.AppendBool(b, t.Private), true }},
	{"active_at", func(b []byte, t *api.Task) ([]byte, bool) { return appendString(b, t.ActiveAt), t.ActiveAt != "" }},
	{"seconds_downloading", func(b []byte, t *api.Task) ([]byte, bool) {
		return strconv.AppendInt(b, t.SecondsDownloading, 10), true
	}},
	{"seconds_seeding", func(b []byte, t *api.Task) ([]byte, bool) { return strconv.AppendInt(b, t.SecondsSeeding, 10), true }},
	{"queue_position", func(b []byte, t *api.Task) ([]byte, bool) {
		return strconv.AppendInt(b, int64(t.QueuePosition), 10), true
	}},
	{"seed_ratio_limit", func(b []byte, t *api.Task) ([]byte, bool) { return appendFloat(b, t.SeedRatioLimit), true }},
	{"seed_time_limit", func(b []byte, t *api.Task) ([]byte, bool) { return strconv.AppendInt(b, t.SeedTimeLimit, 10), true }},
	{"seed_idle_limit", func(b []byte, t *api.Task) ([]byte, bool) { return strconv.AppendInt(b, t.SeedIdleLimit, 10), true }},
	{"node", func(b []byte, t *api.Task) ([]byte, bool) { return appendString(b, t.Node), t.Node != "" }},
}

// allTaskFields selects every field, in declaration order.
var allTaskFields = func() []int {
	idx := make([]int, len(taskFields))
	for i := range idx {
		idx[i] = i
	}
	return idx
}()

// fieldSelection returns the indices in taskFields of task_id and names,
// deduplicated and in alphabetical order of name (the order encoding/json
// gives a map, which clients of earlier versions saw). An unknown name is an
// error naming it.
func fieldSelection(names []string) ([]int, error) {
	sel := []int{0} // task_id is always included
	for _, n := range names {
		i := slices.IndexFunc(taskFields[:], func(f taskField) bool { return f.name == n })
		if i < 0 {
			return nil, fmt.Errorf("unknown field %q", n)
		}
		if !slices.Contains(sel, i) {
			sel = append(sel, i)
		}
	}
	slices.SortFunc(sel, func(a, b int) int {
		switch {
		case taskFields[a].name < taskFields[b].name:
			return -1
		case taskFields[a].name > taskFields[b].name:
			return 1
		}
		return 0
	})
	return sel, nil
}

// appendTask appends t as a JSON object holding the fields sel (indices
// into taskFields).
func appendTask(b []byte, t *api.Task, sel []int) []byte {
	b = append(b, '{')
	first := true
	for _, i := range sel {
		f := &taskFields[i]
		mark := len(b)
		if !first {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, f.name...)
		b = append(b, '"', ':')
		var ok bool
		if b, ok = f.enc(b, t); !ok {
			b = b[:mark]
			continue
		}
		first = false
	}
	return append(b, '}')
}

// appendTaskList appends {"tasks":[...]} with the fields sel of each task.
func appendTaskList(b []byte, tasks []api.Task, sel []int) []byte {
	b = append(b, `{"tasks":[`...)
	for i := range tasks {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendTask(b, &tasks[i], sel)
	}
	return append(b, "]}"...)
}

func appendStrings(b []byte, ss []string) []byte {
	if ss == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	return append(b, ']')
}

// appendFloat writes f as encoding/json does (ES6 number formatting).
// NaN and infinities, which encoding/json refuses, are written as 0.
func appendFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, '0')
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// e-09 → e-9, as encoding/json does.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string escaped as encoding/json does by
// default: HTML characters (<, >, &), U+2028 and U+2029 are escaped and
// invalid UTF-8 becomes U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
