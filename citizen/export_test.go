package citizen

import "time"

// GrantSAD puts a SAD for digests straight into the table, for benchmarks
// that measure signing without the argon2 cost of Authorize.
func (s *Service) GrantSAD(userID string, digests ...[]byte) string {
	var b [16]byte
	_ = s.readRandom(b[:])
	tok := string(b[:])
	s.sads.mu.Lock()
	s.sads.m[tok] = &SAD{Token: tok, UserID: userID, Hashes: digests, Expires: s.now().Add(time.Minute)}
	s.sads.mu.Unlock()
	return tok
}
