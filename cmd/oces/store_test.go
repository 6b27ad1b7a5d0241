package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oces-pki/oces/audit"
	"github.com/oces-pki/oces/ca"
	"github.com/oces-pki/oces/internal/conf"
	"github.com/oces-pki/oces/internal/pgtest"
	"github.com/oces-pki/oces/store/bolt"
	"github.com/oces-pki/oces/store/postgres"
	"github.com/oces-pki/oces/store/storetest"
)

// dumpStore renders what a store holds that the services read, the same
// way for both backends, so that a copy can be compared with its source.
func dumpStore(t *testing.T, s appStore, cas ...string) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	for _, name := range cas {
		err := s.ForEachCertificate(ctx, name, func(c *ca.Certificate) error {
			full, err := s.Certificate(ctx, c.Serial)
			if err != nil {
				return err
			}
			out = append(out, fmt.Sprintf("cert %s %s %s %s %d %s %s %s %s %s %x", c.Serial, c.CA, c.Profile, c.SubjectID, c.Partition,
				c.NotAfter.UTC().Format(time.RFC3339Nano), c.Status, c.Reason, c.StatusChanged.UTC().Format(time.RFC3339Nano),
				c.RevokedAt.UTC().Format(time.RFC3339Nano), full.DER))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		err = s.ForEachChangedSince(ctx, name, time.Time{}, func(c *ca.Certificate) error {
			out = append(out, "changed "+c.Serial.String())
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		n, err := s.CountIssued(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("issued %s %d", name, n))
	}
	head, err := s.AuditHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, fmt.Sprintf("audit %d %s checkpoint %d over %d at %s", head.Seq, head.Hash, head.CheckpointSeq, head.CheckpointCovers, head.CheckpointTime.UTC()))
	return out
}

// TestStoreCopy fills a bbolt store through its API (certificates in every
// status, a reservation never completed, subjects, counters, a signed
// checkpoint), copies it into PostgreSQL, and checks that the copy reads
// the same, continues the same (counters, serials, the chain), and that a
// second copy into the same database is refused.
func TestStoreCopy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "oces.db")
	src, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var serials []ca.Serial
	for i := range 30 {
		name := []string{"issuing-1", "issuing-2"}[i%2]
		c := storetest.Issue(t, src, name, "poces")
		serials = append(serials, c.Serial)
		if err := src.AppendAudit(ctx, storetest.Event(audit.ActionCertIssue, c.Serial.String())); err != nil {
			t.Fatal(err)
		}
	}
	storetest.SetStatus(t, src, serials[0], ca.StatusRevoked, storetest.T0.Add(time.Hour))
	storetest.SetStatus(t, src, serials[1], ca.StatusSuspended, storetest.T0.Add(time.Hour))
	storetest.SetStatus(t, src, serials[2], ca.StatusSuspended, storetest.T0.Add(time.Hour))
	storetest.SetStatus(t, src, serials[2], ca.StatusGood, storetest.T0.Add(2*time.Hour))
	pending, _ := storetest.Prepared(t, "issuing-1", "moces")
	pending.NewSubject = &ca.Subject{ID: "PID:9208-2002-2-000000000007", Kind: ca.KindPerson, Key: []byte("hmac"), Created: storetest.T0}
	if err := src.Reserve(ctx, pending); err != nil {
		t.Fatal(err)
	}
	if _, err := src.NextCounter(ctx, "crl-issuing-1", 41); err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := audit.NewCheckpointer(audit.CheckpointConfig{Store: src, Signer: key})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cp.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	want := dumpStore(t, src, "issuing-1", "issuing-2")
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}

	dsn := pgtest.New(t)
	rep, err := copyStore(ctx, path, dsn, "", nil)
	if err != nil {
		t.Fatalf("copyStore: %v", err)
	}
	if c := rep.Counts; c.Certificates != 30 || c.Reservations != 1 || c.Subjects != 1 || c.Changes != 4 || c.Counters != 1 {
		t.Errorf("copied %+v", c)
	}
	dst, err := postgres.Open(ctx, dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if got := dumpStore(t, dst, "issuing-1", "issuing-2"); !slices.Equal(got, want) {
		t.Errorf("the copy reads differently:\n got %q\nwant %q", got, want)
	}
	// It carries on where the source stopped.
	if n, err := dst.NextCounter(ctx, "crl-issuing-1", 1); err != nil || n != 42 {
		t.Errorf("counter after the copy: %d, %v; want 42", n, err)
	}
	if err := dst.Reserve(ctx, pending); !strings.Contains(fmt.Sprint(err), ca.ErrSerialExists.Error()) {
		t.Errorf("the never-completed serial is free again on the copy: %v", err)
	}
	if s, err := dst.SubjectByKey(ctx, ca.KindPerson, []byte("hmac")); err != nil || s.ID != pending.NewSubject.ID {
		t.Errorf("subject after the copy: %+v, %v", s, err)
	}
	if err := dst.AppendAudit(ctx, storetest.Event(audit.ActionCRLSign, "issuing-1")); err != nil {
		t.Fatal(err)
	}
	if vr, err := audit.Verify(ctx, dst, key.Public()); err != nil || vr.Checkpoints != 1 || vr.LastSeq != 32 {
		t.Errorf("audit.Verify after the copy and one more record: %+v, %v", vr, err)
	}
	if _, err := copyStore(ctx, path, dsn, "", nil); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("a second copy into the same database: %v", err)
	}
}

func TestStoreConfigValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		store StoreConfig
		field string // "" if valid
	}{
		{"bolt", StoreConfig{Path: "oces.db"}, ""},
		{"bolt without a file", StoreConfig{}, "store.path"},
		{"bolt with a DSN", StoreConfig{Path: "oces.db", DSN: "postgres://db/oces"}, "store.dsn"},
		{"postgres", StoreConfig{Driver: "postgres", DSN: "postgres://oces@db/oces?sslmode=verify-full"}, ""},
		{"postgres key=value", StoreConfig{Driver: "postgres", DSN: "host=db user=oces dbname=oces"}, ""},
		{"postgres without a DSN", StoreConfig{Driver: "postgres"}, "store.dsn"},
		{"password in the URL", StoreConfig{Driver: "postgres", DSN: "postgres://oces:secret@db/oces"}, "store.dsn"},
		{"password parameter", StoreConfig{Driver: "postgres", DSN: "postgres://oces@db/oces?password=secret"}, "store.dsn"},
		{"password keyword", StoreConfig{Driver: "postgres", DSN: "host=db password=secret"}, "store.dsn"},
		{"unknown driver", StoreConfig{Driver: "sqlite"}, "store.driver"},
		{"password in the replica's DSN", StoreConfig{Driver: "postgres", DSN: "postgres://db/oces", ReadDSN: "postgres://r:pw@db-2/oces"}, "store.read_dsn"},
		{"negative pool", StoreConfig{Driver: "postgres", DSN: "postgres://db/oces", MaxConns: -1}, "store.max_conns"},
	} {
		err := tc.store.validate()
		var ce *conf.FieldError
		switch {
		case tc.field == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.field != "" && (err == nil || !strings.Contains(err.Error(), tc.field)):
			t.Errorf("%s: %v, want an error naming %s", tc.name, err, tc.field)
		case tc.field != "" && !errors.As(err, &ce):
			t.Errorf("%s: %T is not a configuration error", tc.name, err)
		}
	}
}

func TestRoles(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		only                            []string
		public, admin, ocsp, crl, audit bool
		err                             string
	}{
		{only: []string{"ca,admin"}, admin: true, audit: true},
		{only: []string{"ocsp"}, public: true, ocsp: true},
		{only: []string{"crl", "ocsp"}, public: true, ocsp: true, crl: true},
		{only: []string{"signer"}, admin: true},
		{only: []string{"dns"}, err: "unknown role"},
	} {
		cfg := &Config{Store: StoreConfig{Driver: driverPostgres}, Audit: AuditConfig{Key: "pkcs11:object=audit"}, TSA: TSAConfig{Key: "pkcs11:object=tsa"}}
		rs, err := parseRoles("only", tc.only)
		if err == nil {
			err = applyRoles(cfg, rs)
		}
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%v: %v, want %q", tc.only, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%v: %v", tc.only, err)
		}
		got := [5]bool{enabled(cfg.Public.Enabled), enabled(cfg.Admin.Enabled), enabled(cfg.OCSP.Enabled), enabled(cfg.CRL.Enabled), cfg.Audit.Key != ""}
		if want := [5]bool{tc.public, tc.admin, tc.ocsp, tc.crl, tc.audit}; got != want {
			t.Errorf("%v: public, admin, ocsp, crl, checkpoints = %v, want %v", tc.only, got, want)
		}
		if cfg.TSA.on() {
			t.Errorf("%v: the TSA stays on", tc.only)
		}
	}
	cfg := &Config{Store: StoreConfig{Path: "oces.db"}, path: "oces.yaml"}
	rs, _ := parseRoles("only", []string{"ocsp"})
	if err := applyRoles(cfg, rs); err == nil || !strings.Contains(err.Error(), "shared store") {
		t.Errorf("--only on a bbolt store: %v", err)
	}
}

// TestStoreMigrateCommand runs 'oces store migrate' on a fresh database
// twice (the second finds nothing to do) and refuses it on a bbolt store.
func TestStoreMigrateCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dsn := pgtest.New(t)
	write := func(store string) string {
		path := filepath.Join(dir, "oces.yaml")
		cfg := fmt.Sprintf(`public_base_url: http://127.0.0.1:8080
store: %s
registry: {key: "pkcs11:token=t;object=registry"}
issuers: [{name: issuing-1, certificate: ca/issuing-1.pem, key: "pkcs11:token=t;object=issuing"}]
admin: {enabled: false}
`, store)
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	run := func(args ...string) (string, error) {
		var out strings.Builder
		cmd := newRootCommand()
		cmd.SetArgs(args)
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		err := cmd.ExecuteContext(context.Background())
		return out.String(), err
	}
	path := write(fmt.Sprintf("{driver: postgres, dsn: %q}", dsn))
	for range 2 {
		out, err := run("store", "migrate", "--config", path, "-o", "json")
		var res struct{ Version int }
		if err != nil || json.Unmarshal([]byte(out), &res) != nil || res.Version != postgres.SchemaVersion() {
			t.Errorf("store migrate: %q, %v", out, err)
		}
	}
	path = write("{path: oces.db}")
	if _, err := run("store", "migrate", "--config", path); err == nil || exitCode(err) != exitUsage {
		t.Errorf("store migrate on bbolt: %v (exit %d), want a usage error", err, exitCode(err))
	}
}
