package schema

import (
	"fmt"
	"math"
	"reflect"
	"strings"
	"time"
)

// jsonValue turns a value from the YAML, JSON or TOML parser into one a
// JSON Schema validator takes: maps with string keys, dates and times as
// strings. Numbers that JSON cannot hold (YAML's .inf and .nan) become
// problems, and 0 in the document so that validation goes on.
func jsonValue(v any, pointer []string, bad *[]Problem) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = jsonValue(x, append(pointer, k), bad)
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			ks := fmt.Sprint(k)
			out[ks] = jsonValue(x, append(pointer, ks), bad)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = jsonValue(x, append(pointer, fmt.Sprint(i)), bad)
		}
		return out
	case float64:
		if math.IsInf(v, 0) || math.IsNaN(v) {
			*bad = append(*bad, Problem{Pointer: jsonPointer(pointer), Message: fmt.Sprintf("%v is not a number JSON can hold", v)})
			return 0
		}
		return v
	case time.Time:
		return v.Format(time.RFC3339Nano)
	case nil, bool, string, int, int64, uint64:
		return v
	}
	if s, ok := v.(fmt.Stringer); ok && strings.HasPrefix(reflect.TypeOf(v).PkgPath(), "github.com/pelletier/go-toml") {
		return s.String() // TOML local dates and times
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return rv.Uint()
	case reflect.Float32:
		return jsonValue(rv.Float(), pointer, bad)
	}
	return fmt.Sprint(v)
}

// jsonPointer writes a path as a JSON pointer (RFC 6901).
func jsonPointer(path []string) string {
	var b strings.Builder
	for _, p := range path {
		b.WriteByte('/')
		b.WriteString(strings.NewReplacer("~", "~0", "/", "~1").Replace(p))
	}
	return b.String()
}

// keyPath writes a path inside doc as the loader names keys: dotted, with
// list items as [i].
func keyPath(doc any, path []string) string {
	var b strings.Builder
	for i, p := range path {
		list, isList := doc.([]any)
		switch {
		case isList:
			b.WriteString("[" + p + "]")
			var n int
			fmt.Sscan(p, &n)
			if n >= 0 && n < len(list) {
				doc = list[n]
			}
			continue
		case i > 0:
			b.WriteByte('.')
		}
		b.WriteString(p)
		if m, ok := doc.(map[string]any); ok {
			doc = m[p]
		}
	}
	return b.String()
}
