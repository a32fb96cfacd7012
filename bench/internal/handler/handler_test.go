package handler

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

func TestRootAnswersWithPIDAndReadsBodies(t *testing.T) {
	srv := httptest.NewServer(New(Options{}))
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/", "text/plain", strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := fmt.Sprintf("pid=%d read=5\n", os.Getpid())
	if resp.StatusCode != 200 || string(body) != want {
		t.Fatalf("got %d %q, want 200 %q", resp.StatusCode, body, want)
	}
	for path, code := range map[string]int{"/?sleep=20ms": 200, "/?sleep=bogus": 400, "/?sleep=-1s": 400, "/nope": 404} {
		start := time.Now()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != code {
			t.Errorf("%s: status %d, want %d", path, resp.StatusCode, code)
		}
		if path == "/?sleep=20ms" && time.Since(start) < 20*time.Millisecond {
			t.Errorf("%s answered before the delay", path)
		}
	}
}

func TestStreamSaysGoodbyeWhenDraining(t *testing.T) {
	drain := make(chan struct{})
	srv := httptest.NewServer(New(Options{Draining: func(context.Context) <-chan struct{} { return drain }}))
	defer srv.Close()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET /stream HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: %s\r\n\r\n", StreamProtocol)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	line, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "tick pid=") {
		t.Fatalf("first line %q, %v", line, err)
	}
	close(drain)
	for range 100 {
		line, err = br.ReadString('\n')
		if err != nil || strings.HasPrefix(line, "bye ") {
			break
		}
	}
	if !strings.HasPrefix(line, "bye pid=") || !strings.Contains(line, "draining") {
		t.Fatalf("last line %q, %v", line, err)
	}
}

func TestStreamNeedsUpgrade(t *testing.T) {
	srv := httptest.NewServer(New(Options{}))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("status %d", resp.StatusCode)
	}
}
