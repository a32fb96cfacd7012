//go:build unix && !linux

package graceful

import "os"

// adoptBySystemd: only Linux has CLONE_PARENT (and systemd).
func adoptBySystemd(*os.ProcAttr) bool { return false }

func (c *osChild) watchAdopted() {}
