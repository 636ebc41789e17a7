//go:build unix && !linux

package bridge

// adviseHugePages does nothing where madvise has no MADV_HUGEPAGE.
func adviseHugePages([]byte) {}
