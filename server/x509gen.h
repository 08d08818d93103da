/* x509gen.h - keys, CSRs and the TLS-ALPN-01 challenge certificate (mbedTLS) */
#ifndef MTA_STSD_X509GEN_H
#define MTA_STSD_X509GEN_H

#include <stddef.h>

#include <mbedtls/pk.h>

/*
 * Randomness comes from PSA (mbedtls_psa_get_random): psa_crypto_init() must
 * have been called. Names given here must be DNS host names as names.c's
 * name_normalise accepts them (the CSR also takes a leading "*." label);
 * they are written in lower case.
 */

/* the OID of id-pe-acmeIdentifier, 1.3.6.1.5.5.7.1.31 (RFC 8737 section 6.1), DER */
#define X509GEN_OID_ACME_IDENTIFIER "\x2b\x06\x01\x05\x05\x07\x01\x1f"

/* the longest common name X.509 allows (ub-common-name, RFC 5280 appendix A) */
#define X509GEN_CN_MAX 64

/* the most names one CSR takes (Let's Encrypt's limit per certificate) */
#define X509GEN_CSR_MAX_NAMES 100

enum x509gen_key { X509GEN_P256, X509GEN_RSA2048 };

/*
 * A new private key of the type asked for into pk, which must be initialised
 * (mbedtls_pk_init) and hold no key. Returns 0, or -1 with pk left empty (or,
 * when it held a key, untouched).
 */
int x509gen_key(mbedtls_pk_context *pk, enum x509gen_key type);

/* pk's private key as PEM (SEC1 "EC PRIVATE KEY" or PKCS#1 "RSA PRIVATE KEY"),
 * malloc'd and NUL-terminated (free it after mbedtls_platform_zeroize), or NULL */
char *x509gen_key_pem(const mbedtls_pk_context *pk);

/*
 * Parse the unencrypted PEM (or DER) private key pem[0..len) (a NUL at the
 * end is optional) into pk, initialised and empty. Only what ACME signs with
 * is taken: an EC P-256 key or an RSA key of 2048 bits or more. Returns 0, or
 * -1 with pk left empty (or, when it held a key, untouched).
 */
int x509gen_key_parse(mbedtls_pk_context *pk, const char *pem, size_t len);

/*
 * A DER CSR (PKCS#10, signed with SHA-256 by pk) for names[0..n), n at most
 * X509GEN_CSR_MAX_NAMES: subject CN = names[0] (an empty subject when that is
 * longer than X509GEN_CN_MAX: the SANs carry the names, as RFC 8555 allows;
 * note mbedtls_x509_csr_parse_der refuses an empty subject, CAs do not),
 * every name a dNSName in subjectAltName, names[0] first. 0 with *der
 * malloc'd and *len set, or -1 (a name that is no DNS name, n == 0 or too
 * many, a key ACME cannot sign with, failure).
 */
int x509gen_csr(const mbedtls_pk_context *pk, const char *const *names, size_t n,
    unsigned char **der, size_t *len);

/*
 * The TLS-ALPN-01 challenge certificate for name (RFC 8737 section 3): a
 * fresh P-256 key, self-signed with SHA-256, subject CN = name (a fixed CN
 * when name is longer than X509GEN_CN_MAX), subjectAltName dNSName = name,
 * the critical extension id-pe-acmeIdentifier holding the DER OCTET STRING
 * of SHA-256(key_authorization), valid from a day ago to 7 days ahead, a
 * random serial. One malloc'd string: the certificate PEM, then the key PEM
 * (wipe before freeing); NULL when name is no DNS host name or on failure.
 * mbedtls_x509_crt_parse refuses it (a critical extension it does not know):
 * load it with mbedtls_x509_crt_parse_der_with_ext_cb, accepting that OID.
 */
char *x509gen_alpn_cert(const char *name, const char *key_authorization);

#endif
