package bolt

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"
)

// BenchmarkReserveComplete measures issuance's two durable writes with a
// ~1.5 KB certificate from concurrent writers, through the group-commit
// writer and through one bbolt.DB.Update per write, in the same run. Run it
// with -cpu 2 so that the writer counts in the names are exact: the number
// of goroutines is the parallelism times GOMAXPROCS.
func BenchmarkReserveComplete(b *testing.B) {
	for _, mode := range []struct {
		name   string
		direct bool
	}{{"group", false}, {"update", true}} {
		for _, writers := range []int{2, 8} {
			par := max(1, (writers+runtime.GOMAXPROCS(0)-1)/runtime.GOMAXPROCS(0))
			name := fmt.Sprintf("%s/writers=%d", mode.name, par*runtime.GOMAXPROCS(0))
			b.Run(name, func(b *testing.B) {
				db := openTest(b)
				db.direct = mode.direct
				ctx := context.Background()
				before := db.Stats()
				b.SetParallelism(par)
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						p, der := preparedSize(b, "issuing-1", "poces", 1500)
						if err := db.Reserve(ctx, p); err != nil {
							b.Error(err)
							return
						}
						if _, err := db.Complete(ctx, p.Serial, der, time.Now()); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.StopTimer()
				commits := db.Stats().Commits - before.Commits
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
				b.ReportMetric(float64(commits)/float64(b.N), "commits/op")
			})
		}
	}
}
