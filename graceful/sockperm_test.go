//go:build unix

package graceful

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

func socketStat(t *testing.T, path string) (mode os.FileMode, gid uint32) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode(), fi.Sys().(*syscall.Stat_t).Gid
}

// TestUnixSocketModeAndGroup: the socket file gets the configured mode
// and group.
func TestUnixSocketModeAndGroup(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.sock")
	cfg := testConfig(t, nil)
	cfg.UnixSocketMode = 0o660
	wantGid := uint32(os.Getgid())
	if os.Geteuid() == 0 {
		wantGid = 4242 // root may give the socket to any group
	}
	cfg.UnixSocketGroup = strconv.Itoa(int(wantGid))
	s := New(UnixAddressPrefix+path, 0, cfg)
	if err := s.CreateListener(); err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	mode, gid := socketStat(t, path)
	if mode.Type() != os.ModeSocket || mode.Perm() != 0o660 {
		t.Errorf("socket mode %v, want a socket with 0660", mode)
	}
	if gid != wantGid {
		t.Errorf("socket group %d, want %d", gid, wantGid)
	}
}

// TestUnixSocketNeverWiderThanAsked binds with the umask cleared, as the
// loosest environment would: the file that bind creates has the owner's
// bits only, before the group and the full mode are set.
func TestUnixSocketNeverWiderThanAsked(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	path := filepath.Join(t.TempDir(), "app.sock")
	perm := socketPerm{mode: 0o666}
	lc := net.ListenConfig{Control: perm.beforeBind}
	ln, err := lc.Listen(context.Background(), "unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if mode, _ := socketStat(t, path); mode.Perm() != 0o600 {
		t.Fatalf("socket bound with mode %v under umask 0, want 0600 until its group is set", mode.Perm())
	}
	if err := perm.apply(path); err != nil {
		t.Fatal(err)
	}
	if mode, _ := socketStat(t, path); mode.Perm() != 0o666 {
		t.Fatalf("socket mode %v after apply, want 0666", mode.Perm())
	}
}

func TestUnixSocketBadSettings(t *testing.T) {
	for _, tc := range []struct {
		name  string
		mode  os.FileMode
		group string
		want  string
	}{
		{"unknown group", 0o660, "no-such-group-gracekit", `unix socket group "no-such-group-gracekit"`},
		{"mode bits", os.ModeSetuid | 0o660, "", "bits other than permissions"},
		{"negative gid", 0, "-3", "a group ID is a number from 0 to 4294967294"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "app.sock")
			cfg := testConfig(t, nil)
			cfg.UnixSocketMode, cfg.UnixSocketGroup = tc.mode, tc.group
			s := New(UnixAddressPrefix+path, 0, cfg)
			err := s.CreateListener()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("CreateListener: %v, want an error with %q", err, tc.want)
			}
			if _, err := os.Lstat(path); !os.IsNotExist(err) {
				t.Errorf("a socket file was left at %s: %v", path, err)
			}
		})
	}
}

// TestLookupGroupTakesOnlyAGroupID: a numeric group is a group ID from 0
// to 4294967294; one out of range is an error, never cut to 32 bits or
// taken as chown's "leave the group" (4294967295).
func TestLookupGroupTakesOnlyAGroupID(t *testing.T) {
	for _, tc := range []struct {
		group string
		want  int
	}{{"0", 0}, {"33", 33}, {"4294967294", 4294967294}} {
		if got, err := lookupGroup(tc.group); err != nil || got != tc.want {
			t.Errorf("lookupGroup(%q) = %d, %v; want %d", tc.group, got, err, tc.want)
		}
	}
	for _, group := range []string{"-1", "4294967295", "99999999999", "+99999999999999999999"} {
		if got, err := lookupGroup(group); err == nil || !strings.Contains(err.Error(), "a group ID is a number from 0 to 4294967294") {
			t.Errorf("lookupGroup(%q) = %d, %v; want the range named", group, got, err)
		}
	}
}
