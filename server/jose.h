/* jose.h - the JOSE pieces ACME needs (RFC 7515, 7517, 7638, 8555):
 * base64url, the public JWK and its thumbprint, flattened JWS (ES256, RS256),
 * External Account Binding (HS256) and the key authorization */
#ifndef MTA_STSD_JOSE_H
#define MTA_STSD_JOSE_H

#include <stddef.h>

#include <mbedtls/pk.h>

/* base64url characters of a 32-byte digest, and the NUL */
#define JOSE_THUMBPRINT_SIZE 44

/*
 * Everything that signs or generates draws its randomness from PSA
 * (mbedtls_psa_get_random): psa_crypto_init() must have been called, as
 * main.c does at start.
 */

/*
 * in[0..len) as base64url without padding (RFC 7515 section 2) into out
 * (size bytes, NUL-terminated). Returns the length written (not counting the
 * NUL), or 0 when it does not fit (out then holds "" when size > 0); an empty
 * input gives 0 and "" too.
 */
size_t jose_b64url(const void *in, size_t len, char *out, size_t size);

/*
 * Decode the NUL-terminated base64url text in (no padding, no blanks, the
 * unused low bits of the last character zero) into out (size bytes); the
 * length in *len. Returns 0, or -1 when in is not such text or the result does
 * not fit (out is then wiped).
 */
int jose_b64url_decode(const char *in, unsigned char *out, size_t size, size_t *len);

/* 1 when s is a non-empty string of base64url characters only (what RFC 8555
 * section 8.3 allows in a challenge token: safe as a file name), else 0 */
int jose_b64url_valid(const char *s);

/*
 * The public JWK of pk (an EC P-256 or an RSA key) in RFC 7638's canonical
 * form: only the required members, in lexicographic order, no blanks:
 * {"crv":"P-256","kty":"EC","x":"..","y":".."} or {"e":"..","kty":"RSA","n":".."}.
 * malloc'd; NULL for another key type or when out of memory.
 */
char *jose_jwk(const mbedtls_pk_context *pk);

/* The RFC 7638 thumbprint of pk: base64url of the SHA-256 of jose_jwk(pk),
 * 43 characters and a NUL in out. Returns 0, or -1 (out is then ""). */
int jose_thumbprint(const mbedtls_pk_context *pk, char out[JOSE_THUMBPRINT_SIZE]);

/* "ES256" for an EC P-256 key, "RS256" for an RSA key, NULL for any other */
const char *jose_alg(const mbedtls_pk_context *pk);

/*
 * A flattened JWS JSON object (RFC 8555 section 6.2), malloc'd:
 * {"protected":..,"payload":..,"signature":..} with the protected header
 * {"alg":..,"jwk":{..} or "kid":..,"nonce":..,"url":..}. kid NULL puts the
 * account's JWK in the header instead (newAccount, revocation by key);
 * nonce NULL leaves the nonce out (the inner JWS of a key change);
 * payload NULL or "" signs the empty payload (POST-as-GET). ES256 signatures
 * are the 64-byte r || s of RFC 7518 section 3.4, RS256 PKCS#1 v1.5 SHA-256.
 * NULL when the key cannot sign (no private part, another type) or out of
 * memory.
 */
char *jose_sign(const mbedtls_pk_context *pk, const char *kid, const char *nonce,
    const char *url, const char *payload);

/*
 * The externalAccountBinding member's value (RFC 8555 section 7.3.4): a
 * flattened JWS with protected header {"alg":"HS256","kid":eab_kid,"url":url}
 * over the account's public JWK, MAC'd with HMAC-SHA-256 under the key that
 * hmac_key_b64url encodes (base64url, at most 256 bytes once decoded;
 * trailing '=' padding is tolerated).
 * malloc'd; NULL when the key is not base64url, is empty, or the account key
 * has no JWK. The decoded key is wiped after use.
 */
char *jose_eab(const char *eab_kid, const char *hmac_key_b64url,
    const mbedtls_pk_context *account, const char *url);

/* The key authorization token "." thumbprint(account) (RFC 8555 section 8.1),
 * malloc'd; NULL when token is not base64url (section 8.3) or on failure. */
char *jose_key_authorization(const char *token, const mbedtls_pk_context *account);

#endif
