#!/usr/bin/env bash
# make bench: every benchmark next to the baseline it is judged against,
# measured in the same run. Results go to stdout and to var/bench/.
# BENCH_FILTER=regexp limits which package groups run (default: all).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p var/bench
filter=${BENCH_FILTER:-.}
stamp=$(date -u +%Y%m%dT%H%M%SZ)
out="var/bench/$stamp.txt"

run() { # name, package, bench regexp, benchtime
  local name=$1 pkg=$2 re=$3 bt=$4
  [[ $name =~ $filter ]] || return 0
  echo "== $name" | tee -a "$out"
  go test -run '^$' -bench "$re" -benchtime "$bt" -benchmem -cpu 2 -timeout 20m "$pkg" 2>&1 \
    | grep -E '^(Benchmark|ok|FAIL|---)' | tee -a "$out"
}

# Issuance: CSR in, stored certificate out, 2 workers, next to the raw
# signing rate of the same SoftHSM key (pct-of-raw is the ratio).
run issuance ./ca 'BenchmarkIssuance' 3000x
# Raw HSM signing rate on its own.
run hsm ./hsm 'BenchmarkSign' 3s
# Group commit vs one bbolt transaction per write.
run store ./store/bolt 'BenchmarkReserveComplete' 3s
# Time-stamps over HTTP (4 clients) vs raw signing of the same key.
run tsa ./tsa 'BenchmarkHSM$|BenchmarkTimestampHTTP|BenchmarkRawSign' 2s
# Time-stamps with the load from wrk (4 and 32 connections) vs raw signing
# with as many workers and a plain server, 3 interleaved rounds of 10 s;
# and the Authority without HTTP (Respond) vs raw signing.
run tsa-wrk ./tsa 'BenchmarkHSMWrk|BenchmarkHSMRespond' 1x
# A full CRL of 1,000,000 entries: our encoder vs x509.CreateRevocationList
# (time and peak heap), the largest partition (BenchmarkPartition: size of
# the worst case at the default partition size), and serving a cached CRL.
run crl ./crl 'BenchmarkFullCRL1M' 3x
run crl-serve ./crl 'BenchmarkServeCachedCRL|BenchmarkPartition' 2s
# Citizens: full logins (password + code card) vs the raw argon2id rate;
# MitID-model signatures (session key, qualified certificate, CAdES B-B,
# key destroyed) at 2 and 8 clients vs the HSM-bound rate of the same run.
run citizen ./citizen 'BenchmarkArgon2id|BenchmarkLogin|BenchmarkHSMBound|BenchmarkOneTimeSignature' 200x
# The same with RSA-3072 one-time keys from the pool (made before the clock
# starts; "refilling" with one refiller running), vs hsm-bound-rsa/s.
run citizen-rsa ./citizen 'BenchmarkRSAPoolSignature' 40x
# Issuance through the admin API (4 clients) vs in-process issuance.
run api ./cmd/oces 'BenchmarkAPIIssuance' 300x
# Validation of a 1 MB PAdES B-LTA file, offline, next to hashing it and
# verifying the same signatures with crypto/x509 (pct-of-baseline).
run validate ./validate 'BenchmarkValidatePDF1MB' 200x

# PostgreSQL (a throwaway server, synchronous_commit on): issuance next to
# bbolt in interleaved rounds, 2 and 8 workers, and an OCSP responder
# starting on 1,000,000 certificates in PostgreSQL (first answer, RSS).
run postgres ./store/postgres 'BenchmarkIssuance|BenchmarkReserveComplete' 1000x
if [[ postgres =~ $filter ]]; then GOGC=400 go run ./store/postgres/bench -n 1000000 2>&1 | tee -a "$out"; fi

# The responder's own cost per pre-signed GET, in process (no network).
run ocsp-serve ./ocsp 'BenchmarkServeGET' 2s

# OCSP: 1,000,000 and 5,000,000 pre-signed responses served to wrk (64
# connections, GET, random known serials) next to a plain net/http server
# returning a fixed body of the same size and to 'openssl ocsp' as a
# responder, in one run each, at the default GOGC (what oces serve runs
# with); each reports the resident set after pre-signing and after serving.
for n in 1000000 5000000; do
  group=ocsp; [[ $n == 5000000 ]] && group=ocsp-5m
  [[ $group =~ $filter ]] || continue
  echo "== $group" | tee -a "$out"
  go run ./ocsp/bench -n "$n" -d 10s -heapprofile "var/bench/$stamp-ocsp-$n.heap" 2>&1 | grep -v '^time=' | tee -a "$out"
done

# Signing in process: PAdES of 1 MB and 20 MB PDFs at B-T and B-LTA next to
# the unavoidable work (hashes, a copy, the HSM signature, the TSA and
# OCSP/CRL round trips), and a 100 KB PDF at B-T with 2 goroutines.
run sign ./signer 'BenchmarkPAdESLarge|BenchmarkPAdES100K' 20x
# Signing: oces sign of 1 MB and 20 MB PDFs at B-T and B-LTA (wall time,
# peak RSS) next to a baseline process doing only the unavoidable work,
# and PAdES B-T through POST /api/v1/sign with 4 clients, against a
# throwaway development system on ports of its own.
if [[ sign =~ $filter ]]; then
  echo "== sign" | tee -a "$out"
  bvar=$(mktemp -d /tmp/oces-bench-XXXXXX)
  export OCES_VAR=$bvar OCES_PUBLIC=127.0.0.1:18080 OCES_ADMIN=127.0.0.1:18443
  scripts/dev-setup.sh >/dev/null
  scripts/run.sh >"$bvar/run.out" 2>&1 &
  runpid=$!
  for _ in $(seq 1 600); do
    grep -q "OCES PKI development system" "$bvar/run.out" 2>/dev/null && break
    kill -0 "$runpid" 2>/dev/null || { cat "$bvar/run.out"; exit 1; }
    sleep 0.1
  done
  SOFTHSM2_CONF=$bvar/hsm/softhsm2.conf go run ./signer/bench -var "$bvar" -public "$OCES_PUBLIC" -admin "$OCES_ADMIN" 2>&1 | tee -a "$out"
  kill -TERM "$runpid" 2>/dev/null || true
  wait "$runpid" 2>/dev/null || true
  rm -rf "$bvar"
  unset OCES_VAR OCES_PUBLIC OCES_ADMIN
fi

echo "results in $out"
