/* certs.h - certificate chains and keys (mbedTLS), their checks, and SAN names */
#ifndef MTA_STSD_CERTS_H
#define MTA_STSD_CERTS_H

#include <stdatomic.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include "diag.h"

#define CERTS_EXPIRY_WARN_DAYS 21
#define CERTS_RSA_MIN_BITS 2048	/* OpenSSL's default security level 2 */

/* What identifies one version of a file: a changed file gets a new stamp. */
struct file_stamp {
	dev_t dev;
	ino_t ino;
	off_t size;
	long long mtime_ns;
	long long ctime_ns;
};

/*
 * One certificate chain with its private key, loaded once and shared by
 * every domain (and every snapshot) that uses it: reference counted, freed
 * with the key material wiped when the last user lets go.
 */
struct certkey {
	atomic_uint refs;
	char *cert_path;
	char *key_path;
	char *pair;			/* "cert_path\nkey_path": its key in a set */
	char *cert_real_dir;		/* where symlinks lead (certbot's archive/), */
	char *key_real_dir;		/* NULL when the file is no symlink */
	struct file_stamp cert_stamp, key_stamp;
	mbedtls_x509_crt chain;		/* leaf first, then the intermediates */
	mbedtls_pk_context key;		/* with MBEDTLS_USE_PSA_CRYPTO, a */
	mbedtls_svc_key_id_t psa_key;	/* reference to this PSA key (0: none) */
	time_t not_before, not_after;	/* of the leaf */
	char **names;			/* the leaf's SAN DNS names, lower case */
	size_t nnames;
	int is_ec;			/* ECDSA key (else RSA) */
};

/*
 * Load the PEM chain at cert_path and the PEM key at key_path, check that the
 * key matches the leaf, that the chain fits the one TLS record mbedTLS sends
 * it in and that an RSA key has CERTS_RSA_MIN_BITS or more, and collect the
 * leaf's SAN DNS names. Problems go to d with the file name. Warns when the
 * key file is readable by others. Returns 0 and *out (one reference) or -1.
 */
int certs_load(const char *cert_path, const char *key_path,
    struct certkey **out, struct diag *d);

/*
 * Add to d, with severity sev, why path (a "certificate", a "private key",
 * ...: what) could not be read, given errno err: a dangling symlink with its
 * target and the likely cause (certbot's archive/ missing), Permission
 * denied with the user and group reading and the fix, else strerror(err).
 */
void certs_explain(struct diag *d, enum diag_severity sev, const char *path,
    const char *what, int err);

/* Take one more reference. */
void certs_ref(struct certkey *ck);

/* Drop one reference; the last one frees and wipes the key. NULL is fine. */
void certs_unref(struct certkey *ck);

/* Does a SAN DNS name of ck cover host (lower case)? Returns 1 or 0. */
int certs_covers(const struct certkey *ck, const char *host);

/*
 * Check that ck can serve host at time now: a SAN covers it, and the leaf is
 * valid now. Errors name the domain and the file; a leaf expiring within
 * CERTS_EXPIRY_WARN_DAYS is a warning. Returns 0 when usable, -1 otherwise.
 */
int certs_check(const struct certkey *ck, const char *domain,
    const char *host, time_t now, struct diag *d);

/* Fill *st from path (following symlinks). Returns 0 or -1 (errno set). */
int certs_stamp(const char *path, struct file_stamp *st);

/* Are both stamps of ck still those of the files on disk? Returns 1 or 0. */
int certs_unchanged(const struct certkey *ck);

/* A certificate's time (UTC, as mbedTLS parsed it) as a time_t. */
time_t certs_x509_time(const mbedtls_x509_time *t);

#endif
