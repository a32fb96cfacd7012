//go:build unix

package graceful

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"
)

// BenchmarkDrainIdleConns measures what the drain of a server holding n
// idle keep-alive connections costs: its duration and the CPU time of
// the whole process (the clients sit idle and do not read) during it.
//
//	go test -run '^$' -bench DrainIdleConns -count 6 ./graceful
func BenchmarkDrainIdleConns(b *testing.B) {
	benchDrains(b, []int{100, 1000, 5000}, drainIdle)
}

// benchDrains runs drain for each number of connections in sizes and
// reports the drain's duration and the process's CPU time in it, per
// drain. A size whose descriptors (both ends in this process) exceed the
// limit is skipped.
func benchDrains(b *testing.B, sizes []int, drain func(b *testing.B, n int) (wall, cpu time.Duration)) {
	for _, n := range sizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			var lim syscall.Rlimit
			if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && uint64(lim.Cur) < uint64(2*n+100) {
				b.Skipf("%d connections need %d descriptors at both ends; the limit is %d", n, 2*n+100, lim.Cur)
			}
			var wall, cpu time.Duration
			for range b.N {
				w, c := drain(b, n)
				wall += w
				cpu += c
			}
			b.ReportMetric(float64(wall.Microseconds())/1000/float64(b.N), "drain-ms")
			b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms")
		})
	}
}

// drainIdle serves n idle keep-alive connections, shuts the server down
// and returns how long the drain took and the process's CPU time in it.
func drainIdle(b *testing.B, n int) (wall, cpu time.Duration) {
	b.Helper()
	b.StopTimer()
	defer b.StartTimer()
	s, errc := serveBench(b, benchHandler)
	conns := sendRequests(b, s.GetListenedAddress(), n)
	defer closeConns(conns)
	for _, c := range conns {
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}
	cpu0 := processCPU(b)
	start := time.Now()
	b.StartTimer()
	if err := s.Shutdown(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	wall = time.Since(start)
	cpu = processCPU(b) - cpu0
	<-errc
	return wall, cpu
}

// sendRequests opens n connections to addr and sends GET / on each.
func sendRequests(b *testing.B, addr string, n int) []net.Conn {
	b.Helper()
	conns := make([]net.Conn, 0, n)
	req := []byte("GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
	for range n {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			conns = append(conns, c)
			_, err = c.Write(req)
		}
		if err != nil {
			closeConns(conns)
			b.Fatal(err)
		}
	}
	return conns
}

func closeConns(conns []net.Conn) {
	for _, c := range conns {
		_ = c.Close()
	}
}

func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkDrainBusyConns measures the drain of a server whose n
// keep-alive connections each have a request in flight when it begins:
// the handlers all return at once, every answer says Connection: close,
// and each connection then closes. Its duration and the process's CPU
// time (the clients read their answers) from the release of the
// handlers.
//
//	go test -run '^$' -bench DrainBusyConns -count 6 ./graceful
func BenchmarkDrainBusyConns(b *testing.B) {
	benchDrains(b, []int{1000, 5000}, drainBusy)
}

func drainBusy(b *testing.B, n int) (wall, cpu time.Duration) {
	b.Helper()
	b.StopTimer()
	defer b.StartTimer()
	release := make(chan struct{})
	draining := make(chan (<-chan struct{}), n)
	var started sync.WaitGroup
	started.Add(n)
	s, errc := serveBench(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		draining <- Draining(r.Context())
		started.Done()
		<-release
		_, _ = io.WriteString(w, "ok")
	}))
	conns := sendRequests(b, s.GetListenedAddress(), n)
	defer closeConns(conns)
	started.Wait()
	var readers sync.WaitGroup
	for _, c := range conns {
		readers.Go(func() {
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
			}
		})
	}
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	<-<-draining // the drain has begun
	cpu0 := processCPU(b)
	start := time.Now()
	b.StartTimer()
	close(release)
	if err := <-shut; err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	wall = time.Since(start)
	cpu = processCPU(b) - cpu0
	readers.Wait()
	<-errc
	return wall, cpu
}
