//go:build unix

package server

import (
	"log/slog"
	"syscall"
)

// RaiseOpenFileLimit raises the soft limit on open files (RLIMIT_NOFILE)
// to the hard limit, as far as the system allows, and logs both. Go does
// the same when a program starts (since Go 1.19, on most systems); this
// makes sure, and puts the limit that the connection caps derive from in
// the log.
func RaiseOpenFileLimit(logger *slog.Logger) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		logger.Warn("server: reading the open-file limit", "err", err)
		return
	}
	before := lim.Cur
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			logger.Warn("server: raising the open-file limit to the hard limit", "soft", before, "hard", lim.Max, "err", err)
			return
		}
	}
	logger.Info("open-file limit", "soft", lim.Cur, "hard", lim.Max, "soft_at_start", before)
}

// openFileLimit is the soft limit on open files.
func openFileLimit() (uint64, bool) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, false
	}
	return uint64(lim.Cur), true
}
