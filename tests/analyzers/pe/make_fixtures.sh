#!/bin/sh
# Builds the Authenticode test fixtures in directory $1, at test time:
#   hello.exe            unsigned PE (mingw-w64)
#   signed.exe           signed by a leaf issued by a test CA (ca.pem)
#   tampered.exe         signed.exe with one byte of code changed
#   selfsigned.exe       signed by a self-signed certificate
#   expired.exe          signed by a leaf whose validity ended in 2021
#   expired_ts.exe       same expired leaf, with an RFC 3161 timestamp from a
#                        test TSA dated inside the leaf's validity
#   signed_sha1.exe, signed_sha512.exe  other digest algorithms
# Any missing tool is an error (exit 2), never a silent skip.
set -eu
D=$1
mkdir -p "$D"
cd "$D"
for tool in x86_64-w64-mingw32-gcc osslsigncode openssl; do
  command -v "$tool" >/dev/null 2>&1 || { echo "missing tool: $tool (deploy/setup.sh installs it)" >&2; exit 2; }
done
exec >log.txt 2>&1

cat > hello.c <<'C'
#include <stdio.h>
int main(void) { puts("hello from a test fixture"); return 0; }
C
x86_64-w64-mingw32-gcc -O1 -s -o hello.exe hello.c

cat > ca.cnf <<'CNF'
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = Sandgate Test Root CA
O = Sandgate Tests
[ v3_ca ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ v3_leaf ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = codeSigning
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ v3_tsa ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = critical, timeStamping
[ ca ]
default_ca = testca
[ testca ]
dir = .
database = index.txt
new_certs_dir = newcerts
serial = serial
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
[ any ]
commonName = supplied
organizationName = optional
CNF
mkdir -p newcerts
: > index.txt
echo 1000 > serial

# The CA's validity starts in the past so that a 2020 timestamp chains to it:
# `openssl ca -selfsign` takes -startdate, which `req -x509` in OpenSSL 3.0 lacks.
openssl req -new -newkey rsa:2048 -nodes -keyout ca.key -out ca.csr -config ca.cnf
openssl ca -batch -selfsign -config ca.cnf -keyfile ca.key -in ca.csr -out ca.pem \
  -startdate 20180101000000Z -enddate 20450101000000Z -extensions v3_ca -notext
leaf() {  # name CN startdate enddate extensions
  openssl req -new -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" \
    -subj "/CN=$2/O=Sandgate Tests"
  openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in "$1.csr" -out "$1.pem" \
    -startdate "$3" -enddate "$4" -extensions "$5" -notext
}
leaf signer "Sandgate Test Signer" 20200101000000Z 20400101000000Z v3_leaf
leaf old "Sandgate Expired Signer" 20200101000000Z 20210101000000Z v3_leaf
leaf tsa "Sandgate Test TSA" 20190101000000Z 20400101000000Z v3_tsa
openssl req -x509 -new -newkey rsa:2048 -nodes -keyout self.key -out self.pem -days 365 \
  -subj "/CN=Sandgate Self Signed/O=Sandgate Tests" -addext extendedKeyUsage=codeSigning

sign() {  # cert key out [extra args]
  c=$1 k=$2 o=$3
  shift 3
  rm -f "$o"
  osslsigncode sign -certs "$c" -key "$k" -n "Sandgate fixture" -in hello.exe -out "$o" "$@"
}
sign signer.pem signer.key signed.exe
sign signer.pem signer.key signed_sha1.exe -h sha1
sign signer.pem signer.key signed_sha512.exe -h sha512
sign self.pem self.key selfsigned.exe
sign old.pem old.key expired.exe
cat tsa.pem ca.pem > tsa_chain.pem
# 1593561600 = 2020-07-01, inside the expired leaf's validity.
sign old.pem old.key expired_ts.exe -TSA-certs tsa_chain.pem -TSA-key tsa.key -TSA-time 1593561600

# One byte of the code section changed after signing (offset 0x400 is the
# start of .text for mingw's default layout; any byte in the image will do).
cp signed.exe tampered.exe
printf '\001' | dd of=tampered.exe bs=1 seek=1040 conv=notrunc 2>/dev/null
echo ok
