/* challenge.h - ACME challenge material in the storage directory (write, read, remove) */
#ifndef MTA_STSD_CHALLENGE_H
#define MTA_STSD_CHALLENGE_H

#include "certs.h"

#define CHALLENGE_TOKEN_MAX 128	/* longest HTTP-01 token accepted */

/*
 * Use <storage_dir>/challenges/tls-alpn-01/ and .../http-01/ from now on,
 * making them (0700) where they are missing. Until it succeeds every lookup
 * answers NULL at once (ACME off: no file is ever opened). Returns 0, or -1
 * with errno set (the store stays off).
 */
int challenge_init(const char *storage_dir);

/* Is the store on (challenge_init succeeded)? Returns 1 or 0. */
int challenge_enabled(void);

/*
 * Is name a host name the store accepts (normalised: lower case, letters,
 * digits, hyphens and dots, never '/' or ".."), or token a token it accepts
 * (base64url characters only, 1..CHALLENGE_TOKEN_MAX)? Returns 1 or 0.
 */
int challenge_name_ok(const char *name);
int challenge_token_ok(const char *token);

/*
 * Store pem (the challenge certificate, then its key, PEM) for name: written
 * to a temporary file in the same directory (0600), flushed to disk, then
 * renamed over <name>.pem, so a reader sees the old file or the new one.
 * Returns 0, or -1 with errno set (EINVAL: a bad name, or the store is off).
 */
int challenge_tls_put(const char *name, const char *pem);

/* Remove name's challenge certificate. Returns 0 (also when there was none)
 * or -1 with errno set. */
int challenge_tls_remove(const char *name);

/*
 * The challenge certificate stored for name, read from the file now (several
 * instances may share the directory: nothing is cached) and parsed: the
 * certificate and the key that matches it. Returns one reference (drop it
 * with certs_unref) or NULL: store off, bad name, no file, or a file that
 * does not hold a certificate and its key.
 */
struct certkey *challenge_tls_get(const char *name);

/* Store the key authorization for an HTTP-01 token, atomically as
 * challenge_tls_put. Returns 0 or -1 with errno set. */
int challenge_http_put(const char *token, const char *key_authorization);

/* Remove a token's key authorization. Returns 0 (also when there was none)
 * or -1 with errno set. */
int challenge_http_remove(const char *token);

/* The key authorization stored for token, read from the file now: a
 * malloc'd string, or NULL (store off, bad token, no file). */
char *challenge_http_get(const char *token);

#endif
