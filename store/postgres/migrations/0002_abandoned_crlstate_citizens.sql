-- Version 2: reservations abandoned at start-up (ca.CertificateStore
-- AbandonReservations), the CRL publisher's saved state per CA
-- (crl.Source SetCRLState), and citizens' records (citizen.RecordStore).

-- A reservation that was never completed and is marked abandoned stays
-- reserved for good: never completed, never reused.
ALTER TABLE certificates ADD COLUMN abandoned timestamptz;

CREATE TABLE crl_state (
	ca    text PRIMARY KEY,
	state bytea NOT NULL
);

-- A citizen's record, encoded by package citizen; one enrolment per PID.
CREATE TABLE citizens (
	user_id text PRIMARY KEY,
	pid     text  NOT NULL UNIQUE,
	data    bytea NOT NULL
);
