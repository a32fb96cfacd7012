package graceful

import (
	"fmt"
	"net"
)

// inheritedListener is a listening socket the process received from its
// parent generation or from systemd, waiting to be claimed by NewServer.
type inheritedListener struct {
	name string // the address the parent used, or the systemd FD name
	ln   net.Listener
	from string // "parent" or "systemd"
}

// inherit adopts what the process was handed: the parent's handover when
// there is one, else systemd's socket activation.
func (p *Process) inherit() error {
	raw, ok := p.sys.lookupEnv(handoverEnv)
	if !ok {
		lns, err := p.sys.activationListeners(p.logger)
		if err != nil {
			return fmt.Errorf("graceful: systemd socket activation: %w", err)
		}
		p.inherited = lns
		return nil
	}
	// Read once, then hide it from the app's own subprocesses.
	_ = p.sys.unsetenv(handoverEnv)
	h, err := parseHandover(raw)
	if err != nil {
		return fmt.Errorf("graceful: %w", err)
	}
	link, err := openParentLink(h)
	if err != nil {
		return fmt.Errorf("graceful: %w", err)
	}
	lns := make([]inheritedListener, 0, len(h.Listeners))
	for _, l := range h.Listeners {
		ln, err := adoptListener(l.Fd, "")
		if err != nil {
			closeInherited(lns)
			link.close()
			return fmt.Errorf("graceful: listener %q handed over by the parent: %w", l.Name, err)
		}
		lns = append(lns, inheritedListener{name: l.Name, ln: ln, from: "parent"})
	}
	p.generation = h.Generation
	p.ancestors = h.Ancestors
	p.parent = link
	p.inherited = lns
	p.worker = h.Mode == workerMode
	return nil
}

// claimLocked takes the inherited listener for address out of the
// inherited set: the one with exactly that name, else one bound to the
// address. A listener found by name must be bound where the name says,
// so that a confused or hostile environment cannot make the server adopt
// the wrong socket.
func (p *Process) claimLocked(address string, ep endpoint) (net.Listener, string, error) {
	for i, in := range p.inherited {
		if in.name != address {
			continue
		}
		if in.ln.Addr().Network() != ep.network {
			return nil, "", fmt.Errorf("graceful: inherited listener %q is a %s socket, not %s", address, in.ln.Addr().Network(), ep.network)
		}
		if wantsParticularSocket(ep) && !ep.matches(in.ln.Addr()) {
			return nil, "", fmt.Errorf("graceful: inherited listener %q is bound to %s", address, formatAddr(in.ln.Addr()))
		}
		p.inherited = append(p.inherited[:i], p.inherited[i+1:]...)
		return in.ln, in.from, nil
	}
	if !wantsParticularSocket(ep) {
		return nil, "", nil
	}
	for i, in := range p.inherited {
		if ep.matches(in.ln.Addr()) {
			p.inherited = append(p.inherited[:i], p.inherited[i+1:]...)
			return in.ln, in.from, nil
		}
	}
	return nil, "", nil
}

// closeUnclaimed closes the inherited sockets no server asked for: the
// configuration no longer names them. Unix socket files are left alone:
// the previous generation may still be draining on them.
func (p *Process) closeUnclaimed() {
	p.mu.Lock()
	lns := p.inherited
	p.inherited = nil
	p.mu.Unlock()
	for _, in := range lns {
		p.logger.Info("closing an inherited listener no server uses", "name", in.name, "listening", formatAddr(in.ln.Addr()), "source", in.from)
	}
	closeInherited(lns)
}

func closeInherited(lns []inheritedListener) {
	for _, in := range lns {
		if ul, ok := in.ln.(*net.UnixListener); ok {
			ul.SetUnlinkOnClose(false)
		}
		_ = in.ln.Close()
	}
}
