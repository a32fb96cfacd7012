package graceful

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/gracekit/gracekit/internal/testcert"
)

// h2Client is a raw HTTP/2 client over TLS that never retries: it writes
// frames itself and reports every frame the server sends, so that a test
// sees exactly which GOAWAY came when and which stream was refused.
type h2Client struct {
	t      *testing.T
	conn   *tls.Conn
	fr     *http2.Framer
	enc    *hpack.Encoder
	encBuf bytes.Buffer
	dec    *hpack.Decoder
	status map[uint32]string
	body   map[uint32]*bytes.Buffer
	ended  map[uint32]bool
	// goaways are the GOAWAYs read while waiting for something else,
	// for expectGoAway to return in order.
	goaways []uint32
}

func dialH2(t *testing.T, raw net.Conn, pool *x509.CertPool) *h2Client {
	t.Helper()
	conn := tls.Client(raw, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", NextProtos: []string{"h2"}})
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	if err := conn.Handshake(); err != nil {
		t.Fatalf("TLS handshake: %v", err)
	}
	if p := conn.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("negotiated %q, want h2", p)
	}
	c := &h2Client{t: t, conn: conn, status: map[uint32]string{}, body: map[uint32]*bytes.Buffer{}, ended: map[uint32]bool{}}
	if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	c.fr = http2.NewFramer(conn, conn)
	c.enc = hpack.NewEncoder(&c.encBuf)
	c.dec = hpack.NewDecoder(4096, nil)
	if err := c.fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	return c
}

// request sends GET path on stream id, all in one go.
func (c *h2Client) request(id uint32, path string) {
	c.t.Helper()
	c.encBuf.Reset()
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", "127.0.0.1"}, {":path", path}} {
		_ = c.enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	if err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: c.encBuf.Bytes(), EndStream: true, EndHeaders: true}); err != nil {
		c.t.Fatalf("send stream %d: %v", id, err)
	}
}

// next reads frames until one of interest: a GOAWAY, a RST_STREAM, or
// the end of a stream. It answers SETTINGS and PING as a client must.
func (c *h2Client) next() http2.Frame {
	c.t.Helper()
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			c.t.Fatalf("read frame: %v", err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				_ = c.fr.WriteSettingsAck()
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				_ = c.fr.WritePing(true, f.Data)
			}
		case *http2.HeadersFrame:
			fields, err := c.dec.DecodeFull(f.HeaderBlockFragment())
			if err != nil {
				c.t.Fatal(err)
			}
			for _, hf := range fields {
				if hf.Name == ":status" {
					c.status[f.StreamID] = hf.Value
				}
			}
			if f.StreamEnded() {
				c.ended[f.StreamID] = true
				return f
			}
		case *http2.DataFrame:
			if c.body[f.StreamID] == nil {
				c.body[f.StreamID] = &bytes.Buffer{}
			}
			c.body[f.StreamID].Write(f.Data())
			if len(f.Data()) > 0 {
				_ = c.fr.WriteWindowUpdate(0, uint32(len(f.Data())))
			}
			if f.StreamEnded() {
				c.ended[f.StreamID] = true
				return f
			}
		case *http2.GoAwayFrame, *http2.RSTStreamFrame:
			return f
		}
	}
}

// expectGoAway reads until a GOAWAY and returns its last stream ID.
func (c *h2Client) expectGoAway() uint32 {
	c.t.Helper()
	if len(c.goaways) > 0 {
		last := c.goaways[0]
		c.goaways = c.goaways[1:]
		return last
	}
	for {
		switch f := c.next().(type) {
		case *http2.GoAwayFrame:
			if f.ErrCode != http2.ErrCodeNo {
				c.t.Fatalf("GOAWAY with error %v", f.ErrCode)
			}
			return f.LastStreamID
		case *http2.RSTStreamFrame:
			c.t.Fatalf("stream %d reset (%v) while waiting for a GOAWAY", f.StreamID, f.ErrCode)
		}
	}
}

// expectAnswer reads until stream id ends and checks it was a 200.
func (c *h2Client) expectAnswer(id uint32) string {
	c.t.Helper()
	for !c.ended[id] {
		switch f := c.next().(type) {
		case *http2.GoAwayFrame:
			if f.LastStreamID < id {
				c.t.Fatalf("stream %d refused: GOAWAY with last stream %d", id, f.LastStreamID)
			}
			c.goaways = append(c.goaways, f.LastStreamID)
		case *http2.RSTStreamFrame:
			if f.StreamID == id {
				c.t.Fatalf("stream %d reset: %v", id, f.ErrCode)
			}
		}
	}
	if got := c.status[id]; got != "200" {
		c.t.Fatalf("stream %d answered %q, want 200", id, got)
	}
	return c.body[id].String()
}

// h2Server serves HTTPS with a handler that says "ok", and returns the
// server and its address.
func h2Server(t *testing.T, grace time.Duration) (*Server, string, *x509.CertPool) {
	t.Helper()
	pair := testcert.Write(t, t.TempDir())
	cfg := testConfig(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok "+r.Proto)
	}))
	cfg.IdleDrainGrace = grace
	s := New("127.0.0.1:0", 0, cfg)
	if err := s.CreateListenerTLS(pair.CertFile, pair.KeyFile); err != nil {
		t.Fatal(err)
	}
	serve(t, s)
	return s, s.GetListenedAddress(), pair.Pool
}

// readUntilPing reads frames until the server's PING, which it returns
// unanswered, answering SETTINGS as a client must; it fails on anything
// that ends a stream or refuses one.
func (c *h2Client) readUntilPing() *http2.PingFrame {
	c.t.Helper()
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			c.t.Fatalf("read frame: %v", err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				_ = c.fr.WriteSettingsAck()
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				return f
			}
		case *http2.GoAwayFrame:
			c.t.Fatalf("GOAWAY (last stream %d) before the PING", f.LastStreamID)
		case *http2.RSTStreamFrame:
			c.t.Fatalf("stream %d reset before the PING", f.StreamID)
		}
	}
}

// TestHTTP2DrainNoticeRefusesNothing: the first GOAWAY of a drain names
// the largest stream ID and comes with a PING, so a request the client
// sends while the notice is on its way is served; the final GOAWAY comes
// once the client has answered the PING (not after a fixed wait: the
// grace here is a minute) and names the last stream served. A single
// net/http GOAWAY would have named stream 1 and refused stream 3.
func TestHTTP2DrainNoticeRefusesNothing(t *testing.T) {
	const grace = time.Minute
	s, addr, pool := h2Server(t, grace)
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	c := dialH2(t, raw, pool)
	c.request(1, "/first")
	if body := c.expectAnswer(1); body != "ok HTTP/2.0" {
		t.Fatalf("stream 1 answered %q", body)
	}

	shutdown := make(chan error, 1)
	begin := time.Now()
	go func() { shutdown <- s.Shutdown(context.Background()) }()
	if last := c.expectGoAway(); last != 1<<31-1 {
		t.Fatalf("first GOAWAY names stream %d, want the drain notice (2^31-1)", last)
	}
	ping := c.readUntilPing()
	// A request that crossed the notice on the wire, then the answer to
	// the PING: the request is served, the final GOAWAY names it.
	c.request(3, "/crossed")
	if err := c.fr.WritePing(true, ping.Data); err != nil {
		t.Fatal(err)
	}
	if body := c.expectAnswer(3); body != "ok HTTP/2.0" {
		t.Fatalf("stream 3 answered %q", body)
	}
	last := c.expectGoAway()
	if last != 3 {
		t.Errorf("final GOAWAY names stream %d, want 3, the last one served", last)
	}
	if took := time.Since(begin); took > grace/2 {
		t.Errorf("final GOAWAY after %s: it waited for the grace (%s), not for the PING's answer", took, grace)
	}
	_ = c.conn.Close()
	if err := <-shutdown; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if st := s.Stats().Drain; st.CutConns != 0 || st.CutRequests != 0 {
		t.Errorf("drain cut %d connections, %d requests", st.CutConns, st.CutRequests)
	}
}

// TestHTTP2FinalGoAwayWithoutPingAnswer: a client that never answers the
// PING gets the final GOAWAY once the grace has passed.
func TestHTTP2FinalGoAwayWithoutPingAnswer(t *testing.T) {
	s, addr, pool := h2Server(t, 100*time.Millisecond)
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	c := dialH2(t, raw, pool)
	c.request(1, "/")
	c.expectAnswer(1)
	shutdown := make(chan error, 1)
	go func() { shutdown <- s.Shutdown(context.Background()) }()
	if last := c.expectGoAway(); last != 1<<31-1 {
		t.Fatalf("first GOAWAY names stream %d, want the drain notice", last)
	}
	c.readUntilPing() // and never answer it
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			t.Fatalf("read frame: %v", err)
		}
		if g, ok := f.(*http2.GoAwayFrame); ok {
			if g.LastStreamID != 1 {
				t.Errorf("final GOAWAY names stream %d, want 1", g.LastStreamID)
			}
			break
		}
	}
	_ = c.conn.Close()
	if err := <-shutdown; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// TestHTTP2ConnectionStartedDuringDrainGetsNotice: a connection accepted
// before the listener closed but whose TLS handshake ends during the
// drain (curl's new connection per request) gets the notice right after
// the server's SETTINGS, and its request is served.
func TestHTTP2ConnectionStartedDuringDrainGetsNotice(t *testing.T) {
	s, addr, pool := h2Server(t, 300*time.Millisecond)
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	waitFor(t, "the server to accept the connection", 10*time.Second, func() bool { return s.Stats().NewConns == 1 })
	shutdown := make(chan error, 1)
	go func() { shutdown <- s.Shutdown(context.Background()) }()
	waitFor(t, "the drain to begin", 10*time.Second, func() bool { return s.Stats().Draining })

	c := dialH2(t, raw, pool)
	c.request(1, "/")
	// The notice comes first (right after SETTINGS), then the answer.
	if last := c.expectGoAway(); last != 1<<31-1 {
		t.Fatalf("first GOAWAY names stream %d, want the drain notice", last)
	}
	if body := c.expectAnswer(1); body != "ok HTTP/2.0" {
		t.Fatalf("stream 1 answered %q", body)
	}
	if last := c.expectGoAway(); last != 1 {
		t.Errorf("final GOAWAY names stream %d, want 1", last)
	}
	_ = c.conn.Close()
	if err := <-shutdown; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// TestHTTP2NextProtosWithoutH2ServesHTTP1Only: a tls.Config that offers
// only HTTP/1.1 is obeyed; configuring HTTP/2 must not add "h2" back.
func TestHTTP2NextProtosWithoutH2ServesHTTP1Only(t *testing.T) {
	pair := testcert.Write(t, t.TempDir())
	s := New("127.0.0.1:0", 0, testConfig(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Proto)
	})))
	if err := s.CreateListenerTLS(pair.CertFile, pair.KeyFile, &tls.Config{NextProtos: []string{"http/1.1"}}); err != nil {
		t.Fatal(err)
	}
	serve(t, s)
	conn, err := tls.Dial("tcp", s.GetListenedAddress(), &tls.Config{RootCAs: pair.Pool, NextProtos: []string{"h2", "http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if p := conn.ConnectionState().NegotiatedProtocol; p != "http/1.1" {
		t.Fatalf("negotiated %q with NextProtos [http/1.1], want http/1.1", p)
	}
}

// recordConn is a net.Conn that records what is written to it, one slice
// per Write call.
type recordConn struct {
	net.Conn
	mu     sync.Mutex
	writes [][]byte
	fail   error
}

func (r *recordConn) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return 0, r.fail
	}
	r.writes = append(r.writes, bytes.Clone(p))
	return len(p), nil
}

func (r *recordConn) all() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Join(r.writes, nil)
}

// frame builds an HTTP/2 frame of the given type with n payload bytes.
func frame(typ byte, n int) []byte {
	f := make([]byte, 9+n)
	f[0], f[1], f[2] = byte(n>>16), byte(n>>8), byte(n)
	f[3] = typ
	binary.BigEndian.PutUint32(f[5:], 1)
	for i := range n {
		f[9+i] = byte(i)
	}
	return f
}

// splitFrames parses a byte stream into frame types; it fails on a
// stream that does not end at a frame boundary.
func splitFrames(t *testing.T, b []byte) []byte {
	t.Helper()
	var types []byte
	for len(b) > 0 {
		if len(b) < 9 {
			t.Fatalf("%d bytes left: a partial frame header", len(b))
		}
		n := int(b[0])<<16 | int(b[1])<<8 | int(b[2])
		if len(b) < 9+n {
			t.Fatalf("frame of %d bytes cut after %d", n, len(b)-9)
		}
		types = append(types, b[3])
		b = b[9+n:]
	}
	return types
}

// testH2Conn is the HTTP/2 side of a conn whose server is srv, writing
// to rc.
func testH2Conn(t *testing.T, rc net.Conn) *h2Conn {
	srv := New("127.0.0.1:0", 0, testConfig(t, nil))
	return newH2Conn(&conn{srv: srv, rd: srv.rd, Conn: rc})
}

// TestDrainNoticeGoesBetweenFrames writes frames in chunks that cut them
// anywhere, asks for the notice at every point, and checks that the notice
// (a GOAWAY, then a PING) always lands whole between two frames, after
// the first, exactly once.
func TestDrainNoticeGoesBetweenFrames(t *testing.T) {
	settings, headers, data, empty := frame(0x4, 6), frame(0x1, 20), frame(0x0, 100), frame(0x0, 0)
	stream := bytes.Join([][]byte{settings, headers, data, empty, headers}, nil)
	for chunk := 1; chunk <= len(stream); chunk += 3 {
		for askAt := 0; askAt < len(stream); askAt += 2 {
			rc := &recordConn{}
			c := testH2Conn(t, rc)
			asked := false
			for off := 0; off < len(stream); off += chunk {
				if off >= askAt && !asked {
					c.sendNotice(time.Now())
					asked = true
				}
				end := min(off+chunk, len(stream))
				if n, err := c.write(stream[off:end]); err != nil || n != end-off {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			if !asked {
				c.sendNotice(time.Now())
			}
			// One more frame: a notice still waiting goes before it.
			if _, err := c.write(empty); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the notice to be written", 5*time.Second, func() bool {
				return bytes.Contains(rc.all(), []byte{0, 0, 8, 0x6})
			})
			types := splitFrames(t, rc.all())
			if len(types) != 8 {
				t.Fatalf("chunk %d, notice asked at %d: frame types %x, want 6 frames and the notice's 2", chunk, askAt, types)
			}
			notices := 0
			for i, typ := range types {
				if typ == 0x7 {
					notices++
					if i == 0 {
						t.Fatalf("chunk %d, notice asked at %d: the notice came before the server's first frame", chunk, askAt)
					}
					if types[i+1] != 0x6 {
						t.Fatalf("chunk %d, notice asked at %d: the GOAWAY is not followed by the PING: %x", chunk, askAt, types)
					}
				}
			}
			if notices != 1 {
				t.Fatalf("chunk %d, notice asked at %d: %d notices in %x", chunk, askAt, notices, types)
			}
		}
	}
}

func TestDrainNoticeWriteErrorIsReturned(t *testing.T) {
	rc := &recordConn{}
	c := testH2Conn(t, rc)
	if _, err := c.write(frame(0x4, 0)); err != nil {
		t.Fatal(err)
	}
	rc.fail = errors.New("broken pipe")
	c.mu.Lock()
	c.pending = true
	c.mu.Unlock()
	if _, err := c.write(frame(0x1, 3)); err == nil {
		t.Fatal("Write on a broken connection returned no error")
	}
}

// TestPingAckIsSeenAcrossReads feeds the client's side of a connection
// (preface, SETTINGS, a PING ACK with other data, the notice's PING ACK)
// in pieces of every size, and checks that the notice's answer is seen
// exactly when its last byte has been read, and taken as processed only
// when net/http asks for more.
func TestPingAckIsSeenAcrossReads(t *testing.T) {
	srvPing := [8]byte{}
	mk := func(typ, flags byte, payload []byte) []byte {
		f := []byte{0, 0, byte(len(payload)), typ, flags, 0, 0, 0, 0}
		return append(f, payload...)
	}
	for split := 1; split <= 40; split++ {
		c := testH2Conn(t, &recordConn{})
		srvPing = c.c.rd.h2.ping
		other := srvPing
		other[7] ^= 0xff
		stream := []byte(clientPreface)
		stream = append(stream, mk(0x4, 0, nil)...)
		stream = append(stream, mk(framePing, flagAck, other[:])...)
		stream = append(stream, mk(framePing, 0, srvPing[:])...) // a PING of the client's, not an answer
		ackAt := len(stream)
		stream = append(stream, mk(framePing, flagAck, srvPing[:])...)
		stream = append(stream, mk(0x4, 1, nil)...)
		for off := 0; off < len(stream); off += split {
			end := min(off+split, len(stream))
			c.beforeRead()
			if c.acked.Load() && off < ackAt+17 {
				t.Fatalf("split %d: acknowledged before the answer was read", split)
			}
			c.afterRead(stream[off:end])
			if got, want := c.ackRead, end >= ackAt+17; got != want {
				t.Fatalf("split %d, after %d bytes: answer read = %v, want %v", split, end, got, want)
			}
		}
		c.beforeRead()
		if !c.acked.Load() {
			t.Fatalf("split %d: answer never taken as processed", split)
		}
	}
}
