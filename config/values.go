package config

import (
	"encoding"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// fieldValue returns the value of setting n inside v, the value of the
// root struct.
func fieldValue(root reflect.Value, n *node, model *node) reflect.Value {
	v := root
	sec := model
	for _, key := range n.path {
		c := sec.child(key)
		v = v.FieldByIndex(c.index)
		sec = c
	}
	return v
}

// fileValue returns a setting's value in the form a configuration file
// writes it, JSON-compatible: sizes as numbers of bytes, durations as Go
// duration strings, types with MarshalText as their text.
func fileValue(n *node, v reflect.Value) any {
	switch n.kind {
	case kindSize:
		return v.Int()
	case kindDuration:
		return time.Duration(v.Int()).String()
	case kindText:
		if m, ok := v.Interface().(encoding.TextMarshaler); ok {
			if b, err := m.MarshalText(); err == nil {
				return string(b)
			}
		}
		return fmt.Sprint(v.Interface())
	case kindString:
		return v.String()
	case kindBool:
		return v.Bool()
	case kindInt:
		return v.Int()
	case kindUint:
		return v.Uint()
	case kindFloat:
		return v.Float()
	case kindList:
		out := make([]any, v.Len())
		for i := range out {
			out[i] = fileValue(n.elem, v.Index(i))
		}
		return out
	}
	return nil
}

// mergeValue returns a setting's value in the form the loader merges and
// decodes: like fileValue, but durations as int64 nanoseconds.
func mergeValue(n *node, v reflect.Value) any {
	switch n.kind {
	case kindDuration:
		return v.Int()
	case kindList:
		out := make([]any, v.Len())
		for i := range out {
			out[i] = mergeValue(n.elem, v.Index(i))
		}
		return out
	}
	return fileValue(n, v)
}

// valuesMap returns the settings of root (a struct value) as a nested map
// of merge values: the defaults layer of Load.
func valuesMap(model *node, root reflect.Value) map[string]any {
	out := map[string]any{}
	model.leaves(func(n *node) {
		m := out
		for _, k := range n.path[:len(n.path)-1] {
			sub, ok := m[k].(map[string]any)
			if !ok {
				sub = map[string]any{}
				m[k] = sub
			}
			m = sub
		}
		m[n.key] = mergeValue(n, fieldValue(root, n, model))
	})
	return out
}

// show formats a value read from a file or the environment for an error
// message: strings quoted, numbers as written, mappings and lists named.
func show(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		return strconv.Quote(v)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case float32:
		return strconv.FormatFloat(float64(v), 'g', -1, 32)
	case time.Time:
		if v.Location() == time.UTC && v.Equal(v.Truncate(24*time.Hour)) {
			return v.Format(time.DateOnly)
		}
		return v.Format(time.RFC3339Nano)
	case time.Duration:
		return v.String()
	case map[string]any, map[any]any:
		return "a mapping"
	case []any:
		return "a list"
	case fmt.Stringer:
		return v.String()
	}
	return fmt.Sprint(v)
}

// typeName names the type of a value read from a file, for messages such
// as "is a string, not a boolean".
func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case float32, float64, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return "a number"
	case map[string]any, map[any]any:
		return "a mapping"
	case []any:
		return "a list"
	case time.Time:
		return "a date"
	}
	t := reflect.TypeOf(v)
	if strings.HasPrefix(t.PkgPath(), "github.com/pelletier/go-toml") {
		return "a date or time"
	}
	return "a " + t.String()
}

// number describes a numeric value from a file: whether it is a number at
// all, whether it is whole, and its value as int64 when it fits.
type number struct {
	ok       bool    // a number at all
	whole    bool    // no fractional part
	negative bool    // below zero
	fits     bool    // whole and within int64
	i        int64   // the value when fits
	u        uint64  // the value when whole, not negative and within uint64
	ufits    bool    // u is valid
	f        float64 // the value as a float
}

// asNumber reads the numeric types the YAML, JSON and TOML parsers and
// pflag produce.
func asNumber(v any) number {
	rv := reflect.ValueOf(v)
	if !rv.IsValid() {
		return number{}
	}
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i := rv.Int()
		return number{ok: true, whole: true, negative: i < 0, fits: true, i: i, u: uint64(i), ufits: i >= 0, f: float64(i)}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		u := rv.Uint()
		return number{ok: true, whole: true, fits: u <= math.MaxInt64, i: int64(u), u: u, ufits: true, f: float64(u)}
	case reflect.Float32, reflect.Float64:
		f := rv.Float()
		n := number{ok: true, f: f, negative: f < 0}
		if math.IsInf(f, 0) || math.IsNaN(f) || f != math.Trunc(f) {
			return n
		}
		n.whole = true
		// float64(math.MaxInt64) rounds up to 2^63, which does not fit.
		if f >= -(1<<63) && f < 1<<63 {
			n.fits, n.i = true, int64(f)
		}
		if f >= 0 && f < 1<<64 {
			n.ufits, n.u = true, uint64(f)
		}
		return n
	}
	return number{}
}
