package load

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gracekit/gracekit/internal/loadgen"
)

// StreamResult tells how a hijacked stream went.
type StreamResult struct {
	// PID is the process that opened the stream.
	PID int
	// Lines counts the tick lines read.
	Lines int
	// End is how it ended: "bye draining" or "bye max-stream" (the
	// server said goodbye), or a failure class (eof, reset, timeout, ...)
	// for a stream cut without one.
	End string
	// EndedAt is when the stream ended.
	EndedAt time.Time
}

// Stream is an open hijacked stream (GET /stream with an Upgrade header),
// read in the background.
type Stream struct {
	conn net.Conn
	done chan struct{}
	once sync.Once
	res  StreamResult
}

// OpenStream opens a stream and checks that the subject switched
// protocols. maxLife bounds how long it is read.
func OpenStream(addr, protocol string, maxLife time.Duration) (*Stream, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, fmt.Errorf("stream: %w", err)
	}
	_ = conn.SetDeadline(time.Now().Add(maxLife))
	if _, err := fmt.Fprintf(conn, "GET /stream HTTP/1.1\r\nHost: bench\r\nConnection: Upgrade\r\nUpgrade: %s\r\n\r\n", protocol); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("stream: %w", err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("stream: %w", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		_ = conn.Close()
		return nil, fmt.Errorf("stream: the subject answered %s, not 101: it has no stream endpoint", resp.Status)
	}
	s := &Stream{conn: conn, done: make(chan struct{})}
	go s.read(br)
	return s, nil
}

func (s *Stream) read(br *bufio.Reader) {
	defer close(s.done)
	for s.res.Lines < 1_000_000 {
		line, err := br.ReadString('\n')
		if err != nil {
			s.res.End = loadgen.Classify(err)
			if errors.Is(err, net.ErrClosed) {
				s.res.End = "closed by client"
			}
			s.res.EndedAt = time.Now()
			return
		}
		line = strings.TrimSpace(line)
		if s.res.PID == 0 {
			s.res.PID = loadgen.ParsePID([]byte(line))
		}
		if rest, ok := strings.CutPrefix(line, "bye "); ok {
			f := strings.Fields(rest)
			s.res.End = "bye " + f[len(f)-1]
			s.res.EndedAt = time.Now()
			return
		}
		s.res.Lines++
	}
}

// Done is closed when the stream has ended.
func (s *Stream) Done() <-chan struct{} { return s.done }

// Close ends the stream from the client side and returns its result.
func (s *Stream) Close() StreamResult {
	s.once.Do(func() { _ = s.conn.Close() })
	<-s.done
	return s.res
}
