//go:build unix

package ocsp

import "syscall"

// allocChunk maps n zeroed bytes outside the Go heap: the collector
// neither scans them nor counts them towards its goal. They must never
// hold a Go pointer (records hold none).
func allocChunk(n int) []byte {
	b, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return make([]byte, n) // on the heap, still unscanned
	}
	return b
}

func freeChunk(b []byte) {
	_ = syscall.Munmap(b) // fails only for a heap fallback, which the collector frees
}
