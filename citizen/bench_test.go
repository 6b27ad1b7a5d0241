package citizen_test

import (
	"context"
	"crypto"
	"crypto/sha256"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/oces-pki/oces/cades"
	"github.com/oces-pki/oces/citizen"
	"github.com/oces-pki/oces/hsm"
)

// BenchmarkLogin is a full login, password and code card code, against
// the raw argon2id rate (BenchmarkArgon2id) that bounds it.
func BenchmarkLogin(b *testing.B) {
	e := newEnv(b)
	ctx := context.Background()
	type user struct {
		id   string
		card *citizen.Card
	}
	// Each client logs in as users of its own (one challenge is pending per
	// account), a new one every 100 logins, before a card runs out.
	const perUser = 100
	clients := 2 * runtimeGOMAXPROCS()
	users := make([]*user, clients*(b.N/perUser+1))
	for i := range users {
		id := fmt.Sprintf("bench.user%d", i)
		en, err := e.svc.Enrol(ctx, citizen.EnrolRequest{Name: "Bench User", CPR: fmt.Sprintf("01019%05d", i), UserID: id})
		if err != nil {
			b.Fatal(err)
		}
		sess, err := e.svc.Password(ctx, id, en.InitialPassword)
		if err != nil {
			b.Fatal(err)
		}
		if err := e.svc.ChangePassword(ctx, sess.ID, password); err != nil {
			b.Fatal(err)
		}
		users[i] = &user{id: id, card: en.Card}
	}
	var next atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		g := int(next.Add(1) - 1)
		for i := 0; pb.Next(); i++ {
			u := users[(g+clients*(i/perUser))%len(users)]
			sess, err := e.svc.Password(ctx, u.id, password)
			if err != nil {
				b.Error(err)
				return
			}
			if _, err := e.svc.Code(ctx, sess.ID, code(b, u.card, sess.Challenge)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
}

func runtimeGOMAXPROCS() int { return runtime.GOMAXPROCS(0) }

// BenchmarkArgon2id is the raw cost of one password check: m=19 MiB, t=2, p=1.
func BenchmarkArgon2id(b *testing.B) {
	salt := make([]byte, 16)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			argon2.IDKey([]byte("peppered password"), salt, 2, 19*1024, 1, 32)
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "hashes/s")
}

// BenchmarkOneTimeSignature is the MitID model end to end, as SignDocument
// runs it: a P-256 session key in the HSM, a qualified certificate from the
// CA (RSA-3072 issuing key), a CAdES B-B signature through signer (with its
// OCSP check of the new certificate), the key destroyed. The SAD is granted
// directly, so the argon2 cost of Authorize is left out. Status answers are
// cached for 10 seconds as in oces serve, so the issuing CA's status is
// not fetched again for every signature (the new certificate's is).
func BenchmarkOneTimeSignature(b *testing.B) {
	e := newSigningEnvWith(b, hsm.RSA3072, cades.LevelBB, 10*time.Second)
	ctx := context.Background()
	karen := e.enrolB(b)
	doc := []byte("Aftale om køb af bolig. ")
	digest := sha256.Sum256(doc)
	for _, clients := range []int{2, 8} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			b.SetParallelism(clients / 2) // -cpu 2
			before := e.Store.Stats().Commits
			cpu := processCPU()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					sad := e.svc.GrantSADNamed("karen.j", karen.Name, karen.UUID, digest[:])
					if _, err := e.svc.SignDocument(ctx, citizen.DocumentRequest{UserID: "karen.j", SAD: sad, Document: doc}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sigs/s")
			b.ReportMetric(float64(e.Store.Stats().Commits-before)/float64(b.N), "commits/sig")
			b.ReportMetric(float64(processCPU()-cpu)/float64(time.Millisecond)/float64(b.N), "cpu-ms/sig")
			reportLoad(b)
		})
	}
}

// processCPU is the user and system time the process has used: SoftHSM,
// the CA, the OCSP responder and the store all run in it, so per
// signature it is the whole PKI's CPU cost, which the machine's load
// bends much less than the rate.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportLoad reports the 1-minute load average (Linux), which says how
// much of the shared machine the figures had.
func reportLoad(b *testing.B) {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return
	}
	if f := strings.Fields(string(raw)); len(f) > 0 {
		if v, err := strconv.ParseFloat(f[0], 64); err == nil {
			b.ReportMetric(v, "loadavg")
		}
	}
}

// BenchmarkHSMBound measures, in the same token, what one MitID-model
// signature needs of the HSM: a P-256 key generation, a P-256 signature
// and a signature by the issuing CA's key; hsm-bound/s is the rate those
// three alone allow on the same cores.
func BenchmarkHSMBound(b *testing.B) {
	e := newSigningEnvWith(b, hsm.RSA3072, cades.LevelBB, 10*time.Second)
	ctx := context.Background()
	digest := sha256.Sum256([]byte("x"))
	rate := func(f func() error) float64 {
		var n atomic.Int64
		deadline := time.Now().Add(2 * time.Second)
		done := make(chan struct{})
		for range 2 {
			go func() {
				defer func() { done <- struct{}{} }()
				for time.Now().Before(deadline) {
					if err := f(); err != nil {
						b.Error(err)
						return
					}
					n.Add(1)
				}
			}()
		}
		<-done
		<-done
		return float64(n.Load()) / 2
	}
	keygen := rate(func() error {
		k, err := e.HSM.GenerateSessionKey(ctx, e.Token.TokenURI())
		if err != nil {
			return err
		}
		return k.Destroy()
	})
	k, err := e.HSM.GenerateSessionKey(ctx, e.Token.TokenURI())
	if err != nil {
		b.Fatal(err)
	}
	defer k.Destroy()
	sign := rate(func() error { _, err := k.Sign(nil, digest[:], crypto.SHA256); return err })
	caSign := rate(func() error { _, err := e.Signer.Sign(nil, digest[:], crypto.SHA256); return err })
	// The RSA-3072 path: pool keys are made ahead of time, so a signature
	// needs an RSA-3072 signature by the one-time key and the CA's.
	rk, err := e.HSM.GenerateSessionRSAKey(ctx, e.Token.TokenURI())
	if err != nil {
		b.Fatal(err)
	}
	defer rk.Destroy()
	rsaSign := rate(func() error { _, err := rk.Sign(nil, digest[:], crypto.SHA256); return err })
	// One refiller's rate: the sustained bound of the RSA-3072 path.
	var made int
	start := time.Now()
	for time.Since(start) < 2*time.Second {
		k, err := e.HSM.GenerateSessionRSAKey(ctx, e.Token.TokenURI())
		if err != nil {
			b.Fatal(err)
		}
		_ = k.Destroy()
		made++
	}
	rsaKeygen := float64(made) / time.Since(start).Seconds()
	b.ResetTimer() // the rates above are the result; b.N is not used
	b.ReportMetric(keygen, "keygen/s")
	b.ReportMetric(sign, "p256-sign/s")
	b.ReportMetric(caSign, "ca-sign/s")
	b.ReportMetric(1/(1/keygen+1/sign+1/caSign), "hsm-bound/s")
	b.ReportMetric(rsaSign, "rsa-sign/s")
	b.ReportMetric(1/(1/rsaSign+1/caSign), "hsm-bound-rsa/s")
	b.ReportMetric(rsaKeygen, "rsa-keygen-1worker/s")
	reportLoad(b)
}

// BenchmarkRSAPoolSignature is BenchmarkOneTimeSignature with RSA-3072
// one-time keys from the pool. "ready": the pool holds a key for every
// signature before the clock starts and makes none while it runs (the
// rate to compare with hsm-bound-rsa/s of BenchmarkHSMBound); "refilling":
// the same, with the pool's one refiller (the default) making a new key
// for each one taken, on the same two cores (how refilling competes with
// signing). The keys the pool starts with are made by two goroutines
// before the clock starts, so that setting up takes half as long.
func BenchmarkRSAPoolSignature(b *testing.B) {
	e := newSigningEnvWith(b, hsm.RSA3072, cades.LevelBB, 10*time.Second)
	ctx := context.Background()
	karen := e.enrolB(b)
	doc := []byte("Aftale om køb af bolig. ")
	digest := sha256.Sum256(doc)
	for _, tc := range []struct {
		name    string
		clients int
		refill  bool
	}{{"ready/clients=2", 2, false}, {"ready/clients=8", 8, false}, {"refilling/clients=8", 8, true}} {
		b.Run(tc.name, func(b *testing.B) {
			m := &rsaMaker{allow: make(chan struct{}, 2*b.N), h: e.HSM, token: e.Token.TokenURI()}
			m.open(b.N)
			premade := make(chan citizen.OneTimeKey, b.N)
			var wg sync.WaitGroup
			var left atomic.Int64
			left.Store(int64(b.N))
			for range 2 {
				wg.Go(func() {
					for left.Add(-1) >= 0 {
						k, err := m.New(ctx)
						if err != nil {
							b.Error(err)
							return
						}
						premade <- k
					}
				})
			}
			wg.Wait()
			newKey := func(ctx context.Context) (citizen.OneTimeKey, error) {
				select {
				case k := <-premade:
					return k, nil
				default:
					return m.New(ctx)
				}
			}
			pool := withRSAPoolAt(b, e, m, citizen.PoolConfig{New: newKey, Size: b.N, Wait: time.Minute}, cades.LevelBB, 10*time.Second)
			waitLen(b, pool, b.N)
			if tc.refill {
				m.open(b.N)
			}
			b.SetParallelism(tc.clients / 2) // -cpu 2
			before := e.Store.Stats().Commits
			cpu := processCPU()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					sad := e.svc.GrantSADNamed("karen.j", karen.Name, karen.UUID, digest[:])
					if _, err := e.svc.SignDocument(ctx, citizen.DocumentRequest{UserID: "karen.j", SAD: sad, Document: doc, Key: citizen.KeyRSA3072}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sigs/s")
			b.ReportMetric(float64(e.Store.Stats().Commits-before)/float64(b.N), "commits/sig")
			b.ReportMetric(float64(processCPU()-cpu)/float64(time.Millisecond)/float64(b.N), "cpu-ms/sig")
			reportLoad(b)
			_ = pool.Close()
		})
	}
}

func (e *env) enrolB(b *testing.B) *citizen.Citizen {
	b.Helper()
	en, err := e.svc.Enrol(context.Background(), citizen.EnrolRequest{Name: "Karen Jensen", CPR: cpr, UserID: "karen.j"})
	if err != nil {
		b.Fatal(err)
	}
	return en.Citizen
}
