#!/usr/bin/env bash
# Makes throw-away TLS material for local clusters and tests (never for production):
#   ca.pem / ca.key.pem                   test CA (RSA 3072, 10 years)
#   server.pem / server.key.pem           HTTPS server certificate (serverAuth)
#   node.pem / node.key.pem               inter-node certificate (serverAuth + clientAuth)
#   client.pem / client.key.pem           client certificate (clientAuth)
#   revoked-client.pem / .key.pem         client certificate listed in crl.pem
#   crl.pem                               CRL of the test CA (revokes revoked-client.pem)
#   server.key.enc.pem / key-password.txt server key encrypted with AES-256 (PKCS#8) + its password
#   foreign-ca.pem / foreign-ca.key.pem   a second, unrelated CA
#   foreign-client.pem / .key.pem         client certificate of the foreign CA
# Server and node certificates cover localhost, 127.0.0.1 and every --ip / --dns given.
#
# Usage: scripts/gen-certs.sh OUTDIR [--ip 127.0.1.1 ...] [--dns host ...] [--days N] [--bits N]
set -euo pipefail

usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-2}"; }

[[ $# -ge 1 ]] || usage
[[ $1 == -h || $1 == --help ]] && usage 0
OUT=$1
shift
IPS=(127.0.0.1)
DNS=(localhost)
DAYS=365
BITS=3072
while [[ $# -gt 0 ]]; do
  case $1 in
    --ip) IPS+=("$2"); shift 2 ;;
    --dns) DNS+=("$2"); shift 2 ;;
    --days) DAYS=$2; shift 2 ;;
    --bits) BITS=$2; shift 2 ;;
    -h|--help) usage 0 ;;
    *) echo "gen-certs.sh: unknown argument $1" >&2; usage ;;
  esac
done

command -v openssl >/dev/null || { echo "gen-certs.sh: openssl not found (apt-get install openssl)" >&2; exit 1; }
umask 077
mkdir -p "$OUT"
chmod 700 "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

SAN=""
for ip in "${IPS[@]}"; do SAN+="${SAN:+,}IP:$ip"; done
for d in "${DNS[@]}"; do SAN+="${SAN:+,}DNS:$d"; done

cat >"$WORK/ext.cnf" <<CNF
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = $SAN
authorityKeyIdentifier = keyid
[node_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth,clientAuth
subjectAltName = $SAN
authorityKeyIdentifier = keyid
[client_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
CNF

key() { openssl genpkey -quiet -algorithm RSA -pkeyopt "rsa_keygen_bits:$BITS" -out "$OUT/$1.key.pem"; }

# ca NAME CN
ca() {
  key "$1"
  openssl req -new -x509 -sha256 -days 3650 -key "$OUT/$1.key.pem" -subj "/O=mies test/CN=$2" \
    -config "$WORK/ext.cnf" -extensions ca_ext -out "$OUT/$1.pem"
}

# leaf NAME CN EXT ISSUER
leaf() {
  key "$1"
  openssl req -new -sha256 -key "$OUT/$1.key.pem" -subj "/O=mies test/CN=$2" -out "$WORK/$1.csr"
  openssl x509 -req -sha256 -days "$DAYS" -in "$WORK/$1.csr" -CA "$OUT/$4.pem" \
    -CAkey "$OUT/$4.key.pem" -set_serial "0x$(openssl rand -hex 16)" \
    -extfile "$WORK/ext.cnf" -extensions "$3" -out "$OUT/$1.pem" 2>/dev/null
}

ca ca "mies test CA"
leaf server "mies server" server_ext ca
leaf node "mies node" node_ext ca
leaf client "mies client" client_ext ca
leaf revoked-client "mies revoked client" client_ext ca
ca foreign-ca "mies foreign CA"
leaf foreign-client "mies foreign client" client_ext foreign-ca

# CRL: `openssl ca` keeps its state in a small database.
touch "$WORK/index.txt"
echo 01 >"$WORK/crlnumber"
cat >"$WORK/ca.cnf" <<CNF
[ca]
default_ca = test_ca
[test_ca]
database = $WORK/index.txt
crlnumber = $WORK/crlnumber
certificate = $OUT/ca.pem
private_key = $OUT/ca.key.pem
default_md = sha256
default_crl_days = 30
CNF
openssl ca -config "$WORK/ca.cnf" -revoke "$OUT/revoked-client.pem" -batch 2>/dev/null
openssl ca -config "$WORK/ca.cnf" -gencrl -out "$OUT/crl.pem" -batch 2>/dev/null

# An encrypted copy of the server key, as older MindIE deployments use.
openssl rand -hex 16 >"$OUT/key-password.txt"
openssl pkcs8 -topk8 -v2 aes-256-cbc -in "$OUT/server.key.pem" -out "$OUT/server.key.enc.pem" \
  -passout "file:$OUT/key-password.txt"

chmod 600 "$OUT"/*.pem "$OUT/key-password.txt"
echo "gen-certs.sh: test material in $OUT (SAN $SAN, RSA $BITS, $DAYS days)"
