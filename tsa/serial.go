package tsa

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/big"
	"sync"
)

// Counter durably reserves ranges of a named counter: NextCounter returns first
// such that [first, first+n) is reserved for the caller and will never be
// returned again, across restarts. The store package implements it.
type Counter interface {
	NextCounter(ctx context.Context, name string, n uint64) (first uint64, err error)
}

// DefaultSerialBlock is the block size used when NewBlockSerials gets 0.
const DefaultSerialBlock = 1024

// BlockSerials is a SerialSource that reserves serials from a Counter in
// blocks, so that a time-stamp costs no disk write: one durable write per
// block. Serials are strictly increasing within a process and, because a
// block is durably reserved before any of it is used, across restarts; a
// crash loses at most the rest of a block, never reuses a serial.
// Serial 0 is skipped so that every serial is positive.
type BlockSerials struct {
	counter Counter
	name    string
	block   uint64

	mu   sync.Mutex
	next uint64 // next serial to hand out
	end  uint64 // end of the reserved block, exclusive
}

var _ SerialSource = (*BlockSerials)(nil)

// NewBlockSerials returns a BlockSerials over counter name c, reserving block
// serials at a time (DefaultSerialBlock if 0).
func NewBlockSerials(c Counter, name string, block uint64) *BlockSerials {
	if block == 0 {
		block = DefaultSerialBlock
	}
	return &BlockSerials{counter: c, name: name, block: block}
}

// NextSerial returns the next serial, reserving a new block when needed.
func (b *BlockSerials) NextSerial(ctx context.Context) (*big.Int, error) {
	if b == nil || b.counter == nil {
		return nil, errors.New("tsa: BlockSerials has no Counter")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.next == b.end || b.next == 0 {
		if b.next == b.end {
			if err := b.reserve(ctx); err != nil {
				return nil, err
			}
		}
		if b.next == 0 { // skip serial 0
			b.next++
		}
	}
	s := new(big.Int).SetUint64(b.next)
	b.next++
	return s, nil
}

// reserve takes a new block from the counter. Called with mu held.
func (b *BlockSerials) reserve(ctx context.Context) error {
	first, err := b.counter.NextCounter(ctx, b.name, b.block)
	if err != nil {
		return fmt.Errorf("tsa: reserving serial block: %w", err)
	}
	if first > math.MaxUint64-b.block {
		return errors.New("tsa: serial counter exhausted")
	}
	if first < b.end {
		return fmt.Errorf("tsa: counter %q went backwards (%d after %d)", b.name, first, b.end)
	}
	b.next, b.end = first, first+b.block
	return nil
}
