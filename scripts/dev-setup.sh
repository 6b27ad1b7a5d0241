#!/usr/bin/env bash
# Creates the development PKI under ./var (git-ignored), once:
#   var/hsm/       a SoftHSM2 token "oces-dev" and its PIN file
#   var/ceremony/  the two ceremony files, var/ca/ the CA certificates
#   var/oces.yaml  the server configuration
#   var/admin/     the admin listener's TLS certificate (key in the token)
#   var/tsa/       the time-stamping unit's certificate (key in the token)
#   var/officer/   the development officer's credential, which the CLI finds
# A second run reuses what exists. Needs ./bin/oces and SoftHSM2.
# (scripts/run.sh starts the server and issues the samples.)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
# OCES_VAR, OCES_PUBLIC and OCES_ADMIN move it (benchmarks use a throwaway one).
var="${OCES_VAR:-$root/var}"
public="${OCES_PUBLIC:-127.0.0.1:8080}"
admin="${OCES_ADMIN:-127.0.0.1:8443}"
oces="$root/bin/oces"
export SOFTHSM2_CONF="$var/hsm/softhsm2.conf"
module=${OCES_PKCS11_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
token=oces-dev

say() { printf '%s\n' "$*" >&2; }

# 1. The token.
if [ ! -f "$var/hsm/pin" ]; then
  say "dev-setup: creating SoftHSM2 token '$token' in var/hsm"
  mkdir -p "$var/hsm/tokens"
  chmod 700 "$var/hsm"
  printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$var/hsm/tokens" >"$SOFTHSM2_CONF"
  umask 077
  od -An -N12 -tx1 /dev/urandom | tr -d ' \n' >"$var/hsm/pin.tmp"
  od -An -N12 -tx1 /dev/urandom | tr -d ' \n' >"$var/hsm/so-pin"
  softhsm2-util --init-token --free --label "$token" \
    --pin "$(cat "$var/hsm/pin.tmp")" --so-pin "$(cat "$var/hsm/so-pin")" >/dev/null
  mv "$var/hsm/pin.tmp" "$var/hsm/pin"
  umask 022
fi
key() { printf 'pkcs11:module-path=%s;token=%s;object=%s?pin-source=%s' "$module" "$token" "$1" "$var/hsm/pin"; }

# 2. The ceremonies.
mkdir -p "$var/ceremony" "$var/ca"
if [ ! -f "$var/ca/root.pem" ]; then
  cat >"$var/ceremony/root.yaml" <<EOF
# Root CA key ceremony (development). Run: oces ceremony root --config $var/ceremony/root.yaml
key:
  uri: "$(key oces-root-ca)"
  algorithm: rsa-4096
subject:
  country: DK
  organization: OCES PKI Development
  common_name: OCES PKI Development Root CA
validity: 20y
certificate: ../ca/root.pem
EOF
  "$oces" ceremony root --config "$var/ceremony/root.yaml"
fi
if [ ! -f "$var/ca/issuing-1.pem" ]; then
  cat >"$var/ceremony/issuing-1.yaml" <<EOF
# Issuing CA key ceremony (development).
name: issuing-1
key:
  uri: "$(key oces-issuing-1)"
  algorithm: rsa-3072
parent:
  name: root
  certificate: ../ca/root.pem
  key: "$(key oces-root-ca)"
subject:
  country: DK
  organization: OCES PKI Development
  common_name: OCES PKI Development Issuing CA 1
validity: 10y
public_base_url: http://$public
certificate: ../ca/issuing-1.pem
EOF
  "$oces" ceremony issuing --config "$var/ceremony/issuing-1.yaml"
fi
if [ ! -f "$var/crl/root.crl" ]; then
  "$oces" crl generate --ca root --config "$var/ceremony/root.yaml" --out "$var/crl/root.crl" \
    --public-base-url http://$public >/dev/null
fi
if [ ! -f "$var/hsm/audit-key.done" ]; then
  "$oces" ceremony audit-key --key "$(key oces-audit)" >/dev/null
  touch "$var/hsm/audit-key.done"
fi
if [ ! -f "$var/hsm/registry-key.done" ]; then
  "$oces" ceremony registry-key --key "$(key oces-registry)" >/dev/null
  touch "$var/hsm/registry-key.done"
fi

# 3. The server configuration.
if [ ! -f "$var/oces.yaml" ]; then
  cat >"$var/oces.yaml" <<EOF
# OCES PKI development configuration (made by scripts/dev-setup.sh).
public_base_url: http://$public
store:
  path: oces.db
registry:
  key: "$(key oces-registry)"
issuers:
  - name: issuing-1
    certificate: ca/issuing-1.pem
    chain: [ca/root.pem]
    key: "$(key oces-issuing-1)"
    ocsp_responder_key: "$(key oces-ocsp-issuing-1)"
public:
  listen: $public
admin:
  listen: $admin
  tls_certificate: admin/tls.pem
  tls_key: "$(key oces-admin-tls)"
tsa:
  key: "$(key oces-tsa)"
  certificate: tsa/tsa.pem
audit:
  key: "$(key oces-audit)"
crl:
  dir: crl
  arls:
    root: crl/root.crl
EOF
fi

# 4. The admin listener's certificate and the development officer.
if [ ! -f "$var/admin/tls.pem" ]; then
  "$oces" ceremony tls --config "$var/oces.yaml" --host 127.0.0.1 --host localhost >/dev/null
fi
if [ ! -f "$var/tsa/tsa.pem" ]; then
  "$oces" ceremony tsa --config "$var/oces.yaml" >/dev/null
fi
# Its key file is encrypted; in development the passphrase is a random one
# kept next to it (0600), which run.sh hands to the CLI. An officer's own
# passphrase belongs in their head or their password manager.
if [ ! -f "$var/officer/officer.pem" ]; then
  mkdir -p "$var/officer"
  (umask 077; [ -f "$var/officer/passphrase" ] || openssl rand -base64 24 >"$var/officer/passphrase")
  "$oces" ceremony officer --config "$var/oces.yaml" --name "Development Officer" --out "$var/officer" \
    --passphrase-file "$var/officer/passphrase" >/dev/null
fi
