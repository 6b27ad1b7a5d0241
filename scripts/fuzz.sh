#!/usr/bin/env bash
# Runs every fuzz target of the module, one after another, each for
# FUZZTIME (default 2m; any go test -fuzztime value: 30s, 10000x).
# FUZZ=regexp limits the run to targets whose name matches. Each new input
# is minimised for at most FUZZMINIMIZETIME (default 5s; go test's 60s
# left the targets with a slow set-up, cades and pades, almost no time to
# fuzz in a short run).
#
# What the fuzzer finds is kept: a failing input goes where go test puts it,
# <package>/testdata/fuzz/<Target>/, which every later 'go test' (make test
# too) replays as a regression case, so commit it with the fix; the inputs
# that grew coverage go to testdata/fuzz-cache/<import path>/ (gitignored),
# so the next run starts where this one stopped. Exits non-zero if a target
# failed, after running the others. See docs/reliability.md.
set -uo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export GOTOOLCHAIN="${GOTOOLCHAIN:-auto}" GOFLAGS="${GOFLAGS:--buildvcs=false}"
go="${GO:-go}"
fuzztime="${FUZZTIME:-2m}"
filter="${FUZZ:-.}"
minimize="${FUZZMINIMIZETIME:-5s}"
cache="$root/testdata/fuzz-cache"
module="$($go list -m)"

# Packages with a fuzz target, then their targets (go test -list).
mapfile -t pkgs < <(grep -rl --include='*_test.go' '^func Fuzz' . | grep -v '/testdata/' | xargs -n1 dirname | sort -u)
targets=()
for p in "${pkgs[@]}"; do
  while read -r name; do
    [[ "$name" == Fuzz* ]] && [[ "$name" =~ $filter ]] && targets+=("$p $name")
  done < <($go test -list '^Fuzz' "$p" 2>/dev/null)
done
if [ ${#targets[@]} -eq 0 ]; then
  echo "fuzz: no fuzz targets match '$filter'" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} targets, $fuzztime each"

failed=()
summary=()
for t in "${targets[@]}"; do
  read -r p name <<<"$t"
  ip="$module/${p#./}"
  log="$(mktemp)"
  start=$(date +%s)
  echo "fuzz: $p $name"
  if $go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" -fuzzminimizetime "$minimize" "$p" -args -test.fuzzcachedir="$cache/$ip" >"$log" 2>&1; then
    status=ok
  else
    status=FAIL
    failed+=("$p $name")
    cat "$log"
  fi
  execs="$(grep -o 'execs: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)"
  corpus="$(grep -o 'total: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)"
  summary+=("$(printf '%-4s %-10s %-26s %6ss %10s execs %6s corpus' "$status" "$p" "$name" "$(( $(date +%s) - start ))" "${execs:-?}" "${corpus:-?}")")
  rm -f "$log"
done

echo
echo "fuzz: summary (fuzztime $fuzztime)"
printf '  %s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: ${#failed[@]} target(s) failed; the failing inputs are under <package>/testdata/fuzz/:" >&2
  git -C "$root" status --short -- '*/testdata/fuzz/*' >&2
  exit 1
fi
