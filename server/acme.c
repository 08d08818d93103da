/* acme.c - the RFC 8555 protocol (and RFC 9773's renewal information).
 *
 * Two halves. The pure one (acme_parse_*, acme_cert_id, acme_chain_pick)
 * turns the CA's bytes into structs with jansson and mbedTLS, logs nothing
 * and is fuzzed (tests/fuzz/fuzz_acme.c). The other sends the requests
 * (httpc.c), signs them (jose.c), keeps the account key in the storage
 * directory and writes the challenge material (challenge.c); it blocks and
 * is called from the manager's thread only (acmed.c). */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <mbedtls/oid.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/sha256.h>
#include <mbedtls/x509_crt.h>

#include "acme.h"
#include "challenge.h"
#include "files.h"
#include "httpc.h"
#include "jose.h"
#include "log.h"
#include "x509gen.h"

#define ACME_ERR_PREFIX "urn:ietf:params:acme:error:"
#define ACME_BAD_NONCE_RETRIES 5	/* badNonce answers retried per request */
#define ACME_TIMEOUT_DEFAULT 30
#define ACME_POLL_DEFAULT 120
#define ACME_POLL_WAIT_MAX 60		/* the longest Retry-After honoured between polls */

/* ------------------------------------------------------------------ */
/* the pure part */

static const char *const status_names[] = {
	[ACME_ST_PENDING] = "pending",
	[ACME_ST_READY] = "ready",
	[ACME_ST_PROCESSING] = "processing",
	[ACME_ST_VALID] = "valid",
	[ACME_ST_INVALID] = "invalid",
	[ACME_ST_EXPIRED] = "expired",
	[ACME_ST_DEACTIVATED] = "deactivated",
	[ACME_ST_REVOKED] = "revoked",
};

int
acme_status_parse(const char *s)
{
	for (size_t i = 1; s != NULL && i < sizeof(status_names) / sizeof(status_names[0]); i++)
		if (strcmp(s, status_names[i]) == 0)
			return (int)i;
	return ACME_ST_UNKNOWN;
}

static void
errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* buf as one JSON object, or NULL with err */
static json_t *
load_object(const char *buf, size_t len, const char *what, char *err, size_t errlen)
{
	json_error_t je;
	json_t *j;

	if (buf == NULL) {
		errf(err, errlen, "%s: empty answer, want a JSON object", what);
		return NULL;
	}
	j = json_loadb(buf, len, 0, &je);
	if (j == NULL) {
		char esc[128];

		log_escape(esc, sizeof(esc), je.text, strlen(je.text), "");
		errf(err, errlen, "%s: not JSON (line %d: %s)", what, je.line, esc);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		errf(err, errlen, "%s: JSON but not an object", what);
		return NULL;
	}
	return j;
}

/* obj[key] when it is a string without NUL bytes, else NULL */
static const char *
get_str(const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);
	const char *s;

	if (!json_is_string(v))
		return NULL;
	s = json_string_value(v);
	if (strlen(s) != json_string_length(v))
		return NULL;
	return s;
}

/* a malloc'd copy of obj[key] (a string), NULL when absent; -1 when out of memory */
static int
dup_str(const json_t *obj, const char *key, char **out)
{
	const char *s = get_str(obj, key);

	*out = NULL;
	if (s == NULL)
		return 0;
	*out = strdup(s);
	return *out == NULL ? -1 : 0;
}

/* into out (size bytes): s[0..len) escaped for one log line */
static void
escape_into(char *out, size_t size, const char *s, size_t len)
{
	log_escape(out, size, s, len, "");
}

/* appends s[0..len) to buf (size bytes, holding *used), cutting */
static void
append(char *buf, size_t size, size_t *used, const char *s, size_t len)
{
	if (*used + 1 >= size)
		return;
	if (len > size - 1 - *used)
		len = size - 1 - *used;
	memcpy(buf + *used, s, len);
	*used += len;
	buf[*used] = '\0';
}

static void
append_json_str(char *buf, size_t size, size_t *used, const json_t *s)
{
	if (json_is_string(s))
		append(buf, size, used, json_string_value(s), json_string_length(s));
}

/* e's kind from an HTTP status and a problem type (NULL: none) */
static int
problem_kind(int status, const char *type)
{
	if ((type != NULL && strcmp(type, ACME_ERR_PREFIX "rateLimited") == 0) || status == 429)
		return ACME_RATE_LIMITED;
	if (status >= 500 || (type != NULL && strcmp(type, ACME_ERR_PREFIX "serverInternal") == 0))
		return ACME_SERVER;
	if (status >= 400)
		return ACME_REJECTED;
	return ACME_SERVER;	/* any other answer where a success was due */
}

/* e from a problem object (type, detail, subproblems) */
static void
problem_from_json(const json_t *p, int status, long retry_after, struct acme_error *e)
{
	char raw[1024];
	size_t used = 0;
	const json_t *subs, *sub;
	size_t i;
	const char *type = get_str(p, "type");

	raw[0] = '\0';
	memset(e, 0, sizeof(*e));
	e->retry_after = retry_after;
	if (type != NULL)
		escape_into(e->type, sizeof(e->type), type, strlen(type));
	append_json_str(raw, sizeof(raw), &used, json_object_get(p, "detail"));
	subs = json_object_get(p, "subproblems");
	if (json_is_array(subs)) {
		json_array_foreach(subs, i, sub) {
			const json_t *id = json_object_get(sub, "identifier");

			if (!json_is_object(sub))
				continue;
			append(raw, sizeof(raw), &used, "; ", 2);
			if (json_is_object(id)) {
				append_json_str(raw, sizeof(raw), &used, json_object_get(id, "value"));
				append(raw, sizeof(raw), &used, ": ", 2);
			}
			append_json_str(raw, sizeof(raw), &used, json_object_get(sub, "detail"));
		}
	}
	if (used == 0) {
		if (type != NULL)
			append(raw, sizeof(raw), &used, type, strlen(type));
		else
			append(raw, sizeof(raw), &used, "a problem without detail", 24);
	}
	escape_into(e->detail, sizeof(e->detail), raw, used);
	e->kind = problem_kind(status, type);
}

void
acme_parse_problem(int status, const char *content_type, const char *body, size_t len,
    long retry_after, struct acme_error *e)
{
	json_t *j = NULL;
	char ct[64];

	(void)content_type;	/* some CAs send problems as application/json */
	if (body != NULL && len > 0)
		j = json_loadb(body, len, 0, NULL);
	if (j != NULL && json_is_object(j) && (json_object_get(j, "type") != NULL ||
	    json_object_get(j, "detail") != NULL)) {
		problem_from_json(j, status, retry_after, e);
		json_decref(j);
		return;
	}
	json_decref(j);
	memset(e, 0, sizeof(*e));
	e->retry_after = retry_after;
	e->kind = problem_kind(status, NULL);
	if (content_type != NULL)
		escape_into(ct, sizeof(ct), content_type, strlen(content_type));
	snprintf(e->detail, sizeof(e->detail), "the CA answered HTTP %d%s%s%s", status,
	    content_type != NULL ? " (" : "", content_type != NULL ? ct : "",
	    content_type != NULL ? ") without a problem document" : " without a problem document");
}

int
acme_parse_directory(const char *buf, size_t len, struct acme_directory *d,
    char *err, size_t errlen)
{
	json_t *j = load_object(buf, len, "directory", err, errlen);
	const json_t *meta;
	static const char *const need[] = { "newNonce", "newAccount", "newOrder" };

	memset(d, 0, sizeof(*d));
	if (j == NULL)
		return -1;
	for (size_t i = 0; i < 3; i++)
		if (get_str(j, need[i]) == NULL) {
			errf(err, errlen, "directory: no \"%s\" URL", need[i]);
			json_decref(j);
			return -1;
		}
	meta = json_object_get(j, "meta");
	if (dup_str(j, "newNonce", &d->new_nonce) < 0 ||
	    dup_str(j, "newAccount", &d->new_account) < 0 ||
	    dup_str(j, "newOrder", &d->new_order) < 0 ||
	    dup_str(j, "renewalInfo", &d->renewal_info) < 0 ||
	    (json_is_object(meta) && dup_str(meta, "termsOfService", &d->terms_of_service) < 0)) {
		errf(err, errlen, "directory: out of memory");
		json_decref(j);
		acme_directory_free(d);
		return -1;
	}
	d->eab_required = json_is_object(meta) &&
	    json_is_true(json_object_get(meta, "externalAccountRequired"));
	json_decref(j);
	return 0;
}

void
acme_directory_free(struct acme_directory *d)
{
	free(d->new_nonce);
	free(d->new_account);
	free(d->new_order);
	free(d->renewal_info);
	free(d->terms_of_service);
	memset(d, 0, sizeof(*d));
}

int
acme_parse_order(const char *buf, size_t len, struct acme_order_info *o,
    char *err, size_t errlen)
{
	json_t *j = load_object(buf, len, "order", err, errlen);
	const json_t *authz, *v, *perr;
	size_t i;

	memset(o, 0, sizeof(*o));
	if (j == NULL)
		return -1;
	o->status = acme_status_parse(get_str(j, "status"));
	authz = json_object_get(j, "authorizations");
	if (o->status == ACME_ST_UNKNOWN) {
		errf(err, errlen, "order: no known \"status\"");
		goto fail;
	}
	if (!json_is_array(authz) || json_array_size(authz) > ACME_MAX_AUTHZ) {
		errf(err, errlen, "order: \"authorizations\" is no array of at most %d URLs",
		    ACME_MAX_AUTHZ);
		goto fail;
	}
	if (get_str(j, "finalize") == NULL) {
		errf(err, errlen, "order: no \"finalize\" URL");
		goto fail;
	}
	o->authorizations = calloc(json_array_size(authz) + 1, sizeof(char *));
	if (o->authorizations == NULL)
		goto oom;
	json_array_foreach(authz, i, v) {
		if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
			errf(err, errlen, "order: authorization %zu is no URL", i);
			goto fail;
		}
		if ((o->authorizations[o->nauthz] = strdup(json_string_value(v))) == NULL)
			goto oom;
		o->nauthz++;
	}
	if (dup_str(j, "finalize", &o->finalize) < 0 ||
	    dup_str(j, "certificate", &o->certificate) < 0)
		goto oom;
	perr = json_object_get(j, "error");
	if (json_is_object(perr)) {
		problem_from_json(perr, 0, -1, &o->error);
		o->error.kind = ACME_INVALID;
		o->has_error = 1;
	}
	json_decref(j);
	return 0;
oom:
	errf(err, errlen, "order: out of memory");
fail:
	json_decref(j);
	acme_order_info_free(o);
	return -1;
}

void
acme_order_info_free(struct acme_order_info *o)
{
	for (size_t i = 0; i < o->nauthz; i++)
		free(o->authorizations[i]);
	free(o->authorizations);
	free(o->finalize);
	free(o->certificate);
	memset(o, 0, sizeof(*o));
}

/* one challenge object into ch: 0, 1 to skip it (not an object, no type
 * or URL), -1 when out of memory */
static int
parse_challenge(const json_t *c, struct acme_challenge_info *ch)
{
	const json_t *perr;

	memset(ch, 0, sizeof(*ch));
	if (!json_is_object(c) || get_str(c, "type") == NULL || get_str(c, "url") == NULL)
		return 1;
	if (dup_str(c, "type", &ch->type) < 0 || dup_str(c, "url", &ch->url) < 0 ||
	    dup_str(c, "token", &ch->token) < 0)
		return -1;
	ch->status = acme_status_parse(get_str(c, "status"));
	perr = json_object_get(c, "error");
	if (json_is_object(perr)) {
		problem_from_json(perr, 0, -1, &ch->error);
		ch->error.kind = ACME_INVALID;
		ch->has_error = 1;
	}
	return 0;
}

int
acme_parse_authz(const char *buf, size_t len, struct acme_authz_info *a,
    char *err, size_t errlen)
{
	json_t *j = load_object(buf, len, "authorization", err, errlen);
	const json_t *id, *chs, *c;
	size_t i;

	memset(a, 0, sizeof(*a));
	if (j == NULL)
		return -1;
	a->status = acme_status_parse(get_str(j, "status"));
	if (a->status == ACME_ST_UNKNOWN) {
		errf(err, errlen, "authorization: no known \"status\"");
		goto fail;
	}
	id = json_object_get(j, "identifier");
	if (!json_is_object(id) || get_str(id, "value") == NULL) {
		errf(err, errlen, "authorization: no \"identifier\" value");
		goto fail;
	}
	if (dup_str(id, "value", &a->identifier) < 0)
		goto oom;
	a->wildcard = json_is_true(json_object_get(j, "wildcard"));
	chs = json_object_get(j, "challenges");
	if (!json_is_array(chs)) {
		errf(err, errlen, "authorization: \"challenges\" is no array");
		goto fail;
	}
	json_array_foreach(chs, i, c) {
		int rc;

		if (a->nchallenges == ACME_MAX_CHALLENGES)
			break;
		rc = parse_challenge(c, &a->challenges[a->nchallenges]);
		if (rc < 0) {
			a->nchallenges++;	/* freed below */
			goto oom;
		}
		if (rc == 0)
			a->nchallenges++;
	}
	json_decref(j);
	return 0;
oom:
	errf(err, errlen, "authorization: out of memory");
fail:
	json_decref(j);
	acme_authz_info_free(a);
	return -1;
}

void
acme_authz_info_free(struct acme_authz_info *a)
{
	free(a->identifier);
	for (size_t i = 0; i < a->nchallenges; i++) {
		free(a->challenges[i].type);
		free(a->challenges[i].url);
		free(a->challenges[i].token);
	}
	memset(a, 0, sizeof(*a));
}

const struct acme_challenge_info *
acme_authz_challenge(const struct acme_authz_info *a, const char *type)
{
	for (size_t i = 0; i < a->nchallenges; i++)
		if (strcmp(a->challenges[i].type, type) == 0)
			return &a->challenges[i];
	return NULL;
}

/* n decimal digits at *p (advanced), or -1 */
static int
digits(const char **p, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if ((*p)[i] < '0' || (*p)[i] > '9')
			return -1;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	return v;
}

/* days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's method) */
static long long
days_from_civil(long long y, unsigned m, unsigned d)
{
	long long era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (long long)doe - 719468;
}

int
acme_parse_time(const char *s, time_t *t)
{
	static const unsigned char mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	const char *p = s;
	int y, mo, d, h, mi, sec, off = 0;
	long long v;

	if (s == NULL)
		return -1;
	if ((y = digits(&p, 4)) < 0 || *p++ != '-' || (mo = digits(&p, 2)) < 0 || *p++ != '-' ||
	    (d = digits(&p, 2)) < 0)
		return -1;
	if (*p != 'T' && *p != 't' && *p != ' ')
		return -1;
	p++;
	if ((h = digits(&p, 2)) < 0 || *p++ != ':' || (mi = digits(&p, 2)) < 0 ||
	    *p++ != ':' || (sec = digits(&p, 2)) < 0)
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || sec > 60)
		return -1;
	if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
		return -1;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return -1;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p++ == '-' ? -1 : 1, oh, om;

		if ((oh = digits(&p, 2)) < 0 || *p++ != ':' || (om = digits(&p, 2)) < 0 ||
		    oh > 23 || om > 59)
			return -1;
		off = sign * (oh * 3600 + om * 60);
	} else {
		return -1;
	}
	if (*p != '\0')
		return -1;
	if (sec == 60)
		sec = 59;	/* a leap second: the second before it will do */
	v = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400LL + h * 3600 + mi * 60 + sec - off;
	if (sizeof(time_t) < 8 && (v > INT32_MAX || v < INT32_MIN))
		return -1;
	*t = (time_t)v;
	return 0;
}

int
acme_parse_renewal_info(const char *buf, size_t len, time_t *start, time_t *end,
    char *err, size_t errlen)
{
	json_t *j = load_object(buf, len, "renewalInfo", err, errlen);
	const json_t *w;
	int rc = -1;

	if (j == NULL)
		return -1;
	w = json_object_get(j, "suggestedWindow");
	if (!json_is_object(w)) {
		errf(err, errlen, "renewalInfo: no \"suggestedWindow\" object");
	} else if (acme_parse_time(get_str(w, "start"), start) < 0 ||
	    acme_parse_time(get_str(w, "end"), end) < 0) {
		errf(err, errlen, "renewalInfo: the window's start and end must be RFC 3339 "
		    "date-times (2025-01-02T04:00:00Z)");
	} else if (*end < *start) {
		errf(err, errlen, "renewalInfo: the window ends before it starts");
	} else {
		rc = 0;
	}
	json_decref(j);
	return rc;
}

/* the first certificate of pem[0..len) into crt: 0 or -1 */
static int
parse_cert(mbedtls_x509_crt *crt, const char *pem, size_t len)
{
	char *copy;
	int rc;

	if (len > 0 && pem[len - 1] == '\0')
		len--;
	copy = malloc(len + 1);
	if (copy == NULL)
		return -1;
	memcpy(copy, pem, len);
	copy[len] = '\0';
	/* PEM wants the NUL counted; a few good certificates out of bad input count */
	rc = mbedtls_x509_crt_parse(crt, (const unsigned char *)copy, len + 1);
	free(copy);
	return rc < 0 || crt->raw.len == 0 ? -1 : 0;
}

int
acme_cert_id(const char *pem, size_t len, char *out, size_t size, char *err, size_t errlen)
{
	mbedtls_x509_crt crt;
	size_t n;
	int rc = -1;

	mbedtls_x509_crt_init(&crt);
	if (parse_cert(&crt, pem, len) < 0) {
		errf(err, errlen, "not a PEM certificate");
	} else if (crt.authority_key_id.keyIdentifier.len == 0) {
		errf(err, errlen, "the certificate has no authority key identifier, "
		    "which its ARI identifier needs");
	} else if (crt.serial.len == 0) {
		errf(err, errlen, "the certificate has no serial number");
	} else if ((n = jose_b64url(crt.authority_key_id.keyIdentifier.p,
	    crt.authority_key_id.keyIdentifier.len, out, size)) == 0 || n + 2 >= size ||
	    jose_b64url(crt.serial.p, crt.serial.len, out + n + 1, size - n - 1) == 0) {
		errf(err, errlen, "the certificate's ARI identifier is longer than %zu bytes", size);
	} else {
		out[n] = '.';
		rc = 0;
	}
	mbedtls_x509_crt_free(&crt);
	return rc;
}

/* is the common name in name (an X.509 name list) exactly want? */
static int
cn_is(const mbedtls_x509_name *name, const char *want)
{
	size_t len = strlen(want);

	for (; name != NULL; name = name->next)
		if (MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &name->oid) == 0 &&
		    name->val.len == len && memcmp(name->val.p, want, len) == 0)
			return 1;
	return 0;
}

/* does chain's last certificate have preferred as its issuer or subject CN? */
static int
chain_matches(const char *chain, const char *preferred)
{
	mbedtls_x509_crt crt;
	const mbedtls_x509_crt *last;
	char *copy;
	size_t len = strlen(chain);
	int rc = 0;

	copy = malloc(len + 1);
	if (copy == NULL)
		return 0;
	memcpy(copy, chain, len + 1);
	mbedtls_x509_crt_init(&crt);
	if (mbedtls_x509_crt_parse(&crt, (const unsigned char *)copy, len + 1) == 0 &&
	    crt.raw.len > 0) {
		for (last = &crt; last->next != NULL && last->next->raw.len > 0; last = last->next)
			;
		rc = cn_is(&last->issuer, preferred) || cn_is(&last->subject, preferred);
	}
	mbedtls_x509_crt_free(&crt);
	free(copy);
	return rc;
}

size_t
acme_chain_pick(const char *const *chains, size_t n, const char *preferred)
{
	if (preferred == NULL || preferred[0] == '\0')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (chains[i] != NULL && chain_matches(chains[i], preferred))
			return i;
	return 0;
}

/* ------------------------------------------------------------------ */
/* the protocol: requests, account, order, renewal information */

struct acme_client {
	char *directory, *email, *eab_kid, *eab_hmac_key, *storage, *preferred_issuer;
	int agree_terms, challenge;
	unsigned poll_limit_s;
	int (*cancelled)(void *arg);
	void *cancel_arg;
	struct httpc *http;
	struct acme_directory dir;
	int have_dir;
	char *nonce;			/* the last Replay-Nonce, unused yet */
	mbedtls_pk_context key;		/* the account key */
	int have_key;
	char *kid;			/* the account URL, once known */
	char account_dir[PATH_MAX];	/* <storage>/accounts/<dirhash> */
};

/* e: kind and our own message (escaped like the CA's) */
static int
fail(struct acme_error *e, int kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(struct acme_error *e, int kind, const char *fmt, ...)
{
	char raw[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	memset(e, 0, sizeof(*e));
	e->kind = kind;
	e->retry_after = -1;
	escape_into(e->detail, sizeof(e->detail), raw, strlen(raw));
	return -1;
}

static void
ok(struct acme_error *e)
{
	memset(e, 0, sizeof(*e));
	e->kind = ACME_OK;
	e->retry_after = -1;
}

static int
copy_opt(char **dst, const char *src)
{
	*dst = NULL;
	if (src == NULL || src[0] == '\0')
		return 0;
	*dst = strdup(src);
	return *dst == NULL ? -1 : 0;
}

struct acme_client *
acme_client_new(const struct acme_settings *s, char *err, size_t errlen)
{
	struct acme_client *c;
	unsigned char hash[32];
	char hex[17];

	if (s->directory == NULL || s->storage == NULL) {
		errf(err, errlen, "acme: a directory URL and a storage directory are needed");
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		errf(err, errlen, "acme: out of memory");
		return NULL;
	}
	mbedtls_pk_init(&c->key);
	if (copy_opt(&c->directory, s->directory) < 0 || copy_opt(&c->email, s->email) < 0 ||
	    copy_opt(&c->eab_kid, s->eab_kid) < 0 ||
	    copy_opt(&c->eab_hmac_key, s->eab_hmac_key) < 0 ||
	    copy_opt(&c->storage, s->storage) < 0 ||
	    copy_opt(&c->preferred_issuer, s->preferred_issuer) < 0) {
		errf(err, errlen, "acme: out of memory");
		acme_client_free(c);
		return NULL;
	}
	c->agree_terms = s->agree_terms;
	c->challenge = s->challenge;
	c->poll_limit_s = s->poll_limit_s ? s->poll_limit_s : ACME_POLL_DEFAULT;
	c->cancelled = s->cancelled;
	c->cancel_arg = s->cancel_arg;
	/* <dirhash>: the first 16 hex digits of the SHA-256 of the directory URL */
	mbedtls_sha256((const unsigned char *)c->directory, strlen(c->directory), hash, 0);
	for (int i = 0; i < 8; i++)
		snprintf(hex + 2 * i, 3, "%02x", hash[i]);
	if ((size_t)snprintf(c->account_dir, sizeof(c->account_dir), "%s/accounts/%s",
	    c->storage, hex) >= sizeof(c->account_dir)) {
		errf(err, errlen, "acme: storage path %s is too long", c->storage);
		acme_client_free(c);
		return NULL;
	}
	c->http = httpc_new(s->ca_file, s->timeout_s ? s->timeout_s : ACME_TIMEOUT_DEFAULT,
	    err, errlen);
	if (c->http == NULL) {
		acme_client_free(c);
		return NULL;
	}
	return c;
}

void
acme_client_free(struct acme_client *c)
{
	if (c == NULL)
		return;
	httpc_free(c->http);
	acme_directory_free(&c->dir);
	mbedtls_pk_free(&c->key);
	if (c->eab_hmac_key != NULL)
		mbedtls_platform_zeroize(c->eab_hmac_key, strlen(c->eab_hmac_key));
	free(c->directory);
	free(c->email);
	free(c->eab_kid);
	free(c->eab_hmac_key);
	free(c->storage);
	free(c->preferred_issuer);
	free(c->nonce);
	free(c->kid);
	free(c);
}

static int
cancelled(const struct acme_client *c)
{
	return c->cancelled != NULL && c->cancelled(c->cancel_arg);
}

/* keep the answer's Replay-Nonce (RFC 8555 section 7.2: every answer may carry one) */
static void
keep_nonce(struct acme_client *c, struct httpc_resp *r)
{
	if (r->nonce != NULL) {
		free(c->nonce);
		c->nonce = r->nonce;
		r->nonce = NULL;
	}
}

/* one request; its Replay-Nonce kept. 0, or -1 with e (ACME_NETWORK) */
static int
request(struct acme_client *c, const char *method, const char *url, const char *body,
    struct httpc_resp *r, struct acme_error *e)
{
	char err[512];

	memset(r, 0, sizeof(*r));
	r->retry_after = -1;
	if (cancelled(c))
		return fail(e, ACME_LOCAL, "stopped");
	if (httpc_request(c->http, method, url, body != NULL ? "application/jose+json" : NULL,
	    body, body != NULL ? strlen(body) : 0, r, err, sizeof(err)) < 0)
		return fail(e, ACME_NETWORK, "%s", err);
	log_debug("acme: %s %s: %d", method, url, r->status);
	keep_nonce(c, r);
	return 0;
}

/* e from an answer that is no success */
static int
fail_answer(const struct httpc_resp *r, struct acme_error *e)
{
	acme_parse_problem(r->status, r->content_type, r->body, r->body_len, r->retry_after, e);
	return -1;
}

/* GET the directory once */
static int
need_directory(struct acme_client *c, struct acme_error *e)
{
	struct httpc_resp r;
	char err[256];
	int rc;

	if (c->have_dir)
		return 0;
	if (request(c, "GET", c->directory, NULL, &r, e) < 0)
		return -1;
	if (r.status != 200) {
		fail_answer(&r, e);
		httpc_resp_free(&r);
		return -1;
	}
	rc = acme_parse_directory(r.body, r.body_len, &c->dir, err, sizeof(err));
	httpc_resp_free(&r);
	if (rc < 0)
		return fail(e, ACME_SERVER, "%s: %s", c->directory, err);
	c->have_dir = 1;
	return 0;
}

/* a fresh nonce from newNonce (HEAD) */
static int
need_nonce(struct acme_client *c, struct acme_error *e)
{
	struct httpc_resp r;

	if (c->nonce != NULL)
		return 0;
	if (request(c, "HEAD", c->dir.new_nonce, NULL, &r, e) < 0)
		return -1;
	if (c->nonce == NULL) {
		if (r.status / 100 != 2)
			fail_answer(&r, e);
		else
			fail(e, ACME_SERVER, "%s gave no Replay-Nonce", c->dir.new_nonce);
		httpc_resp_free(&r);
		return -1;
	}
	httpc_resp_free(&r);
	return 0;
}

/*
 * POST a JWS of payload (NULL: POST-as-GET) to url, signed with the account
 * key, with kid once the account is known (else the JWK). A badNonce answer
 * is retried with the nonce it carried, up to ACME_BAD_NONCE_RETRIES times.
 * 0 with *r (a 2xx or 3xx answer), or -1 with e.
 */
static int
post(struct acme_client *c, const char *url, const char *payload, struct httpc_resp *r,
    struct acme_error *e)
{
	for (int attempt = 0;; attempt++) {
		char *jws;
		int rc;

		if (need_nonce(c, e) < 0)
			return -1;
		jws = jose_sign(&c->key, c->kid, c->nonce, url, payload);
		free(c->nonce);		/* used up, whatever happens */
		c->nonce = NULL;
		if (jws == NULL)
			return fail(e, ACME_LOCAL, "cannot sign a request with the account key");
		rc = request(c, "POST", url, jws, r, e);
		free(jws);
		if (rc < 0)
			return -1;
		if (r->status < 400)
			return 0;
		fail_answer(r, e);
		httpc_resp_free(r);
		if (strcmp(e->type, ACME_ERR_PREFIX "badNonce") != 0 ||
		    attempt == ACME_BAD_NONCE_RETRIES)
			return -1;
		log_debug("acme: badNonce, retrying");
	}
}

/* mkdir -p path (0700) */
static int
make_dirs(const char *path)
{
	char tmp[PATH_MAX];

	if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (char *p = tmp + 1;; p++) {
		if (*p == '/' || *p == '\0') {
			char keep = *p;

			*p = '\0';
			if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
				return -1;
			*p = keep;
			if (keep == '\0')
				return 0;
		}
	}
}

/* write data to dir/name atomically (files_write_atomic: 0600, fsync'd, renamed) */
static int
write_atomic(const char *dir, const char *name, const char *data, size_t len)
{
	char final[PATH_MAX];

	if ((size_t)snprintf(final, sizeof(final), "%s/%s", dir, name) >= sizeof(final)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return files_write_atomic(final, data, len);
}

#define ACME_KEY_FILE_MAX (1024 * 1024)	/* far more than any key PEM */

/* parse the account key in the PEM file path into c->key; 0, or -1 with e */
static int
load_key(struct acme_client *c, const char *path, struct acme_error *e)
{
	size_t len = 0;
	char *pem = files_read(path, ACME_KEY_FILE_MAX, 0, &len);
	int rc;

	if (pem == NULL)
		return fail(e, ACME_LOCAL, "cannot read %s: %s", path, strerror(errno));
	rc = x509gen_key_parse(&c->key, pem, len);
	mbedtls_platform_zeroize(pem, len);
	free(pem);
	if (rc < 0)
		return fail(e, ACME_LOCAL, "%s holds no P-256 or RSA private key; "
		    "remove it to make a new account", path);
	c->have_key = 1;
	return 0;
}

/*
 * Load the account key from account.key, or make one and store it. The file
 * is created exclusively (written aside, then linked to its name): of
 * instances sharing the storage that make one at the same time, exactly one
 * stores its key, and the others drop theirs and load that one - so they
 * register one account, not one each with a key file that matches only the
 * last writer's.
 */
static int
need_key(struct acme_client *c, struct acme_error *e)
{
	char path[PATH_MAX + 16];
	char *pem;
	size_t len;
	int r;

	if (c->have_key)
		return 0;
	snprintf(path, sizeof(path), "%s/account.key", c->account_dir);
	if (access(path, F_OK) == 0 || errno != ENOENT)
		return load_key(c, path, e);
	if (x509gen_key(&c->key, X509GEN_P256) < 0)
		return fail(e, ACME_LOCAL, "cannot make an account key");
	pem = x509gen_key_pem(&c->key);
	if (pem == NULL)
		return fail(e, ACME_LOCAL, "cannot write the account key as PEM");
	len = strlen(pem);
	r = make_dirs(c->account_dir) < 0 ? -1 :
	    files_create_exclusive(path, pem, len);
	mbedtls_platform_zeroize(pem, len);
	free(pem);
	if (r != 1) {
		int saved = errno;

		mbedtls_pk_free(&c->key);
		mbedtls_pk_init(&c->key);
		if (r == 0) {
			log_info("acme: account key %s made by another process "
			    "meanwhile: using it", path);
			return load_key(c, path, e);
		}
		return fail(e, ACME_LOCAL, "cannot write %s: %s (the storage directory must be "
		    "writable by the user mta-stsd runs as)", path, strerror(saved));
	}
	c->have_key = 1;
	log_info("acme: new account key %s", path);
	return 0;
}

/* the account URL from account.json when it is for this directory */
static void
load_account_url(struct acme_client *c)
{
	char path[PATH_MAX + 16];
	char mine[JOSE_THUMBPRINT_SIZE];
	json_t *j;
	const char *url, *dir, *tp;

	snprintf(path, sizeof(path), "%s/account.json", c->account_dir);
	j = json_load_file(path, 0, NULL);
	if (j == NULL)
		return;
	url = get_str(j, "url");
	dir = get_str(j, "directory");
	tp = get_str(j, "thumbprint");
	/* the URL is the account of the key whose thumbprint is stored with
	 * it: another key's (an older version's file, or one a race left) is
	 * not used; newAccount with our key answers our key's account */
	if (url != NULL && dir != NULL && strcmp(dir, c->directory) == 0 &&
	    tp != NULL && jose_thumbprint(&c->key, mine) == 0 && strcmp(tp, mine) == 0)
		c->kid = strdup(url);
	else if (url != NULL)
		log_info("acme: %s is not the account of %s/account.key: "
		    "looking the key's account up", path, c->account_dir);
	json_decref(j);
}

static int
save_account_url(struct acme_client *c, struct acme_error *e)
{
	char tp[JOSE_THUMBPRINT_SIZE];
	json_t *j;
	char *text;
	int rc = 0;

	if (jose_thumbprint(&c->key, tp) < 0)
		return fail(e, ACME_LOCAL, "cannot compute the account key's thumbprint");
	j = json_pack("{s:s, s:s, s:s}", "url", c->kid, "directory", c->directory,
	    "thumbprint", tp);
	text = j != NULL ? json_dumps(j, JSON_INDENT(1)) : NULL;
	json_decref(j);
	if (text == NULL)
		return fail(e, ACME_LOCAL, "out of memory");
	if (write_atomic(c->account_dir, "account.json", text, strlen(text)) < 0)
		rc = fail(e, ACME_LOCAL, "cannot write %s/account.json: %s", c->account_dir,
		    strerror(errno));
	free(text);
	return rc;
}

/* the newAccount payload, malloc'd */
static char *
account_payload(struct acme_client *c, struct acme_error *e)
{
	json_t *p = json_object();
	char *text = NULL;

	if (p == NULL)
		goto oom;
	if (c->email != NULL) {
		char mailto[320];

		snprintf(mailto, sizeof(mailto), "mailto:%s", c->email);
		if (json_object_set_new(p, "contact", json_pack("[s]", mailto)) < 0)
			goto oom;
	}
	if (c->agree_terms && json_object_set_new(p, "termsOfServiceAgreed", json_true()) < 0)
		goto oom;
	if (c->eab_kid != NULL) {
		char *eab = jose_eab(c->eab_kid, c->eab_hmac_key != NULL ? c->eab_hmac_key : "",
		    &c->key, c->dir.new_account);
		json_t *ej = eab != NULL ? json_loads(eab, 0, NULL) : NULL;

		free(eab);
		if (ej == NULL) {
			json_decref(p);
			fail(e, ACME_LOCAL, "cannot make the External Account Binding: eab_hmac_key "
			    "must be the CA's HMAC key in base64url");
			return NULL;
		}
		if (json_object_set_new(p, "externalAccountBinding", ej) < 0)
			goto oom;
	}
	text = json_dumps(p, JSON_COMPACT);
	json_decref(p);
	if (text == NULL)
		goto oom;
	return text;
oom:
	json_decref(p);
	fail(e, ACME_LOCAL, "out of memory");
	return NULL;
}

/* newAccount; the account URL in c->kid and account.json */
static int
register_account(struct acme_client *c, struct acme_error *e)
{
	struct httpc_resp r;
	char *payload;
	int rc;

	if (c->dir.terms_of_service != NULL && !c->agree_terms) {
		char tos[160];

		escape_into(tos, sizeof(tos), c->dir.terms_of_service,
		    strlen(c->dir.terms_of_service));
		return fail(e, ACME_LOCAL, "the CA requires agreeing to its terms of service (%s): "
		    "read them, then set agree_terms = yes in [acme]", tos);
	}
	if (c->dir.eab_required && c->eab_kid == NULL)
		return fail(e, ACME_LOCAL, "the CA requires External Account Binding: set eab_kid "
		    "and eab_hmac_key in [acme] to the values the CA gave");
	payload = account_payload(c, e);
	if (payload == NULL)
		return -1;
	rc = post(c, c->dir.new_account, payload, &r, e);
	free(payload);
	if (rc < 0)
		return -1;
	if ((r.status != 200 && r.status != 201) || r.location == NULL) {
		if (r.status / 100 == 2)
			fail(e, ACME_SERVER, "newAccount answered %d without the account's "
			    "Location", r.status);
		else
			fail_answer(&r, e);
		httpc_resp_free(&r);
		return -1;
	}
	c->kid = r.location;
	r.location = NULL;
	httpc_resp_free(&r);
	log_info("acme: account %s", c->kid);
	return save_account_url(c, e);
}

int
acme_account(struct acme_client *c, struct acme_error *e)
{
	ok(e);
	if (need_directory(c, e) < 0 || need_key(c, e) < 0)
		return -1;
	if (c->kid != NULL)
		return 0;
	load_account_url(c);
	if (c->kid != NULL)
		return 0;
	return register_account(c, e);
}

/* the CA forgot the account (a test CA restarted): register again, once */
static int
account_lost(struct acme_client *c, const struct acme_error *e)
{
	char path[PATH_MAX + 16];

	if (strcmp(e->type, ACME_ERR_PREFIX "accountDoesNotExist") != 0 || c->kid == NULL)
		return 0;
	log_warn("acme: the CA no longer knows account %s: registering again", c->kid);
	free(c->kid);
	c->kid = NULL;
	snprintf(path, sizeof(path), "%s/account.json", c->account_dir);
	unlink(path);
	return 1;
}

/* sleep s seconds (at least 1) in short steps; -1 when cancelled meanwhile */
static int
pause_s(struct acme_client *c, long s)
{
	struct timespec step = { 0, 200 * 1000 * 1000 };

	if (s < 1)
		s = 1;
	for (long i = 0; i < s * 5; i++) {
		if (cancelled(c))
			return -1;
		nanosleep(&step, NULL);
	}
	return 0;
}

static long
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec;
}

/* POST-as-GET url, parsed as an order (parse 0) or an authorization (1) */
static int
get_object(struct acme_client *c, const char *url, void *out, int authz, long *retry,
    struct acme_error *e)
{
	struct httpc_resp r;
	char err[256];
	int rc;

	if (post(c, url, NULL, &r, e) < 0)
		return -1;
	if (authz)
		rc = acme_parse_authz(r.body, r.body_len, out, err, sizeof(err));
	else
		rc = acme_parse_order(r.body, r.body_len, out, err, sizeof(err));
	if (retry != NULL)
		*retry = r.retry_after;
	httpc_resp_free(&r);
	if (rc < 0)
		return fail(e, ACME_SERVER, "%s: %s", url, err);
	return 0;
}

static const char *
challenge_name(int challenge)
{
	return challenge == ACME_HTTP_01 ? "http-01" : "tls-alpn-01";
}

/* put (put 1) or remove the challenge material for ch */
static int
material(struct acme_client *c, const char *name, const struct acme_challenge_info *ch,
    const char *keyauth, int put)
{
	if (c->challenge == ACME_HTTP_01)
		return put ? challenge_http_put(ch->token, keyauth) : challenge_http_remove(ch->token);
	if (!put)
		return challenge_tls_remove(name);
	{
		char *pem = x509gen_alpn_cert(name, keyauth);
		int rc;

		if (pem == NULL) {
			errno = EINVAL;
			return -1;
		}
		rc = challenge_tls_put(name, pem);
		mbedtls_platform_zeroize(pem, strlen(pem));
		free(pem);
		return rc;
	}
}

/* poll authz url until it is no longer pending (within poll_limit_s) */
static int
poll_authz(struct acme_client *c, const char *url, const char *type,
    struct acme_authz_info *a, struct acme_error *e)
{
	long start = now_s(), retry = -1;

	for (;;) {
		const struct acme_challenge_info *ch;

		if (get_object(c, url, a, 1, &retry, e) < 0)
			return -1;
		if (a->status == ACME_ST_VALID)
			return 0;
		if (a->status != ACME_ST_PENDING) {
			ch = acme_authz_challenge(a, type);
			if (ch != NULL && ch->has_error) {
				*e = ch->error;
				e->kind = ACME_INVALID;
			} else {
				fail(e, ACME_INVALID, "the authorization for %s became %s", a->identifier,
				    status_names[a->status]);
			}
			return -1;
		}
		acme_authz_info_free(a);
		if (retry < 1)
			retry = 1;
		if (retry > ACME_POLL_WAIT_MAX)
			retry = ACME_POLL_WAIT_MAX;
		if (now_s() + retry - start > (long)c->poll_limit_s)
			return fail(e, ACME_SERVER, "the CA did not validate %s within %u s", url,
			    c->poll_limit_s);
		if (pause_s(c, retry) < 0)
			return fail(e, ACME_LOCAL, "stopped");
	}
}

/* answer one pending authorization: material, POST {} to the challenge, poll */
static int
answer_authz(struct acme_client *c, const char *url, struct acme_authz_info *a,
    struct acme_error *e)
{
	const char *type = challenge_name(c->challenge);
	const struct acme_challenge_info *ch = acme_authz_challenge(a, type);
	struct acme_authz_info polled;
	struct httpc_resp r;
	char *keyauth, *name;
	int rc;

	if (ch == NULL || ch->token == NULL)
		return fail(e, ACME_REJECTED, "the CA offers no %s challenge for %s: set challenge "
		    "in [acme] to one it offers", type, a->identifier);
	keyauth = jose_key_authorization(ch->token, &c->key);
	if (keyauth == NULL)
		return fail(e, ACME_SERVER, "the CA's %s token for %s is not base64url", type,
		    a->identifier);
	name = strdup(a->identifier);
	if (name == NULL) {
		free(keyauth);
		return fail(e, ACME_LOCAL, "out of memory");
	}
	if (material(c, name, ch, keyauth, 1) < 0) {
		rc = fail(e, ACME_LOCAL, "cannot store the %s answer for %s: %s", type, name,
		    strerror(errno));
		goto out;
	}
	log_debug("acme: %s: answering %s", name, type);
	rc = 0;
	if (ch->status == ACME_ST_PENDING) {
		rc = post(c, ch->url, "{}", &r, e);
		if (rc == 0)
			httpc_resp_free(&r);
	}
	if (rc == 0) {
		rc = poll_authz(c, url, type, &polled, e);
		acme_authz_info_free(&polled);
		if (rc < 0 && e->kind == ACME_INVALID) {
			char esc[128], line[sizeof(e->detail) + sizeof(esc) + 64];

			escape_into(esc, sizeof(esc), name, strlen(name));
			snprintf(line, sizeof(line), "%s: %s validation failed: %s", esc, type,
			    e->detail);
			/* cut to fit (the parts are escaped already) */
			snprintf(e->detail, sizeof(e->detail), "%.*s", (int)sizeof(e->detail) - 1,
			    line);
		}
	}
	if (material(c, name, ch, keyauth, 0) < 0)
		log_warn("acme: cannot remove the %s answer for %s: %s", type, name, strerror(errno));
out:
	mbedtls_platform_zeroize(keyauth, strlen(keyauth));
	free(keyauth);
	free(name);
	return rc;
}

/* every authorization of the order valid */
static int
do_authorizations(struct acme_client *c, const struct acme_order_info *o, struct acme_error *e)
{
	for (size_t i = 0; i < o->nauthz; i++) {
		struct acme_authz_info a;
		int rc = 0;

		if (get_object(c, o->authorizations[i], &a, 1, NULL, e) < 0)
			return -1;
		if (a.status == ACME_ST_PENDING)
			rc = answer_authz(c, o->authorizations[i], &a, e);
		else if (a.status != ACME_ST_VALID)
			rc = fail(e, ACME_INVALID, "the authorization for %s is %s", a.identifier,
			    status_names[a.status]);
		acme_authz_info_free(&a);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* poll the order until its status is none of the waiting ones */
static int
poll_order(struct acme_client *c, const char *url, struct acme_order_info *o, int waiting,
    struct acme_error *e)
{
	long start = now_s(), retry = 0;	/* the first look at once */

	while (o->status == waiting || o->status == ACME_ST_PROCESSING) {
		if (retry > ACME_POLL_WAIT_MAX)
			retry = ACME_POLL_WAIT_MAX;
		if (now_s() + retry - start > (long)c->poll_limit_s)
			return fail(e, ACME_SERVER, "the order %s stayed %s for %u s", url,
			    status_names[o->status], c->poll_limit_s);
		if (retry > 0 && pause_s(c, retry) < 0)
			return fail(e, ACME_LOCAL, "stopped");
		retry = -1;
		acme_order_info_free(o);
		if (get_object(c, url, o, 0, &retry, e) < 0)
			return -1;
		if (retry < 1)
			retry = 1;	/* Retry-After, or the default second */
	}
	if (o->status == ACME_ST_INVALID) {
		if (o->has_error)
			*e = o->error;
		else
			fail(e, ACME_INVALID, "the order %s became invalid", url);
		e->kind = ACME_INVALID;
		return -1;
	}
	return 0;
}

/* POST the CSR to finalize; the order's answer in *o */
static int
finalize(struct acme_client *c, const char *const *names, size_t n,
    const mbedtls_pk_context *key, struct acme_order_info *o, struct acme_error *e)
{
	unsigned char *der = NULL;
	size_t len = 0, b64size;
	char *b64, *payload, *url, err[256];
	struct httpc_resp r;
	int rc;

	if (x509gen_csr(key, names, n, &der, &len) < 0)
		return fail(e, ACME_LOCAL, "cannot make the CSR for %s", names[0]);
	b64size = len * 4 / 3 + 4;
	b64 = malloc(b64size);
	payload = malloc(b64size + 16);
	if (b64 == NULL || payload == NULL || jose_b64url(der, len, b64, b64size) == 0) {
		free(der);
		free(b64);
		free(payload);
		return fail(e, ACME_LOCAL, "out of memory");
	}
	free(der);
	snprintf(payload, b64size + 16, "{\"csr\":\"%s\"}", b64);
	free(b64);
	url = strdup(o->finalize);
	if (url == NULL) {
		free(payload);
		return fail(e, ACME_LOCAL, "out of memory");
	}
	rc = post(c, url, payload, &r, e);
	free(payload);
	if (rc == 0) {
		acme_order_info_free(o);
		if (acme_parse_order(r.body, r.body_len, o, err, sizeof(err)) < 0)
			rc = fail(e, ACME_SERVER, "%s: %s", url, err);
		httpc_resp_free(&r);
	}
	free(url);
	return rc;
}

/* POST-as-GET a chain; links: the alternates' URLs (malloc'd), when wanted */
static int
get_chain(struct acme_client *c, const char *url, char **pem, char **links, size_t *nlinks,
    struct acme_error *e)
{
	struct httpc_resp r;

	*pem = NULL;
	if (post(c, url, NULL, &r, e) < 0)
		return -1;
	if (r.status != 200 || r.body == NULL ||
	    strstr(r.body, "-----BEGIN CERTIFICATE-----") == NULL) {
		httpc_resp_free(&r);
		return fail(e, ACME_SERVER, "%s: no PEM certificate chain", url);
	}
	for (size_t i = 0; links != NULL && i < r.nlinks; i++)
		if (r.links[i].rel != NULL && strcmp(r.links[i].rel, "alternate") == 0 &&
		    (links[*nlinks] = strdup(r.links[i].url)) != NULL)
			(*nlinks)++;
	*pem = r.body;
	r.body = NULL;
	httpc_resp_free(&r);
	return 0;
}

/* the default chain and, when preferred_issuer is set, its alternates: the one to use */
static int
download(struct acme_client *c, const char *url, char **chain_pem, struct acme_error *e)
{
	char *links[HTTPC_LINKS_MAX], *chains[HTTPC_LINKS_MAX + 1];
	size_t nlinks = 0, n = 1, pick;
	struct acme_error alt_e;

	if (get_chain(c, url, &chains[0], c->preferred_issuer != NULL ? links : NULL, &nlinks,
	    e) < 0)
		return -1;
	for (size_t i = 0; i < nlinks; i++) {
		if (get_chain(c, links[i], &chains[n], NULL, NULL, &alt_e) == 0)
			n++;
		else
			log_warn("acme: alternate chain %s: %s", links[i], alt_e.detail);
		free(links[i]);
	}
	pick = acme_chain_pick((const char *const *)chains, n, c->preferred_issuer);
	if (c->preferred_issuer != NULL)
		log_debug("acme: chain %zu of %zu has the preferred issuer%s", pick + 1, n,
		    pick == 0 ? " (or none has: the default)" : "");
	for (size_t i = 0; i < n; i++)
		if (i != pick)
			free(chains[i]);
	*chain_pem = chains[pick];
	return 0;
}

/* newOrder for names; the order's URL in *url and its state in *o */
static int
new_order(struct acme_client *c, const char *const *names, size_t n, const char *replaces,
    char **url, struct acme_order_info *o, struct acme_error *e)
{
	json_t *ids = json_array(), *body;
	char *payload, err[256];
	struct httpc_resp r;
	int rc;

	for (size_t i = 0; ids != NULL && i < n; i++)
		if (json_array_append_new(ids, json_pack("{s:s, s:s}", "type", "dns", "value",
		    names[i])) < 0) {
			json_decref(ids);
			ids = NULL;
		}
	body = ids != NULL ? json_pack("{s:o}", "identifiers", ids) : NULL;
	if (body != NULL && replaces != NULL &&
	    json_object_set_new(body, "replaces", json_string(replaces)) < 0) {
		json_decref(body);
		body = NULL;
	}
	payload = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (payload == NULL)
		return fail(e, ACME_LOCAL, "out of memory");
	rc = post(c, c->dir.new_order, payload, &r, e);
	if (rc < 0 && account_lost(c, e)) {
		if (acme_account(c, e) == 0)
			rc = post(c, c->dir.new_order, payload, &r, e);
	}
	free(payload);
	if (rc < 0 && replaces != NULL && (strcmp(e->type, ACME_ERR_PREFIX "alreadyReplaced") == 0 ||
	    strcmp(e->type, ACME_ERR_PREFIX "malformed") == 0)) {
		/* RFC 9773 section 5: a CA that will not take it gets the order without */
		log_info("acme: the CA refused \"replaces\" (%s): ordering without it", e->detail);
		return new_order(c, names, n, NULL, url, o, e);
	}
	if (rc < 0)
		return -1;
	if (r.status / 100 != 2 || r.location == NULL) {
		httpc_resp_free(&r);
		return fail(e, ACME_SERVER, "newOrder answered %d without the order's Location",
		    r.status);
	}
	if (acme_parse_order(r.body, r.body_len, o, err, sizeof(err)) < 0) {
		httpc_resp_free(&r);
		return fail(e, ACME_SERVER, "newOrder: %s", err);
	}
	*url = r.location;
	r.location = NULL;
	httpc_resp_free(&r);
	return 0;
}

int
acme_order(struct acme_client *c, const char *const *names, size_t n,
    const mbedtls_pk_context *key, char **chain_pem, struct acme_error *e)
{
	return acme_order_replacing(c, names, n, key, NULL, chain_pem, e);
}

int
acme_order_replacing(struct acme_client *c, const char *const *names, size_t n,
    const mbedtls_pk_context *key, const char *old_pem, char **chain_pem, struct acme_error *e)
{
	struct acme_order_info o;
	char *url = NULL, id[512], err[256];
	const char *replaces = NULL;
	int rc = -1;

	*chain_pem = NULL;
	if (n == 0 || names == NULL)
		return fail(e, ACME_LOCAL, "an order needs at least one name");
	if (acme_account(c, e) < 0)
		return -1;
	if (old_pem != NULL && c->dir.renewal_info != NULL) {
		if (acme_cert_id(old_pem, strlen(old_pem), id, sizeof(id), err, sizeof(err)) == 0)
			replaces = id;
		else
			log_debug("acme: no \"replaces\" in the order for %s: %s", names[0], err);
	}
	memset(&o, 0, sizeof(o));
	if (new_order(c, names, n, replaces, &url, &o, e) < 0)
		return -1;
	log_debug("acme: order %s for %s (%zu names): %s", url, names[0], n,
	    status_names[o.status]);
	if (o.status == ACME_ST_PENDING && do_authorizations(c, &o, e) < 0)
		goto out;
	/* the order becomes ready once its authorizations are valid */
	if (o.status == ACME_ST_PENDING && poll_order(c, url, &o, ACME_ST_PENDING, e) < 0)
		goto out;
	if (o.status == ACME_ST_READY && finalize(c, names, n, key, &o, e) < 0)
		goto out;
	if (poll_order(c, url, &o, ACME_ST_READY, e) < 0)
		goto out;
	if (o.status != ACME_ST_VALID || o.certificate == NULL) {
		fail(e, ACME_SERVER, "the order %s is %s, without a certificate", url,
		    status_names[o.status]);
		goto out;
	}
	rc = download(c, o.certificate, chain_pem, e);
	if (rc == 0)
		ok(e);
out:
	acme_order_info_free(&o);
	free(url);
	return rc;
}

int
acme_renewal_info(struct acme_client *c, const char *cert_pem, time_t *start, time_t *end,
    struct acme_error *e)
{
	char id[512], err[256], *url;
	struct httpc_resp r;
	size_t len;
	int rc;

	ok(e);
	if (need_directory(c, e) < 0)
		return -1;
	if (c->dir.renewal_info == NULL)
		return 1;
	if (acme_cert_id(cert_pem, strlen(cert_pem), id, sizeof(id), err, sizeof(err)) < 0)
		return fail(e, ACME_LOCAL, "renewalInfo: %s", err);
	len = strlen(c->dir.renewal_info);
	url = malloc(len + strlen(id) + 2);
	if (url == NULL)
		return fail(e, ACME_LOCAL, "out of memory");
	snprintf(url, len + strlen(id) + 2, "%s%s%s", c->dir.renewal_info,
	    len > 0 && c->dir.renewal_info[len - 1] == '/' ? "" : "/", id);
	rc = request(c, "GET", url, NULL, &r, e);
	if (rc == 0) {
		if (r.status != 200)
			rc = fail_answer(&r, e);
		else if (acme_parse_renewal_info(r.body, r.body_len, start, end, err,
		    sizeof(err)) < 0)
			rc = fail(e, ACME_SERVER, "%s: %s", url, err);
		else
			e->retry_after = r.retry_after;
		httpc_resp_free(&r);
	}
	free(url);
	return rc;
}
