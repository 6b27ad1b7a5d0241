-- OCES PKI store schema, version 1. See the package documentation of
-- store/postgres for what each table holds.

-- Every reserved serial, on every CA. A row is a reservation while der is
-- NULL and a completed certificate once der is set; a reservation that is
-- never completed stays, so a serial is never reused (the primary key is
-- the uniqueness constraint across all nodes).
CREATE TABLE certificates (
	serial          bytea PRIMARY KEY CHECK (length(serial) = 16),
	ca              text        NOT NULL,
	profile         text        NOT NULL,
	subject_id      text        NOT NULL,
	partition       integer     NOT NULL,
	not_before      timestamptz NOT NULL,
	not_after       timestamptz NOT NULL,
	created         timestamptz NOT NULL,
	tbs             bytea,
	der             bytea,
	issued_at       timestamptz,
	status          text CHECK (status IN ('good', 'suspended', 'revoked')),
	status_changed  timestamptz,
	reason          text        NOT NULL DEFAULT '',
	invalidity_date timestamptz,
	revoked_at      timestamptz,
	CHECK ((der IS NULL) = (status IS NULL))
);
-- The completed certificates of a CA in serial order (OCSP start-up scan,
-- listings) and its suspended and revoked ones (CRLs).
CREATE INDEX certificates_by_ca ON certificates (ca, serial) WHERE der IS NOT NULL;
CREATE INDEX certificates_not_good ON certificates (ca, serial) WHERE status IN ('suspended', 'revoked');

-- Serials ever reserved per CA.
CREATE TABLE issued (
	ca text PRIMARY KEY,
	n  bigint NOT NULL CHECK (n >= 0)
);

-- The subject registry: identifiers and lookup keys unique by constraint.
CREATE TABLE subjects (
	id     text PRIMARY KEY,
	kind   text  NOT NULL,
	lookup bytea,
	data   bytea NOT NULL,
	UNIQUE (kind, lookup)
);

-- Durable named counters (CRL numbers, time-stamp serial blocks): next is
-- the next value to hand out.
CREATE TABLE counters (
	name text PRIMARY KEY,
	next bigint NOT NULL CHECK (next >= 1)
);

-- The audit chain: audit.Record.MarshalBinary() by sequence number.
CREATE TABLE audit (
	seq  bigint PRIMARY KEY CHECK (seq >= 1),
	data bytea NOT NULL
);

-- The one row every writing transaction locks first: the end of the audit
-- chain, the newest status change and the newest checkpoint. Holding it
-- until commit makes audit and change sequence numbers follow commit
-- order, across processes.
CREATE TABLE head (
	id                int PRIMARY KEY CHECK (id = 1),
	audit_seq         bigint NOT NULL,
	audit_hash        bytea  NOT NULL,
	change_seq        bigint NOT NULL,
	checkpoint_seq    bigint NOT NULL,
	checkpoint_covers bigint NOT NULL,
	checkpoint_time   bigint NOT NULL -- Unix nanoseconds; 0 without a checkpoint
);
INSERT INTO head VALUES (1, 0, '\x0000000000000000000000000000000000000000000000000000000000000000', 0, 0, 0, 0);

-- The change log: one row per status change, gap-free in seq, read by
-- delta CRLs (by time) and by the status services of other processes (by
-- seq).
CREATE TABLE changes (
	seq        bigint PRIMARY KEY,
	ca         text        NOT NULL,
	serial     bytea       NOT NULL,
	changed_at timestamptz NOT NULL
);
CREATE INDEX changes_by_time ON changes (ca, changed_at);
