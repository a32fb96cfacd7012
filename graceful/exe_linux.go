package graceful

// selfExecutable names the running binary even after its file was
// removed or replaced.
func selfExecutable() string { return "/proc/self/exe" }
