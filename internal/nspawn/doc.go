// Package nspawn boots a real systemd (Debian trixie, systemd 257) in
// systemd-nspawn for tests: it builds, or reuses, a cached root file
// system made with debootstrap, boots an ephemeral copy of it, and runs
// commands inside with nsenter. The container shares the host's network,
// so a server started by a unit inside is reachable on the host's
// loopback.
//
// It needs root, systemd-nspawn (systemd-container), debootstrap and
// nsenter, and works on Linux only; [Unavailable] says what is missing.
//
//	rootfs, err := nspawn.Rootfs(ctx, t.Logf)
//	m, err := nspawn.Boot(ctx, nspawn.Options{Rootfs: rootfs})
//	defer m.Close()
//	out, err := m.Run(ctx, "systemctl", "start", "reload")
package nspawn
