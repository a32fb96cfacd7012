package nspawn

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// DefaultRootfs is where the root file system is cached unless
// GRACEKIT_NSPAWN_ROOTFS names another directory.
const DefaultRootfs = "/var/cache/gracekit/nspawn-trixie"

// Suite and Packages are what debootstrap installs.
const (
	Suite    = "trixie"
	Packages = "systemd,systemd-sysv,dbus,procps,iproute2,curl"
)

// Unavailable returns why this machine cannot boot a container (not root,
// a missing tool), or "" when it can.
func Unavailable() string {
	if os.Geteuid() != 0 {
		return "not root: systemd-nspawn needs root"
	}
	var missing []string
	for _, tool := range []string{"systemd-nspawn", "debootstrap", "nsenter"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) > 0 {
		return "missing " + strings.Join(missing, ", ") + " (apt-get install systemd-container debootstrap util-linux)"
	}
	return ""
}

// RootfsDir is the directory of the cached root file system.
func RootfsDir() string {
	if d := os.Getenv("GRACEKIT_NSPAWN_ROOTFS"); d != "" {
		return d
	}
	return DefaultRootfs
}

// complete reports whether dir holds a finished root file system. A build
// is renamed into place only once debootstrap has succeeded, so a half
// built tree is never found here.
func complete(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "usr/lib/systemd/systemd"))
	return err == nil
}

// Rootfs returns the cached root file system ([RootfsDir]), building it
// first if it does not exist: debootstrap runs into a temporary directory
// next to it, which is renamed into place when it succeeded. A lock file
// (the directory's name + ".lock") makes concurrent callers, in this or
// other processes, wait for one build instead of running their own.
// logf, if not nil, reports progress.
func Rootfs(ctx context.Context, logf func(format string, args ...any)) (string, error) {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	dir := RootfsDir()
	if complete(dir) {
		return dir, nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", err
	}
	lock, err := os.OpenFile(dir+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := flock(ctx, lock); err != nil {
		return "", fmt.Errorf("lock %s: %w", lock.Name(), err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if complete(dir) { // built by whoever held the lock
		return dir, nil
	}
	if _, err := os.Stat(dir); err == nil {
		return "", fmt.Errorf("%s exists but is not a root file system with systemd; remove it or set GRACEKIT_NSPAWN_ROOTFS", dir)
	}

	tmp, err := os.MkdirTemp(filepath.Dir(dir), filepath.Base(dir)+".building-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp) // only left when the build failed
	mirror := Mirror()
	logf("nspawn: building %s with debootstrap %s from %s (about a minute, once)", dir, Suite, mirror)
	begin := time.Now()
	cmd := exec.CommandContext(ctx, "debootstrap", "--variant=minbase", "--include="+Packages, Suite, tmp, mirror)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("debootstrap: %w\n%s", err, tail(out, 4000))
	}
	if err := os.WriteFile(filepath.Join(tmp, "etc/hostname"), []byte("gracekit\n"), 0o644); err != nil {
		return "", err
	}
	if !complete(tmp) {
		return "", fmt.Errorf("debootstrap finished but %s has no systemd", tmp)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return "", err
	}
	logf("nspawn: built %s in %s", dir, time.Since(begin).Round(time.Second))
	return dir, nil
}

// flock takes an exclusive lock on f, giving up when ctx ends.
func flock(ctx context.Context, f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Mirror is the Debian mirror debootstrap uses: GRACEKIT_NSPAWN_MIRROR,
// else the first URIs: of the host's apt sources, else deb.debian.org.
func Mirror() string {
	if m := os.Getenv("GRACEKIT_NSPAWN_MIRROR"); m != "" {
		return m
	}
	files, _ := filepath.Glob("/etc/apt/sources.list.d/*.sources")
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "URIs:"); ok {
				if fields := strings.Fields(rest); len(fields) > 0 && strings.Contains(fields[0], "debian") && !strings.Contains(fields[0], "security") {
					f.Close()
					return fields[0]
				}
			}
		}
		f.Close()
	}
	return "http://deb.debian.org/debian"
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
