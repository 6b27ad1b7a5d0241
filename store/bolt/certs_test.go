package bolt

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/oces-pki/oces/ca"
)

func TestReserve(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openTest(t)
	done := issue(t, db, "issuing-1", "poces")
	pending, _ := prepared(t, "issuing-1", "poces")
	if err := db.Reserve(ctx, pending); err != nil {
		t.Fatal(err)
	}
	otherCA := *pending
	otherCA.CA = "issuing-2"
	completedOtherCA := &ca.Prepared{Serial: done.Serial, CA: "issuing-2"}
	fresh, _ := prepared(t, "issuing-2", "moces")

	tests := []struct {
		name string
		p    *ca.Prepared
		want error
	}{
		{"fresh serial", fresh, nil},
		{"serial reserved, not completed", pending, ca.ErrSerialExists},
		{"serial reserved on another CA", &otherCA, ca.ErrSerialExists},
		{"serial completed", completedOtherCA, ca.ErrSerialExists},
		{"nil", nil, ca.ErrInvalidRequest},
		{"zero serial", &ca.Prepared{CA: "issuing-1"}, ca.ErrInvalidRequest},
		{"no CA", &ca.Prepared{Serial: randSerial(t)}, ca.ErrInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := db.Reserve(ctx, tt.p)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Reserve: got %v, want %v", err, tt.want)
			}
		})
	}
	if err := db.Reserve(ctx, pending); err == nil || err.Error() != "store: reserving serial "+pending.Serial.String()+": ca: serial already used" {
		t.Errorf("error message: %v", err)
	}
	for name, want := range map[string]uint64{"issuing-1": 2, "issuing-2": 1, "unknown": 0} {
		if n, err := db.CountIssued(ctx, name); err != nil || n != want {
			t.Errorf("CountIssued(%s) = %d, %v; want %d", name, n, err, want)
		}
	}
}

func TestComplete(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openTest(t)
	reserve := func(p *ca.Prepared) ca.Serial {
		t.Helper()
		if err := db.Reserve(ctx, p); err != nil {
			t.Fatal(err)
		}
		return p.Serial
	}
	ok, okDER := prepared(t, "issuing-1", "poces")
	reserve(ok)
	noTBS, noTBSDER := prepared(t, "issuing-1", "poces")
	noTBS.TBS = nil
	reserve(noTBS)
	mismatch, _ := prepared(t, "issuing-1", "poces")
	reserve(mismatch)
	_, otherDER := fakeCert(t, randSerial(t), 600)
	done := issue(t, db, "issuing-1", "poces")

	tests := []struct {
		name   string
		serial ca.Serial
		der    []byte
		want   error
	}{
		{"reserved", ok.Serial, okDER, nil},
		{"reserved without TBS", noTBS.Serial, noTBSDER, nil},
		{"already completed", done.Serial, done.DER, ca.ErrConflict},
		{"not reserved", randSerial(t), okDER, ca.ErrNotFound},
		{"other TBS", mismatch.Serial, otherDER, ca.ErrInvalidRequest},
		{"not a certificate", mismatch.Serial, []byte("garbage"), ca.ErrInvalidRequest},
		{"empty DER", mismatch.Serial, nil, ca.ErrInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := db.Complete(ctx, tt.serial, tt.der, t0)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Complete: got %v, want %v", err, tt.want)
			}
			if err != nil {
				return
			}
			got, err := db.Certificate(ctx, tt.serial)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != ca.StatusGood || !got.IssuedAt.Equal(t0) || !bytes.Equal(got.DER, tt.der) || got.Serial != tt.serial {
				t.Errorf("stored %+v", got)
			}
			if c.CA != got.CA || c.Profile != got.Profile || c.SubjectID != got.SubjectID || c.Partition != got.Partition {
				t.Errorf("returned %+v, stored %+v", c, got)
			}
		})
	}
	if _, err := db.Complete(ctx, ok.Serial, okDER, t0); !errors.Is(err, ca.ErrConflict) {
		t.Errorf("second Complete: %v, want ErrConflict", err)
	}
	// A failed completion leaves the reservation usable.
	if err := db.Reserve(ctx, mismatch); !errors.Is(err, ca.ErrSerialExists) {
		t.Errorf("re-reserving after a failed Complete: %v", err)
	}
}

func TestCertificateNotFound(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openTest(t)
	p, _ := prepared(t, "issuing-1", "poces")
	if err := db.Reserve(ctx, p); err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]ca.Serial{"unknown": randSerial(t), "reserved only": p.Serial} {
		if _, err := db.Certificate(ctx, s); !errors.Is(err, ca.ErrNotFound) {
			t.Errorf("%s: Certificate: %v, want ErrNotFound", name, err)
		}
	}
}

// population issues certificates over two CAs and two profiles and gives
// some of them each status; it returns them all in serial order.
func population(t *testing.T, db *DB, n int) []*ca.Certificate {
	t.Helper()
	var all []*ca.Certificate
	for i := range n {
		c := issue(t, db, []string{"issuing-1", "issuing-2"}[i%2], []string{"poces", "moces", "moces"}[i%3])
		switch i % 5 {
		case 1:
			c = setStatus(t, db, c.Serial, ca.StatusSuspended)
		case 2:
			c = setStatus(t, db, c.Serial, ca.StatusRevoked)
		}
		all = append(all, c)
	}
	slices.SortFunc(all, func(a, b *ca.Certificate) int { return bytes.Compare(a.Serial[:], b.Serial[:]) })
	return all
}

func TestCertificates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openTest(t)
	all := population(t, db, 40)

	tests := []struct {
		name string
		q    ca.ListQuery
	}{
		{"everything", ca.ListQuery{}},
		{"one CA", ca.ListQuery{CA: "issuing-1"}},
		{"one profile", ca.ListQuery{Profile: "moces"}},
		{"revoked", ca.ListQuery{Status: ca.StatusRevoked}},
		{"CA and suspended", ca.ListQuery{CA: "issuing-2", Status: ca.StatusSuspended}},
		{"CA and revoked", ca.ListQuery{CA: "issuing-1", Status: ca.StatusRevoked}},
		{"CA and good", ca.ListQuery{CA: "issuing-2", Status: ca.StatusGood}},
		{"CA, profile and status", ca.ListQuery{CA: "issuing-1", Profile: "poces", Status: ca.StatusGood}},
		{"unknown CA", ca.ListQuery{CA: "nobody"}},
		{"unknown CA, revoked", ca.ListQuery{CA: "nobody", Status: ca.StatusRevoked}},
		{"after the middle", ca.ListQuery{After: all[len(all)/2].Serial}},
	}
	for _, tt := range tests {
		for _, limit := range []int{1, 3, 7, 0} {
			q := tt.q
			q.Limit = limit
			var want []ca.Serial
			for _, c := range all {
				if (q.CA == "" || c.CA == q.CA) && (q.Profile == "" || c.Profile == q.Profile) &&
					(q.Status == "" || c.Status == q.Status) && bytes.Compare(c.Serial[:], q.After[:]) > 0 {
					want = append(want, c.Serial)
				}
			}
			if got := listAll(t, db, q); !slices.Equal(got, want) {
				t.Errorf("%s, limit %d: got %d serials %v, want %d %v", tt.name, limit, len(got), got, len(want), want)
			}
		}
	}

	page, err := db.Certificates(ctx, ca.ListQuery{Limit: 5000})
	if err != nil || len(page.Certificates) != len(all) || page.Next != nil {
		t.Fatalf("big limit: %d certificates, next %v, %v", len(page.Certificates), page.Next, err)
	}
	for i, c := range page.Certificates {
		if !bytes.Equal(c.DER, all[i].DER) || c.Status != all[i].Status || !c.RevokedAt.Equal(all[i].RevokedAt) {
			t.Errorf("listed %+v, want %+v", c, all[i])
		}
	}
	if _, err := db.Certificates(ctx, ca.ListQuery{Status: "expired"}); !errors.Is(err, ca.ErrInvalidRequest) {
		t.Errorf("unknown status: %v, want ErrInvalidRequest", err)
	}
}

// listAll pages through a listing and checks the page contract.
func listAll(t *testing.T, db *DB, q ca.ListQuery) []ca.Serial {
	t.Helper()
	var got []ca.Serial
	for range 1000 {
		page, err := db.Certificates(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		if q.Limit > 0 && len(page.Certificates) > q.Limit {
			t.Fatalf("page of %d, limit %d", len(page.Certificates), q.Limit)
		}
		for _, c := range page.Certificates {
			got = append(got, c.Serial)
		}
		if page.Next == nil {
			return got
		}
		if len(page.Certificates) == 0 || *page.Next != page.Certificates[len(page.Certificates)-1].Serial {
			t.Fatalf("next %v does not follow a page of %d", page.Next, len(page.Certificates))
		}
		q.After = *page.Next
	}
	t.Fatal("listing does not end")
	return nil
}

func TestUpdateCertificate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openTest(t)
	c := issue(t, db, "issuing-1", "poces")
	errFn := errors.New("refused by the CA")

	tests := []struct {
		name   string
		serial ca.Serial
		fn     func(*ca.Certificate) error
		want   error
	}{
		{"fn fails after changing the record", c.Serial, func(c *ca.Certificate) error {
			c.Status, c.Reason = ca.StatusRevoked, ca.ReasonKeyCompromise
			return errFn
		}, errFn},
		{"changes the serial", c.Serial, func(c *ca.Certificate) error { c.Serial[0]++; return nil }, ca.ErrInvalidRequest},
		{"changes the CA", c.Serial, func(c *ca.Certificate) error { c.CA = "other"; return nil }, ca.ErrInvalidRequest},
		{"changes the DER", c.Serial, func(c *ca.Certificate) error { c.DER[0]++; return nil }, ca.ErrInvalidRequest},
		{"unknown status", c.Serial, func(c *ca.Certificate) error { c.Status = "expired"; return nil }, ca.ErrInvalidRequest},
		{"unknown serial", randSerial(t), func(*ca.Certificate) error { return nil }, ca.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := db.UpdateCertificate(ctx, tt.serial, tt.fn)
			if !errors.Is(err, tt.want) || got != nil {
				t.Fatalf("UpdateCertificate: %v, %v; want %v", got, err, tt.want)
			}
			stored, err := db.Certificate(ctx, c.Serial)
			if err != nil {
				t.Fatal(err)
			}
			if stored.Status != ca.StatusGood || stored.Reason != "" || !bytes.Equal(stored.DER, c.DER) || stored.CA != c.CA {
				t.Errorf("record changed: %+v", stored)
			}
		})
	}

	got := setStatus(t, db, c.Serial, ca.StatusRevoked)
	stored, err := db.Certificate(ctx, c.Serial)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != ca.StatusRevoked || stored.Status != ca.StatusRevoked || stored.Reason != ca.ReasonKeyCompromise ||
		!stored.RevokedAt.Equal(t0.Add(time.Hour)) || !bytes.Equal(got.DER, c.DER) {
		t.Errorf("after revocation: returned %+v, stored %+v", got, stored)
	}
}

func TestRevokedIndex(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openTest(t)
	a := issue(t, db, "issuing-1", "poces")
	b := issue(t, db, "issuing-1", "moces")
	other := issue(t, db, "issuing-2", "poces")
	setStatus(t, db, other.Serial, ca.StatusRevoked)

	revoked := func() map[ca.Serial]ca.Status {
		t.Helper()
		got := map[ca.Serial]ca.Status{}
		err := db.ForEachRevoked(ctx, "issuing-1", func(c *ca.Certificate) error {
			if c.CA != "issuing-1" || c.DER != nil {
				t.Errorf("visited %+v", c)
			}
			got[c.Serial] = c.Status
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	steps := []struct {
		name   string
		serial ca.Serial
		to     ca.Status
		want   map[ca.Serial]ca.Status
	}{
		{"suspend a", a.Serial, ca.StatusSuspended, map[ca.Serial]ca.Status{a.Serial: ca.StatusSuspended}},
		{"revoke b", b.Serial, ca.StatusRevoked, map[ca.Serial]ca.Status{a.Serial: ca.StatusSuspended, b.Serial: ca.StatusRevoked}},
		{"release a", a.Serial, ca.StatusGood, map[ca.Serial]ca.Status{b.Serial: ca.StatusRevoked}},
		{"suspend a again", a.Serial, ca.StatusSuspended, map[ca.Serial]ca.Status{a.Serial: ca.StatusSuspended, b.Serial: ca.StatusRevoked}},
		{"revoke a on hold", a.Serial, ca.StatusRevoked, map[ca.Serial]ca.Status{a.Serial: ca.StatusRevoked, b.Serial: ca.StatusRevoked}},
	}
	for _, st := range steps {
		setStatus(t, db, st.serial, st.to)
		if got := revoked(); !mapsEqual(got, st.want) {
			t.Fatalf("%s: revoked index %v, want %v", st.name, got, st.want)
		}
	}
	if err := db.ForEachRevoked(ctx, "", func(*ca.Certificate) error { return nil }); !errors.Is(err, ca.ErrInvalidRequest) {
		t.Errorf("ForEachRevoked without CA: %v", err)
	}
}

func mapsEqual[K comparable, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestForEach(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openTest(t)
	db.chunk = 4 // several read transactions per scan
	all := population(t, db, 25)

	tests := []struct {
		name    string
		each    func(context.Context, string, func(*ca.Certificate) error) error
		caName  string
		include func(*ca.Certificate) bool
	}{
		{"all certificates", db.ForEachCertificate, "", func(*ca.Certificate) bool { return true }},
		{"certificates of a CA", db.ForEachCertificate, "issuing-2", func(c *ca.Certificate) bool { return c.CA == "issuing-2" }},
		{"revoked of a CA", db.ForEachRevoked, "issuing-1", func(c *ca.Certificate) bool {
			return c.CA == "issuing-1" && c.Status != ca.StatusGood
		}},
		{"unknown CA", db.ForEachCertificate, "nobody", func(*ca.Certificate) bool { return false }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want, got []ca.Serial
			for _, c := range all {
				if tt.include(c) {
					want = append(want, c.Serial)
				}
			}
			err := tt.each(ctx, tt.caName, func(c *ca.Certificate) error {
				got = append(got, c.Serial)
				return nil
			})
			if err != nil || !slices.Equal(got, want) {
				t.Errorf("visited %v, %v; want %v", got, err, want)
			}
		})
	}

	stop := errors.New("stop")
	var n int
	err := db.ForEachCertificate(ctx, "", func(*ca.Certificate) error {
		if n++; n == 6 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 6 {
		t.Errorf("stopping: %v after %d", err, n)
	}
	// fn runs outside any transaction, so it may write.
	err = db.ForEachCertificate(ctx, "issuing-1", func(c *ca.Certificate) error {
		_, err := db.NextCounter(ctx, "visits", 1)
		return err
	})
	if err != nil {
		t.Errorf("writing from fn: %v", err)
	}
}
