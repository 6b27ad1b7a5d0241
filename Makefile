# OCES PKI. `make run` brings the development system up; `make test` runs
# every test, SoftHSM integration tests included.

# Some dependencies need Go 1.27: let the go command fetch that toolchain.
export GOTOOLCHAIN := auto
export GOFLAGS := -buildvcs=false
export SOFTHSM2_CONF := $(CURDIR)/var/hsm/softhsm2.conf

GO ?= go
BIN := bin/oces
TEST_TIMEOUT ?= 8m

.PHONY: all build run setup test test-short bench lint fmt vet deps clean fuzz reliability

all: build

deps:
	@scripts/deps.sh

build:
	$(GO) build -o $(BIN) ./cmd/oces

# The development system: token, CA hierarchy and samples under ./var.
setup: deps build
	@scripts/dev-setup.sh

run: setup
	@scripts/run.sh

test: export OCES_REQUIRE_SOFTHSM = 1
test: export OCES_REQUIRE_POSTGRES = 1
test: deps
	@scripts/deps.sh --test
	$(GO) vet ./...
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...

test-short:
	$(GO) test -short ./...

# Benchmarks with their baselines measured in the same run; see docs/benchmarks.md.
bench: deps build
	@scripts/deps.sh --bench
	@scripts/bench.sh

# Every fuzz target for FUZZTIME each (default 2m); see docs/reliability.md.
FUZZTIME ?= 2m
fuzz:
	@FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

# The long reliability runs (issue 15): fuzzing at RELIABILITY_FUZZTIME a
# target, the crash loop and the soak; under 15 minutes in all.
RELIABILITY_FUZZTIME ?= 25s
reliability: export OCES_REQUIRE_SOFTHSM = 1
reliability: deps
	@FUZZTIME=$(RELIABILITY_FUZZTIME) scripts/fuzz.sh
	@scripts/reliability.sh

lint:
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

vet:
	$(GO) vet ./...

clean:
	rm -rf bin
