/* certs.c - certificate chains and keys (mbedTLS), their checks, and SAN names */
#include "certs.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <mbedtls/error.h>
#include <mbedtls/oid.h>
#include <mbedtls/psa_util.h>

#include "names.h"

int
certs_stamp(const char *path, struct file_stamp *st)
{
	struct stat sb;

	if (stat(path, &sb) == -1)
		return -1;
	st->dev = sb.st_dev;
	st->ino = sb.st_ino;
	st->size = sb.st_size;
	st->mtime_ns = (long long)sb.st_mtim.tv_sec * 1000000000LL +
	    sb.st_mtim.tv_nsec;
	st->ctime_ns = (long long)sb.st_ctim.tv_sec * 1000000000LL +
	    sb.st_ctim.tv_nsec;
	return 0;
}

static int
stamp_equal(const struct file_stamp *a, const struct file_stamp *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	    a->mtime_ns == b->mtime_ns && a->ctime_ns == b->ctime_ns;
}

int
certs_unchanged(const struct certkey *ck)
{
	struct file_stamp c, k;

	if (certs_stamp(ck->cert_path, &c) == -1 ||
	    certs_stamp(ck->key_path, &k) == -1)
		return 0;
	return stamp_equal(&c, &ck->cert_stamp) && stamp_equal(&k, &ck->key_stamp);
}

/* mbedtls_x509_time (UTC) -> time_t */
static time_t
x509_time_to_time(const mbedtls_x509_time *t)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = t->year - 1900;
	tm.tm_mon = t->mon - 1;
	tm.tm_mday = t->day;
	tm.tm_hour = t->hour;
	tm.tm_min = t->min;
	tm.tm_sec = t->sec;
	return timegm(&tm);
}

/* what to do about a key on a curve left out of the build */
#define CURVE_HINT "the key's elliptic curve is not built in: use an RSA " \
	"key or an ECDSA key on P-256, P-384 or P-521"

static const char *
tls_strerror(int ret, char *buf, size_t len)
{
	mbedtls_strerror(ret, buf, len);
	return buf;
}

/* collect the leaf's SAN dNSName entries, lower-cased and validated */
static int
collect_names(struct certkey *ck)
{
	const mbedtls_x509_sequence *seq;
	size_t n = 0;

	for (seq = &ck->chain.subject_alt_names; seq != NULL; seq = seq->next)
		n++;
	if ((ck->names = calloc(n ? n : 1, sizeof(char *))) == NULL)
		return -1;
	for (seq = &ck->chain.subject_alt_names; seq != NULL; seq = seq->next) {
		char name[NAME_MAX_LEN + 1];
		const unsigned char *p = seq->buf.p;
		size_t len = seq->buf.len;
		int wild = 0;

		if (seq->buf.tag != (MBEDTLS_ASN1_CONTEXT_SPECIFIC |
		    MBEDTLS_X509_SAN_DNS_NAME) || p == NULL || len == 0)
			continue;
		if (len > 2 && p[0] == '*' && p[1] == '.') {
			wild = 1;
			p += 2;
			len -= 2;
		}
		if (len > NAME_MAX_LEN - 2 ||
		    name_normalise((const char *)p, len, name + 2 * wild,
		    sizeof(name) - 2) == -1)
			continue;	/* not a host name we could ever match */
		if (wild) {
			name[0] = '*';
			name[1] = '.';
		}
		if ((ck->names[ck->nnames] = strdup(name)) == NULL)
			return -1;
		ck->nnames++;
	}
	return 0;
}

/* the directory path's symlinks resolve to, when it differs from path's own */
static char *
real_dir(const char *path)
{
	char real[PATH_MAX], *slash;
	size_t dirlen;

	if (realpath(path, real) == NULL || (slash = strrchr(real, '/')) == NULL)
		return NULL;
	*slash = '\0';
	dirlen = strrchr(path, '/') != NULL ? (size_t)(strrchr(path, '/') - path) : 0;
	if (strlen(real) == dirlen && strncmp(real, path, dirlen) == 0)
		return NULL;
	return strdup(real);
}

int
certs_load(const char *cert_path, const char *key_path, struct certkey **out,
    struct diag *d)
{
	struct certkey *ck;
	struct stat sb;
	char err[128];
	int ret;

	*out = NULL;
	if ((ck = calloc(1, sizeof(*ck))) == NULL) {
		diag_err(d, cert_path, 0, "out of memory");
		return -1;
	}
	atomic_init(&ck->refs, 1);
	mbedtls_x509_crt_init(&ck->chain);
	mbedtls_pk_init(&ck->key);
	if ((ck->cert_path = strdup(cert_path)) == NULL ||
	    (ck->key_path = strdup(key_path)) == NULL ||
	    asprintf(&ck->pair, "%s\n%s", cert_path, key_path) == -1) {
		ck->pair = NULL;
		diag_err(d, cert_path, 0, "out of memory");
		goto fail;
	}

	/* stamps first: a file replaced while we read it then looks changed;
	 * and only regular files: mbedTLS opens them blocking (a FIFO) */
	errno = 0;
	if (certs_stamp(cert_path, &ck->cert_stamp) == -1 ||
	    stat(cert_path, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		diag_err(d, cert_path, 0, "cannot read certificate: %s",
		    errno ? strerror(errno) : "not a regular file");
		goto fail;
	}
	errno = 0;
	if (certs_stamp(key_path, &ck->key_stamp) == -1 ||
	    stat(key_path, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		diag_err(d, key_path, 0, "cannot read private key: %s",
		    errno ? strerror(errno) : "not a regular file");
		goto fail;
	}

	ret = mbedtls_x509_crt_parse_file(&ck->chain, cert_path);
	if (ret != 0) {
		if (ret > 0)
			diag_err(d, cert_path, 0, "%d certificate(s) in the file "
			    "could not be parsed; it must hold PEM certificates, "
			    "the leaf first, then the intermediates", ret);
		else
			diag_err(d, cert_path, 0, "cannot load certificate chain: "
			    "%s; %s", tls_strerror(ret, err, sizeof(err)),
			    ret == MBEDTLS_ERR_PK_UNKNOWN_NAMED_CURVE ? CURVE_HINT :
			    "it must hold PEM certificates, leaf first");
		goto fail;
	}

	if (stat(key_path, &sb) == 0 && (sb.st_mode & S_IROTH))
		diag_warn(d, key_path, 0, "private key is readable by every "
		    "user; chmod o-r it (0600 or 0640)");
	ret = mbedtls_pk_parse_keyfile(&ck->key, key_path, NULL,
	    mbedtls_psa_get_random, MBEDTLS_PSA_RANDOM_STATE);
	if (ret != 0) {
		diag_err(d, key_path, 0, "cannot load private key: %s; %s",
		    tls_strerror(ret, err, sizeof(err)),
		    ret == MBEDTLS_ERR_PK_UNKNOWN_NAMED_CURVE ? CURVE_HINT :
		    "it must be an unencrypted PEM RSA or EC key");
		goto fail;
	}
	ret = mbedtls_pk_check_pair(&ck->chain.pk, &ck->key,
	    mbedtls_psa_get_random, MBEDTLS_PSA_RANDOM_STATE);
	if (ret != 0) {
		diag_err(d, key_path, 0, "private key does not match the "
		    "certificate in %s; give the key the certificate was issued "
		    "for", cert_path);
		goto fail;
	}
	ck->is_ec = mbedtls_pk_can_do(&ck->key, MBEDTLS_PK_ECKEY);
	ck->cert_real_dir = real_dir(cert_path);
	ck->key_real_dir = real_dir(key_path);
	ck->not_before = x509_time_to_time(&ck->chain.valid_from);
	ck->not_after = x509_time_to_time(&ck->chain.valid_to);
	if (collect_names(ck) == -1) {
		diag_err(d, cert_path, 0, "out of memory");
		goto fail;
	}
	*out = ck;
	return 0;
fail:
	certs_unref(ck);
	return -1;
}

void
certs_ref(struct certkey *ck)
{
	atomic_fetch_add_explicit(&ck->refs, 1, memory_order_relaxed);
}

void
certs_unref(struct certkey *ck)
{
	if (ck == NULL ||
	    atomic_fetch_sub_explicit(&ck->refs, 1, memory_order_acq_rel) != 1)
		return;
	mbedtls_pk_free(&ck->key);		/* wipes the key material */
	mbedtls_x509_crt_free(&ck->chain);
	for (size_t i = 0; i < ck->nnames; i++)
		free(ck->names[i]);
	free(ck->names);
	free(ck->cert_path);
	free(ck->key_path);
	free(ck->pair);
	free(ck->cert_real_dir);
	free(ck->key_real_dir);
	free(ck);
}

int
certs_covers(const struct certkey *ck, const char *host)
{
	for (size_t i = 0; i < ck->nnames; i++)
		if (name_match(ck->names[i], host))
			return 1;
	return 0;
}

int
certs_check(const struct certkey *ck, const char *domain, const char *host,
    time_t now, struct diag *d)
{
	char when[32];
	struct tm tm;
	int ok = 0;

	if (!certs_covers(ck, host)) {
		char names[512] = "";
		size_t used = 0;

		for (size_t i = 0; i < ck->nnames && used < sizeof(names); i++)
			used += (size_t)snprintf(names + used, sizeof(names) - used,
			    "%s%s", i ? ", " : "", ck->names[i]);
		diag_err(d, ck->cert_path, 0, "%s: the certificate does not cover "
		    "%s (its DNS names: %s); get one with %s in its SAN", domain,
		    host, ck->nnames ? names : "none", host);
		ok = -1;
	}
	if (now < ck->not_before) {
		gmtime_r(&ck->not_before, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
		diag_err(d, ck->cert_path, 0, "%s: the certificate is not valid "
		    "before %s; check the clock or the certificate", domain, when);
		ok = -1;
	}
	gmtime_r(&ck->not_after, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
	if (now > ck->not_after) {
		diag_err(d, ck->cert_path, 0, "%s: the certificate expired on %s; "
		    "renew it", domain, when);
		ok = -1;
	} else if (ck->not_after - now < CERTS_EXPIRY_WARN_DAYS * 86400L) {
		diag_warn(d, ck->cert_path, 0, "%s: the certificate expires on %s, "
		    "in less than %d days; renew it", domain, when,
		    CERTS_EXPIRY_WARN_DAYS);
	}
	return ok;
}
