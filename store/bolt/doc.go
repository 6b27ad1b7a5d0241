// Package bolt is the embedded default store of OCES PKI: every service of
// `oces serve` keeps its state in one bbolt file (go.etcd.io/bbolt). It
// implements ca.CertificateStore and ca.RegistryStore, plus a durable named
// counter for CRL numbers and time-stamp serials, and iteration for the
// status services. Nothing outside package store imports bbolt.
//
// # Layout
//
// All keys are raw bytes; serials are the 16-byte big-endian ca.Serial, so
// every serial-keyed bucket iterates in serial order.
//
//	meta                     "schema" -> 1; "index/by-profile" -> 1 once built; "crl-state/<ca>" -> the CRL publisher's delta bases (JSON, opaque here)
//	prepared                 serial -> JSON of a reserved, not yet completed issuance (with its TBS)
//	certs                    serial -> JSON metadata of a completed certificate (no DER)
//	der                      serial -> the certificate's DER, raw
//	by-ca/<ca>               serial -> empty: index of completed certificates per CA
//	by-profile/<ca>\0<prof>  serial -> empty: index of completed certificates per CA and profile
//	revoked/<ca>             serial -> status byte: index of suspended and revoked certificates per CA
//	issued                   <ca> -> uint64 big-endian: serials ever reserved for the CA
//	subjects                 id -> JSON subject
//	subject-keys             kind 0x00 key -> id
//	counters                 name -> uint64 big-endian: the next value to hand out
//
// A serial lives in prepared until Complete moves it to certs; a reservation
// that is never completed stays in prepared forever, so a serial is never
// reused. The revoked index is written in the same transaction as every
// status change, so a CRL reads only the suspended and revoked certificates
// of its CA, however many good ones there are.
//
// # Durability
//
// Every method that changes state returns only after its transaction has
// been committed and fsynced. Writes practise group commit: a write that
// finds no commit under way is committed at once on its caller's
// goroutine; writes that arrive during a commit queue, and when it ends the
// oldest of them commits them all (up to Options.MaxBatch writes) in one
// read-write transaction and answers each caller. Nothing waits on a
// timer: a lone write commits at once, and under load each commit takes
// whatever queued during the previous one. A write that fails is answered with its own error; the
// transaction is rolled back and the others are re-applied without it, so
// one bad write never fails its neighbours. Because of this re-application,
// a function passed to UpdateCertificate may run more than
// once and must have no effect other than on its argument. Such a function
// runs inside the group commit, so it must not call the store itself: the
// write would wait for the commit, which waits for the function.
//
// A process killed at any point loses no write whose method has returned;
// bbolt's copy-on-write pages and meta-page checksums keep the file
// consistent.
package bolt
