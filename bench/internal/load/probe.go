package load

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/gracekit/gracekit/internal/loadgen"
)

// Get sends one GET path on a new connection and returns the status and
// body. It never retries.
func Get(addr, path string, timeout time.Duration) (int, []byte, error) {
	return GetTLS(addr, path, timeout, nil)
}

// GetTLS is Get over TLS with cfg (plain TCP when cfg is nil); cfg must
// offer HTTP/1.1 only.
func GetTLS(addr, path string, timeout time.Duration, cfg *tls.Config) (int, []byte, error) {
	var conn net.Conn
	var err error
	if cfg == nil {
		conn, err = net.DialTimeout("tcp", addr, timeout)
	} else {
		conn, err = tls.DialWithDialer(&net.Dialer{Timeout: timeout}, "tcp", addr, cfg)
	}
	if err != nil {
		return 0, nil, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(timeout))
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n", path); err != nil {
		return 0, nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

// WaitPID polls addr with GET / every interval until a 200 names pid
// (any pid when pid is 0), ctx ends or timeout passes. It returns the
// pid that answered and when.
func WaitPID(ctx context.Context, addr string, pid int, interval, timeout time.Duration) (int, time.Time, error) {
	deadline := time.Now().Add(timeout)
	var last error
	for n := 0; time.Now().Before(deadline) && n < 1_000_000; n++ {
		code, body, err := Get(addr, "/", time.Second)
		if err == nil && code == http.StatusOK {
			if got := loadgen.ParsePID(body); got != 0 && (pid == 0 || got == pid) {
				return got, time.Now(), nil
			}
			err = fmt.Errorf("answered by pid %d", loadgen.ParsePID(body))
		} else if err == nil {
			err = fmt.Errorf("status %d", code)
		}
		last = err
		select {
		case <-ctx.Done():
			return 0, time.Time{}, ctx.Err()
		case <-time.After(interval):
		}
	}
	return 0, time.Time{}, fmt.Errorf("no 200 from pid %d at %s within %s (last: %v)", pid, addr, timeout, last)
}
