//go:build !unix

package bridge

// allocOffHeap returns n zeroed bytes; without mmap they are on the heap.
func allocOffHeap(n int) []byte { return make([]byte, n) }

// freeOffHeap releases what allocOffHeap returned.
func freeOffHeap([]byte) {}
