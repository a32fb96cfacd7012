package http3

// This file stands in for graceful.Process's PassOn, Inherited, Secret and
// graceful.HandingOver until the core has them; it goes once they land.
// It works without the core: every generation binds a unix datagram
// socket in the abstract namespace whose name says the lineage, the
// generation and the PID, a newer generation finds the older ones in
// /proc/net/unix, and relays carry the datagrams between those sockets
// and the socket pairs the Server uses. Its Secret is derived from the
// command line (no secrecy): fine for tests, not for production.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/gracekit/gracekit/graceful"
)

// inheritedFile is a file an older generation still alive passed on.
type inheritedFile struct {
	Generation int
	PID        int
	File       *os.File
}

type standIn struct {
	p   *graceful.Process
	key [32]byte
}

func newStandIn(p *graceful.Process) *standIn {
	exe, _ := os.Executable()
	dir, _ := os.Getwd()
	return &standIn{p: p, key: sha256.Sum256([]byte(exe + "\x00" + dir + "\x00" + strings.Join(os.Args, "\x00")))}
}

func standInHandingOver(context.Context) bool { return false }

func (s *standIn) Generation() int { return s.p.Generation() }

func (s *standIn) Secret(name string) ([32]byte, error) {
	return sha256.Sum256(append(append([]byte("gracekit http3 stand-in secret\x00"), s.key[:]...), name...)), nil
}

func (s *standIn) prefix(name string) string {
	h := sha256.Sum256(append(s.key[:], name...))
	return fmt.Sprintf("gkh3-%x-", h[:8])
}

func abstract(name string) *net.UnixAddr { return &net.UnixAddr{Name: "@" + name, Net: "unixgram"} }

func (s *standIn) PassOn(name string, f *os.File) error {
	l, err := net.ListenUnixgram("unixgram", abstract(fmt.Sprintf("%s%d-%d", s.prefix(name), s.Generation(), os.Getpid())))
	if err != nil {
		return err
	}
	c, err := net.FileConn(f)
	if err != nil {
		l.Close()
		return err
	}
	fc := c.(*net.UnixConn)
	var peer atomic.Pointer[net.UnixAddr]
	go func() {
		buf := make([]byte, 70000)
		for {
			n, from, err := l.ReadFromUnix(buf)
			if err != nil {
				return
			}
			if from != nil && from.Name != "" {
				peer.Store(from)
			}
			if n > 0 {
				_ = sendDontWait(fc, buf[:n])
			}
		}
	}()
	go func() {
		buf := make([]byte, 70000)
		for {
			n, err := fc.Read(buf)
			if err != nil {
				return
			}
			if a := peer.Load(); a != nil {
				_, _ = l.WriteToUnix(buf[:n], a)
			}
		}
	}()
	return nil
}

func (s *standIn) Inherited(name string) []inheritedFile {
	data, err := os.ReadFile("/proc/net/unix")
	if err != nil {
		return nil
	}
	prefix := "@" + s.prefix(name)
	me, pid := s.Generation(), os.Getpid()
	var out []inheritedFile
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 8 {
			continue
		}
		rest, ok := strings.CutPrefix(fields[len(fields)-1], prefix)
		if !ok {
			continue
		}
		g, p, ok := strings.Cut(rest, "-")
		gen, err1 := strconv.Atoi(g)
		opid, err2 := strconv.Atoi(p)
		if !ok || err1 != nil || err2 != nil || opid == pid || gen >= me || !alive(opid) {
			continue
		}
		f, err := s.relayTo(abstract(fields[len(fields)-1][1:]), fmt.Sprintf("%speer-%d-%d", s.prefix(name), pid, gen))
		if err != nil {
			continue
		}
		out = append(out, inheritedFile{Generation: gen, PID: opid, File: f})
	}
	slices.SortFunc(out, func(a, b inheritedFile) int { return b.Generation - a.Generation })
	return out
}

// relayTo returns one end of a socket pair whose datagrams are relayed to
// target, and target's datagrams back.
func (s *standIn) relayTo(target *net.UnixAddr, self string) (*os.File, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	mine, theirs := os.NewFile(uintptr(fds[0]), "relay"), os.NewFile(uintptr(fds[1]), "relay")
	c, err := net.FileConn(mine)
	mine.Close()
	if err != nil {
		theirs.Close()
		return nil, err
	}
	xc := c.(*net.UnixConn)
	pc, err := net.ListenUnixgram("unixgram", abstract(self))
	if err != nil {
		xc.Close()
		theirs.Close()
		return nil, err
	}
	_, _ = pc.WriteToUnix(nil, target) // registers this generation as the newest
	go func() {
		buf := make([]byte, 70000)
		for {
			n, err := xc.Read(buf)
			if err != nil {
				return
			}
			_, _ = pc.WriteToUnix(buf[:n], target)
		}
	}()
	go func() {
		buf := make([]byte, 70000)
		for {
			n, _, err := pc.ReadFromUnix(buf)
			if err != nil {
				return
			}
			_ = sendDontWait(xc, buf[:n])
		}
	}()
	return theirs, nil
}

func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && i+2 < len(b) && b[i+2] != 'Z'
}
