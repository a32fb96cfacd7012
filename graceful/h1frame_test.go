package graceful

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
)

// genRequests builds a stream of requests of every framing HTTP/1
// clients use, and returns it with the offset at which each request
// begins.
func genRequests(r *rand.Rand, n int) ([]byte, []int) {
	var b bytes.Buffer
	var starts []int
	for i := range n {
		if r.IntN(4) == 0 {
			b.WriteString("\r\n") // a line break between requests is allowed
		}
		starts = append(starts, b.Len())
		body := strings.Repeat("x", r.IntN(300))
		switch r.IntN(5) {
		case 0:
			fmt.Fprintf(&b, "GET /%d HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n", i)
		case 1:
			fmt.Fprintf(&b, "POST /%d HTTP/1.1\r\nHost: a\r\ncontent-LENGTH:  %d \r\n\r\n%s", i, len(body), body)
		case 2:
			fmt.Fprintf(&b, "POST /%d HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", i)
			for len(body) > 0 {
				k := min(len(body), 1+r.IntN(100))
				fmt.Fprintf(&b, "%x;ext=1\r\n%s\r\n", k, body[:k])
				body = body[k:]
			}
			b.WriteString("0\r\nTrailer-A: b\r\n\r\n")
		case 3:
			// A body that looks like requests and empty lines.
			body = "GET / HTTP/1.1\r\n\r\n\r\n\r\n" + body
			fmt.Fprintf(&b, "PUT /%d HTTP/1.1\nHost: a\nContent-Length: %d\n\n%s", i, len(body), body)
		case 4:
			fmt.Fprintf(&b, "GET /%d HTTP/1.0\r\nX-Long: %s\r\n\r\n", i, strings.Repeat("y", 200))
		}
	}
	return b.Bytes(), starts
}

// TestH1FramerCountsRequestStarts feeds generated streams in pieces of
// random sizes and checks, after every piece, that the framer has seen
// exactly the requests whose first byte it has read.
func TestH1FramerCountsRequestStarts(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 300 {
		stream, starts := genRequests(r, 1+r.IntN(8))
		var f h1Framer
		begun := 0
		for off := 0; off < len(stream); {
			end := min(len(stream), off+1+r.IntN(64))
			begun += f.feed(stream[off:end])
			want := 0
			for _, s := range starts {
				if s < end {
					want++
				}
			}
			if f.lost || begun != want {
				t.Fatalf("round %d: after %d of %d bytes: begun %d (lost %v), want %d\n%q", round, end, len(stream), begun, f.lost, want, stream)
			}
			off = end
		}
	}
}

// FuzzH1Framer: wherever net/http has read whole requests off a stream,
// the framer, fed the same bytes, has counted exactly as many, whatever
// the input.
func FuzzH1Framer(f *testing.F) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 20 {
		s, _ := genRequests(r, 3)
		f.Add(s)
	}
	f.Add([]byte("GET / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nabcde"))
	f.Add([]byte("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"))
	f.Fuzz(func(t *testing.T, stream []byte) {
		rd := bytes.NewReader(stream)
		br := bufio.NewReader(rd)
		for parsed := 1; ; parsed++ {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			if _, err := io.Copy(io.Discard, req.Body); err != nil {
				return
			}
			consumed := len(stream) - rd.Len() - br.Buffered()
			var fr h1Framer
			begun := fr.feed(stream[:consumed])
			if fr.lost {
				t.Fatalf("the framer lost track of %q, which net/http reads as %d requests", stream[:consumed], parsed)
			}
			if begun != parsed {
				t.Fatalf("framer counted %d request starts in %q, net/http read %d requests", begun, stream[:consumed], parsed)
			}
		}
	})
}

// TestH1FramerRefusesThePreface: an HTTP/2 preface on a connection that
// negotiated HTTP/1 is not a request the drain can follow.
func TestH1FramerRefusesThePreface(t *testing.T) {
	var f h1Framer
	f.feed([]byte(clientPreface))
	if !f.lost {
		t.Fatal("the HTTP/2 preface was framed as an HTTP/1 request")
	}
}

// BenchmarkH1Framer measures the framer on one read holding one request
// head, as a keep-alive client sends them: the bench's GET, and a
// browser's.
func BenchmarkH1Framer(b *testing.B) {
	for _, bc := range []struct{ name, req string }{
		{"bench", "GET / HTTP/1.1\r\nHost: bench\r\n\r\n"},
		{"browser", "GET /index.html HTTP/1.1\r\nHost: example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n" +
			"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\nAccept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br\r\n" +
			"Connection: keep-alive\r\nCookie: session=0123456789abcdef0123456789abcdef\r\nUpgrade-Insecure-Requests: 1\r\nCache-Control: max-age=0\r\n\r\n"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			req := []byte(bc.req)
			var f h1Framer
			b.SetBytes(int64(len(req)))
			for b.Loop() {
				if f.feed(req) != 1 {
					b.Fatal("the framer did not count the request")
				}
			}
		})
	}
}
