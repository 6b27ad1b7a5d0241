#!/bin/sh
# Regenerates the seed corpus of real `openssl ts -query` requests used by
# FuzzParseRequest and TestOpenSSLSeedRequests. Run from tsa/testdata:
#   sh gen.sh
set -eu
cd requests
printf 'Hello, OCES.\n' > data.txt
openssl ts -query -data data.txt -sha256 -cert -out sha256-cert.tsq
openssl ts -query -data data.txt -sha384 -out sha384-nonce.tsq
openssl ts -query -data data.txt -sha512 -no_nonce -out sha512-no-nonce.tsq
openssl ts -query -data data.txt -sha256 -cert -tspolicy 1.2.208.169.1.1.1.9.2 -out sha256-policy.tsq
openssl ts -query -data data.txt -sha256 -tspolicy 1.2.3.4 -out sha256-unknown-policy.tsq
openssl ts -query -data data.txt -sha1 -cert -out sha1.tsq
openssl ts -query -data data.txt -md5 -out md5.tsq
rm data.txt
