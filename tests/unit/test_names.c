/* test_names.c - unit tests of names.c: table-driven */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "names.h"

struct norm_case {
	const char *in;
	const char *out;	/* NULL: must be refused */
};

/* 63 and 64 character labels; a 253 and a 254 character name */
#define L63 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define L64 L63 "a"
#define L61 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define N253 L63 "." L63 "." L63 "." L61
#define N254 N253 "a"

static const struct norm_case norm_cases[] = {
	{ "example.com", "example.com" },
	{ "Example.COM", "example.com" },
	{ "MTA-STS.Example.Com", "mta-sts.example.com" },
	{ "a.b", "a.b" },
	{ "mx1.mail.example.com", "mx1.mail.example.com" },
	{ "1mail.example.com", "1mail.example.com" },
	{ "123.example.com", "123.example.com" },
	{ "xn--bcher-kva.example", "xn--bcher-kva.example" },
	{ "a-b.c-d", "a-b.c-d" },
	{ "example.c0m", "example.c0m" },
	{ L63 ".com", L63 ".com" },
	{ N253, N253 },
	{ N254, NULL },
	{ L64 ".com", NULL },
	{ "com." L64, NULL },
	{ "", NULL },
	{ "localhost", NULL },
	{ "com", NULL },
	{ ".", NULL },
	{ "example.com.", NULL },
	{ ".example.com", NULL },
	{ "a..example.com", NULL },
	{ "-a.example.com", NULL },
	{ "a-.example.com", NULL },
	{ "a.-example.com", NULL },
	{ "a.example-", NULL },
	{ "a_b.example.com", NULL },
	{ "a b.example.com", NULL },
	{ " example.com", NULL },
	{ "example.com ", NULL },
	{ "*.example.com", NULL },
	{ "exa\xc3\xa4mple.com", NULL },
	{ "192.0.2.1", NULL },
	{ "10.1", NULL },
	{ "example.123", NULL },
	{ "example.com:443", NULL },
	{ "[::1]", NULL },
	{ "::1", NULL },
};

/* every case of the table, through the length-taking interface */
static void
test_normalise_table(void **state)
{
	char out[NAME_MAX_LEN + 1];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(norm_cases) / sizeof(norm_cases[0]); i++) {
		const struct norm_case *c = &norm_cases[i];
		int r = name_normalise(c->in, strlen(c->in), out, sizeof(out));

		if (c->out == NULL) {
			if (r != -1)
				fail_msg("\"%s\" accepted as \"%s\"", c->in,
				    out);
		} else {
			if (r != 0)
				fail_msg("\"%s\" refused", c->in);
			if (strcmp(out, c->out) != 0)
				fail_msg("\"%s\" -> \"%s\", want \"%s\"",
				    c->in, out, c->out);
		}
	}
}

/* len bounds the input, outsz is honoured, an embedded NUL is refused */
static void
test_normalise_bounds(void **state)
{
	char out[NAME_MAX_LEN + 1], small[12];

	(void)state;
	assert_int_equal(name_normalise("example.com:443", 11, out,
	    sizeof(out)), 0);
	assert_string_equal(out, "example.com");
	assert_int_equal(name_normalise("example.com", 11, small,
	    sizeof(small)), 0);
	assert_int_equal(name_normalise("example.com", 11, small, 11), -1);
	assert_int_equal(name_normalise("exam\0le.com", 11, out, sizeof(out)),
	    -1);
	assert_int_equal(name_normalise(NULL, 0, out, sizeof(out)), -1);
	assert_int_equal(name_normalise("a.b", 3, NULL, 0), -1);
}

struct host_case {
	const char *in;
	const char *out;	/* NULL: must be refused */
};

static const struct host_case host_cases[] = {
	{ "mta-sts.example.com", "mta-sts.example.com" },
	{ "MTA-STS.Example.COM:8443", "mta-sts.example.com" },
	{ "mta-sts.example.com:443", "mta-sts.example.com" },
	{ "mta-sts.example.com:1", "mta-sts.example.com" },
	{ "mta-sts.example.com:65535", "mta-sts.example.com" },
	{ "mta-sts.example.com:65536", NULL },
	{ "mta-sts.example.com:000443", NULL },
	{ "x:", NULL },
	{ "x:abc", NULL },
	{ "mta-sts.example.com:", NULL },
	{ "mta-sts.example.com:abc", NULL },
	{ "mta-sts.example.com:44a", NULL },
	{ "mta-sts.example.com:-1", NULL },
	{ "mta-sts.example.com:+443", NULL },
	{ "mta-sts.example.com: 443", NULL },
	{ "mta-sts.example.com:443:443", NULL },
	{ "[::1]:443", NULL },
	{ "[::1]", NULL },
	{ "::1", NULL },
	{ "[mta-sts.example.com]", NULL },
	{ "127.0.0.1", NULL },
	{ "127.0.0.1:443", NULL },
	{ "", NULL },
	{ ":443", NULL },
	{ " mta-sts.example.com", NULL },
	{ "mta-sts.example.com ", NULL },
	{ "mta-sts .example.com", NULL },
	{ "mta-sts.example.com.", NULL },
	{ "localhost:8443", NULL },
};

/* Host header values: port stripped, case folded, literals refused */
static void
test_host_header_table(void **state)
{
	char out[NAME_MAX_LEN + 1];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(host_cases) / sizeof(host_cases[0]); i++) {
		const struct host_case *c = &host_cases[i];
		int r = name_from_host_header(c->in, out, sizeof(out));

		if (c->out == NULL) {
			if (r != -1)
				fail_msg("Host \"%s\" accepted as \"%s\"",
				    c->in, out);
		} else {
			if (r != 0)
				fail_msg("Host \"%s\" refused", c->in);
			if (strcmp(out, c->out) != 0)
				fail_msg("Host \"%s\" -> \"%s\", want \"%s\"",
				    c->in, out, c->out);
		}
	}
	assert_int_equal(name_from_host_header(NULL, out, sizeof(out)), -1);
}

struct match_case {
	const char *pattern;
	const char *host;
	int want;
};

static const struct match_case match_cases[] = {
	{ "mail.example.com", "mail.example.com", 1 },
	{ "mail.example.com", "mail.example.org", 0 },
	{ "mail.example.com", "example.com", 0 },
	{ "mail.example.com", "a.mail.example.com", 0 },
	{ "mail.example.com", "mail.example.co", 0 },
	{ "mail.example.com", "mail.example.comm", 0 },
	{ "*.example.com", "a.example.com", 1 },
	{ "*.example.com", "mail-1.example.com", 1 },
	{ "*.example.com", "example.com", 0 },
	{ "*.example.com", ".example.com", 0 },
	{ "*.example.com", "a.b.example.com", 0 },
	{ "*.example.com", "aexample.com", 0 },
	{ "*.example.com", "a.example.org", 0 },
	{ "*.example.com", "a.xexample.com", 0 },
	{ "*.example.com", "*.example.com", 0 },
	{ "*.example.com", "", 0 },
	{ "*.mx.example.net", "mx1.mx.example.net", 1 },
	{ "*.mx.example.net", "mx.example.net", 0 },
	/* both sides are lower case by contract: no case folding here */
	{ "mail.example.com", "MAIL.example.com", 0 },
	{ "*.example.com", "A.EXAMPLE.COM", 0 },
	/* malformed patterns never match */
	{ "*", "a", 0 },
	{ "*", "a.example.com", 0 },
	{ "*.", "a.", 0 },
	{ "*example.com", "aexample.com", 0 },
	{ "**.example.com", "a.example.com", 0 },
	{ "", "", 0 },
	{ "", "a.example.com", 0 },
};

/* SAN and mx patterns: exact, or one extra leftmost label for "*." */
static void
test_match_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(match_cases) / sizeof(match_cases[0]); i++) {
		const struct match_case *c = &match_cases[i];
		int r = name_match(c->pattern, c->host);

		if (r != c->want)
			fail_msg("name_match(\"%s\", \"%s\") = %d, want %d",
			    c->pattern, c->host, r, c->want);
	}
	assert_int_equal(name_match(NULL, "a.example.com"), 0);
	assert_int_equal(name_match("a.example.com", NULL), 0);
}

/* "mta-sts.<domain>" gives <domain>, a pointer into the argument */
static void
test_policy_domain(void **state)
{
	const char *name = "mta-sts.example.com";

	(void)state;
	assert_ptr_equal(name_policy_domain(name), name + 8);
	assert_string_equal(name_policy_domain("mta-sts.mail.example.co.uk"),
	    "mail.example.co.uk");
	assert_null(name_policy_domain("example.com"));
	assert_null(name_policy_domain("www.mta-sts.example.com"));
	assert_null(name_policy_domain("mta-sts-example.com"));
	assert_null(name_policy_domain("mta-stsexample.com"));
	assert_null(name_policy_domain("mta-sts."));
	assert_null(name_policy_domain("mta-sts"));
	assert_null(name_policy_domain(""));
	assert_null(name_policy_domain(NULL));
	/* normalised input is lower case: an upper-case label is not ours */
	assert_null(name_policy_domain("MTA-STS.example.com"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_normalise_table),
		cmocka_unit_test(test_normalise_bounds),
		cmocka_unit_test(test_host_header_table),
		cmocka_unit_test(test_match_table),
		cmocka_unit_test(test_policy_domain),
	};

	return cmocka_run_group_tests_name("names", tests, NULL, NULL);
}
