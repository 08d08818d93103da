/* test_challenge.c - the ACME challenge store: round trips, refused names and tokens */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <psa/crypto.h>

#include "challenge.h"

/* not a challenge file: a certificate cut short, and no key */
static const char pem[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBqjCCAVCgAwIBAgIUaPbRtg8PNvU0FZTtX8v4ioZgR7IwCgYIKoZIzj0EAwIw\n"
    "HjEcMBoGA1UEAwwTbXRhLXN0cy5leGFtcGxlLmNvbTAeFw0yNjAxMDEwMDAwMDBa\n"
    "Fw0zNjAxMDEwMDAwMDBaMB4xHDAaBgNVBAMME210YS1zdHMuZXhhbXBsZS5jb20w\n"
    "WTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAQ0\n"
    "-----END CERTIFICATE-----\n";

static char dir[] = "/tmp/test_challenge.XXXXXX";
static char storage[sizeof(dir) + 16];
static char *pair;			/* made by openssl in setup */

#define DIGEST "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define ACME_EXT "1.3.6.1.5.5.7.1.31=critical,DER:0420" DIGEST

/* a TLS-ALPN-01 challenge certificate (RFC 8737: SAN the name, and ext, for
 * the critical id-pe-acmeIdentifier holding a SHA-256 digest: ACME_EXT) +
 * its key, made with the openssl command line */
static char *
make_pair(const char *ext)
{
	char cmd[1024], path[256], *buf;
	FILE *f;
	long n;

	snprintf(path, sizeof(path), "%s/pair.pem", dir);
	snprintf(cmd, sizeof(cmd), "cd %s && openssl req -x509 -newkey ec "
	    "-pkeyopt ec_paramgen_curve:P-256 -noenc -subj /CN=mta-sts.example.com "
	    "-addext subjectAltName=DNS:mta-sts.example.com -days 2 -addext %s "
	    "-keyout k.pem -out c.pem 2>/dev/null && cat c.pem k.pem > pair.pem",
	    dir, ext);
	if (system(cmd) != 0 || (f = fopen(path, "r")) == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = calloc(1, (size_t)n + 1);
	if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

static int
setup(void **state)
{
	(void)state;
	if (psa_crypto_init() != PSA_SUCCESS || mkdtemp(dir) == NULL)
		return -1;
	snprintf(storage, sizeof(storage), "%s/acme", dir);
	pair = make_pair(ACME_EXT);
	return pair == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	char cmd[256];

	(void)state;
	free(pair);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* before challenge_init nothing is read or written */
static void
test_off(void **state)
{
	(void)state;
	assert_false(challenge_enabled());
	assert_null(challenge_tls_get("mta-sts.example.com"));
	assert_null(challenge_http_get("abc"));
	assert_int_equal(challenge_http_put("abc", "abc.xyz"), -1);
	assert_int_equal(errno, EINVAL);
}

static void
test_init_makes_directories(void **state)
{
	char path[256];
	struct stat sb;

	(void)state;
	assert_int_equal(challenge_init(storage), 0);
	assert_true(challenge_enabled());
	snprintf(path, sizeof(path), "%s/challenges/tls-alpn-01", storage);
	assert_int_equal(stat(path, &sb), 0);
	assert_true(S_ISDIR(sb.st_mode));
	assert_int_equal(sb.st_mode & 0777, 0700);
	snprintf(path, sizeof(path), "%s/challenges/http-01", storage);
	assert_int_equal(stat(path, &sb), 0);
	assert_true(S_ISDIR(sb.st_mode));
	/* again: existing directories are fine */
	assert_int_equal(challenge_init(storage), 0);
}

static void
test_tls_round_trip(void **state)
{
	char path[256];
	struct certkey *ck;
	struct stat sb;

	(void)state;
	assert_null(challenge_tls_get("mta-sts.example.com"));
	assert_int_equal(challenge_tls_put("mta-sts.example.com", pair), 0);
	snprintf(path, sizeof(path), "%s/challenges/tls-alpn-01/"
	    "mta-sts.example.com.pem", storage);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	ck = challenge_tls_get("mta-sts.example.com");
	assert_non_null(ck);
	assert_true(ck->is_ec);
	assert_non_null(ck->chain.raw.p);
	certs_unref(ck);
	/* another name has none */
	assert_null(challenge_tls_get("mta-sts.example.org"));
	assert_int_equal(challenge_tls_remove("mta-sts.example.com"), 0);
	assert_null(challenge_tls_get("mta-sts.example.com"));
	assert_int_equal(challenge_tls_remove("mta-sts.example.com"), 0);
}

/* a file that is not a certificate with its key reads as none */
static void
test_tls_bad_file(void **state)
{
	char *half;

	(void)state;
	assert_int_equal(challenge_tls_put("mta-sts.bad.example", pem), 0);
	assert_null(challenge_tls_get("mta-sts.bad.example"));
	/* the certificate alone, without its key */
	half = strdup(pair);
	assert_non_null(half);
	*strstr(half, "-----BEGIN PRIVATE KEY") = '\0';
	assert_int_equal(challenge_tls_put("mta-sts.bad.example", half), 0);
	assert_null(challenge_tls_get("mta-sts.bad.example"));
	free(half);
	assert_int_equal(challenge_tls_put("mta-sts.bad.example", ""), 0);
	assert_null(challenge_tls_get("mta-sts.bad.example"));
	assert_int_equal(challenge_tls_remove("mta-sts.bad.example"), 0);
}

/* the one unknown critical extension accepted is a well-formed
 * id-pe-acmeIdentifier */
static void
test_tls_extension_checked(void **state)
{
	static const char *const bad[] = {
		"1.3.6.1.5.5.7.1.31=critical,DER:0410" "00112233445566778899aabbccddeeff",
		"1.3.6.1.5.5.7.1.31=critical,DER:0320" DIGEST,
		"1.3.6.1.5.5.7.1.99=critical,DER:0420" DIGEST,
		NULL
	};

	(void)state;
	for (int i = 0; bad[i] != NULL; i++) {
		char *p = make_pair(bad[i]);

		assert_non_null(p);
		assert_int_equal(challenge_tls_put("mta-sts.ext.example", p), 0);
		assert_null(challenge_tls_get("mta-sts.ext.example"));
		free(p);
	}
	assert_int_equal(challenge_tls_remove("mta-sts.ext.example"), 0);
}

static void
test_http_round_trip(void **state)
{
	const char *tok = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA";
	const char *ka = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA."
	    "9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI";
	char *got;

	(void)state;
	assert_null(challenge_http_get(tok));
	assert_int_equal(challenge_http_put(tok, ka), 0);
	got = challenge_http_get(tok);
	assert_non_null(got);
	assert_string_equal(got, ka);
	free(got);
	/* replaced atomically */
	assert_int_equal(challenge_http_put(tok, "other"), 0);
	got = challenge_http_get(tok);
	assert_non_null(got);
	assert_string_equal(got, "other");
	free(got);
	assert_int_equal(challenge_http_remove(tok), 0);
	assert_null(challenge_http_get(tok));
}

/* names and tokens that could leave the directory, or are no names */
static void
test_refused(void **state)
{
	static const char *const bad_names[] = {
		"../etc", "..", "a/b.example", "/etc/passwd", "mta-sts.example.com/",
		"MTA-STS.example.com", ".example.com", "example", "a..b.example",
		"", "mta-sts.example.com.", "a b.example", "1.2.3.4",
		"*.example.com", NULL
	};
	static const char *const bad_tokens[] = {
		"..", "../x", "a/b", "a.b", "", "a b", "a%2fb", "a\\b", ".hidden",
		NULL
	};
	char longtok[CHALLENGE_TOKEN_MAX + 2];

	(void)state;
	for (int i = 0; bad_names[i] != NULL; i++) {
		assert_false(challenge_name_ok(bad_names[i]));
		assert_int_equal(challenge_tls_put(bad_names[i], pair), -1);
		assert_int_equal(errno, EINVAL);
		assert_int_equal(challenge_tls_remove(bad_names[i]), -1);
		assert_null(challenge_tls_get(bad_names[i]));
	}
	for (int i = 0; bad_tokens[i] != NULL; i++) {
		assert_false(challenge_token_ok(bad_tokens[i]));
		assert_int_equal(challenge_http_put(bad_tokens[i], "x"), -1);
		assert_int_equal(errno, EINVAL);
		assert_int_equal(challenge_http_remove(bad_tokens[i]), -1);
		assert_null(challenge_http_get(bad_tokens[i]));
	}
	assert_null(challenge_tls_get(NULL));
	assert_null(challenge_http_get(NULL));
	memset(longtok, 'a', sizeof(longtok) - 1);
	longtok[sizeof(longtok) - 1] = '\0';
	assert_false(challenge_token_ok(longtok));
	longtok[CHALLENGE_TOKEN_MAX] = '\0';
	assert_true(challenge_token_ok(longtok));
	assert_true(challenge_token_ok("aZ09-_"));
	assert_true(challenge_name_ok("mta-sts.example.com"));
}

/* a symlink planted in the store is not followed */
static void
test_symlink_not_followed(void **state)
{
	char target[256], link[256];
	FILE *f;

	(void)state;
	snprintf(target, sizeof(target), "%s/secret", dir);
	snprintf(link, sizeof(link), "%s/challenges/http-01/tok", storage);
	assert_non_null(f = fopen(target, "w"));
	fputs("secret", f);
	fclose(f);
	assert_int_equal(symlink(target, link), 0);
	assert_null(challenge_http_get("tok"));
	unlink(link);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_off),
		cmocka_unit_test(test_init_makes_directories),
		cmocka_unit_test(test_tls_round_trip),
		cmocka_unit_test(test_tls_bad_file),
		cmocka_unit_test(test_tls_extension_checked),
		cmocka_unit_test(test_http_round_trip),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_symlink_not_followed),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
