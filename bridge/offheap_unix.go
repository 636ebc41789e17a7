//go:build unix

package bridge

import "syscall"

// allocOffHeap returns n zeroed bytes outside the Go heap: an anonymous
// mapping, whose pages the system provides as they are first written.
func allocOffHeap(n int) []byte {
	b, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return make([]byte, n)
	}
	adviseHugePages(b)
	return b
}

// freeOffHeap releases what allocOffHeap returned.
func freeOffHeap(b []byte) { _ = syscall.Munmap(b) }
