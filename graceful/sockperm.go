package graceful

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"strconv"
	"strings"
)

// socketPerm is who may connect to a unix socket a server binds: the
// file's mode and group, from [ServerConfig.UnixSocketMode] and
// [ServerConfig.UnixSocketGroup].
type socketPerm struct {
	mode  fs.FileMode // 0: as the umask makes it
	group string      // "": the process's group
}

func (c ServerConfig) socketPerm() socketPerm {
	return socketPerm{mode: c.UnixSocketMode, group: c.UnixSocketGroup}
}

func (p socketPerm) set() bool { return p.mode != 0 || p.group != "" }

// finalMode is the mode the socket file ends with.
func (p socketPerm) finalMode() fs.FileMode {
	if p.mode != 0 {
		return p.mode
	}
	return 0o660 // a group without a mode: the group may connect
}

// check tells what is wrong with the settings, before anything is bound.
func (p socketPerm) check() error {
	if p.mode&^fs.ModePerm != 0 {
		return fmt.Errorf("unix socket mode %#o has bits other than permissions: use a mode from 0 to 0777", uint32(p.mode))
	}
	if p.group != "" {
		if _, err := lookupGroup(p.group); err != nil {
			return err
		}
	}
	return nil
}

// apply gives the socket file at path its group, then its mode. It does
// nothing when no permissions are configured.
func (p socketPerm) apply(path string) error {
	if !p.set() {
		return nil
	}
	if p.group != "" {
		gid, err := lookupGroup(p.group)
		if err != nil {
			return err
		}
		if err := os.Lchown(path, -1, gid); err != nil {
			if errors.Is(err, fs.ErrPermission) {
				return fmt.Errorf("give unix socket %s to group %s: %w (the process must run as root or be a member of the group)", path, p.group, err)
			}
			return fmt.Errorf("give unix socket %s to group %s: %w", path, p.group, err)
		}
	}
	if err := os.Chmod(path, p.finalMode()); err != nil {
		return fmt.Errorf("set the mode of unix socket %s to %#o: %w", path, uint32(p.finalMode()), err)
	}
	return nil
}

// maxGID is the largest group ID a socket may be given: chown takes
// (gid_t)-1, 4294967295, to mean "leave the group as it is".
const maxGID = 1<<32 - 2

// lookupGroup resolves a group name or a numeric group ID (digits, with
// an optional sign).
func lookupGroup(group string) (int, error) {
	if digits := strings.TrimPrefix(strings.TrimPrefix(group, "-"), "+"); digits != "" && strings.Trim(digits, "0123456789") == "" {
		gid, err := strconv.ParseInt(group, 10, 64)
		if err != nil || gid < 0 || gid > maxGID {
			return 0, fmt.Errorf("unix socket group %q: a group ID is a number from 0 to %d", group, maxGID)
		}
		return int(gid), nil
	}
	g, err := user.LookupGroup(group)
	if err != nil {
		return 0, fmt.Errorf("unix socket group %q: %w", group, err)
	}
	gid, err := strconv.Atoi(g.Gid)
	if err != nil {
		return 0, fmt.Errorf("unix socket group %q has the group ID %q, not a number", group, g.Gid)
	}
	return gid, nil
}
