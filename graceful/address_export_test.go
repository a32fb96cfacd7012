package graceful_test

import (
	"fmt"
	"strings"
	"syscall"
	"testing"

	"github.com/gracekit/gracekit/graceful"
)

func TestParseAddressAccepts(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want graceful.Address
	}{
		{"127.0.0.1:8080", graceful.Address{Network: "tcp", Host: "127.0.0.1", Port: 8080}},
		{":8080", graceful.Address{Network: "tcp", Port: 8080}},
		{":0", graceful.Address{Network: "tcp"}},
		{"[::1]:443", graceful.Address{Network: "tcp", Host: "::1", Port: 443}},
		{"localhost:00080", graceful.Address{Network: "tcp", Host: "localhost", Port: 80}},
		{"unix:/run/app.sock", graceful.Address{Network: "unix", Path: "/run/app.sock"}},
		{"systemd:web", graceful.Address{Network: "systemd", SystemdName: "web"}},
	} {
		got, err := graceful.ParseAddress(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseAddress(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

func TestParseAddressRefuses(t *testing.T) {
	for in, want := range map[string]string{
		"":                                  `the address is empty: write "host:port", ":port", ":0" for any free port, "unix:/absolute/path.sock", or "systemd:NAME" for a socket systemd passes`,
		"8080":                              `"8080" is not an address (missing port in address): write "host:port"`,
		"localhost:":                        `the address "localhost:" has no port: write a port from 0 to 65535 after the colon (0 picks any free port)`,
		"localhost:http":                    `the address "localhost:http" has the port "http", which is not a number`,
		":65536":                            `the address ":65536" has the port 65536, out of range`,
		"unix:":                             `the address "unix:" has no socket path: write unix:/absolute/path.sock`,
		"unix:run/app.sock":                 `the address "unix:run/app.sock" names the relative path "run/app.sock": unix socket paths must be absolute, such as unix:/run/app.sock`,
		"unix:/":                            `the address "unix:/" names the root directory`,
		"systemd:":                          `the address "systemd:": a systemd socket name (its FileDescriptorName=) is 1 to 255 characters without ":"`,
		"systemd:a:b":                       `the address "systemd:a:b": a systemd socket name`,
		" 127.0.0.1:80":                     `the address " 127.0.0.1:80" has the host " 127.0.0.1", which holds ' ': a host is a name or an IP address`,
		"\ufeff127.0.0.1:80":                `the address "\ufeff127.0.0.1:80" has the host "\ufeff127.0.0.1", which holds '\ufeff'`,
		"unix:/" + strings.Repeat("d", 120): fmt.Sprintf(`unix address "/%s": the socket path is 121 bytes, longer than the %d a unix socket address holds`, strings.Repeat("d", 120), len(syscall.RawSockaddrUnix{}.Path)-1),
	} {
		_, err := graceful.ParseAddress(in)
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("ParseAddress(%q) error = %v, want it to start with %s", in, err, want)
		}
	}
}

// TestParseAddressIsTheServersRule checks that New and Process.NewServer
// refuse an address with ParseAddress's own words: one rule, one message.
func TestParseAddressIsTheServersRule(t *testing.T) {
	for _, addr := range []string{"unix:relative.sock", "localhost:http", "systemd:"} {
		_, perr := graceful.ParseAddress(addr)
		if perr == nil {
			t.Fatalf("ParseAddress(%q) accepted it", addr)
		}
		srv := graceful.New(addr, 0, graceful.DefaultServerConfig())
		err := srv.CreateListener()
		if err == nil || !strings.HasSuffix(err.Error(), perr.Error()) {
			t.Errorf("New(%q).CreateListener() error = %v, want it to end with %q", addr, err, perr)
		}
		var p *graceful.Process
		if _, err := p.NewServer(addr, graceful.DefaultServerConfig()); err == nil || !strings.HasSuffix(err.Error(), perr.Error()) {
			t.Errorf("Process.NewServer(%q) error = %v, want it to end with %q", addr, err, perr)
		}
	}
}
