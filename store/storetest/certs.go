package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/oces-pki/oces/ca"
)

func testReserve(t *testing.T, s Store) {
	ctx := context.Background()
	p, _ := Prepared(t, "issuing", "poces")
	if err := s.Reserve(ctx, p); err != nil {
		t.Fatalf("Reserve: %v", err)
	}
	other := *p
	other.CA = "other"
	for _, tc := range []struct {
		name string
		p    *ca.Prepared
		want error
	}{
		{"same serial again", p, ca.ErrSerialExists},
		{"same serial on another CA", &other, ca.ErrSerialExists},
		{"nil", nil, ca.ErrInvalidRequest},
		{"zero serial", &ca.Prepared{CA: "issuing"}, ca.ErrInvalidRequest},
		{"no CA", &ca.Prepared{Serial: RandSerial(t)}, ca.ErrInvalidRequest},
	} {
		if err := s.Reserve(ctx, tc.p); !errors.Is(err, tc.want) {
			t.Errorf("%s: Reserve = %v, want %v", tc.name, err, tc.want)
		}
	}
	if n, err := s.CountIssued(ctx, "issuing"); err != nil || n != 1 {
		t.Errorf("CountIssued(issuing) = %d, %v; want 1", n, err)
	}
	if n, err := s.CountIssued(ctx, "other"); err != nil || n != 0 {
		t.Errorf("CountIssued(other) = %d, %v; want 0", n, err)
	}
}

func testComplete(t *testing.T, s Store) {
	ctx := context.Background()
	p, der := Prepared(t, "issuing", "moces")
	if err := s.Reserve(ctx, p); err != nil {
		t.Fatal(err)
	}
	_, otherDER := FakeCert(t, p.Serial, 700)
	if _, err := s.Complete(ctx, p.Serial, otherDER, T0); !errors.Is(err, ca.ErrInvalidRequest) {
		t.Errorf("Complete with another TBS = %v, want ErrInvalidRequest", err)
	}
	if _, err := s.Complete(ctx, p.Serial, []byte{0x30, 0x00}, T0); !errors.Is(err, ca.ErrInvalidRequest) {
		t.Errorf("Complete with a malformed certificate = %v, want ErrInvalidRequest", err)
	}
	if _, err := s.Complete(ctx, p.Serial, nil, T0); !errors.Is(err, ca.ErrInvalidRequest) {
		t.Errorf("Complete with no certificate = %v, want ErrInvalidRequest", err)
	}
	issued := T0.Add(time.Second)
	c, err := s.Complete(ctx, p.Serial, der, issued)
	if err != nil {
		t.Fatalf("Complete: %v", err)
	}
	want := &ca.Certificate{Serial: p.Serial, CA: p.CA, Profile: p.Profile, SubjectID: p.SubjectID, Partition: p.Partition,
		NotBefore: p.NotBefore, NotAfter: p.NotAfter, IssuedAt: issued, Status: ca.StatusGood, DER: der}
	checkCert(t, "Complete", c, want)
	got, err := s.Certificate(ctx, p.Serial)
	if err != nil {
		t.Fatalf("Certificate: %v", err)
	}
	checkCert(t, "Certificate", got, want)
	if _, err := s.Complete(ctx, p.Serial, der, issued); !errors.Is(err, ca.ErrConflict) {
		t.Errorf("second Complete = %v, want ErrConflict", err)
	}
	if _, err := s.Complete(ctx, RandSerial(t), der, issued); !errors.Is(err, ca.ErrNotFound) {
		t.Errorf("Complete of an unreserved serial = %v, want ErrNotFound", err)
	}
	// A reservation made without a TBS takes any certificate.
	q, qDER := Prepared(t, "issuing", "moces")
	q.TBS = nil
	if err := s.Reserve(ctx, q); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Complete(ctx, q.Serial, qDER, issued); err != nil {
		t.Errorf("Complete without a reserved TBS: %v", err)
	}
}

// checkCert compares every field a store keeps.
func checkCert(t *testing.T, what string, got, want *ca.Certificate) {
	t.Helper()
	g, w := *got, *want
	if !bytes.Equal(g.DER, w.DER) {
		t.Errorf("%s: DER differs (%d bytes, want %d)", what, len(g.DER), len(w.DER))
	}
	g.DER, w.DER = nil, nil
	times := func(c *ca.Certificate) []time.Time {
		return []time.Time{c.NotBefore, c.NotAfter, c.IssuedAt, c.StatusChanged, c.InvalidityDate, c.RevokedAt}
	}
	gt, wt := times(&g), times(&w)
	for i := range gt {
		if !gt[i].Equal(wt[i]) {
			t.Errorf("%s: time field %d = %v, want %v", what, i, gt[i], wt[i])
		}
	}
	g.NotBefore, g.NotAfter, g.IssuedAt, g.StatusChanged, g.InvalidityDate, g.RevokedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}, time.Time{}, time.Time{}
	w.NotBefore, w.NotAfter, w.IssuedAt, w.StatusChanged, w.InvalidityDate, w.RevokedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if fmt.Sprintf("%+v", g) != fmt.Sprintf("%+v", w) {
		t.Errorf("%s = %+v, want %+v", what, g, w)
	}
}

func testNotFound(t *testing.T, s Store) {
	ctx := context.Background()
	p, _ := Prepared(t, "issuing", "poces")
	if err := s.Reserve(ctx, p); err != nil {
		t.Fatal(err)
	}
	for name, serial := range map[string]ca.Serial{"reserved only": p.Serial, "unknown": RandSerial(t)} {
		if _, err := s.Certificate(ctx, serial); !errors.Is(err, ca.ErrNotFound) {
			t.Errorf("%s: Certificate = %v, want ErrNotFound", name, err)
		}
		if _, err := s.UpdateCertificate(ctx, serial, func(*ca.Certificate) error { return nil }); !errors.Is(err, ca.ErrNotFound) {
			t.Errorf("%s: UpdateCertificate = %v, want ErrNotFound", name, err)
		}
	}
}

func testCertificates(t *testing.T, s Store) {
	ctx := context.Background()
	var a, b []ca.Serial
	for i := range 7 {
		profile := "poces"
		if i%2 == 1 {
			profile = "moces"
		}
		a = append(a, Issue(t, s, "a", profile).Serial)
	}
	for range 3 {
		b = append(b, Issue(t, s, "b", "voces").Serial)
	}
	SetStatus(t, s, a[0], ca.StatusRevoked, T0.Add(time.Hour))
	SetStatus(t, s, a[1], ca.StatusSuspended, T0.Add(time.Hour))
	reserved, _ := Prepared(t, "a", "poces")
	if err := s.Reserve(ctx, reserved); err != nil {
		t.Fatal(err)
	}
	sorted := func(ss ...[]ca.Serial) []ca.Serial {
		out := slices.Concat(ss...)
		slices.SortFunc(out, func(x, y ca.Serial) int { return bytes.Compare(x[:], y[:]) })
		return out
	}
	only := func(ss []ca.Serial, keep ...int) []ca.Serial {
		var out []ca.Serial
		for _, i := range keep {
			out = append(out, ss[i])
		}
		return sorted(out)
	}
	for _, tc := range []struct {
		name string
		q    ca.ListQuery
		want []ca.Serial
	}{
		{"all", ca.ListQuery{}, sorted(a, b)},
		{"one CA", ca.ListQuery{CA: "a"}, sorted(a)},
		{"profile", ca.ListQuery{Profile: "moces"}, only(a, 1, 3, 5)},
		{"revoked of a CA", ca.ListQuery{CA: "a", Status: ca.StatusRevoked}, only(a, 0)},
		{"suspended anywhere", ca.ListQuery{Status: ca.StatusSuspended}, only(a, 1)},
		{"good of a CA", ca.ListQuery{CA: "a", Status: ca.StatusGood}, only(a, 2, 3, 4, 5, 6)},
		{"CA and profile", ca.ListQuery{CA: "b", Profile: "voces"}, sorted(b)},
		{"unknown CA", ca.ListQuery{CA: "nope"}, nil},
	} {
		for _, limit := range []int{0, 3} {
			q := tc.q
			q.Limit = limit
			var got []ca.Serial
			for pages := 0; ; pages++ {
				page, err := s.Certificates(ctx, q)
				if err != nil {
					t.Fatalf("%s: Certificates: %v", tc.name, err)
				}
				if limit > 0 && len(page.Certificates) > limit {
					t.Errorf("%s: page of %d over limit %d", tc.name, len(page.Certificates), limit)
				}
				for _, c := range page.Certificates {
					if len(c.DER) == 0 {
						t.Errorf("%s: %s listed without its DER", tc.name, c.Serial)
					}
					got = append(got, c.Serial)
				}
				if page.Next == nil || pages > 20 {
					break
				}
				q.After = *page.Next
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("%s (limit %d): got %d serials %v, want %d %v", tc.name, limit, len(got), got, len(tc.want), tc.want)
			}
		}
	}
	if _, err := s.Certificates(ctx, ca.ListQuery{Status: "lost"}); !errors.Is(err, ca.ErrInvalidRequest) {
		t.Errorf("unknown status: %v, want ErrInvalidRequest", err)
	}
	page, err := s.Certificates(ctx, ca.ListQuery{Limit: 5000})
	if err != nil || len(page.Certificates) != 10 || page.Next != nil {
		t.Errorf("large limit: %v, %v", page, err)
	}
}

func testUpdate(t *testing.T, s Store) {
	ctx := context.Background()
	c := Issue(t, s, "issuing", "poces")
	refused := fmt.Errorf("refused: %w", ca.ErrConflict)
	for _, tc := range []struct {
		name string
		fn   func(*ca.Certificate) error
		want error
	}{
		{"fn fails", func(c *ca.Certificate) error { c.Status = ca.StatusRevoked; return refused }, refused},
		{"change CA", func(c *ca.Certificate) error { c.CA = "other"; return nil }, ca.ErrInvalidRequest},
		{"change serial", func(c *ca.Certificate) error { c.Serial[0]++; return nil }, ca.ErrInvalidRequest},
		{"change DER", func(c *ca.Certificate) error { c.DER[len(c.DER)-1]++; return nil }, ca.ErrInvalidRequest},
		{"unknown status", func(c *ca.Certificate) error { c.Status = "lost"; return nil }, ca.ErrInvalidRequest},
	} {
		if _, err := s.UpdateCertificate(ctx, c.Serial, tc.fn); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	got, err := s.Certificate(ctx, c.Serial)
	if err != nil || got.Status != ca.StatusGood {
		t.Fatalf("after refused updates: %+v, %v", got, err)
	}
	at := T0.Add(2 * time.Hour)
	inv := T0.Add(time.Hour)
	upd, err := s.UpdateCertificate(ctx, c.Serial, func(c *ca.Certificate) error {
		c.Status, c.Reason, c.StatusChanged, c.RevokedAt, c.InvalidityDate = ca.StatusRevoked, ca.ReasonKeyCompromise, at, at, inv
		return nil
	})
	if err != nil {
		t.Fatalf("UpdateCertificate: %v", err)
	}
	want := *c
	want.Status, want.Reason, want.StatusChanged, want.RevokedAt, want.InvalidityDate = ca.StatusRevoked, ca.ReasonKeyCompromise, at, at, inv
	checkCert(t, "UpdateCertificate", upd, &want)
	got, err = s.Certificate(ctx, c.Serial)
	if err != nil {
		t.Fatal(err)
	}
	checkCert(t, "Certificate after update", got, &want)
}

func testRevokedIndex(t *testing.T, s Store) {
	ctx := context.Background()
	var serials []ca.Serial
	for range 6 {
		serials = append(serials, Issue(t, s, "issuing", "poces").Serial)
	}
	Issue(t, s, "other", "poces")
	at := T0.Add(time.Hour)
	SetStatus(t, s, serials[0], ca.StatusRevoked, at)
	SetStatus(t, s, serials[1], ca.StatusSuspended, at)
	SetStatus(t, s, serials[2], ca.StatusSuspended, at)
	SetStatus(t, s, serials[2], ca.StatusGood, at.Add(time.Minute)) // released
	SetStatus(t, s, serials[3], ca.StatusSuspended, at)
	SetStatus(t, s, serials[3], ca.StatusRevoked, at.Add(time.Minute))
	got := map[ca.Serial]ca.Status{}
	var last ca.Serial
	err := s.ForEachRevoked(ctx, "issuing", func(c *ca.Certificate) error {
		if bytes.Compare(c.Serial[:], last[:]) <= 0 {
			t.Errorf("ForEachRevoked out of serial order at %s", c.Serial)
		}
		last = c.Serial
		got[c.Serial] = c.Status
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[ca.Serial]ca.Status{serials[0]: ca.StatusRevoked, serials[1]: ca.StatusSuspended, serials[3]: ca.StatusRevoked}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("ForEachRevoked = %v, want %v", got, want)
	}
	if c, err := s.Certificate(ctx, serials[3]); err != nil || !c.RevokedAt.Equal(at) {
		t.Errorf("revocation after hold keeps the hold's time: %v, %v", c, err)
	}
	if err := s.ForEachRevoked(ctx, "", func(*ca.Certificate) error { return nil }); !errors.Is(err, ca.ErrInvalidRequest) {
		t.Errorf("ForEachRevoked without a CA: %v", err)
	}
	stop := errors.New("stop")
	if err := s.ForEachRevoked(ctx, "issuing", func(*ca.Certificate) error { return stop }); err != stop {
		t.Errorf("ForEachRevoked does not return fn's error: %v", err)
	}
}

func testForEach(t *testing.T, s Store) {
	ctx := context.Background()
	want := map[string][]ca.Serial{}
	for i := range 25 {
		name := []string{"a", "b"}[i%2]
		want[name] = append(want[name], Issue(t, s, name, "poces").Serial)
	}
	reserved, _ := Prepared(t, "a", "poces")
	if err := s.Reserve(ctx, reserved); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b", ""} {
		var got []ca.Serial
		err := s.ForEachCertificate(ctx, name, func(c *ca.Certificate) error {
			if len(c.DER) != 0 {
				t.Errorf("ForEachCertificate(%q) returned a DER", name)
			}
			if name != "" && c.CA != name {
				t.Errorf("ForEachCertificate(%q) returned a certificate of %s", name, c.CA)
			}
			got = append(got, c.Serial)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		exp := slices.Clone(want[name])
		if name == "" {
			exp = slices.Concat(want["a"], want["b"])
		}
		slices.SortFunc(exp, func(x, y ca.Serial) int { return bytes.Compare(x[:], y[:]) })
		if !slices.Equal(got, exp) {
			t.Errorf("ForEachCertificate(%q): %d serials, want %d in serial order", name, len(got), len(exp))
		}
	}
}

func testChangedSince(t *testing.T, s Store) {
	ctx := context.Background()
	var serials []ca.Serial
	for range 5 {
		serials = append(serials, Issue(t, s, "issuing", "poces").Serial)
	}
	other := Issue(t, s, "other", "poces")
	h := func(n int) time.Time { return T0.Add(time.Duration(n) * time.Hour) }
	SetStatus(t, s, serials[0], ca.StatusRevoked, h(1))
	SetStatus(t, s, serials[1], ca.StatusSuspended, h(2))
	SetStatus(t, s, serials[2], ca.StatusSuspended, h(3))
	SetStatus(t, s, serials[1], ca.StatusGood, h(4)) // released: a delta CRL lists it as removeFromCRL
	SetStatus(t, s, other.Serial, ca.StatusRevoked, h(4))
	if _, err := s.UpdateCertificate(ctx, serials[3], func(*ca.Certificate) error { return nil }); err != nil {
		t.Fatal(err) // no change: not in the index
	}
	changed := func(since time.Time) []string {
		var out []string
		err := s.ForEachChangedSince(ctx, "issuing", since, func(c *ca.Certificate) error {
			out = append(out, fmt.Sprintf("%s:%s", c.Serial, c.Status))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	str := func(i int, st ca.Status) string { return fmt.Sprintf("%s:%s", serials[i], st) }
	for _, tc := range []struct {
		since time.Time
		want  []string
	}{
		{T0, []string{str(0, ca.StatusRevoked), str(2, ca.StatusSuspended), str(1, ca.StatusGood)}},
		{h(2), []string{str(2, ca.StatusSuspended), str(1, ca.StatusGood)}},
		{h(3), []string{str(2, ca.StatusSuspended), str(1, ca.StatusGood)}},
		// A store may keep times to the microsecond (PostgreSQL does); one
		// past the change leaves it out on every backend.
		{h(3).Add(time.Microsecond), []string{str(1, ca.StatusGood)}},
		{h(5), nil},
	} {
		if got := changed(tc.since); !slices.Equal(got, tc.want) {
			t.Errorf("since %v: %v, want %v", tc.since, got, tc.want)
		}
	}
	if err := s.ForEachChangedSince(ctx, "", T0, func(*ca.Certificate) error { return nil }); !errors.Is(err, ca.ErrInvalidRequest) {
		t.Errorf("no CA: %v", err)
	}
	n, err := s.PruneChanges(ctx, "issuing", h(3))
	if err != nil || n != 2 {
		t.Errorf("PruneChanges = %d, %v; want 2", n, err)
	}
	if got := changed(T0); !slices.Equal(got, []string{str(2, ca.StatusSuspended), str(1, ca.StatusGood)}) {
		t.Errorf("after pruning: %v", got)
	}
}

func testNextCounter(t *testing.T, s Store) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		n    uint64
		want uint64
	}{
		{"crl", 1, 1}, {"crl", 1, 2}, {"tsa", 1024, 1}, {"tsa", 1024, 1025}, {"crl", 10, 3}, {"crl", 1, 13},
	} {
		got, err := s.NextCounter(ctx, tc.name, tc.n)
		if err != nil || got != tc.want {
			t.Errorf("NextCounter(%s, %d) = %d, %v; want %d", tc.name, tc.n, got, err, tc.want)
		}
	}
	for _, bad := range []struct {
		name string
		n    uint64
	}{{"", 1}, {"crl", 0}} {
		if _, err := s.NextCounter(ctx, bad.name, bad.n); !errors.Is(err, ca.ErrInvalidRequest) {
			t.Errorf("NextCounter(%q, %d) = %v, want ErrInvalidRequest", bad.name, bad.n, err)
		}
	}
}

func testRegistry(t *testing.T, s Store) {
	ctx := context.Background()
	subject := func(id string, key string) *ca.Subject {
		return &ca.Subject{ID: id, Kind: ca.KindPerson, Key: []byte(key), Name: "Jens Hansen", Created: T0}
	}
	p, _ := Prepared(t, "issuing", "poces")
	p.NewSubject = subject("PID:9208-2002-2-000000000001", "hmac-1")
	if err := s.Reserve(ctx, p); err != nil {
		t.Fatalf("Reserve with a new subject: %v", err)
	}
	for _, tc := range []struct {
		name string
		sub  *ca.Subject
		want error
	}{
		{"identifier taken", subject("PID:9208-2002-2-000000000001", "hmac-2"), ca.ErrSubjectExists},
		{"key taken", subject("PID:9208-2002-2-000000000002", "hmac-1"), ca.ErrSubjectExists},
		{"no kind", &ca.Subject{ID: "PID:9208-2002-2-000000000003"}, ca.ErrInvalidRequest},
	} {
		q, _ := Prepared(t, "issuing", "poces")
		q.NewSubject = tc.sub
		if err := s.Reserve(ctx, q); !errors.Is(err, tc.want) {
			t.Errorf("%s: Reserve = %v, want %v", tc.name, err, tc.want)
		}
		// Nothing was written: the serial is still free.
		q.NewSubject = nil
		if err := s.Reserve(ctx, q); err != nil {
			t.Errorf("%s: the refused reservation kept its serial: %v", tc.name, err)
		}
	}
	if _, err := s.Subject(ctx, "PID:9208-2002-2-000000000002"); !errors.Is(err, ca.ErrNotFound) {
		t.Errorf("a refused subject was registered: %v", err)
	}
	got, err := s.SubjectByKey(ctx, ca.KindPerson, []byte("hmac-1"))
	if err != nil || got.ID != p.NewSubject.ID || got.Name != "Jens Hansen" || !got.Created.Equal(T0) {
		t.Errorf("SubjectByKey = %+v, %v", got, err)
	}
	if got, err := s.Subject(ctx, p.NewSubject.ID); err != nil || string(got.Key) != "hmac-1" {
		t.Errorf("Subject = %+v, %v", got, err)
	}
	for name, err := range map[string]error{
		"unknown key":     second(s.SubjectByKey(ctx, ca.KindPerson, []byte("hmac-9"))),
		"key of its kind": second(s.SubjectByKey(ctx, ca.KindEmployee, []byte("hmac-1"))),
		"unknown subject": second(s.Subject(ctx, "PID:9208-2002-2-999999999999")),
	} {
		if !errors.Is(err, ca.ErrNotFound) {
			t.Errorf("%s: %v, want ErrNotFound", name, err)
		}
	}
	if _, err := s.SubjectByKey(ctx, ca.KindPerson, nil); !errors.Is(err, ca.ErrInvalidRequest) {
		t.Errorf("empty key: %v, want ErrInvalidRequest", err)
	}
}

func second[T any](_ T, err error) error { return err }
