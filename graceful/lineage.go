package graceful

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"
)

// The lineage of a service is its generations, one after the other. What
// they share besides the sockets lives here: a secret, made once by the
// first generation (or supervisor) and handed down privately over the
// link, never through the environment; files that a generation passes on
// to the ones after it; and, in re-exec mode, a lifeline to every older
// generation still alive.

// secretSize is the size of the service's secret.
const secretSize = 32

// InheritedFile is a file an older generation passed on with
// [Process.PassOn].
type InheritedFile struct {
	// Generation and PID say which generation passed it.
	Generation int
	PID        int
	// File is a descriptor of the caller's own: it closes it.
	File *os.File
}

// lineage is what one process knows of its lineage.
type lineage struct {
	secret [secretSize]byte

	mu        sync.Mutex
	own       []heldFile // passed on by this generation
	inherited []heldFile // passed on by older ones
	ancestors []*lifeline
	changed   chan struct{} // closed and replaced when an ancestor exits
	// This generation's own lifeline, made at its first restart: it
	// holds the write end until it exits.
	lifeR, lifeW int
}

// heldFile is a file passed on, as a process holds it: its own
// descriptor (close-on-exec).
type heldFile struct {
	passedFile
	fd int
}

func newLineage() *lineage {
	l := &lineage{changed: make(chan struct{}), lifeR: -1, lifeW: -1}
	if _, err := rand.Read(l.secret[:]); err != nil {
		panic(fmt.Sprintf("graceful: no randomness for the service's secret: %v", err))
	}
	return l
}

// PassOn hands f to every later generation of the service for as long as
// this generation lives: they find it with [Process.Inherited]. The
// Process keeps a duplicate of its own; the caller keeps f. Call it
// before Run. In supervisor mode the supervisor holds the file for as
// long as the worker that passed it lives.
//
// A service uses it for state that must reach the next generation with
// the sockets: the HTTP/3 adapter passes the socket on which it receives
// the packets of its connections that the next generation reads.
func (p *Process) PassOn(name string, f *os.File) error {
	if name == "" {
		return errors.New("graceful: PassOn: empty name")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.startupLocked("PassOn"); err != nil {
		return err
	}
	if p.role == RoleSupervisor {
		return errors.New("graceful: PassOn in the supervisor")
	}
	fd, err := dupFd(int(f.Fd()))
	if err != nil {
		return fmt.Errorf("graceful: PassOn(%q): %w", name, err)
	}
	p.lineage.mu.Lock()
	p.lineage.own = append(p.lineage.own, heldFile{passedFile{Name: name, Generation: p.generation, PID: p.pid}, fd})
	p.lineage.mu.Unlock()
	return nil
}

// Inherited returns the files that older generations still alive passed
// on under name with [Process.PassOn], the newest first. Each File is a
// new descriptor that the caller closes.
func (p *Process) Inherited(name string) []InheritedFile {
	l := p.lineage
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []InheritedFile
	for i := len(l.inherited) - 1; i >= 0; i-- {
		h := l.inherited[i]
		if h.Name != name {
			continue
		}
		fd, err := dupFd(h.fd)
		if err != nil {
			continue
		}
		out = append(out, InheritedFile{Generation: h.Generation, PID: h.PID, File: os.NewFile(uintptr(fd), name)})
	}
	slices.SortStableFunc(out, func(a, b InheritedFile) int { return b.Generation - a.Generation })
	return out
}

// Secret returns 32 bytes that are the same in every generation of the
// service and differ for every name: keys that must survive restarts
// (TLS session tickets, QUIC's stateless-reset and address-validation
// tokens) come from it. A service started afresh gets a new secret.
func (p *Process) Secret(name string) ([32]byte, error) {
	return p.lineage.derive(name), nil
}

func (l *lineage) derive(name string) [32]byte {
	m := hmac.New(sha256.New, l.secret[:])
	m.Write([]byte("gracekit/"))
	m.Write([]byte(name))
	var out [32]byte
	copy(out[:], m.Sum(nil))
	return out
}

// sessionTicketPeriod is how long a TLS session-ticket key is used for new
// tickets; tickets of the previous period are still accepted.
const sessionTicketPeriod = 24 * time.Hour

// sessionTicketKeys returns the TLS session-ticket keys of the current
// period and the one before: derived from the secret, so that every
// generation encrypts and decrypts tickets alike and a client resumes its
// session across restarts.
func (l *lineage) sessionTicketKeys(now time.Time) [][32]byte {
	period := now.Unix() / int64(sessionTicketPeriod/time.Second)
	return [][32]byte{
		l.derive(fmt.Sprintf("tls-session-ticket/%d", period)),
		l.derive(fmt.Sprintf("tls-session-ticket/%d", period-1)),
	}
}

// ticketKeyer keeps a tls.Config's session-ticket keys those of the
// lineage's current period.
type ticketKeyer struct {
	l      *lineage
	mu     sync.Mutex
	period int64
}

func (k *ticketKeyer) apply(cfg *tls.Config, now time.Time) {
	if k == nil || cfg == nil || cfg.SessionTicketsDisabled {
		return
	}
	period := now.Unix() / int64(sessionTicketPeriod/time.Second)
	k.mu.Lock()
	defer k.mu.Unlock()
	if period == k.period {
		return
	}
	k.period = period
	cfg.SetSessionTicketKeys(k.l.sessionTicketKeys(now))
}

// filesToPass returns the files a successor gets, this generation's own
// and those of older generations still alive, as new descriptors taken
// under the lock: an ancestor that exits before the successor has them
// closes only the lineage's own. The caller closes them (closeFiles).
func (l *lineage) filesToPass() ([]heldFile, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return dupFiles(append(slices.Clone(l.inherited), l.own...))
}

// dupFiles returns hs with a new descriptor of each (close-on-exec), or
// an error and none.
func dupFiles(hs []heldFile) ([]heldFile, error) {
	out := make([]heldFile, 0, len(hs))
	for _, h := range hs {
		fd, err := dupFd(h.fd)
		if err != nil {
			closeFiles(out)
			return nil, fmt.Errorf("file %q of generation %d: %w", h.Name, h.Generation, err)
		}
		out = append(out, heldFile{h.passedFile, fd})
	}
	return out, nil
}

// closeFiles closes the descriptors of hs.
func closeFiles(hs []heldFile) {
	for _, h := range hs {
		closeFd(h.fd)
	}
}

// ownFiles returns the files this generation passes on.
func (l *lineage) ownFiles() []heldFile {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.own)
}

// takeState takes what the state message of the parent carries.
func (l *lineage) takeState(m linkMsg, fds []int) {
	copy(l.secret[:], m.Secret)
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, f := range m.Files {
		if i < len(fds) {
			l.inherited = append(l.inherited, heldFile{f, fds[i]})
		}
	}
}

// lifeline tells when an older generation has exited: its read end
// reaches EOF once that generation, the only holder of the write end, is
// gone.
type lifeline struct {
	pid, generation int
	fd              int
	gone            chan struct{}
	limit           time.Duration // its drain limit; 0 if it has none
}

// ancestorsToPass returns the older generations a successor gets: those
// still alive and this one (pid, generation, whose drain limit is limit),
// each with a new descriptor of its lifeline, which the caller closes
// once the successor started.
func (l *lineage) ancestorsToPass(pid, generation int, limit time.Duration) ([]ancestor, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lifeW < 0 {
		r, w, err := pipeCloexec()
		if err != nil {
			return nil, fmt.Errorf("lifeline pipe: %w", err)
		}
		l.lifeR, l.lifeW = r, w
	}
	var out []ancestor
	for _, a := range append(slices.Clone(l.ancestors), &lifeline{pid: pid, generation: generation, fd: l.lifeR, gone: make(chan struct{}), limit: limit}) {
		select {
		case <-a.gone:
			continue
		default:
		}
		fd, err := dupFd(a.fd)
		if err != nil {
			for _, o := range out {
				closeFd(o.Lifeline)
			}
			return nil, fmt.Errorf("lifeline of generation %d: %w", a.generation, err)
		}
		out = append(out, ancestor{PID: a.pid, Generation: a.generation, Lifeline: fd, DrainLimit: a.limit})
	}
	return out, nil
}

// watchAncestors starts following the lifelines; when one ends, the files
// that generation passed on are closed and changed is signalled.
func (l *lineage) watchAncestors(lines []*lifeline) {
	l.mu.Lock()
	l.ancestors = lines
	l.mu.Unlock()
	for _, a := range lines {
		go func() {
			waitEOF(a.fd)
			l.mu.Lock()
			closeFd(a.fd)
			l.inherited = slices.DeleteFunc(l.inherited, func(h heldFile) bool {
				if h.PID == a.pid && h.Generation == a.generation {
					closeFd(h.fd)
					return true
				}
				return false
			})
			close(a.gone)
			close(l.changed)
			l.changed = make(chan struct{})
			l.mu.Unlock()
		}()
	}
}

// kill kills ancestor a with SIGKILL, if it has not exited meanwhile
// and still holds its lifeline (see killHolder).
func (l *lineage) kill(a *lifeline) error {
	l.mu.Lock()
	defer l.mu.Unlock() // a.fd stays open meanwhile
	select {
	case <-a.gone:
		return nil
	default:
	}
	return killHolder(a.pid, a.fd)
}

// liveAncestors returns the older generations whose lifeline is open.
func (l *lineage) liveAncestors() []*lifeline {
	l.mu.Lock()
	defer l.mu.Unlock()
	var live []*lifeline
	for _, a := range l.ancestors {
		select {
		case <-a.gone:
		default:
			live = append(live, a)
		}
	}
	return live
}

// changes returns a channel closed when an ancestor exits.
func (l *lineage) changes() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.changed
}

// ancestorsSeen returns every older generation this one was told of.
func (l *lineage) ancestorsSeen() []*lifeline {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.ancestors)
}
