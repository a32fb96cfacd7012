package docpos

import (
	"bytes"
	"encoding/json"
	"sort"
)

// JSON returns the positions of the keys in data, and the keys written
// more than once in one object (encoding/json keeps the last one without
// a word).
func JSON(data []byte, lim Limits) Lines {
	l := newLines(lim, separators(data))
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	w := jsonWalk{l: l, dec: dec, data: data, lines: lineStarts(data)}
	_ = w.value(0)
	return *l
}

type jsonWalk struct {
	l     *Lines
	dec   *json.Decoder
	data  []byte
	lines []int64
}

// value reads one value from the decoder and records the keys inside it,
// under node id.
func (w *jsonWalk) value(id int32) error {
	tok, err := w.dec.Token()
	if err != nil {
		return err
	}
	delim, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	switch delim {
	case '{':
		for w.dec.More() && !w.l.stopped() {
			pos := w.pos(nextValue(w.data, w.dec.InputOffset()))
			kt, err := w.dec.Token()
			if err != nil {
				return err
			}
			key, _ := kt.(string)
			c := w.l.add(id, key, pos, true)
			if c < 0 {
				return nil
			}
			if err := w.value(c); err != nil {
				return err
			}
		}
	case '[':
		for w.dec.More() && !w.l.stopped() {
			c := w.l.addIndex(id, w.pos(nextValue(w.data, w.dec.InputOffset())))
			if c < 0 {
				return nil
			}
			if err := w.value(c); err != nil {
				return err
			}
		}
	}
	if w.l.stopped() {
		return nil
	}
	_, err = w.dec.Token() // the closing delimiter
	return err
}

// lineStarts returns the offsets at which the lines of data after the
// first start.
func lineStarts(data []byte) []int64 {
	var starts []int64
	for i, b := range data {
		if b == '\n' {
			starts = append(starts, int64(i+1))
		}
	}
	return starts
}

// pos turns a byte offset into a line and a column.
func (w *jsonWalk) pos(off int64) Pos { return position(w.lines, off) }

// position turns a byte offset into a line and a column (in bytes), given
// the offsets where lines start.
func position(lines []int64, off int64) Pos {
	n := sort.Search(len(lines), func(i int) bool { return lines[i] > off })
	start := int64(0)
	if n > 0 {
		start = lines[n-1]
	}
	return Pos{Line: n + 1, Column: int(off-start) + 1}
}

// nextValue returns the offset of the next token after off, past the
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
