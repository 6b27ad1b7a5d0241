// Package benchscript holds only a test: that scripts/bench.sh, which
// `make bench` runs, names benchmarks that exist, and that every benchmark
// docs/benchmarks.md takes a figure from is one the script runs.
package benchscript
