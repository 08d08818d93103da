/* test_acme.c - the pure half of acme.c: the CA's JSON (directory, order,
 * authorization, problem documents, renewalInfo), RFC 3339 times, the ARI
 * certificate identifier and the choice among alternate chains.
 *
 * ARI: Debian 12's Pebble (2.4) offers no renewalInfo, so the renewal
 * window is tested here against the examples of RFC 9773 (section 4.1's
 * certificate identifier, section 4.2's answer), recorded as they are. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <psa/crypto.h>

#include "acme.h"

#define S(text) text, sizeof(text) - 1

/* a file under tests/data/acme/ (the tests run from the repository root) */
static char *
data_file(const char *name)
{
	char path[256];
	FILE *fp;
	char *buf;
	size_t n;

	snprintf(path, sizeof(path), "tests/data/acme/%s", name);
	fp = fopen(path, "r");
	if (fp == NULL)
		fail_msg("cannot open %s (run from the repository root)", path);
	buf = calloc(1, 65536);
	assert_non_null(buf);
	n = fread(buf, 1, 65535, fp);
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

/* Pebble 2.4's directory, as it sends it (no renewalInfo) */
static const char pebble_dir[] =
	"{\n"
	"   \"keyChange\": \"https://127.0.0.1:14000/rollover-account-key\",\n"
	"   \"meta\": {\n"
	"      \"externalAccountRequired\": false,\n"
	"      \"termsOfService\": \"data:text/plain,Do%20what%20thou%20wilt\"\n"
	"   },\n"
	"   \"newAccount\": \"https://127.0.0.1:14000/sign-me-up\",\n"
	"   \"newNonce\": \"https://127.0.0.1:14000/nonce-plz\",\n"
	"   \"newOrder\": \"https://127.0.0.1:14000/order-plz\",\n"
	"   \"revokeCert\": \"https://127.0.0.1:14000/revoke-cert\"\n"
	"}";

/* a public CA's, with ARI and External Account Binding */
static const char ari_dir[] =
	"{\"newNonce\":\"https://ca.example/acme/new-nonce\","
	"\"newAccount\":\"https://ca.example/acme/new-acct\","
	"\"newOrder\":\"https://ca.example/acme/new-order\","
	"\"renewalInfo\":\"https://ca.example/acme/renewal-info\","
	"\"revokeCert\":\"https://ca.example/acme/revoke-cert\","
	"\"meta\":{\"externalAccountRequired\":true,\"caaIdentities\":[\"ca.example\"]},"
	"\"Xq3kL9aF\":\"https://community.example/t/adding-random-entries-to-the-directory\"}";

static void
test_directory(void **state)
{
	struct acme_directory d;
	char err[256];

	(void)state;
	assert_int_equal(acme_parse_directory(S(pebble_dir), &d, err, sizeof(err)), 0);
	assert_string_equal(d.new_nonce, "https://127.0.0.1:14000/nonce-plz");
	assert_string_equal(d.new_account, "https://127.0.0.1:14000/sign-me-up");
	assert_string_equal(d.new_order, "https://127.0.0.1:14000/order-plz");
	assert_null(d.renewal_info);
	assert_string_equal(d.terms_of_service, "data:text/plain,Do%20what%20thou%20wilt");
	assert_int_equal(d.eab_required, 0);
	acme_directory_free(&d);

	assert_int_equal(acme_parse_directory(S(ari_dir), &d, err, sizeof(err)), 0);
	assert_string_equal(d.renewal_info, "https://ca.example/acme/renewal-info");
	assert_null(d.terms_of_service);
	assert_int_equal(d.eab_required, 1);
	acme_directory_free(&d);
}

static void
test_directory_bad(void **state)
{
	static const struct { const char *in; const char *want; } rows[] = {
		{ "{\"newNonce\":\"n\",\"newAccount\":\"a\"}", "no \"newOrder\" URL" },
		{ "{\"newNonce\":1,\"newAccount\":\"a\",\"newOrder\":\"o\"}", "no \"newNonce\" URL" },
		{ "[\"newNonce\"]", "not an object" },
		{ "<html>503</html>", "not JSON" },
		{ "", "not JSON" },
		/* a NUL inside a string: jansson refuses the whole text */
		{ "{\"newNonce\":\"n\\u0000x\",\"newAccount\":\"a\",\"newOrder\":\"o\"}",
		  "not JSON" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct acme_directory d;
		char err[256] = "";

		if (acme_parse_directory(rows[i].in, strlen(rows[i].in), &d, err, sizeof(err)) != -1)
			fail_msg("row %zu: accepted", i);
		if (strstr(err, rows[i].want) == NULL)
			fail_msg("row %zu: error \"%s\", want \"%s\" in it", i, err, rows[i].want);
		assert_null(d.new_nonce);
	}
}

static void
test_order(void **state)
{
	static const char pending[] =
		"{\"status\":\"pending\",\"expires\":\"2026-12-01T14:00:00Z\","
		"\"identifiers\":[{\"type\":\"dns\",\"value\":\"mta-sts.a.test\"},"
		"{\"type\":\"dns\",\"value\":\"mta-sts.b.test\"}],"
		"\"finalize\":\"https://127.0.0.1:14000/finalize-order/Zy2\","
		"\"authorizations\":[\"https://127.0.0.1:14000/authZ/a1\","
		"\"https://127.0.0.1:14000/authZ/b2\"]}";
	static const char valid[] =
		"{\"status\":\"valid\",\"finalize\":\"https://ca.example/f/1\","
		"\"authorizations\":[\"https://ca.example/a/1\"],"
		"\"certificate\":\"https://ca.example/cert/9\"}";
	static const char invalid[] =
		"{\"status\":\"invalid\",\"finalize\":\"https://ca.example/f/1\","
		"\"authorizations\":[],"
		"\"error\":{\"type\":\"urn:ietf:params:acme:error:caa\","
		"\"detail\":\"CAA record for a.test prevents issuance\"}}";
	struct acme_order_info o;
	char err[256];

	(void)state;
	assert_int_equal(acme_parse_order(S(pending), &o, err, sizeof(err)), 0);
	assert_int_equal(o.status, ACME_ST_PENDING);
	assert_int_equal(o.nauthz, 2);
	assert_string_equal(o.authorizations[1], "https://127.0.0.1:14000/authZ/b2");
	assert_string_equal(o.finalize, "https://127.0.0.1:14000/finalize-order/Zy2");
	assert_null(o.certificate);
	assert_int_equal(o.has_error, 0);
	acme_order_info_free(&o);

	assert_int_equal(acme_parse_order(S(valid), &o, err, sizeof(err)), 0);
	assert_int_equal(o.status, ACME_ST_VALID);
	assert_string_equal(o.certificate, "https://ca.example/cert/9");
	acme_order_info_free(&o);

	assert_int_equal(acme_parse_order(S(invalid), &o, err, sizeof(err)), 0);
	assert_int_equal(o.status, ACME_ST_INVALID);
	assert_int_equal(o.has_error, 1);
	assert_int_equal(o.error.kind, ACME_INVALID);
	assert_string_equal(o.error.type, "urn:ietf:params:acme:error:caa");
	assert_string_equal(o.error.detail, "CAA record for a.test prevents issuance");
	acme_order_info_free(&o);

	/* what makes no order */
	assert_int_equal(acme_parse_order(S("{\"status\":\"done\",\"finalize\":\"f\","
	    "\"authorizations\":[]}"), &o, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "status"));
	assert_int_equal(acme_parse_order(S("{\"status\":\"ready\",\"finalize\":\"f\","
	    "\"authorizations\":\"a\"}"), &o, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "authorizations"));
	assert_int_equal(acme_parse_order(S("{\"status\":\"ready\",\"finalize\":\"f\","
	    "\"authorizations\":[\"a\",7]}"), &o, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "authorization 1"));
	assert_int_equal(acme_parse_order(S("{\"status\":\"ready\","
	    "\"authorizations\":[]}"), &o, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "finalize"));
	assert_null(o.authorizations);
}

static void
test_authz(void **state)
{
	/* as Pebble 2.4 sends a pending one */
	static const char pending[] =
		"{\"status\":\"pending\",\"identifier\":{\"type\":\"dns\",\"value\":\"mta-sts.a.test\"},"
		"\"challenges\":["
		"{\"type\":\"http-01\",\"url\":\"https://127.0.0.1:14000/chalZ/h1\","
		"\"token\":\"HhV0ZyBRbNpbcgzUy0QmaQTQfMM3DVSrxMqHVGg5kJo\",\"status\":\"pending\"},"
		"{\"type\":\"dns-01\",\"url\":\"https://127.0.0.1:14000/chalZ/d1\","
		"\"token\":\"X\",\"status\":\"pending\"},"
		"{\"type\":\"tls-alpn-01\",\"url\":\"https://127.0.0.1:14000/chalZ/t1\","
		"\"token\":\"lZpfHmK9wZTM7DrFWqcxLrTDJ1m0YXsL2oWBNgGGbW8\",\"status\":\"pending\"},"
		"{\"type\":\"unknown-99\"},7],"
		"\"expires\":\"2026-11-30T15:00:00Z\"}";
	static const char invalid[] =
		"{\"status\":\"invalid\",\"identifier\":{\"type\":\"dns\",\"value\":\"mta-sts.a.test\"},"
		"\"wildcard\":false,\"challenges\":[{\"type\":\"tls-alpn-01\",\"url\":\"u\","
		"\"token\":\"t\",\"status\":\"invalid\",\"error\":{"
		"\"type\":\"urn:ietf:params:acme:error:connection\","
		"\"detail\":\"127.0.0.1: Connection refused\\n\\u001b[31mred\",\"status\":400}}]}";
	struct acme_authz_info a;
	const struct acme_challenge_info *ch;
	char err[256];

	(void)state;
	assert_int_equal(acme_parse_authz(S(pending), &a, err, sizeof(err)), 0);
	assert_int_equal(a.status, ACME_ST_PENDING);
	assert_string_equal(a.identifier, "mta-sts.a.test");
	assert_int_equal(a.nchallenges, 3);	/* the two without type and URL skipped */
	ch = acme_authz_challenge(&a, "tls-alpn-01");
	assert_non_null(ch);
	assert_string_equal(ch->url, "https://127.0.0.1:14000/chalZ/t1");
	assert_string_equal(ch->token, "lZpfHmK9wZTM7DrFWqcxLrTDJ1m0YXsL2oWBNgGGbW8");
	assert_int_equal(ch->status, ACME_ST_PENDING);
	ch = acme_authz_challenge(&a, "http-01");
	assert_non_null(ch);
	assert_string_equal(ch->token, "HhV0ZyBRbNpbcgzUy0QmaQTQfMM3DVSrxMqHVGg5kJo");
	assert_null(acme_authz_challenge(&a, "tls-sni-01"));
	acme_authz_info_free(&a);

	/* a failed validation: the CA's detail, escaped for one log line */
	assert_int_equal(acme_parse_authz(S(invalid), &a, err, sizeof(err)), 0);
	assert_int_equal(a.status, ACME_ST_INVALID);
	ch = acme_authz_challenge(&a, "tls-alpn-01");
	assert_non_null(ch);
	assert_int_equal(ch->has_error, 1);
	assert_int_equal(ch->error.kind, ACME_INVALID);
	assert_string_equal(ch->error.type, "urn:ietf:params:acme:error:connection");
	assert_string_equal(ch->error.detail, "127.0.0.1: Connection refused\\x0a\\x1b[31mred");
	acme_authz_info_free(&a);

	assert_int_equal(acme_parse_authz(S("{\"status\":\"pending\",\"challenges\":[]}"), &a,
	    err, sizeof(err)), -1);
	assert_non_null(strstr(err, "identifier"));
	assert_int_equal(acme_parse_authz(S("{\"status\":\"pending\",\"identifier\":"
	    "{\"value\":\"x\"}}"), &a, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "challenges"));
}

static void
test_problem(void **state)
{
	struct acme_error e;

	(void)state;
	/* badNonce: rejected, with its type (post() retries on it) */
	acme_parse_problem(400, "application/problem+json",
	    S("{\"type\":\"urn:ietf:params:acme:error:badNonce\","
	    "\"detail\":\"JWS has an invalid anti-replay nonce: \\\"abc\\\"\",\"status\":400}"),
	    -1, &e);
	assert_int_equal(e.kind, ACME_REJECTED);
	assert_string_equal(e.type, "urn:ietf:params:acme:error:badNonce");
	assert_string_equal(e.detail, "JWS has an invalid anti-replay nonce: \"abc\"");
	assert_int_equal(e.retry_after, -1);

	/* rateLimited, with Retry-After */
	acme_parse_problem(429, "application/problem+json",
	    S("{\"type\":\"urn:ietf:params:acme:error:rateLimited\","
	    "\"detail\":\"too many certificates (5) already issued for this exact set of "
	    "identifiers in the last 168h0m0s\"}"), 3600, &e);
	assert_int_equal(e.kind, ACME_RATE_LIMITED);
	assert_int_equal(e.retry_after, 3600);
	/* 429 without a problem document is rate limiting too */
	acme_parse_problem(429, NULL, NULL, 0, 60, &e);
	assert_int_equal(e.kind, ACME_RATE_LIMITED);
	assert_int_equal(e.retry_after, 60);
	/* rateLimited even with another status */
	acme_parse_problem(403, "application/problem+json",
	    S("{\"type\":\"urn:ietf:params:acme:error:rateLimited\"}"), -1, &e);
	assert_int_equal(e.kind, ACME_RATE_LIMITED);
	assert_string_equal(e.detail, "urn:ietf:params:acme:error:rateLimited");

	/* 5xx: the server's fault, whatever the body */
	acme_parse_problem(503, "text/html", S("<html>Service Unavailable</html>"), 120, &e);
	assert_int_equal(e.kind, ACME_SERVER);
	assert_int_equal(e.retry_after, 120);
	assert_string_equal(e.detail,
	    "the CA answered HTTP 503 (text/html) without a problem document");
	acme_parse_problem(500, "application/problem+json",
	    S("{\"type\":\"urn:ietf:params:acme:error:serverInternal\",\"detail\":\"oops\"}"),
	    -1, &e);
	assert_int_equal(e.kind, ACME_SERVER);

	/* other 4xx: rejected; subproblems join the detail */
	acme_parse_problem(400, "application/problem+json",
	    S("{\"type\":\"urn:ietf:params:acme:error:malformed\","
	    "\"detail\":\"Some of the identifiers requested were rejected\","
	    "\"subproblems\":[{\"type\":\"urn:ietf:params:acme:error:malformed\","
	    "\"detail\":\"Invalid underscore in DNS name\","
	    "\"identifier\":{\"type\":\"dns\",\"value\":\"_example.org\"}},"
	    "{\"type\":\"urn:ietf:params:acme:error:rejectedIdentifier\","
	    "\"detail\":\"This CA will not issue for \\\"example.net\\\"\","
	    "\"identifier\":{\"type\":\"dns\",\"value\":\"example.net\"}}, 3]}"), -1, &e);
	assert_int_equal(e.kind, ACME_REJECTED);
	assert_string_equal(e.detail, "Some of the identifiers requested were rejected; "
	    "_example.org: Invalid underscore in DNS name; example.net: This CA will not "
	    "issue for \"example.net\"");

	/* what the CA sends cannot forge a log line or colour a terminal */
	acme_parse_problem(403, "application/problem+json",
	    S("{\"type\":\"urn:ietf:params:acme:error:unauthorized\\n\","
	    "\"detail\":\"a\\nERROR forged\\u001b[0m \\u00e9\"}"), -1, &e);
	assert_string_equal(e.type, "urn:ietf:params:acme:error:unauthorized\\x0a");
	assert_string_equal(e.detail, "a\\x0aERROR forged\\x1b[0m \\xc3\\xa9");

	/* a long detail is cut, never overflows */
	{
		char body[2048];

		memset(body, 'x', sizeof(body));
		memcpy(body, "{\"detail\":\"", 11);
		memcpy(body + sizeof(body) - 2, "\"}", 2);
		acme_parse_problem(400, NULL, body, sizeof(body), -1, &e);
		assert_int_equal(strlen(e.detail), sizeof(e.detail) - 1);
	}

	/* a 2xx or 3xx where a success was due but that is no success */
	acme_parse_problem(302, NULL, NULL, 0, -1, &e);
	assert_int_equal(e.kind, ACME_SERVER);
}

static void
test_time(void **state)
{
	static const struct { const char *in; long long want; } good[] = {
		{ "2025-01-02T04:00:00Z", 1735790400 },
		{ "2025-01-02t04:00:00z", 1735790400 },
		{ "2025-01-02 04:00:00Z", 1735790400 },
		{ "2025-01-02T04:00:00.123456789Z", 1735790400 },
		{ "2025-01-02T05:00:00+01:00", 1735790400 },
		{ "2025-01-01T23:00:00-05:00", 1735790400 },
		{ "2000-02-29T23:59:59Z", 951868799 },
		{ "1970-01-01T00:00:00Z", 0 },
		{ "2016-12-31T23:59:60Z", 1483228799 },	/* a leap second */
	};
	static const char *const bad[] = {
		"", "2025-01-02", "2025-01-02T04:00:00", "2025-01-02T04:00Z",
		"2025-13-02T04:00:00Z", "2025-00-02T04:00:00Z", "2025-02-30T04:00:00Z",
		"2025-02-29T04:00:00Z", "1900-02-29T00:00:00Z", "2025-01-02T24:00:00Z",
		"2025-01-02T04:60:00Z", "2025-01-02T04:00:61Z", "2025-01-02T04:00:00.Z",
		"2025-01-02T04:00:00+0100", "2025-01-02T04:00:00Z ", "2025-1-02T04:00:00Z",
		"+025-01-02T04:00:00Z", "2025-01-02X04:00:00Z", "2025-01-02T04:00:00+24:00",
	};
	time_t t;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		t = -1;
		if (acme_parse_time(good[i].in, &t) != 0 || (long long)t != good[i].want)
			fail_msg("\"%s\": got %lld, want %lld", good[i].in, (long long)t, good[i].want);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (acme_parse_time(bad[i], &t) != -1)
			fail_msg("\"%s\" accepted", bad[i]);
	assert_int_equal(acme_parse_time(NULL, &t), -1);
}

static void
test_renewal_info(void **state)
{
	/* RFC 9773 section 4.2's example answer, as recorded */
	static const char rfc[] =
		"{\n"
		"  \"suggestedWindow\": {\n"
		"    \"start\": \"2025-01-02T04:00:00Z\",\n"
		"    \"end\": \"2025-01-03T04:00:00Z\"\n"
		"  },\n"
		"  \"explanationURL\": \"https://acme.example.com/docs/ari\"\n"
		"}";
	time_t start = 0, end = 0;
	char err[256];

	(void)state;
	assert_int_equal(acme_parse_renewal_info(S(rfc), &start, &end, err, sizeof(err)), 0);
	assert_int_equal((long long)start, 1735790400);
	assert_int_equal((long long)end, 1735876800);
	/* a window that ends before it starts is no window (section 4.2) */
	assert_int_equal(acme_parse_renewal_info(S("{\"suggestedWindow\":{"
	    "\"start\":\"2025-01-03T04:00:00Z\",\"end\":\"2025-01-02T04:00:00Z\"}}"),
	    &start, &end, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "ends before it starts"));
	assert_int_equal(acme_parse_renewal_info(S("{\"suggestedWindow\":{"
	    "\"start\":\"2025-01-03\",\"end\":\"2025-01-04T04:00:00Z\"}}"),
	    &start, &end, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "RFC 3339"));
	assert_int_equal(acme_parse_renewal_info(S("{\"suggestedWindow\":{"
	    "\"start\":\"2025-01-03T04:00:00Z\"}}"), &start, &end, err, sizeof(err)), -1);
	assert_int_equal(acme_parse_renewal_info(S("{\"window\":{}}"), &start, &end, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "suggestedWindow"));
}

static void
test_cert_id(void **state)
{
	char *pem = data_file("ari-cert.pem");
	char *noaki = data_file("no-aki.pem");
	char id[128], err[256];

	(void)state;
	/* RFC 9773 section 4.1: keyIdentifier 69:88:5B:...:C8:D4, serial
	 * 0x87654321 (DER content 00 87 65 43 21) */
	assert_int_equal(acme_cert_id(pem, strlen(pem), id, sizeof(id), err, sizeof(err)), 0);
	assert_string_equal(id, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
	/* the identifier does not fit: refused, not cut */
	assert_int_equal(acme_cert_id(pem, strlen(pem), id, 30, err, sizeof(err)), -1);
	assert_int_equal(acme_cert_id(pem, strlen(pem), id, 27, err, sizeof(err)), -1);
	assert_int_equal(acme_cert_id(noaki, strlen(noaki), id, sizeof(id), err, sizeof(err)), -1);
	assert_non_null(strstr(err, "authority key identifier"));
	assert_int_equal(acme_cert_id(S("-----BEGIN CERTIFICATE-----\nAAAA\n"
	    "-----END CERTIFICATE-----\n"), id, sizeof(id), err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a PEM certificate"));
	free(pem);
	free(noaki);
}

static void
test_chain_pick(void **state)
{
	char *x = data_file("chain-x.pem");	/* ends with an intermediate issued by Test Root X */
	char *y = data_file("chain-y.pem");	/* ... by Test Root Y */
	char *yc = data_file("chain-ycross.pem"); /* ... then Test Root Y, issued by Test Root X */
	const char *xy[] = { x, y }, *yx[] = { y, x }, *x_yc[] = { x, yc };
	const char *junk[] = { x, "not PEM", y };

	(void)state;
	assert_int_equal(acme_chain_pick(xy, 2, "Test Root Y"), 1);
	assert_int_equal(acme_chain_pick(xy, 2, "Test Root X"), 0);
	assert_int_equal(acme_chain_pick(yx, 2, "Test Root X"), 1);
	/* no match, no preference: the default chain */
	assert_int_equal(acme_chain_pick(yx, 2, "Test Root Z"), 0);
	assert_int_equal(acme_chain_pick(yx, 2, NULL), 0);
	assert_int_equal(acme_chain_pick(yx, 2, ""), 0);
	/* exact, whole CN only */
	assert_int_equal(acme_chain_pick(yx, 2, "Test Root"), 0);
	assert_int_equal(acme_chain_pick(yx, 2, "test root x"), 0);
	/* the last certificate's subject counts too (a root at the end) */
	assert_int_equal(acme_chain_pick(x_yc, 2, "Test Root Y"), 1);
	/* a chain that does not parse is never picked */
	assert_int_equal(acme_chain_pick(junk, 3, "Test Root Y"), 2);
	free(x);
	free(y);
	free(yc);
}

static void
test_status(void **state)
{
	(void)state;
	assert_int_equal(acme_status_parse("pending"), ACME_ST_PENDING);
	assert_int_equal(acme_status_parse("ready"), ACME_ST_READY);
	assert_int_equal(acme_status_parse("processing"), ACME_ST_PROCESSING);
	assert_int_equal(acme_status_parse("valid"), ACME_ST_VALID);
	assert_int_equal(acme_status_parse("invalid"), ACME_ST_INVALID);
	assert_int_equal(acme_status_parse("revoked"), ACME_ST_REVOKED);
	assert_int_equal(acme_status_parse("Valid"), ACME_ST_UNKNOWN);
	assert_int_equal(acme_status_parse(""), ACME_ST_UNKNOWN);
	assert_int_equal(acme_status_parse(NULL), ACME_ST_UNKNOWN);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_directory),
		cmocka_unit_test(test_directory_bad),
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_authz),
		cmocka_unit_test(test_problem),
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_renewal_info),
		cmocka_unit_test(test_cert_id),
		cmocka_unit_test(test_chain_pick),
		cmocka_unit_test(test_status),
	};

	if (psa_crypto_init() != PSA_SUCCESS)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
