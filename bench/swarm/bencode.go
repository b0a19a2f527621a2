package main

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
)

// bencode encodes v: string, []byte, int, int64, []any or map[string]any
// (keys sorted, as BEP 3 requires). It is the encoder for the few values
// the benchmark writes (a metainfo and tracker answers); nothing here
// decodes untrusted bencode.
func bencode(v any) ([]byte, error) {
	var b bytes.Buffer
	if err := bencodeTo(&b, v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func bencodeTo(b *bytes.Buffer, v any) error {
	switch v := v.(type) {
	case string:
		b.WriteString(strconv.Itoa(len(v)))
		b.WriteByte(':')
		b.WriteString(v)
	case []byte:
		b.WriteString(strconv.Itoa(len(v)))
		b.WriteByte(':')
		b.Write(v)
	case int:
		fmt.Fprintf(b, "i%de", v)
	case int64:
		fmt.Fprintf(b, "i%de", v)
	case []any:
		b.WriteByte('l')
		for _, e := range v {
			if err := bencodeTo(b, e); err != nil {
				return err
			}
		}
		b.WriteByte('e')
	case map[string]any:
		b.WriteByte('d')
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			bencodeTo(b, k)
			if err := bencodeTo(b, v[k]); err != nil {
				return fmt.Errorf("key %q: %w", k, err)
			}
		}
		b.WriteByte('e')
	default:
		return fmt.Errorf("bencode: unsupported type %T", v)
	}
	return nil
}
