#!/usr/bin/env python3
"""Generate a benchmark data set: a local CA, N domains d1.test .. dN.test, for
each an ECDSA P-256 certificate for mta-sts.dI.test (certbot layout:
certs/mta-sts.dI.test/fullchain.pem + privkey.pem) and a policy
policies/dI.test.txt, plus an alternative certificate for the middle domain
(alt/) used to measure a one-domain certificate change.

Usage: gen.py DIR N

Uses the python3-cryptography package (Debian: python3-cryptography): about
0.4-0.6 ms per domain, against about 15 ms for one openssl(1) process per domain.
"""
import datetime
import os
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def policy(i, max_age=86400):
    return ("version: STSv1\r\nmode: enforce\r\nmx: mx1.d%d.test\r\n"
            "mx: *.mx.d%d.test\r\nmax_age: %d\r\n" % (i, i, max_age))


def main():
    out, n = sys.argv[1], int(sys.argv[2])
    tmp = out + ".tmp"
    os.makedirs(os.path.join(tmp, "certs"))
    os.makedirs(os.path.join(tmp, "policies"))
    os.makedirs(os.path.join(tmp, "alt"))
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    before, after = now - datetime.timedelta(days=1), now + datetime.timedelta(days=90)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mta-stsd bench CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(1)
          .not_valid_before(before).not_valid_after(after)
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
          .sign(ca_key, hashes.SHA256()))
    ca_pem = ca.public_bytes(serialization.Encoding.PEM)
    with open(os.path.join(tmp, "ca.pem"), "wb") as f:
        f.write(ca_pem)

    def leaf(i, serial, where):
        key = ec.generate_private_key(ec.SECP256R1())
        host = "mta-sts.d%d.test" % i
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
                .issuer_name(ca_name).public_key(key.public_key()).serial_number(serial)
                .not_valid_before(before).not_valid_after(after)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
                .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), False)
                .sign(ca_key, hashes.SHA256()))
        d = os.path.join(tmp, where, host)
        os.makedirs(d)
        # fullchain: the leaf and the CA, as a leaf and its intermediate would be
        with open(os.path.join(d, "fullchain.pem"), "wb") as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM) + ca_pem)
        fd = os.open(os.path.join(d, "privkey.pem"), os.O_WRONLY | os.O_CREAT, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))

    for i in range(1, n + 1):
        leaf(i, i + 1, "certs")
        with open(os.path.join(tmp, "policies", "d%d.test.txt" % i), "w", newline="") as f:
            f.write(policy(i))
    leaf((n + 1) // 2, n + 2, "alt")
    os.rename(tmp, out)


if __name__ == "__main__":
    main()
