package message

import (
	"syscall"
	"time"
)

// threadCPU is the CPU time of the calling thread (lock it first): on a
// shared machine it leaves out the time spent waiting for a core, which
// ns/op counts.
func threadCPU() time.Duration {
	const rusageThread = 1 // RUSAGE_THREAD
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
