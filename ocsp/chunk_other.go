//go:build !unix

package ocsp

// allocChunk allocates n zeroed bytes on the heap; they hold no pointers,
// so the collector does not scan them.
func allocChunk(n int) []byte { return make([]byte, n) }

func freeChunk([]byte) {}
