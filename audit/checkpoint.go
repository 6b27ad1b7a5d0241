package audit

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"
)

const checkpointTag = "OCES-AUDIT-CHECKPOINT-V1"

// CheckpointMessage is what the audit key signs for a checkpoint over
// record seq with hash h, made at time t; see the package documentation.
func CheckpointMessage(seq uint64, h Hash, t time.Time) []byte {
	b := make([]byte, 0, len(checkpointTag)+8+len(h)+12)
	b = append(b, checkpointTag...)
	b = binary.BigEndian.AppendUint64(b, seq)
	b = append(b, h[:]...)
	return appendTime(b, t.UTC())
}

// signCheckpoint signs msg: ECDSA and RSA (PKCS #1 v1.5) over its SHA-256,
// Ed25519 over msg itself.
func signCheckpoint(s crypto.Signer, rnd io.Reader, msg []byte) ([]byte, error) {
	if _, ok := s.Public().(ed25519.PublicKey); ok {
		return s.Sign(rnd, msg, crypto.Hash(0))
	}
	digest := sha256.Sum256(msg)
	return s.Sign(rnd, digest[:], crypto.SHA256)
}

func verifySignature(pub crypto.PublicKey, msg, sig []byte) error {
	digest := sha256.Sum256(msg)
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(k, digest[:], sig) {
			return errors.New("audit: bad ECDSA signature")
		}
		return nil
	case *rsa.PublicKey:
		return rsa.VerifyPKCS1v15(k, crypto.SHA256, digest[:], sig)
	case ed25519.PublicKey:
		if !ed25519.Verify(k, msg, sig) {
			return errors.New("audit: bad Ed25519 signature")
		}
		return nil
	}
	return fmt.Errorf("audit: unsupported audit key type %T (use ECDSA, RSA or Ed25519)", pub)
}

// CheckpointStore is what the Checkpointer needs of a store.
type CheckpointStore interface {
	AuditHead(ctx context.Context) (Head, error)
	AppendAudit(ctx context.Context, events ...Event) error
}

// Checkpoint defaults.
const (
	DefaultCheckpointEvery    = 1000
	DefaultCheckpointInterval = time.Minute
)

// CheckpointConfig wires a Checkpointer.
type CheckpointConfig struct {
	Store  CheckpointStore
	Signer crypto.Signer // the audit key: ECDSA, RSA or Ed25519, normally in the HSM
	// Certificate, optional, is the audit key's certificate; it is recorded
	// with the key in the first checkpoint.
	Certificate *x509.Certificate
	Every       uint64        // records between checkpoints; 0 means 1000
	Interval    time.Duration // longest time between checkpoints; 0 means 1 minute
	Poll        time.Duration // how often Run looks at the head; 0 means min(Interval, 1s)
	Clock       func() time.Time
	Rand        io.Reader
	Logger      *slog.Logger
	// Anchor, optional, is told of every checkpoint record (anchor.go).
	Anchor Anchorer
}

// Checkpointer signs the chain: Run appends a checkpoint once Every records
// have been appended since the last one, or Interval has passed and at
// least one has. It never signs an idle chain.
type Checkpointer struct {
	cfg    CheckpointConfig
	keyDER []byte
	start  time.Time
	mu     sync.Mutex // one checkpoint at a time
}

// NewCheckpointer checks cfg and fills in its defaults.
func NewCheckpointer(cfg CheckpointConfig) (*Checkpointer, error) {
	if cfg.Store == nil || cfg.Signer == nil {
		return nil, errors.New("audit: a checkpointer needs a store and an audit key")
	}
	der, err := x509.MarshalPKIXPublicKey(cfg.Signer.Public())
	if err != nil {
		return nil, fmt.Errorf("audit: encoding the audit key: %w", err)
	}
	if cfg.Certificate != nil && string(cfg.Certificate.RawSubjectPublicKeyInfo) != string(der) {
		return nil, errors.New("audit: the audit certificate is not for the audit key")
	}
	if cfg.Every == 0 {
		cfg.Every = DefaultCheckpointEvery
	}
	if cfg.Every > MaxCheckpointLag {
		return nil, fmt.Errorf("audit: checkpoint every %d records: at most %d", cfg.Every, MaxCheckpointLag)
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultCheckpointInterval
	}
	if cfg.Poll <= 0 {
		cfg.Poll = min(cfg.Interval, time.Second)
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Checkpointer{cfg: cfg, keyDER: der, start: cfg.Clock()}, nil
}

// Run checks the head every Poll and checkpoints when one is due, until ctx
// ends; then it makes a last checkpoint, so that a clean shutdown leaves no
// unsigned records. Failures are logged and retried at the next poll.
func (c *Checkpointer) Run(ctx context.Context) error {
	t := time.NewTicker(c.cfg.Poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			if _, err := c.Checkpoint(final); err != nil {
				return fmt.Errorf("audit: final checkpoint: %w", err)
			}
			return nil
		case <-t.C:
			if _, err := c.MaybeCheckpoint(ctx); err != nil && ctx.Err() == nil {
				c.cfg.Logger.ErrorContext(ctx, "audit checkpoint failed; retrying", "error", err)
			}
		}
	}
}

// MaybeCheckpoint checkpoints if one is due, and says whether it did.
func (c *Checkpointer) MaybeCheckpoint(ctx context.Context) (bool, error) {
	return c.checkpoint(ctx, false)
}

// Checkpoint checkpoints now, if any record was appended since the last
// checkpoint, and says whether it did.
func (c *Checkpointer) Checkpoint(ctx context.Context) (bool, error) {
	return c.checkpoint(ctx, true)
}

func (c *Checkpointer) checkpoint(ctx context.Context, force bool) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	head, err := c.cfg.Store.AuditHead(ctx)
	if err != nil {
		return false, fmt.Errorf("audit: reading the head: %w", err)
	}
	now := c.cfg.Clock().UTC()
	if !force && !c.due(head, now) || signed(head) {
		return false, nil
	}
	ev, err := c.sign(head, now)
	if err != nil {
		return false, err
	}
	if err := c.cfg.Store.AppendAudit(ctx, ev); err != nil {
		return false, fmt.Errorf("audit: appending checkpoint over record %d: %w", head.Seq, err)
	}
	c.cfg.Logger.DebugContext(ctx, "audit checkpoint", "record", head.Seq, "hash", head.Hash.String())
	c.anchor(ctx)
	return true, nil
}

// signed is true when every record is covered by a checkpoint but the
// newest, which is that checkpoint.
func signed(head Head) bool {
	return head.Seq == 0 || head.Seq == head.CheckpointSeq && head.CheckpointCovers == head.Seq-1
}

// due applies the rule: Every records, or Interval since the last
// checkpoint (since start-up if there is none).
func (c *Checkpointer) due(head Head, now time.Time) bool {
	if head.Seq-head.CheckpointSeq >= c.cfg.Every {
		return true
	}
	last := head.CheckpointTime
	if head.CheckpointSeq == 0 || last.IsZero() {
		last = c.start
	}
	return now.Sub(last) >= c.cfg.Interval
}

// sign makes the checkpoint event over head; the first checkpoint of a
// chain records the audit key and certificate.
func (c *Checkpointer) sign(head Head, now time.Time) (Event, error) {
	msg := CheckpointMessage(head.Seq, head.Hash, now)
	sig, err := signCheckpoint(c.cfg.Signer, c.cfg.Rand, msg)
	if err != nil {
		return Event{}, fmt.Errorf("audit: signing checkpoint over record %d: %w", head.Seq, err)
	}
	if err := verifySignature(c.cfg.Signer.Public(), msg, sig); err != nil {
		return Event{}, fmt.Errorf("audit: the audit key made a signature that does not verify: %w", err)
	}
	cp := &Checkpoint{Seq: head.Seq, Hash: head.Hash, Signature: sig}
	if head.CheckpointSeq == 0 {
		cp.PublicKey = c.keyDER
		if c.cfg.Certificate != nil {
			cp.Certificate = c.cfg.Certificate.Raw
		}
	}
	return Event{
		Time: now, Actor: System, Action: ActionCheckpoint,
		Target: fmt.Sprintf("record %d", head.Seq), Outcome: OutcomeOK, Checkpoint: cp,
	}, nil
}
