package ocsp

import (
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// The caching headers of RFC 5019 section 6.2 take few distinct values at
// any moment: Expires and Last-Modified are whole seconds shared by every
// response signed in the same second, Cache-Control's max-age is the
// number of seconds to nextUpdate, and Content-Length is one of a few
// sizes per key. headerCache keeps the formatted value of each recently
// used key, so that serving a pre-signed response formats none of them
// again; readers take no lock.

// headerCacheSize is the number of keys a headerCache holds, direct
// mapped: a second's pre-signed responses all share one slot.
const headerCacheSize = 1024

type headerEntry struct {
	key int64
	val []string // shared by every response: net/http only reads it
}

type headerCache struct {
	slots [headerCacheSize]atomic.Pointer[headerEntry]
}

// get returns the header value for key, formatting it with format when
// the slot holds another key.
func (c *headerCache) get(key int64, format func(int64) string) []string {
	slot := &c.slots[uint64(key)%headerCacheSize]
	if e := slot.Load(); e != nil && e.key == key {
		return e.val
	}
	e := &headerEntry{key: key, val: []string{format(key)}}
	slot.Store(e)
	return e.val
}

// responseHeaders holds the header caches of one Responder.
type responseHeaders struct {
	dates, maxAge, length headerCache
}

func (h *responseHeaders) date(t time.Time) []string {
	return h.dates.get(t.Unix(), formatHTTPDate)
}

func (h *responseHeaders) cacheControl(maxAge int64) []string {
	return h.maxAge.get(maxAge, formatCacheControl)
}

func (h *responseHeaders) contentLength(n int) []string {
	return h.length.get(int64(n), formatInt)
}

func formatHTTPDate(unix int64) string { return time.Unix(unix, 0).UTC().Format(http.TimeFormat) }

func formatCacheControl(maxAge int64) string {
	return "max-age=" + strconv.FormatInt(maxAge, 10) + ", public, no-transform, must-revalidate"
}

func formatInt(n int64) string { return strconv.FormatInt(n, 10) }
