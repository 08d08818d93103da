/* acme.h - the RFC 8555 protocol: directory, nonces, account (+EAB), order,
 * authorizations, challenges, finalize, download (+alternate chains), and
 * ACME Renewal Information (RFC 9773). Blocking; one client is used by one
 * thread at a time (the manager's). The CA's JSON is read by the pure
 * acme_parse_* functions below (jansson), apart from the I/O, and fuzzed. */
#ifndef MTA_STSD_ACME_H
#define MTA_STSD_ACME_H

#include <stddef.h>
#include <time.h>

#include <mbedtls/pk.h>

/* what went wrong (struct acme_error's kind) */
enum acme_error_kind {
	ACME_OK = 0,
	ACME_NETWORK,		/* the CA could not be reached, or the connection broke */
	ACME_SERVER,		/* the CA answered 5xx, or what it sent makes no sense */
	ACME_RATE_LIMITED,	/* urn:ietf:params:acme:error:rateLimited (or 429) */
	ACME_REJECTED,		/* another 4xx problem document */
	ACME_INVALID,		/* an authorization or the order became invalid */
	ACME_LOCAL		/* our side: configuration, storage, key, stopped */
};

struct acme_error {
	int kind;		/* enum acme_error_kind */
	long retry_after;	/* seconds the CA asked to wait, -1 none */
	char type[96];		/* problem type urn, e.g. urn:ietf:params:acme:error:rateLimited */
	char detail[256];	/* the CA's detail (with subproblems), escaped for the log */
};

/* the challenge type to answer (the values of config_number(cfg, "challenge")) */
enum acme_challenge {
	ACME_TLS_ALPN_01 = 0,
	ACME_HTTP_01 = 1
};

/*
 * What a client needs; acme_client_new copies every string. NULL strings:
 * none (ca_file NULL: the system store). The last three fields may stay 0.
 */
struct acme_settings {
	const char *directory;		/* the CA's directory URL (https://) */
	const char *email;		/* account contact (mailto:), or NULL */
	int agree_terms;		/* agree to the CA's terms of service */
	const char *eab_kid;		/* External Account Binding key id, or NULL */
	const char *eab_hmac_key;	/* its HMAC key (base64url); never logged */
	const char *ca_file;		/* trust for the CA's HTTPS, NULL: system store */
	const char *storage;		/* storage directory (accounts/ is kept there) */
	int challenge;			/* enum acme_challenge */
	const char *preferred_issuer;	/* top issuer CN of the chain to prefer, or NULL */
	unsigned timeout_s;		/* per HTTPS request; 0: 30 */
	unsigned poll_limit_s;		/* polling an authorization or the order; 0: 120 */
	/* asked between polls and requests: nonzero stops the call (ACME_LOCAL) */
	int (*cancelled)(void *arg);
	void *cancel_arg;
};

struct acme_client;	/* one account at one directory */

/* A client for s (nothing is sent yet), or NULL with err filled. */
struct acme_client *acme_client_new(const struct acme_settings *s, char *err, size_t errlen);

/* Free c (its account key wiped). NULL is fine. */
void acme_client_free(struct acme_client *c);

/*
 * Ensure the account exists: its key from <storage>/accounts/<dirhash>/
 * account.key (created, P-256, when missing), registered with newAccount
 * (contact, terms agreement, EAB when eab_kid is set) unless account.json
 * already names its URL. 0, or -1 with e filled.
 */
int acme_account(struct acme_client *c, struct acme_error *e);

/*
 * Order a certificate for names[0..n) with the certificate key `key`:
 * newOrder, each pending authorization answered with the configured
 * challenge (written with challenge.h, which the caller has initialised
 * with challenge_init, and always removed again), finalize with a CSR,
 * download. *chain_pem (malloc'd): the chain whose top issuer is
 * preferred_issuer when the CA offers one, else the default chain.
 * Calls acme_account first when needed. 0, or -1 with e filled.
 */
int acme_order(struct acme_client *c, const char *const *names, size_t n,
    const mbedtls_pk_context *key, char **chain_pem, struct acme_error *e);

/*
 * acme_order for a renewal: when the directory offers ARI and old_pem (the
 * certificate being replaced, leaf first; NULL: none) has an ARI identifier,
 * the newOrder carries it as "replaces" (RFC 9773 section 5), which a CA may
 * exempt from its rate limits; a CA refusing it gets the order without.
 */
int acme_order_replacing(struct acme_client *c, const char *const *names, size_t n,
    const mbedtls_pk_context *key, const char *old_pem, char **chain_pem,
    struct acme_error *e);

/*
 * ARI (RFC 9773): the CA's suggested renewal window for the certificate
 * (leaf first in cert_pem). 0 with *start, *end (and e->retry_after: when
 * to ask again, -1 when the CA said nothing); 1 when the directory offers
 * no renewalInfo; -1 on error with e filled.
 */
int acme_renewal_info(struct acme_client *c, const char *cert_pem, time_t *start, time_t *end,
    struct acme_error *e);

/* ---- the pure part: bytes the CA sent -> structs (no I/O, no logging) ---- */

/* the status of an order, an authorization or a challenge */
enum acme_status {
	ACME_ST_UNKNOWN = 0,
	ACME_ST_PENDING,
	ACME_ST_READY,
	ACME_ST_PROCESSING,
	ACME_ST_VALID,
	ACME_ST_INVALID,
	ACME_ST_EXPIRED,
	ACME_ST_DEACTIVATED,
	ACME_ST_REVOKED
};

struct acme_directory {
	char *new_nonce, *new_account, *new_order;	/* required */
	char *renewal_info;		/* NULL: no ARI */
	char *terms_of_service;		/* meta.termsOfService, or NULL */
	int eab_required;		/* meta.externalAccountRequired */
};

#define ACME_MAX_AUTHZ 100
#define ACME_MAX_CHALLENGES 16

struct acme_order_info {
	int status;			/* enum acme_status */
	char **authorizations;		/* URLs */
	size_t nauthz;
	char *finalize;			/* URL */
	char *certificate;		/* URL, once valid; else NULL */
	int has_error;			/* the order's "error" problem, in error */
	struct acme_error error;
};

struct acme_challenge_info {
	char *type;			/* "tls-alpn-01", ... */
	char *url;
	char *token;			/* NULL when absent */
	int status;
	int has_error;
	struct acme_error error;
};

struct acme_authz_info {
	int status;
	char *identifier;		/* identifier.value */
	int wildcard;
	struct acme_challenge_info challenges[ACME_MAX_CHALLENGES];
	size_t nchallenges;
};

/* The status word s as enum acme_status (ACME_ST_UNKNOWN when none). */
int acme_status_parse(const char *s);

/* buf[0..len) as the directory object: 0 with *d filled, or -1 with err
 * saying what is missing (*d then holds nothing). */
int acme_parse_directory(const char *buf, size_t len, struct acme_directory *d,
    char *err, size_t errlen);
/* Free what d holds and zero it (harmless on a zeroed one). */
void acme_directory_free(struct acme_directory *d);

/* buf[0..len) as an order object: 0 with *o filled, or -1 with err (*o empty). */
int acme_parse_order(const char *buf, size_t len, struct acme_order_info *o,
    char *err, size_t errlen);
/* Free what o holds and zero it (harmless on a zeroed one). */
void acme_order_info_free(struct acme_order_info *o);

/* buf[0..len) as an authorization object (challenges without type or URL
 * skipped, at most ACME_MAX_CHALLENGES): 0 with *a filled, or -1 with err. */
int acme_parse_authz(const char *buf, size_t len, struct acme_authz_info *a,
    char *err, size_t errlen);
/* Free what a holds and zero it (harmless on a zeroed one). */
void acme_authz_info_free(struct acme_authz_info *a);

/* The challenge of type in a, or NULL. */
const struct acme_challenge_info *acme_authz_challenge(const struct acme_authz_info *a,
    const char *type);

/*
 * An error answer as e: HTTP status, the problem document (body, when
 * content_type is application/problem+json or the body holds one: type,
 * detail, subproblems) and Retry-After (seconds, -1 none). rateLimited or
 * 429: ACME_RATE_LIMITED; 5xx: ACME_SERVER; other 4xx: ACME_REJECTED.
 * The detail is escaped (log_escape) and cut to fit. Never fails.
 */
void acme_parse_problem(int status, const char *content_type, const char *body, size_t len,
    long retry_after, struct acme_error *e);

/* An RFC 3339 date-time (e.g. 2025-01-02T04:00:00Z, fractions, +hh:mm
 * offsets) as a time_t: 0, or -1 when it is none. */
int acme_parse_time(const char *s, time_t *t);

/* A renewalInfo object (RFC 9773 section 4.2): suggestedWindow start and
 * end (start <= end): 0, or -1 with err. */
int acme_parse_renewal_info(const char *buf, size_t len, time_t *start, time_t *end,
    char *err, size_t errlen);

/*
 * The ARI certificate identifier of the first certificate in pem (RFC 9773
 * section 4.1): base64url(authority key identifier) "." base64url(serial
 * DER content), into out. 0, or -1 with err (no AKI, not a certificate).
 */
int acme_cert_id(const char *pem, size_t len, char *out, size_t size, char *err, size_t errlen);

/*
 * Which of chains[0..n) (PEM, n >= 1, chains[0] the CA's default) to use:
 * the first whose last certificate's issuer CN, or subject CN, is
 * preferred; 0 (the default) when none is, or preferred is NULL or "".
 */
size_t acme_chain_pick(const char *const *chains, size_t n, const char *preferred);

#endif
