package server

import "testing"

func TestServiceOf(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"/ocsp":                    ServiceOCSP,
		"/ocsp/MFEwTzBNMEswSTAJBg": ServiceOCSP,
		"/ocsp//double":            ServiceOCSP,
		"/crl/issuing-1.crl":       ServiceCRL,
		"/crl/issuing-1/3.crl":     ServiceCRL,
		"/tsa":                     ServiceTSA,
		"/ca/root.cer":             ServiceCA,
		"/healthz":                 ServiceHealth,
		"/readyz":                  ServiceHealth,
		"/metrics":                 ServiceHealth,
		"/api/v1/certificates":     ServiceAPI,
		"/":                        ServiceOther,
		"/ocspx":                   ServiceOther,
		"/favicon.ico":             ServiceOther,
	}
	for path, want := range cases {
		if got := serviceOf(path); got != want {
			t.Errorf("serviceOf(%q) = %q, want %q", path, got, want)
		}
	}
}
