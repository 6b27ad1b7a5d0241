package server

import "net/http"

// Metric labels take only values from bounded sets, so that no client
// can create series: a request's method is one of RFC 9110's (and PATCH)
// or "other".

// methodLabel is the method label of a request.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete,
		http.MethodConnect, http.MethodOptions, http.MethodTrace, http.MethodPatch:
		return method
	}
	return "other"
}
