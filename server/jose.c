/* jose.c - base64url, JWK, RFC 7638 thumbprint, JWS (ES256, RS256), EAB (HS256) */
#include "jose.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/bignum.h>
#include <mbedtls/ecp.h>
#include <mbedtls/md.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/psa_util.h>
#include <mbedtls/rsa.h>
#include <psa/crypto.h>

#include "json.h"

#define SHA256_LEN 32
#define P256_COORD 32		/* bytes of one P-256 coordinate */
#define RSA_MIN_BITS 2048	/* RFC 7518 section 3.3 */

static const char B64URL[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t
jose_b64url(const void *in, size_t len, char *out, size_t size)
{
	const unsigned char *p = in;
	size_t n = 0, i;

	if (size > 0)
		out[0] = '\0';
	/* 4 characters per 3 bytes, 2 or 3 for a last group of 1 or 2 */
	if (len / 3 >= (SIZE_MAX - 4) / 4 || (len / 3) * 4 + (len % 3 ? len % 3 + 1 : 0) >= size)
		return 0;
	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];

		out[n++] = B64URL[v >> 18];
		out[n++] = B64URL[(v >> 12) & 63];
		out[n++] = B64URL[(v >> 6) & 63];
		out[n++] = B64URL[v & 63];
	}
	if (len - i == 1) {
		out[n++] = B64URL[p[i] >> 2];
		out[n++] = B64URL[(p[i] & 3) << 4];
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)p[i] << 8 | p[i + 1];

		out[n++] = B64URL[v >> 10];
		out[n++] = B64URL[(v >> 4) & 63];
		out[n++] = B64URL[(v & 15) << 2];
	}
	out[n] = '\0';
	return n;
}

/* the 6-bit value of a base64url character, or -1 */
static int
b64url_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

int
jose_b64url_valid(const char *s)
{
	if (s == NULL || *s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if (b64url_value((unsigned char)*s) < 0)
			return 0;
	return 1;
}

int
jose_b64url_decode(const char *in, unsigned char *out, size_t size, size_t *len)
{
	size_t inlen = strlen(in), n = 0, i;
	uint32_t acc = 0;
	int bits = 0;

	*len = 0;
	/* a last group of one character carries 6 bits: no whole byte */
	if (inlen % 4 == 1 || inlen / 4 * 3 + (inlen % 4 ? inlen % 4 - 1 : 0) > size)
		goto bad;
	for (i = 0; i < inlen; i++) {
		int v = b64url_value((unsigned char)in[i]);

		if (v < 0)
			goto bad;
		acc = (acc << 6 | (uint32_t)v) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (unsigned char)(acc >> bits);
		}
	}
	/* the bits left over must be zero: one text per byte string */
	if ((acc & ((1u << bits) - 1)) != 0)
		goto bad;
	*len = n;
	return 0;
bad:
	if (size > 0)
		mbedtls_platform_zeroize(out, size);
	return -1;
}

/* a growing string; err set once an allocation failed */
struct sbuf {
	char *p;
	size_t len, cap;
	int err;
};

static void
sb_add(struct sbuf *sb, const char *s, size_t len)
{
	if (sb->err)
		return;
	if (sb->len + len + 1 > sb->cap) {
		size_t cap = sb->cap ? sb->cap : 256;
		char *p;

		while (cap < sb->len + len + 1)
			cap *= 2;
		p = malloc(cap);
		if (p == NULL) {
			sb->err = 1;
			return;
		}
		if (sb->p != NULL) {
			memcpy(p, sb->p, sb->len);
			mbedtls_platform_zeroize(sb->p, sb->cap);
			free(sb->p);
		}
		sb->p = p;
		sb->cap = cap;
	}
	memcpy(sb->p + sb->len, s, len);
	sb->len += len;
	sb->p[sb->len] = '\0';
}

static void
sb_str(struct sbuf *sb, const char *s)
{
	sb_add(sb, s, strlen(s));
}

/* s as a quoted JSON string (json.c's escaping) */
static void
sb_json(struct sbuf *sb, const char *s)
{
	size_t need = json_escape(NULL, 0, s, strlen(s));
	char *e = malloc(need + 1);

	if (e == NULL) {
		sb->err = 1;
		return;
	}
	json_escape(e, need + 1, s, strlen(s));
	sb_str(sb, "\"");
	sb_add(sb, e, need);
	sb_str(sb, "\"");
	free(e);
}

/* data[0..len) as base64url, unquoted */
static void
sb_b64(struct sbuf *sb, const void *data, size_t len)
{
	size_t size = len / 3 * 4 + 4;
	char *e = malloc(size);

	if (e == NULL) {
		sb->err = 1;
		return;
	}
	sb_add(sb, e, jose_b64url(data, len, e, size));
	free(e);
}

/* the finished string, or NULL (and nothing held) after a failure */
static char *
sb_done(struct sbuf *sb)
{
	if (sb->err || sb->p == NULL) {
		if (sb->p != NULL) {
			mbedtls_platform_zeroize(sb->p, sb->cap);
			free(sb->p);
		}
		return NULL;
	}
	return sb->p;
}

static void
sb_wipe(struct sbuf *sb)
{
	if (sb->p != NULL) {
		mbedtls_platform_zeroize(sb->p, sb->cap);
		free(sb->p);
	}
	sb->p = NULL;
	sb->len = sb->cap = 0;
}

static int
sha256(const void *in, size_t len, unsigned char out[SHA256_LEN])
{
	size_t olen;

	if (psa_hash_compute(PSA_ALG_SHA_256, in, len, out, SHA256_LEN,
	    &olen) != PSA_SUCCESS || olen != SHA256_LEN)
		return -1;
	return 0;
}

/* the EC key pair of pk when it is a P-256 key, else NULL */
static const mbedtls_ecp_keypair *
p256_of(const mbedtls_pk_context *pk)
{
	const mbedtls_ecp_keypair *kp;

	if (!mbedtls_pk_can_do(pk, MBEDTLS_PK_ECKEY))
		return NULL;
	kp = mbedtls_pk_ec(*pk);
	if (kp == NULL ||
	    mbedtls_ecp_keypair_get_group_id(kp) != MBEDTLS_ECP_DP_SECP256R1)
		return NULL;
	return kp;
}

/* the RSA context of pk when it is an RSA key of RSA_MIN_BITS or more */
static mbedtls_rsa_context *
rsa_of(const mbedtls_pk_context *pk)
{
	if (mbedtls_pk_get_type(pk) != MBEDTLS_PK_RSA ||
	    mbedtls_pk_get_bitlen(pk) < RSA_MIN_BITS)
		return NULL;
	return mbedtls_pk_rsa(*pk);
}

const char *
jose_alg(const mbedtls_pk_context *pk)
{
	if (p256_of(pk) != NULL)
		return "ES256";
	if (rsa_of(pk) != NULL)
		return "RS256";
	return NULL;
}

/* an unsigned integer as its shortest big-endian bytes, base64url (RFC 7518 6.3.1.1) */
static void
sb_mpi(struct sbuf *sb, const mbedtls_mpi *x)
{
	size_t n = mbedtls_mpi_size(x);
	unsigned char *b = malloc(n ? n : 1);

	if (b == NULL || mbedtls_mpi_write_binary(x, b, n) != 0)
		sb->err = 1;
	else
		sb_b64(sb, b, n);
	free(b);
}

char *
jose_jwk(const mbedtls_pk_context *pk)
{
	struct sbuf sb = { 0 };
	const mbedtls_ecp_keypair *kp = p256_of(pk);
	mbedtls_rsa_context *rsa;

	if (kp != NULL) {
		unsigned char pt[1 + 2 * P256_COORD];
		size_t olen;

		if (mbedtls_ecp_write_public_key(kp, MBEDTLS_ECP_PF_UNCOMPRESSED,
		    &olen, pt, sizeof(pt)) != 0 || olen != sizeof(pt))
			return NULL;
		sb_str(&sb, "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"");
		sb_b64(&sb, pt + 1, P256_COORD);
		sb_str(&sb, "\",\"y\":\"");
		sb_b64(&sb, pt + 1 + P256_COORD, P256_COORD);
		sb_str(&sb, "\"}");
		return sb_done(&sb);
	}
	rsa = rsa_of(pk);
	if (rsa != NULL) {
		mbedtls_mpi n, e;

		mbedtls_mpi_init(&n);
		mbedtls_mpi_init(&e);
		if (mbedtls_rsa_export(rsa, &n, NULL, NULL, NULL, &e) != 0)
			sb.err = 1;
		sb_str(&sb, "{\"e\":\"");
		sb_mpi(&sb, &e);
		sb_str(&sb, "\",\"kty\":\"RSA\",\"n\":\"");
		sb_mpi(&sb, &n);
		sb_str(&sb, "\"}");
		mbedtls_mpi_free(&n);
		mbedtls_mpi_free(&e);
		return sb_done(&sb);
	}
	return NULL;
}

int
jose_thumbprint(const mbedtls_pk_context *pk, char out[JOSE_THUMBPRINT_SIZE])
{
	unsigned char h[SHA256_LEN];
	char *jwk = jose_jwk(pk);
	int rc = -1;

	out[0] = '\0';
	if (jwk == NULL)
		return -1;
	if (sha256(jwk, strlen(jwk), h) == 0 &&
	    jose_b64url(h, sizeof(h), out, JOSE_THUMBPRINT_SIZE) ==
	    JOSE_THUMBPRINT_SIZE - 1)
		rc = 0;
	free(jwk);
	return rc;
}

/* signs in[0..len) into sig (at most *siglen bytes), setting *siglen; 0 or -1 */
typedef int (*jws_signer)(const void *ctx, const unsigned char *in, size_t len,
    unsigned char *sig, size_t *siglen);

/* the flattened JWS of payload (NULL: "") under the protected header (JSON) */
static char *
jws_flatten(const char *header, const char *payload, jws_signer sign,
    const void *ctx)
{
	struct sbuf in = { 0 }, out = { 0 };
	unsigned char sig[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
	size_t siglen = sizeof(sig);
	const char *body = payload != NULL ? payload : "";

	/* the signing input: BASE64URL(protected) "." BASE64URL(payload) */
	sb_b64(&in, header, strlen(header));
	sb_str(&in, ".");
	sb_b64(&in, body, strlen(body));
	if (in.err || sign(ctx, (unsigned char *)in.p, in.len, sig, &siglen) != 0) {
		sb_wipe(&in);
		return NULL;
	}
	sb_str(&out, "{\"protected\":\"");
	sb_add(&out, in.p, strchr(in.p, '.') - in.p);
	sb_str(&out, "\",\"payload\":\"");
	sb_str(&out, strchr(in.p, '.') + 1);
	sb_str(&out, "\",\"signature\":\"");
	sb_b64(&out, sig, siglen);
	sb_str(&out, "\"}");
	sb_wipe(&in);
	return sb_done(&out);
}

/* ES256 or RS256 with the private key ctx (an mbedtls_pk_context) */
static int
sign_pk(const void *ctx, const unsigned char *in, size_t len,
    unsigned char *sig, size_t *siglen)
{
	const mbedtls_pk_context *pk = ctx;
	unsigned char h[SHA256_LEN], der[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
	size_t dlen = 0;
	int ec = p256_of(pk) != NULL;

	if (sha256(in, len, h) != 0)
		return -1;
	/* mbedtls_pk_sign takes a non-const key (it does not change it) */
	if (mbedtls_pk_sign((mbedtls_pk_context *)pk, MBEDTLS_MD_SHA256, h,
	    sizeof(h), ec ? der : sig, ec ? sizeof(der) : *siglen, &dlen,
	    mbedtls_psa_get_random, MBEDTLS_PSA_RANDOM_STATE) != 0)
		return -1;
	if (!ec) {
		*siglen = dlen;
		return 0;
	}
	/* JWS wants r || s, each 32 bytes (RFC 7518 section 3.4), not DER */
	if (*siglen < 2 * P256_COORD || mbedtls_ecdsa_der_to_raw(256, der, dlen,
	    sig, *siglen, siglen) != 0 || *siglen != 2 * P256_COORD)
		return -1;
	return 0;
}

char *
jose_sign(const mbedtls_pk_context *pk, const char *kid, const char *nonce,
    const char *url, const char *payload)
{
	struct sbuf h = { 0 };
	const char *alg = jose_alg(pk);
	char *jwk = NULL, *jws;

	if (alg == NULL || url == NULL)
		return NULL;
	sb_str(&h, "{\"alg\":\"");
	sb_str(&h, alg);
	if (kid != NULL) {
		sb_str(&h, "\",\"kid\":");
		sb_json(&h, kid);
	} else {
		jwk = jose_jwk(pk);
		if (jwk == NULL)
			h.err = 1;
		else {
			sb_str(&h, "\",\"jwk\":");
			sb_str(&h, jwk);
		}
	}
	if (nonce != NULL) {
		sb_str(&h, ",\"nonce\":");
		sb_json(&h, nonce);
	}
	sb_str(&h, ",\"url\":");
	sb_json(&h, url);
	sb_str(&h, "}");
	free(jwk);
	if (sb_done(&h) == NULL)
		return NULL;
	jws = jws_flatten(h.p, payload, sign_pk, pk);
	sb_wipe(&h);
	return jws;
}

/* HMAC-SHA-256 under the key ctx (a struct mac_key) */
struct mac_key {
	const unsigned char *key;
	size_t len;
};

static int
sign_hs256(const void *ctx, const unsigned char *in, size_t len,
    unsigned char *sig, size_t *siglen)
{
	const struct mac_key *k = ctx;

	if (*siglen < SHA256_LEN || mbedtls_md_hmac(mbedtls_md_info_from_type(
	    MBEDTLS_MD_SHA256), k->key, k->len, in, len, sig) != 0)
		return -1;
	*siglen = SHA256_LEN;
	return 0;
}

char *
jose_eab(const char *eab_kid, const char *hmac_key_b64url,
    const mbedtls_pk_context *account, const char *url)
{
	struct sbuf h = { 0 };
	struct mac_key mk;
	unsigned char key[256];
	char text[(sizeof(key) / 3 + 1) * 4 + 1];
	size_t tlen, klen = 0;
	char *jwk, *jws = NULL;

	if (eab_kid == NULL || hmac_key_b64url == NULL || url == NULL)
		return NULL;
	/* some CAs hand out the key with base64 padding: drop it */
	tlen = strlen(hmac_key_b64url);
	while (tlen > 0 && hmac_key_b64url[tlen - 1] == '=')
		tlen--;
	if (tlen == 0 || tlen >= sizeof(text))
		return NULL;
	memcpy(text, hmac_key_b64url, tlen);
	text[tlen] = '\0';
	if (jose_b64url_decode(text, key, sizeof(key), &klen) != 0 || klen == 0)
		goto out;
	jwk = jose_jwk(account);
	if (jwk == NULL)
		goto out;
	sb_str(&h, "{\"alg\":\"HS256\",\"kid\":");
	sb_json(&h, eab_kid);
	sb_str(&h, ",\"url\":");
	sb_json(&h, url);
	sb_str(&h, "}");
	if (sb_done(&h) != NULL) {
		mk.key = key;
		mk.len = klen;
		jws = jws_flatten(h.p, jwk, sign_hs256, &mk);
		sb_wipe(&h);
	}
	free(jwk);
out:
	mbedtls_platform_zeroize(text, sizeof(text));
	mbedtls_platform_zeroize(key, sizeof(key));
	return jws;
}

char *
jose_key_authorization(const char *token, const mbedtls_pk_context *account)
{
	char tp[JOSE_THUMBPRINT_SIZE];
	size_t n;
	char *ka;

	if (!jose_b64url_valid(token) || jose_thumbprint(account, tp) != 0)
		return NULL;
	n = strlen(token) + 1 + strlen(tp) + 1;
	ka = malloc(n);
	if (ka != NULL)
		snprintf(ka, n, "%s.%s", token, tp);
	return ka;
}
