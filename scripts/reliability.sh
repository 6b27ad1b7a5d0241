#!/usr/bin/env bash
# The reliability runs of issue 15 against the real binary and SoftHSM
# (docs/reliability.md): the crash loop and the soak (build tag
# "reliability"), then the bad-input corpus, the HSM faults and the full
# disk, which make test runs too. Prints each test's figures; the whole log
# goes to bin/reliability.log. The fuzzing part is scripts/fuzz.sh.
#
# OCES_CRASH_ITERATIONS (20), OCES_SOAK_SECONDS (60) and OCES_SOAK_BASELINE
# (10) shorten or lengthen the long runs; RELIABILITY_RUN=regexp picks tests.
set -uo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export GOTOOLCHAIN="${GOTOOLCHAIN:-auto}" GOFLAGS="${GOFLAGS:--buildvcs=false}"
export OCES_REQUIRE_SOFTHSM="${OCES_REQUIRE_SOFTHSM:-1}"
run="${RELIABILITY_RUN:-^(TestCrashLoop|TestSoak|TestBadInputCorpus|TestBadInputCorpusIsGenerated|TestHSMFaultsUnderLoad|TestFullDisk)\$}"
mkdir -p bin
log=bin/reliability.log

start=$(date +%s)
"${GO:-go}" test -tags reliability -count=1 -timeout 14m -v -run "$run" ./cmd/oces >"$log" 2>&1
rc=$?
# The figures: every t.Logf line of the tests, and the verdicts.
grep -E '^\s+(crashloop|soak|badinput|hsmfault|fulldisk)_test\.go:[0-9]+:|^\s{10}[a-z-]+( [a-zA-Z]+)?\s+[0-9]+:|^(--- |ok |FAIL|PASS)' "$log"
echo "reliability: $(( $(date +%s) - start ))s; full log in $log"
if [ $rc -ne 0 ]; then
  echo "reliability: FAILED (exit $rc); see $log" >&2
fi
exit $rc
