// Package postgres is the shared store of OCES PKI for multi-node
// deployments, on PostgreSQL through github.com/jackc/pgx/v5 (pgxpool). It
// implements the same consumer interfaces as store/bolt (ca.CertificateStore,
// ca.RegistryStore, crl.Source, ocsp.Source, audit.Source,
// audit.CheckpointStore, the counters of CRL numbers and time-stamp serials)
// with the same contract, checked by the one suite in store/storetest that
// both backends run. Several processes, on several hosts, may use one
// database at once.
//
// # Schema
//
// Numbered SQL files in migrations/ are embedded in the binary and applied
// in order by Open (or Migrate, 'oces store migrate') under a session
// advisory lock, each in its own transaction with its row in
// schema_migrations, so processes starting together migrate once.
//
//	certificates  serial (bytea, primary key) -> reservation, then certificate: der NULL while reserved
//	issued        ca -> serials ever reserved
//	subjects      id (primary key), (kind, lookup) unique -> JSON subject
//	counters      name -> next value
//	audit         seq -> audit.Record.MarshalBinary()
//	head          the one row: audit chain head, change log head, newest checkpoint
//	changes       seq -> (ca, serial, changed_at): the status change log
//
// Timestamps are timestamptz, kept to the microsecond (store/bolt keeps
// nanoseconds); audit records keep their exact time inside their encoding.
//
// # Concurrency
//
// The rules that keep one process correct hold across many:
//
//   - Serials are unique by the primary key of certificates: a reservation
//     is INSERT … ON CONFLICT DO NOTHING, and no row means ErrSerialExists.
//     Reserve commits before it returns, so the CA signs only a serial that
//     is durably stored (the rule "reserve durably before the CA key signs"
//     is the CA's and is unchanged).
//   - Registry identifiers and lookup keys are unique by constraint.
//   - Every writing transaction locks the head row first (SELECT … FOR
//     UPDATE) and holds it to commit: the audit chain is appended from the
//     head read under that lock, so several writers form one linear chain,
//     and audit and change sequence numbers follow commit order, which
//     makes the change log gap-free for readers.
//   - Counters (CRL numbers) are one UPDATE under the counter's row lock:
//     strictly increasing across nodes.
//
// Holding one lock per commit would cost one fsync per write; instead each
// process group-commits as store/bolt does: one writer goroutine takes
// every write queued (up to Options.MaxBatch), applies them in one
// transaction under one head lock, appends the batch's audit records and
// changes with one statement each, and commits once. A write that fails is
// answered with its own error; the transaction is rolled back and the
// others are re-applied without it, so a function passed to
// UpdateCertificate may run more than once and must not call the store.
//
// # Change feed
//
// A batch with status changes also calls pg_notify once, delivered at
// commit. Follow listens and reads the log from where it left off, and
// reads it every interval anyway, so other processes' OCSP responders and
// CRL publishers hear of every change within the interval even if a
// notification is lost or they read from a streaming replica.
package postgres
