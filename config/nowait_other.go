//go:build !unix

package config

// openNoWait: no named pipes to wait on here (see readLimited).
const openNoWait = 0
