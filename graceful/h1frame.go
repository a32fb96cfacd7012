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
// (an empty line), Content-Length and Transfer-Encoding (which counts from
// HTTP/1.1 on, as net/http reads it), and chunk sizes. It does not
// validate requests (net/http does, and closes the connection on a bad
// one); on input it cannot frame it stops and reports itself lost, and its
// users then assume that a request may be pending. It runs on every read
// of every HTTP/1 connection, so lines are looked at where they lie in the
// read's buffer; only a line cut by the end of a read is copied, in part.
type h1Framer struct {
	st      h1State
	remain  int64 // body or chunk bytes still to come
	bodyLen int64 // Content-Length of the request being read, -1 if none
	chunked bool  // Transfer-Encoding ends in chunked
	firstLn bool  // the line being read is the request line
	http11  bool  // the request is HTTP/1.1 or later
	lost    bool  // the stream could not be framed

	// A line cut by the end of a read: its start and its end so far.
	head  [h1LineKeep]byte
	tail  [h1TailKeep]byte
	lineN int // bytes of the cut line seen; 0 when no line is cut
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

// h1LineKeep is how much of the start of a cut line the framer keeps:
// enough for "transfer-encoding:" and a value such as "gzip, chunked";
// h1TailKeep how much of its end, for the request line's version.
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
			for len(b) > 0 && (b[0] == '\r' || b[0] == '\n') {
				b = b[1:]
			}
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
			f.st, f.firstLn, f.bodyLen, f.chunked = h1Header, true, -1, false
			b = f.headerLines(b) // no line is cut between requests
		case h1Header:
			if f.lineN == 0 {
				// The usual case: whole lines, looked at where they lie.
				b = f.headerLines(b)
				continue
			}
			fallthrough
		case h1Trailer, h1ChunkSize:
			i := bytes.IndexByte(b, '\n')
			if i < 0 {
				f.cut(b)
				return begun
			}
			if f.lineN == 0 {
				f.line(b[:i], b[:i], true)
			} else {
				f.cut(b[:i])
				n := f.lineN
				f.lineN = 0
				f.line(f.head[:min(n, h1LineKeep)], f.tail[h1TailKeep-min(n, h1TailKeep):], n <= h1LineKeep)
			}
			b = b[i+1:]
		case h1Body, h1ChunkData:
			n := min(int64(len(b)), f.remain)
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
			case '\n':
				f.st = h1ChunkSize
			default:
				f.lost = true
			}
			b = b[1:]
		}
	}
	return begun
}

// headerLines reads the whole lines of a header block at the start of b,
// with no line cut before b, and returns what follows them: the rest of a
// line that the end of b cuts (kept by cut, nothing left), or the bytes
// after the block's empty line.
func (f *h1Framer) headerLines(b []byte) []byte {
	if f.firstLn {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			f.cut(b)
			return nil
		}
		f.firstLn = false
		// The usual request line without a call.
		l := b[:i]
		f.http11 = len(l) >= 9 && string(l[len(l)-9:]) == "HTTP/1.1\r" || httpVersion11(trimCR(l))
		b = b[i+1:]
	}
	for len(b) > 0 {
		// The empty line that ends the block, without a search.
		if b[0] == '\n' {
			f.endHeader()
			return b[1:]
		}
		if b[0] == '\r' && len(b) > 1 && b[1] == '\n' {
			f.endHeader()
			return b[2:]
		}
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			f.cut(b)
			return nil
		}
		if c := b[0] | 0x20; c == 'c' || c == 't' {
			f.line(b[:i], b[:i], true)
			if f.lost {
				return nil
			}
		}
		b = b[i+1:]
	}
	return b
}

// endHeader handles the empty line that ends a header block or the
// trailers.
func (f *h1Framer) endHeader() {
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
}

// cut keeps part of a line cut by the end of a read: its start, and its
// last bytes.
func (f *h1Framer) cut(b []byte) {
	if f.lineN == 0 {
		f.tail = [h1TailKeep]byte{}
	}
	if f.lineN < h1LineKeep {
		copy(f.head[f.lineN:], b)
	}
	f.lineN += len(b)
	if len(b) >= h1TailKeep {
		copy(f.tail[:], b[len(b)-h1TailKeep:])
	} else {
		copy(f.tail[:], f.tail[len(b):])
		copy(f.tail[h1TailKeep-len(b):], b)
	}
}

// line handles a complete line: head is its start (all of it when whole),
// end its last bytes.
func (f *h1Framer) line(head, end []byte, whole bool) {
	head = trimCR(head)
	if f.st == h1ChunkSize {
		f.chunkSize(head, whole)
		return
	}
	if f.firstLn {
		f.firstLn = false
		f.http11 = httpVersion11(trimCR(end))
		return
	}
	if whole && len(head) == 0 {
		f.endHeader()
		return
	}
	if f.st == h1Trailer || len(head) == 0 {
		return
	}
	switch head[0] | 0x20 {
	case 'c':
		if v, ok := headerValue(head, "content-length:"); ok {
			n, ok := parseDecimal(v)
			if !whole || !ok || (f.bodyLen >= 0 && f.bodyLen != n) {
				f.lost = true // net/http refuses it too
				return
			}
			f.bodyLen = n
		}
	case 't':
		if v, ok := headerValue(head, "transfer-encoding:"); ok && f.http11 {
			v = trimSpace(v)
			f.chunked = whole && len(v) >= 7 && equalFold(v[len(v)-7:], "chunked")
			if !f.chunked {
				f.lost = true // net/http accepts only chunked
			}
		}
	}
}

// chunkSize handles a chunk-size line: hexadecimal digits, optionally
// followed by extensions.
func (f *h1Framer) chunkSize(l []byte, whole bool) {
	if i := bytes.IndexByte(l, ';'); i >= 0 {
		l = l[:i]
	}
	l = trimSpace(l)
	// net/http reads up to 16 hexadecimal digits.
	if !whole || len(l) == 0 || len(l) > 16 {
		f.lost = true
		return
	}
	var n uint64
	for _, c := range l {
		switch {
		case '0' <= c && c <= '9':
			n = n<<4 | uint64(c-'0')
		case 'a' <= c|0x20 && c|0x20 <= 'f':
			n = n<<4 | uint64(c|0x20-'a'+10)
		default:
			f.lost = true
			return
		}
	}
	switch {
	case n == 0:
		f.st = h1Trailer
	case n > 1<<63-1:
		f.lost = true // more than anyone sends
	default:
		f.st, f.remain = h1ChunkData, int64(n)
	}
}

// httpVersion11 tells from the end of a request line whether the request
// is HTTP/1.1 or later, as net/http reads the version.
func httpVersion11(end []byte) bool {
	if n := len(end); n >= 8 && string(end[n-8:]) == "HTTP/1.1" {
		return true
	}
	i := bytes.LastIndex(end, []byte("HTTP/"))
	if i < 0 {
		return false
	}
	v := end[i+5:]
	dot := bytes.IndexByte(v, '.')
	if dot <= 0 || dot == len(v)-1 {
		return false
	}
	major, ok1 := parseDecimal(v[:dot])
	minor, ok2 := parseDecimal(v[dot+1:])
	// net/http reads a body as HTTP/1.1 does for "HTTP/0.0" too.
	return ok1 && ok2 && (major > 1 || (major == 1 && minor >= 1) || (major == 0 && minor == 0))
}

func trimCR(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\r' {
		return b[:n-1]
	}
	return b
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// headerValue returns the value of line when its name, with the colon, is
// name (lower case), compared without regard to case.
func headerValue(line []byte, name string) ([]byte, bool) {
	if len(line) < len(name) || !equalFold(line[:len(name)], name) {
		return nil, false
	}
	return line[len(name):], true
}

// equalFold compares b with lower, an ASCII string in lower case,
// without regard to case.
func equalFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// parseDecimal parses a Content-Length value, as net/http does (an int63).
func parseDecimal(b []byte) (int64, bool) {
	b = trimSpace(b)
	if len(b) == 0 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' || n > (1<<63-1-9)/10 {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}
