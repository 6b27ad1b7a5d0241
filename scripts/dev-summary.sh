#!/usr/bin/env bash
# Prints where the development PKI made by dev-setup.sh lives.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
var="${OCES_VAR:-$root/var}"
fp() { openssl x509 -in "$1" -noout -fingerprint -sha256 | cut -d= -f2; }

echo
echo "OCES PKI development system"
echo "  HSM token      oces-dev (SoftHSM2): tokens in var/hsm/tokens, PIN in var/hsm/pin"
echo "  root CA        var/ca/root.pem       SHA-256 $(fp "$var/ca/root.pem")"
echo "  issuing CA     var/ca/issuing-1.pem  SHA-256 $(fp "$var/ca/issuing-1.pem")"
echo "  configuration  var/oces.yaml (store: var/oces.db)"
echo "  samples        one certificate of every profile, with its key and request:"
for f in "$var"/samples/*.pem; do
  printf '    %-34s %s\n' "var/samples/$(basename "$f")" \
    "$(openssl x509 -in "$f" -noout -subject -nameopt RFC2253 | sed 's/^subject=//')"
done
echo
echo "  officer        var/officer/officer.pem and .key (the CLI's default credential)"
echo
echo "Try, in a second terminal (the officer's key file is encrypted; the first line gives the CLI its passphrase):"
echo "  export OCES_KEY_PASSPHRASE_FILE=var/officer/passphrase"
echo "  openssl req -new -newkey rsa:3072 -nodes -keyout me.key -subj /CN=x -out me.csr"
echo "  ./bin/oces cert issue --profile moces --csr me.csr --cvr 12345678 --org 'Firma A/S' --name 'Jens Hansen'"
echo "  ./bin/oces cert list"
echo "  openssl verify -CAfile var/ca/root.pem -untrusted var/ca/issuing-1.pem var/samples/poces.pem"
echo "  openssl ocsp -issuer var/ca/issuing-1.pem -cert var/samples/poces.pem -url http://127.0.0.1:8080/ocsp -CAfile var/ca/root.pem"
echo "  curl -s http://127.0.0.1:8080/crl/issuing-1.crl | openssl crl -inform DER -noout -text"
echo "  ./bin/oces tsa query --file README.md"
echo
echo "Sign with the development seal (its key is in the token; var/seal/):"
echo "  SOFTHSM2_CONF=var/hsm/softhsm2.conf ./bin/oces sign --in pades/testdata/corpus/v16-images.pdf \\"
echo "    --out var/samples/signed.pdf --level B-LTA --key \"\$(cat var/seal/firma.uri)\" --cert var/seal/firma-chain.pem"
echo "  pdfsig var/samples/signed.pdf      # Certificate issuer is unknown: pdfsig trusts its NSS store, not var/ca/root.pem"
echo "  SOFTHSM2_CONF=var/hsm/softhsm2.conf ./bin/oces sign extend --level B-LTA var/samples/signed.pdf"
echo "  ./bin/oces verify var/samples/signed.pdf          # the validation report; --output json for TS 119 102-2 style JSON"
echo "  SOFTHSM2_CONF=var/hsm/softhsm2.conf ./bin/oces sign --format cades --in README.md --out var/samples/README.p7s \\"
echo "    --level B-LT --key \"\$(cat var/seal/firma.uri)\" --cert var/seal/firma-chain.pem"
echo "  openssl cms -verify -binary -inform DER -in var/samples/README.p7s -content README.md -CAfile var/ca/root.pem -purpose any -out /dev/null"
echo "  curl -s --cacert var/ca/root.pem --cert var/samples/foces.pem --key var/samples/foces.key -H 'Content-Type: application/pdf' \\"
echo "    --data-binary @pades/testdata/corpus/v13-classic.pdf 'https://127.0.0.1:8443/api/v1/sign?seal=firma&level=B-T' -o var/samples/api-signed.pdf"
