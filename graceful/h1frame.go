package graceful

import (
	"bytes"
)

// h1Framer follows the request boundaries of an HTTP/1 byte stream as a
// client sends it, so that a draining server knows whether a connection
// carries a request it has not answered yet: one pipelined behind the
// request being served, or one whose first bytes are still arriving. net/http
// reads ahead into a buffer of its own and reports a connection as idle
// until a whole request header has arrived (see [http.StateActive]), so
// neither its buffer nor its connection states can tell.
//
// The framer reads only what framing needs: the end of each header block
// (an empty line), Content-Length and Transfer-Encoding, and chunk sizes.
// It does not validate requests (net/http does, and closes the connection
// on a bad one); on input it cannot frame it stops and reports itself lost,
// and its users then assume that a request may be pending.
type h1Framer struct {
	st      h1State
	remain  int64 // body or chunk bytes still to come
	bodyLen int64 // Content-Length of the request being read, -1 if none
	chunked bool  // Transfer-Encoding ends in chunked
	firstLn bool  // the line being read is the request line
	http11  bool  // the request is HTTP/1.1 or later (Transfer-Encoding counts)
	line    [h1LineKeep]byte
	lineN   int // bytes of the current line seen (kept: min(lineN, len(line)))
	tail    [h1TailKeep]byte
	tailN   int  // bytes of tail in use: the end of the request line
	lost    bool // the stream could not be framed
}

type h1State uint8

const (
	h1Start     h1State = iota // between requests: CR and LF are skipped
	h1Header                   // in the request line or a header line
	h1Body                     // in a Content-Length body
	h1ChunkSize                // in a chunk-size line
	h1ChunkData                // in a chunk's data
	h1ChunkEnd                 // in the CRLF after a chunk's data
	h1Trailer                  // in the trailer section of a chunked body
)

// h1LineKeep is how much of the start of a header line the framer keeps:
// enough for "transfer-encoding:" and a value such as "gzip, chunked";
// h1TailKeep how much of the end of the request line, for its version.
const (
	h1LineKeep = 64
	h1TailKeep = 12
)

// feed advances the framer over b, the next bytes of the stream, and
// returns how many requests began in b (their first byte is in b).
func (f *h1Framer) feed(b []byte) (begun int) {
	for len(b) > 0 && !f.lost {
		switch f.st {
		case h1Start:
			i := 0
			for i < len(b) && (b[i] == '\r' || b[i] == '\n') {
				i++
			}
			b = b[i:]
			if len(b) == 0 {
				return begun
			}
			if b[0] == 'P' && bytes.HasPrefix(b, []byte("PRI ")) {
				// The HTTP/2 preface on a connection that negotiated
				// HTTP/1: net/http would serve it as HTTP/2, which this
				// connection does not drain as such.
				f.lost = true
				return begun
			}
			begun++
			f.st = h1Header
			f.firstLn = true
			f.lineN = 0
			f.bodyLen = -1
			f.chunked = false
		case h1Header, h1Trailer:
			i := bytes.IndexByte(b, '\n')
			if i < 0 {
				f.keep(b)
				return begun
			}
			f.keep(b[:i])
			f.endLine()
			b = b[i+1:]
		case h1Body, h1ChunkData:
			n := int64(len(b))
			if n > f.remain {
				n = f.remain
			}
			f.remain -= n
			b = b[n:]
			if f.remain == 0 {
				if f.st == h1Body {
					f.st = h1Start
				} else {
					f.st = h1ChunkEnd
				}
			}
		case h1ChunkEnd:
			// CRLF (or a bare LF) after a chunk's data.
			switch b[0] {
			case '\r':
				b = b[1:]
			case '\n':
				b = b[1:]
				f.st = h1ChunkSize
				f.lineN = 0
			default:
				f.lost = true
			}
		case h1ChunkSize:
			i := bytes.IndexByte(b, '\n')
			if i < 0 {
				f.keep(b)
				return begun
			}
			f.keep(b[:i])
			f.endChunkSize()
			b = b[i+1:]
		}
	}
	return begun
}

// keep records part of the current line.
func (f *h1Framer) keep(b []byte) {
	if f.lineN < len(f.line) {
		copy(f.line[f.lineN:], b)
	}
	f.lineN += len(b)
	if f.firstLn {
		// The version ends the request line.
		if len(b) >= len(f.tail) {
			f.tailN = copy(f.tail[:], b[len(b)-len(f.tail):])
		} else {
			keep := min(f.tailN, len(f.tail)-len(b))
			copy(f.tail[:], f.tail[f.tailN-keep:f.tailN])
			f.tailN = keep + copy(f.tail[keep:], b)
		}
	}
}

// requestLineVersion tells from the end of the request line whether the
// request is HTTP/1.1 or later, as net/http reads the version.
func (f *h1Framer) requestLineVersion() bool {
	t := f.tail[:f.tailN]
	t = bytes.TrimSuffix(t, []byte("\r"))
	i := bytes.LastIndex(t, []byte("HTTP/"))
	if i < 0 {
		return false
	}
	v := t[i+5:]
	dot := bytes.IndexByte(v, '.')
	if dot <= 0 || dot == len(v)-1 {
		return false
	}
	major, ok1 := parseDecimal(v[:dot])
	minor, ok2 := parseDecimal(v[dot+1:])
	return ok1 && ok2 && (major > 1 || (major == 1 && minor >= 1))
}

// current returns the kept start of the current line, without its CR.
func (f *h1Framer) current() (kept []byte, whole bool) {
	n := min(f.lineN, len(f.line))
	l := f.line[:n]
	whole = f.lineN <= len(f.line)
	if whole && n > 0 && l[n-1] == '\r' {
		l = l[:n-1]
	}
	return l, whole
}

// endLine handles a complete request line, header line or trailer line.
func (f *h1Framer) endLine() {
	l, whole := f.current()
	f.lineN = 0
	if f.firstLn {
		f.firstLn = false
		f.http11 = f.requestLineVersion()
		f.tailN = 0
		return
	}
	if whole && len(l) == 0 {
		// The empty line: the header block (or the trailers) ends.
		switch {
		case f.st == h1Trailer:
			f.st = h1Start
		case f.chunked:
			f.st = h1ChunkSize
		case f.bodyLen > 0:
			f.st, f.remain = h1Body, f.bodyLen
		default:
			f.st = h1Start
		}
		return
	}
	if f.st == h1Trailer || len(l) == 0 {
		return
	}
	switch l[0] | 0x20 {
	case 'c':
		if v, ok := headerValue(l, "content-length:"); ok {
			if !whole {
				f.lost = true
				return
			}
			n, ok := parseDecimal(v)
			if !ok || (f.bodyLen >= 0 && f.bodyLen != n) {
				f.lost = true // net/http refuses it too
				return
			}
			f.bodyLen = n
		}
	case 't':
		if v, ok := headerValue(l, "transfer-encoding:"); ok && f.http11 {
			if !whole {
				f.lost = true
				return
			}
			f.chunked = hasSuffixFold(bytes.TrimRight(v, " \t"), "chunked")
			if !f.chunked {
				f.lost = true // net/http accepts only chunked
			}
		}
	}
}

// endChunkSize handles a chunk-size line: hexadecimal digits, optionally
// followed by extensions.
func (f *h1Framer) endChunkSize() {
	l, whole := f.current()
	f.lineN = 0
	if !whole {
		f.lost = true
		return
	}
	if i := bytes.IndexByte(l, ';'); i >= 0 {
		l = l[:i]
	}
	l = bytes.TrimRight(l, " \t")
	if len(l) == 0 || len(l) > 15 {
		f.lost = true
		return
	}
	var n int64
	for _, c := range l {
		switch {
		case '0' <= c && c <= '9':
			n = n<<4 | int64(c-'0')
		case 'a' <= c|0x20 && c|0x20 <= 'f':
			n = n<<4 | int64(c|0x20-'a'+10)
		default:
			f.lost = true
			return
		}
	}
	if n == 0 {
		f.st = h1Trailer
		return
	}
	f.st, f.remain = h1ChunkData, n
}

// headerValue returns the value of line when its name, with the colon, is
// name (lower case), compared without regard to case.
func headerValue(line []byte, name string) ([]byte, bool) {
	if len(line) < len(name) {
		return nil, false
	}
	for i := 0; i < len(name); i++ {
		c := line[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != name[i] {
			return nil, false
		}
	}
	return bytes.TrimLeft(line[len(name):], " \t"), true
}

func hasSuffixFold(b []byte, suffix string) bool {
	if len(b) < len(suffix) {
		return false
	}
	tail := b[len(b)-len(suffix):]
	for i := 0; i < len(suffix); i++ {
		c := tail[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != suffix[i] {
			return false
		}
	}
	return true
}

// parseDecimal parses a Content-Length value.
func parseDecimal(b []byte) (int64, bool) {
	b = bytes.TrimRight(b, " \t")
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}
