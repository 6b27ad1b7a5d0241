#!/usr/bin/env bash
# Installs the system packages OCES PKI needs for running and testing:
# SoftHSM2 (the development HSM), OpenSC's pkcs11-tool, openssl for interop
# checks; with --test also the independent PDF verifiers internal/pdfcheck
# runs (poppler's pdfsig, qpdf, NSS's certutil, PDFBox with Bouncy Castle
# and a JDK to compile against them, the DejaVu font the PDF corpus
# embeds, chromium for the web pages' browser tests) and the pdfcpu CLI, built from the Go module proxy into
# bin/tools; with --test or --bench PostgreSQL, whose initdb and postgres
# internal/pgtest runs as a throwaway server. Idempotent: does nothing when everything is present.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
pdfcpu_version=v0.15.0

need=()
[ -e /usr/lib/softhsm/libsofthsm2.so ] || need+=(softhsm2)
command -v softhsm2-util >/dev/null || need+=(softhsm2)
command -v pkcs11-tool >/dev/null || need+=(opensc)
command -v openssl >/dev/null || need+=(openssl)
command -v gcc >/dev/null || need+=(gcc)
command -v curl >/dev/null || need+=(curl)
# The citizens' pages draw the pages of a document with poppler's pdftoppm.
command -v pdftoppm >/dev/null || need+=(poppler-utils)
# Text documents are PDFs in the standard Helvetica, not embedded: URW's
# Nimbus Sans has its metrics, so previews show the text as readers will
# (without it fontconfig substitutes DejaVu Sans and letters drift apart).
[ -e /usr/share/fonts/opentype/urw-base35/NimbusSans-Regular.otf ] || need+=(fonts-urw-base35)
if [ "${1:-}" = "--bench" ]; then
  command -v wrk >/dev/null || need+=(wrk)
fi
if [ "${1:-}" = "--test" ] || [ "${1:-}" = "--bench" ]; then
  command -v ocsptool >/dev/null || need+=(gnutls-bin)
  # store/postgres tests and benchmarks start a throwaway server (internal/pgtest).
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need+=(postgresql)
fi
if [ "${1:-}" = "--test" ]; then
  command -v pdfsig >/dev/null || need+=(poppler-utils)
  command -v qpdf >/dev/null || need+=(qpdf)
  command -v certutil >/dev/null || need+=(libnss3-tools)
  [ -e /usr/share/java/pdfbox2.jar ] || need+=(libpdfbox2-java)
  [ -e /usr/share/java/bcpkix.jar ] || need+=(libbcpkix-java)
  command -v javac >/dev/null || need+=(default-jdk-headless)
  [ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
  # The web pages' browser tests (web/browser_test.go) drive headless chromium.
  command -v chromium >/dev/null || need+=(chromium)
fi

if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "deps: need root or sudo to install: ${need[*]}" >&2; exit 1; }
    sudo=sudo
  fi
  echo "deps: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# pdfcpu, at the release internal/pdfcheck was written against, into the
# project's bin/tools (gitignored), where pdfcheck finds it.
if [ "${1:-}" = "--test" ]; then
  pdfcpu="$root/bin/tools/pdfcpu"
  if ! { [ -x "$pdfcpu" ] && "$pdfcpu" version -c disable 2>/dev/null | grep -qiE "version: $pdfcpu_version( |$)"; }; then
    echo "deps: building pdfcpu $pdfcpu_version into bin/tools" >&2
    (cd "$root" && GOTOOLCHAIN="${GOTOOLCHAIN:-auto}" GOFLAGS="${GOFLAGS:--buildvcs=false}" GOBIN="$root/bin/tools" \
      "${GO:-go}" install "github.com/pdfcpu/pdfcpu/cmd/pdfcpu@$pdfcpu_version")
  fi
fi
