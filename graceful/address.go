package graceful

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"unicode/utf8"
)

// SystemdAddressPrefix starts an address that names a socket systemd
// passed (socket activation, or its file-descriptor store) by its
// FileDescriptorName=, as in "systemd:web".
const SystemdAddressPrefix = "systemd:"

// endpoint is a parsed socket address: a network and the address in that
// network's syntax, or the systemd name of a passed socket.
type endpoint struct {
	network string // tcp, tcp4, tcp6, unix, udp, udp4, udp6, unixgram
	address string
	fdName  string // set for "systemd:NAME": the socket must come from systemd
}

// Networks a Process can listen on.
var (
	streamNetworks = []string{"tcp", "tcp4", "tcp6", "unix"}
	packetNetworks = []string{"udp", "udp4", "udp6", "unixgram"}
)

// Address is a server address as [ParseAddress] reads it.
type Address struct {
	// Network is "tcp" for "host:port", "unix" for "unix:/path" and
	// "systemd" for "systemd:NAME".
	Network string
	// Host and Port are the parts of a TCP address. Host is empty for all
	// interfaces; Port 0 asks for any free port.
	Host string
	Port int
	// Path is the socket file of a unix address, an absolute path.
	Path string
	// SystemdName is NAME in "systemd:NAME": the FileDescriptorName= of a
	// socket systemd passes (socket activation or its file-descriptor
	// store).
	SystemdName string
}

// AddressForms says in words which server addresses [ParseAddress]
// accepts, for error messages and documentation.
const AddressForms = `write "host:port", ":port", ":0" for any free port, "unix:/absolute/path.sock", or "systemd:NAME" for a socket systemd passes`

// ParseAddress checks a server address and says what it names. It is the
// one rule for the addresses of [New], [Process.NewServer] and the config
// package's server.address and server.httpsAddress: "host:port", ":port"
// (all interfaces), "[ipv6]:port", ":0" (any free port),
// "unix:/absolute/path.sock" and "systemd:NAME". A unix socket path must
// be absolute, so that the address means the same socket whatever the
// working directory. The error says what is wrong with the address and
// which forms are accepted, in words meant for the person who wrote it.
func ParseAddress(address string) (Address, error) {
	ep, err := parseAddress(address)
	if err != nil {
		return Address{}, err
	}
	switch {
	case ep.fdName != "":
		return Address{Network: "systemd", SystemdName: ep.fdName}, nil
	case ep.network == "unix":
		return Address{Network: "unix", Path: ep.address}, nil
	}
	host, port, _ := net.SplitHostPort(ep.address)
	n, _ := strconv.Atoi(port)
	return Address{Network: "tcp", Host: host, Port: n}, nil
}

// parseAddress turns a server address into an endpoint; see
// [ParseAddress] for what it accepts.
func parseAddress(address string) (endpoint, error) {
	if path, ok := strings.CutPrefix(address, UnixAddressPrefix); ok {
		switch {
		case path == "":
			return endpoint{}, fmt.Errorf("the address %q has no socket path: write unix:/absolute/path.sock", address)
		case !strings.HasPrefix(path, "/"):
			return endpoint{}, fmt.Errorf("the address %q names the relative path %q: unix socket paths must be absolute, such as unix:/run/app.sock", address, path)
		case strings.Trim(path, "/") == "":
			return endpoint{}, fmt.Errorf("the address %q names the root directory: write the path of the socket file, such as unix:/run/app.sock", address)
		}
		return parseNetworkAddress("unix", path)
	}
	if name, ok := strings.CutPrefix(address, SystemdAddressPrefix); ok {
		return parseNetworkAddress("tcp", SystemdAddressPrefix+name)
	}
	if address == "" {
		return endpoint{}, fmt.Errorf("the address is empty: %s", AddressForms)
	}
	return parseNetworkAddress("tcp", address)
}

// parseNetworkAddress checks an address in a network's syntax, as
// [Process.Listen] and [Process.ListenPacket] take it.
func parseNetworkAddress(network, address string) (endpoint, error) {
	ep := endpoint{network: network, address: address}
	if name, ok := strings.CutPrefix(address, SystemdAddressPrefix); ok {
		if name == "" || strings.ContainsAny(name, ":\x00") || len(name) > 255 {
			return endpoint{}, fmt.Errorf("the address %q: a systemd socket name (its FileDescriptorName=) is 1 to 255 characters without \":\"", address)
		}
		ep.fdName = name
		ep.address = ""
	}
	switch network {
	case "unix", "unixgram":
		if ep.fdName != "" {
			return ep, nil
		}
		if address == "" {
			return endpoint{}, fmt.Errorf("%s address: the socket path is empty (write an absolute path such as /run/app.sock)", network)
		}
		if strings.IndexByte(address, 0) >= 0 {
			return endpoint{}, fmt.Errorf("%s address %q has a NUL byte", network, address)
		}
		if max := len(syscall.RawSockaddrUnix{}.Path) - 1; len(address) > max {
			return endpoint{}, fmt.Errorf("%s address %q: the socket path is %d bytes, longer than the %d a unix socket address holds: use a shorter path, such as one in /run", network, address, len(address), max)
		}
		return ep, nil
	case "tcp", "tcp4", "tcp6", "udp", "udp4", "udp6":
		if ep.fdName != "" {
			return ep, nil
		}
		if err := checkHostPort(address); err != nil {
			return endpoint{}, err
		}
		return ep, nil
	}
	return endpoint{}, fmt.Errorf("unknown network %q: use one of %s (streams) or %s (datagrams)",
		network, strings.Join(streamNetworks, ", "), strings.Join(packetNetworks, ", "))
}

// checkHostPort says what is wrong with a "host:port" address, or returns
// nil.
func checkHostPort(address string) error {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		reason := err.Error()
		if ae, ok := err.(*net.AddrError); ok {
			reason = ae.Err
		}
		return fmt.Errorf("%q is not an address (%s): %s", address, reason, AddressForms)
	}
	if i := strings.IndexFunc(host, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(".-_:%", r))
	}); i >= 0 {
		r, _ := utf8.DecodeRuneInString(host[i:])
		return fmt.Errorf("the address %q has the host %q, which holds %q: a host is a name or an IP address (a space, or an invisible character such as a byte order mark, is never part of one)", address, host, r)
	}
	if port == "" {
		return fmt.Errorf("the address %q has no port: write a port from 0 to 65535 after the colon (0 picks any free port)", address)
	}
	digits := strings.Trim(port, "0123456789") == ""
	n, err := strconv.ParseUint(port, 10, 64)
	if !digits {
		return fmt.Errorf("the address %q has the port %q, which is not a number: write a port from 0 to 65535 (0 picks any free port)", address, port)
	}
	if err != nil || n > 65535 {
		return fmt.Errorf("the address %q has the port %s, out of range: write a port from 0 to 65535 (0 picks any free port)", address, port)
	}
	return nil
}

// packet reports whether the endpoint is a datagram socket.
func (e endpoint) packet() bool {
	switch e.network {
	case "udp", "udp4", "udp6", "unixgram":
		return true
	}
	return false
}

// String gives the endpoint back in server address syntax for TCP and
// unix streams ("127.0.0.1:8080", "unix:/run/app.sock"), and as
// "network:address" for the others ("udp:127.0.0.1:53").
func (e endpoint) String() string {
	addr := e.address
	if e.fdName != "" {
		addr = SystemdAddressPrefix + e.fdName
	}
	switch e.network {
	case "tcp":
		return addr
	case "unix":
		if e.fdName != "" {
			return addr
		}
		return UnixAddressPrefix + addr
	}
	return e.network + ":" + addr
}

// formatAddr renders a socket's address in server address syntax, so
// that it can be passed back to [New].
func formatAddr(a net.Addr) string {
	if a == nil {
		return ""
	}
	switch a.Network() {
	case "unix":
		return UnixAddressPrefix + a.String()
	case "tcp":
		return a.String()
	}
	return a.Network() + ":" + a.String()
}

// matches reports whether a socket bound to actual is what the endpoint
// asks for. A port 0 matches nothing: "any free port" is not a particular
// socket. An empty host or "0.0.0.0"/"::" matches a socket on any
// wildcard address; a host name matches when it resolves to the socket's
// IP.
func (e endpoint) matches(actual net.Addr) bool {
	if actual == nil || e.fdName != "" {
		return false
	}
	switch e.network {
	case "unix", "unixgram":
		return actual.Network() == e.network && actual.String() == e.address
	case "tcp", "tcp4", "tcp6":
		got, ok := actual.(*net.TCPAddr)
		if !ok {
			return false
		}
		if ip, port, ok := e.literal(); ok {
			return sameIPPort(ip, port, got.IP, got.Port)
		}
		want, err := net.ResolveTCPAddr(e.network, e.address)
		return err == nil && sameIPPort(want.IP, want.Port, got.IP, got.Port)
	case "udp", "udp4", "udp6":
		got, ok := actual.(*net.UDPAddr)
		if !ok {
			return false
		}
		if ip, port, ok := e.literal(); ok {
			return sameIPPort(ip, port, got.IP, got.Port)
		}
		want, err := net.ResolveUDPAddr(e.network, e.address)
		return err == nil && sameIPPort(want.IP, want.Port, got.IP, got.Port)
	}
	return false
}

// literal returns the IP and port of an endpoint of network "tcp" or
// "udp" whose address is an IP literal and a port, as the resolver would,
// without it: a new generation with hundreds of servers checks each
// inherited socket against its endpoint on its way to ready. ok is false
// for any other endpoint, which the resolver checks.
func (e endpoint) literal() (ip net.IP, port int, ok bool) {
	if e.network != "tcp" && e.network != "udp" {
		return nil, 0, false
	}
	ap, err := netip.ParseAddrPort(e.address)
	if err != nil {
		return nil, 0, false
	}
	return net.IP(ap.Addr().AsSlice()), int(ap.Port()), true
}

func sameIPPort(wantIP net.IP, wantPort int, gotIP net.IP, gotPort int) bool {
	if wantPort == 0 || wantPort != gotPort {
		return false
	}
	if wantIP == nil || wantIP.IsUnspecified() {
		return gotIP == nil || gotIP.IsUnspecified()
	}
	return wantIP.Equal(gotIP)
}

// particular reports whether an endpoint names one socket (a path, a
// non-zero port or a systemd name) rather than "any free port".
func (e endpoint) particular() bool {
	switch {
	case e.fdName != "":
		return true
	case e.network == "unix" || e.network == "unixgram":
		return true
	}
	_, port, err := net.SplitHostPort(e.address)
	return err == nil && port != "0"
}

// sameKind reports whether a socket with address a is of the endpoint's
// network family and type: a TCP socket for tcp, a datagram unix socket
// for unixgram, and so on.
func (e endpoint) sameKind(a net.Addr) bool {
	if a == nil {
		return false
	}
	switch e.network {
	case "tcp", "tcp4", "tcp6":
		_, ok := a.(*net.TCPAddr)
		return ok
	case "udp", "udp4", "udp6":
		_, ok := a.(*net.UDPAddr)
		return ok
	}
	return a.Network() == e.network
}
