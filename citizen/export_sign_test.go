package citizen

// GrantSADNamed is GrantSAD with the citizen's name and identifier on the
// SAD, as Authorize leaves them, so that benchmarks measure the path that
// a real authorisation takes.
func (s *Service) GrantSADNamed(userID, name, uuid string, digests ...[]byte) string {
	tok := s.GrantSAD(userID, digests...)
	s.sads.mu.Lock()
	s.sads.m[tok].name, s.sads.m[tok].uuid = name, uuid
	s.sads.mu.Unlock()
	return tok
}
