package docpos

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// JSON returns the lines of the keys in data, and the keys written twice
// in one object (encoding/json keeps the last one without a word).
func JSON(data []byte) Lines {
	var l Lines
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	lineAt := newLineIndex(data)
	_ = walkJSON(&l, dec, data, lineAt, nil, 0)
	return l
}

// walkJSON reads one value from dec and records the keys inside it.
func walkJSON(l *Lines, dec *json.Decoder, data []byte, lineAt func(int64) int, path []string, depth int) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	delim, ok := tok.(json.Delim)
	if !ok || depth > 256 {
		return nil
	}
	switch delim {
	case '{':
		seen := map[string]bool{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return err
			}
			key, _ := kt.(string)
			line := lineAt(dec.InputOffset())
			p := append(append([]string(nil), path...), key)
			if seen[key] {
				l.dups = append(l.dups, Dup{Path: p, Line: line})
			} else {
				l.set(p, line)
			}
			seen[key] = true
			if err := walkJSON(l, dec, data, lineAt, p, depth+1); err != nil {
				return err
			}
		}
	case '[':
		for i := 0; dec.More(); i++ {
			p := append(append([]string(nil), path...), strconv.Itoa(i))
			l.set(p, lineAt(nextValue(data, dec.InputOffset())))
			if err := walkJSON(l, dec, data, lineAt, p, depth+1); err != nil {
				return err
			}
		}
	}
	_, err = dec.Token() // the closing delimiter
	return err
}

// newLineIndex returns a function that turns a byte offset into data
// into a 1-based line number.
func newLineIndex(data []byte) func(int64) int {
	var starts []int64
	for i, b := range data {
		if b == '\n' {
			starts = append(starts, int64(i+1))
		}
	}
	return func(off int64) int {
		lo, hi := 0, len(starts)
		for lo < hi {
			mid := (lo + hi) / 2
			if starts[mid] <= off {
				lo = mid + 1
			} else {
				hi = mid
			}
		}
		return lo + 1
	}
}

// nextValue returns the offset of the next value after off, past the
// white space and separators the decoder has not consumed yet.
func nextValue(data []byte, off int64) int64 {
	for off < int64(len(data)) {
		switch data[off] {
		case ' ', '\t', '\r', '\n', ',', ':':
			off++
		default:
			return off
		}
	}
	return off
}
