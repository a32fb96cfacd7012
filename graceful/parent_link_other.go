//go:build !unix

package graceful

func openParentLink(handover) (*parentLink, error) { return nil, ErrRestartNotSupported }

func switchStderr(int) error { return ErrRestartNotSupported }

func closeFd(int) {}
