/* challenge.c - ACME challenge material in the storage directory (write, read, remove) */
#include "challenge.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/pem.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/psa_util.h>

#include "files.h"
#include "names.h"

#define CHALLENGE_FILE_MAX 65536	/* a challenge certificate + key is ~1 KiB */

/*
 * The two directories, set once by challenge_init before any thread that
 * looks up starts (the workers, the ACME manager) and never changed: every
 * other function only reads them. "" while the store is off.
 */
static char tls_dir[PATH_MAX];
static char http_dir[PATH_MAX];

/* mkdir path (0700) unless it is a directory already */
static int
challenge_mkdir(const char *path)
{
	struct stat sb;

	if (mkdir(path, 0700) == 0)
		return 0;
	if (errno != EEXIST)
		return -1;
	if (stat(path, &sb) == -1)
		return -1;
	if (!S_ISDIR(sb.st_mode)) {
		errno = ENOTDIR;
		return -1;
	}
	return 0;
}

int
challenge_init(const char *storage_dir)
{
	char top[PATH_MAX], t[PATH_MAX], h[PATH_MAX];

	tls_dir[0] = http_dir[0] = '\0';
	if (storage_dir == NULL || storage_dir[0] == '\0') {
		errno = EINVAL;
		return -1;
	}
	if (snprintf(top, sizeof(top), "%s/challenges", storage_dir) >=
	    (int)sizeof(top) ||
	    snprintf(t, sizeof(t), "%s/tls-alpn-01", top) >= (int)sizeof(t) ||
	    snprintf(h, sizeof(h), "%s/http-01", top) >= (int)sizeof(h)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (challenge_mkdir(storage_dir) == -1 || challenge_mkdir(top) == -1 ||
	    challenge_mkdir(t) == -1 || challenge_mkdir(h) == -1)
		return -1;
	memcpy(tls_dir, t, sizeof(t));
	memcpy(http_dir, h, sizeof(h));
	return 0;
}

int
challenge_enabled(void)
{
	return tls_dir[0] != '\0';
}

int
challenge_name_ok(const char *name)
{
	char norm[NAME_MAX_LEN + 1];
	size_t len;

	if (name == NULL)
		return 0;
	len = strlen(name);
	/* valid, and already in its normal form (lower case) */
	return name_normalise(name, len, norm, sizeof(norm)) == 0 &&
	    memcmp(norm, name, len) == 0;
}

int
challenge_token_ok(const char *token)
{
	size_t i;

	if (token == NULL)
		return 0;
	for (i = 0; token[i] != '\0'; i++) {
		char c = token[i];

		if (i == CHALLENGE_TOKEN_MAX ||
		    !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return 0;
	}
	return i > 0;
}

/* dir/file<suffix> into out; -1 when the store is off or it does not fit */
static int
challenge_path(char *out, size_t size, const char *dir, const char *file,
    const char *suffix)
{
	if (dir[0] == '\0') {
		errno = EINVAL;
		return -1;
	}
	if (snprintf(out, size, "%s/%s%s", dir, file, suffix) >= (int)size) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

/*
 * Write data to dir/file<suffix> atomically (files_write_atomic: a
 * temporary name in dir beginning with a dot, which no name or token does;
 * 0600, fsync, rename, fsync of dir).
 */
static int
challenge_write(const char *dir, const char *file, const char *suffix,
    const char *data)
{
	char path[PATH_MAX];

	if (challenge_path(path, sizeof(path), dir, file, suffix) == -1)
		return -1;
	return files_write_atomic(path, data, strlen(data));
}

/* unlink dir/file<suffix>; a missing file is no error */
static int
challenge_unlink(const char *dir, const char *file, const char *suffix)
{
	char path[PATH_MAX];

	if (challenge_path(path, sizeof(path), dir, file, suffix) == -1)
		return -1;
	if (unlink(path) == -1 && errno != ENOENT)
		return -1;
	return 0;
}

/*
 * Read dir/file<suffix> whole (a regular file, at most CHALLENGE_FILE_MAX
 * bytes, a symlink is not followed) into a malloc'd NUL-terminated buffer;
 * *len without the NUL. NULL when missing or unreadable.
 */
static char *
challenge_read(const char *dir, const char *file, const char *suffix,
    size_t *len)
{
	char path[PATH_MAX];

	if (challenge_path(path, sizeof(path), dir, file, suffix) == -1)
		return NULL;
	return files_read(path, CHALLENGE_FILE_MAX, FILES_NOFOLLOW, len);
}

int
challenge_tls_put(const char *name, const char *pem)
{
	if (!challenge_name_ok(name) || pem == NULL) {
		errno = EINVAL;
		return -1;
	}
	return challenge_write(tls_dir, name, ".pem", pem);
}

int
challenge_tls_remove(const char *name)
{
	if (!challenge_name_ok(name)) {
		errno = EINVAL;
		return -1;
	}
	return challenge_unlink(tls_dir, name, ".pem");
}

/* id-pe-acmeIdentifier, 1.3.6.1.5.5.7.1.31 (RFC 8737 section 6.1), DER */
static const unsigned char acme_identifier_oid[] = {
	0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x1f
};

/*
 * mbedTLS refuses a certificate with a critical extension it does not know;
 * the challenge certificate's id-pe-acmeIdentifier is critical (RFC 8737
 * section 3). Accept it when it holds what it must, an OCTET STRING of the
 * 32 bytes of a SHA-256 digest; refuse every other unknown extension.
 */
static int
challenge_ext_cb(void *ctx, mbedtls_x509_crt const *crt,
    mbedtls_x509_buf const *oid, int critical, const unsigned char *p,
    const unsigned char *end)
{
	(void)ctx;
	(void)crt;
	(void)critical;
	if (oid->len != sizeof(acme_identifier_oid) ||
	    memcmp(oid->p, acme_identifier_oid, oid->len) != 0)
		return MBEDTLS_ERR_X509_INVALID_EXTENSIONS;
	if (end - p != 2 + 32 || p[0] != 0x04 || p[1] != 32)
		return MBEDTLS_ERR_X509_INVALID_EXTENSIONS;
	return 0;
}

/* the first PEM certificate of pem (NUL-terminated) into chain */
static int
challenge_parse_cert(mbedtls_x509_crt *chain, const unsigned char *pem)
{
	mbedtls_pem_context ctx;
	const unsigned char *der;
	size_t used, len;
	int ret;

	mbedtls_pem_init(&ctx);
	ret = mbedtls_pem_read_buffer(&ctx, "-----BEGIN CERTIFICATE-----",
	    "-----END CERTIFICATE-----", pem, NULL, 0, &used);
	if (ret == 0) {
		der = mbedtls_pem_get_buffer(&ctx, &len);
		ret = mbedtls_x509_crt_parse_der_with_ext_cb(chain, der, len, 1,
		    challenge_ext_cb, NULL);
	}
	mbedtls_pem_free(&ctx);
	return ret;
}

/* the certificate and the matching key in pem[0..len] (len counts the NUL,
 * as mbedTLS' PEM parsers want it) as a new certkey, or NULL */
static struct certkey *
challenge_parse(const unsigned char *pem, size_t len)
{
	struct certkey *ck;

	if ((ck = calloc(1, sizeof(*ck))) == NULL)
		return NULL;
	atomic_init(&ck->refs, 1);
	mbedtls_x509_crt_init(&ck->chain);
	mbedtls_pk_init(&ck->key);
	if (len == 0 || pem[len - 1] != '\0' ||
	    challenge_parse_cert(&ck->chain, pem) != 0 ||
	    mbedtls_pk_parse_key(&ck->key, pem, len, NULL, 0,
	    mbedtls_psa_get_random, MBEDTLS_PSA_RANDOM_STATE) != 0 ||
	    mbedtls_pk_check_pair(&ck->chain.pk, &ck->key,
	    mbedtls_psa_get_random, MBEDTLS_PSA_RANDOM_STATE) != 0) {
		certs_unref(ck);
		return NULL;
	}
	ck->is_ec = mbedtls_pk_can_do(&ck->key, MBEDTLS_PK_ECKEY);
	return ck;
}

struct certkey *
challenge_tls_get(const char *name)
{
	struct certkey *ck;
	size_t len;
	char *pem;

	if (!challenge_enabled() || !challenge_name_ok(name))
		return NULL;
	if ((pem = challenge_read(tls_dir, name, ".pem", &len)) == NULL)
		return NULL;
	ck = challenge_parse((const unsigned char *)pem, len + 1);
	mbedtls_platform_zeroize(pem, len);	/* it holds the key */
	free(pem);
	return ck;
}

int
challenge_http_put(const char *token, const char *key_authorization)
{
	if (!challenge_token_ok(token) || key_authorization == NULL) {
		errno = EINVAL;
		return -1;
	}
	return challenge_write(http_dir, token, "", key_authorization);
}

int
challenge_http_remove(const char *token)
{
	if (!challenge_token_ok(token)) {
		errno = EINVAL;
		return -1;
	}
	return challenge_unlink(http_dir, token, "");
}

char *
challenge_http_get(const char *token)
{
	size_t len;

	if (!challenge_enabled() || !challenge_token_ok(token))
		return NULL;
	return challenge_read(http_dir, token, "", &len);
}
