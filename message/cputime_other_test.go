//go:build !linux

package message

import "time"

func threadCPU() time.Duration { return 0 }
