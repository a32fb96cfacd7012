package graceful

import (
	"strings"
	"time"
)

// systemd's file-descriptor store keeps the sockets of a service across
// its restarts and crashes (FileDescriptorStoreMax=): a process stores
// each socket it serves with FDSTORE=1 and FDNAME=, and the next process
// systemd starts receives them, named, in LISTEN_FDS and LISTEN_FDNAMES,
// while connections wait in their queues.
//
// An FDNAME may not contain ':', which most socket names do, so a stored
// socket's FDNAME is "gk-" and the name with '%' and ':' escaped.
const fdStorePrefix = "gk-"

// fdStoreFdName is the FDNAME under which a socket is stored.
func fdStoreFdName(name string) string {
	r := strings.NewReplacer("%", "%25", ":", "%3A", "\n", "%0A")
	return fdStorePrefix + r.Replace(name)
}

// fdStoreName reads a socket's name back from its FDNAME; ok is false for
// a name that is not one of ours (a socket unit's FileDescriptorName=).
func fdStoreName(fdName string) (string, bool) {
	rest, ok := strings.CutPrefix(fdName, fdStorePrefix)
	if !ok {
		return "", false
	}
	r := strings.NewReplacer("%3A", ":", "%0A", "\n", "%25", "%")
	return r.Replace(rest), true
}

// storeSockets hands the sockets to systemd's file-descriptor store when
// the service has one (systemd sets $FDSTORE to FileDescriptorStoreMax=):
// then a crash, kill -9 or systemctl restart refuses no connection, as
// the next process systemd starts gets the same sockets back. Sockets
// systemd passed already are not stored again.
func (p *Process) storeSockets(socks []*socket) {
	if !p.fdStoreActive() {
		return
	}
	stored := 0
	for _, s := range socks {
		if s.fd < 0 || s.from == "systemd" {
			continue
		}
		p.notify("FDSTORE=1\nFDNAME="+fdStoreFdName(s.name), s.fd)
		stored++
	}
	if stored > 0 {
		if err := p.sys.sdBarrier(time.Second); err != nil {
			p.logger.Warn("file-descriptor store: systemd did not confirm", "error", err)
		}
		p.logger.Info("sockets stored in systemd's file-descriptor store", "count", stored)
	}
}

// fdStoreActive reports whether systemd gave the service a
// file-descriptor store ($FDSTORE is FileDescriptorStoreMax=).
func (p *Process) fdStoreActive() bool {
	v, ok := p.sys.lookupEnv("FDSTORE")
	return ok && v != "" && v != "0"
}

// unstoreSocket removes a socket nothing uses any more from systemd's
// store, so that the next start does not get it back.
func (p *Process) unstoreSocket(s *socket) {
	if _, ours := fdStoreName(s.fdName); !ours || s.from != "systemd" {
		return
	}
	p.notify("FDSTOREREMOVE=1\nFDNAME=" + s.fdName)
	p.logger.Info("socket removed from systemd's file-descriptor store", "name", s.name)
}
