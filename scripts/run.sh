#!/usr/bin/env bash
# make run: starts `oces serve` on the development PKI, issues one sample
# certificate of every profile through the admin API (once), prints where
# everything is, and stays in the foreground until Ctrl-C.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
var="${OCES_VAR:-$root/var}"
public="${OCES_PUBLIC:-127.0.0.1:8080}"
export OCES_API="https://${OCES_ADMIN:-127.0.0.1:8443}" OCES_CA_FILE="$var/ca/root.pem"
export OCES_CERT="$var/officer/officer.pem" OCES_KEY="$var/officer/officer.key"
export OCES_KEY_PASSPHRASE_FILE="$var/officer/passphrase"
export SOFTHSM2_CONF="$var/hsm/softhsm2.conf"
oces="$root/bin/oces"

pid=
start() {
  "$oces" serve --config "$var/oces.yaml" >"$var/serve.out" &
  pid=$!
  for _ in $(seq 1 100); do
    curl -fsS http://$public/healthz >/dev/null 2>&1 && return 0
    kill -0 "$pid" 2>/dev/null || { echo "oces serve exited; see the messages above" >&2; exit 1; }
    sleep 0.1
  done
}
halt_server() { kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
stop() { halt_server; exit 0; }
trap stop INT TERM
start

samples="$var/samples"
mkdir -p "$samples"
issue() { # profile, then issue flags
  local p=$1
  shift
  [ -f "$samples/$p.pem" ] && return 0
  openssl req -new -newkey rsa:3072 -nodes -keyout "$samples/$p.key" -subj "/CN=ignored" \
    -out "$samples/$p.csr" </dev/null 2>/dev/null
  "$oces" cert issue --profile "$p" --csr "$samples/$p.csr" --out "$samples/$p.pem" "$@" >/dev/null
}
# CPR numbers never go on the command line: the sample's comes on stdin.
echo 010190-1234 | issue poces --cpr-file - --name "Jens Hansen"
issue moces --cvr 12345678 --org "Firma A/S" --name "Karen Jensen"
issue voces --cvr 12345678 --org "Firma A/S"
issue foces --cvr 12345678 --org "Firma A/S" --name "Lønsystem"
issue oces3-employee --cvr 12345678 --org "Firma A/S" --name "Karen Jensen" --given-name Karen --surname Jensen
issue oces3-organisation --cvr 12345678 --org "Firma A/S"
issue oces3-system --cvr 12345678 --org "Firma A/S" --name "Firma A/S Integration"

# The development seal: an organisation certificate (OCES3) for Firma A/S
# whose key is generated in the token, usable by `oces sign` and, for the
# organisation's own systems (any certificate of CVR 12345678), through
# POST /api/v1/sign. The first time, the server restarts to load it.
seal="$var/seal"
if [ ! -f "$seal/firma-chain.pem" ]; then
  mkdir -p "$seal"
  module=${OCES_PKCS11_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
  uri="pkcs11:module-path=$module;token=oces-dev;object=oces-seal-firma?pin-source=$var/hsm/pin"
  "$oces" cert issue --profile oces3-organisation --new-key "$uri" --key-algorithm rsa-3072 \
    --cvr 12345678 --org "Firma A/S" --out "$seal/firma.pem" >/dev/null
  printf '%s\n' "$uri" >"$seal/firma.uri"
  cat "$seal/firma.pem" "$var/ca/issuing-1.pem" "$var/ca/root.pem" >"$seal/firma-chain.pem.tmp"
  mv "$seal/firma-chain.pem.tmp" "$seal/firma-chain.pem"
fi
if ! grep -q '^signer:' "$var/oces.yaml"; then
  {
    echo "signer:"
    echo "  seals:"
    echo "    - name: firma"
    echo "      key: \"$(cat "$seal/firma.uri")\""
    echo "      certificate: seal/firma-chain.pem"
    echo "      clients: [\"cvr:12345678\"]"
  } >>"$var/oces.yaml"
  halt_server
  start
fi

# The citizens' pages (docs/web.md): the citizen section and the web
# listener, once, and a development citizen enrolled once (with the server
# stopped: the bbolt file serves one process). The keys are made in the
# token on first start.
web="${OCES_WEB:-127.0.0.1:8444}"
module=${OCES_PKCS11_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
key() { printf 'pkcs11:module-path=%s;token=oces-dev;object=%s?pin-source=%s' "$module" "$1" "$var/hsm/pin"; }
restart=
if ! grep -q '^citizen:' "$var/oces.yaml"; then
  {
    echo "citizen:"
    echo "  pepper_key: \"$(key oces-citizen-pepper)\""
    echo "  code_key: \"$(key oces-citizen-codes)\""
    echo "  app_key: \"$(key oces-citizen-app)\""
    echo "  key_token: \"pkcs11:module-path=$module;token=oces-dev?pin-source=$var/hsm/pin\""
  } >>"$var/oces.yaml"
  restart=1
fi
if ! grep -q '^web:' "$var/oces.yaml"; then
  printf 'web:\n  enabled: true\n  listen: %s\n' "$web" >>"$var/oces.yaml"
  restart=1
fi
citizen="$var/citizen"
if [ ! -f "$citizen/enrolment.json" ]; then
  halt_server
  mkdir -p "$citizen"
  rm -f "$citizen/card.pdf"
  # The CPR number comes on stdin, never as a flag.
  echo 0101901234 | "$oces" citizen enrol --config "$var/oces.yaml" --name "Karen Jensen" --user-id karen.jensen \
    --card-out "$citizen/card.pdf" -o json >"$citizen/enrolment.json.tmp"
  mv "$citizen/enrolment.json.tmp" "$citizen/enrolment.json"
  start
elif [ -n "$restart" ]; then
  halt_server
  start
fi
field() { sed -n "s/.*\"$1\": *\"\([^\"]*\)\".*/\1/p" "$citizen/enrolment.json"; }

"$root/scripts/dev-summary.sh"
echo
echo "Citizens' pages (log in as the development citizen; the first login asks for a new password):"
echo "  web address       https://$web/   (the development TLS certificate: trust var/ca/root.pem or accept the warning)"
echo "  user ID           $(field user_id)"
echo "  initial password  $(field initial_password)   (valid until the first login changes it)"
echo "  code card         $citizen/card.pdf"
echo
cat "$var/serve.out"
wait "$pid"
