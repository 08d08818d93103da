/* test_records.c - records.c: TXT records, report URIs, MX coverage, rendering */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "policy.h"
#include "records.h"

static char data_dir[1024];	/* tests/data/records, or $TEST_DATA */

/* one line of a .tsv table: kind, record, expectation */
struct row {
	char kind[8];
	char record[1024];
	size_t record_len;
	char want[1024];
	unsigned line;
};

/* "\t" in the record column stands for a tab */
static size_t
unescape(char *s)
{
	char *o = s;

	for (const char *p = s; *p != '\0'; p++) {
		if (p[0] == '\\' && p[1] == 't') {
			*o++ = '\t';
			p++;
		} else
			*o++ = *p;
	}
	*o = '\0';
	return (size_t)(o - s);
}

/* read every row of data_dir/name; returns how many (at most max) */
static size_t
read_table(const char *name, struct row *rows, size_t max)
{
	char path[2048], line[4096];
	unsigned ln = 0;
	size_t n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", data_dir, name);
	if ((f = fopen(path, "r")) == NULL)
		fail_msg("cannot open %s", path);
	while (fgets(line, sizeof(line), f) != NULL) {
		char *a, *b;

		ln++;
		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '#' || line[0] == '\0')
			continue;
		if ((a = strchr(line, '\t')) == NULL ||
		    (b = strchr(a + 1, '\t')) == NULL ||
		    (size_t)(a - line) >= sizeof(rows[n].kind)) {
			fail_msg("%s:%u: not kind<TAB>record<TAB>want", path, ln);
			continue;
		}
		*a++ = '\0';
		*b++ = '\0';
		assert_true(n < max);
		memcpy(rows[n].kind, line, (size_t)(a - line));
		snprintf(rows[n].record, sizeof(rows[n].record), "%s", a);
		rows[n].record_len = unescape(rows[n].record);
		snprintf(rows[n].want, sizeof(rows[n].want), "%s", b);
		rows[n].line = ln;
		n++;
	}
	fclose(f);
	return n;
}

static void
test_sts_table(void **state)
{
	static struct row rows[200];
	size_t n = read_table("sts.tsv", rows, 200), nok = 0, nbad = 0;

	(void)state;
	for (size_t i = 0; i < n; i++) {
		char id[RECORDS_ID_MAX + 1], err[RECORDS_ERR_MAX] = "";
		int r = records_sts_parse(rows[i].record, rows[i].record_len, id,
		    err, sizeof(err));

		if (strcmp(rows[i].kind, "ok") == 0) {
			nok++;
			if (r != 0)
				fail_msg("sts.tsv:%u: \"%s\" should parse: %s",
				    rows[i].line, rows[i].record, err);
			assert_string_equal(id, rows[i].want);
			assert_true(records_is_sts(rows[i].record,
			    rows[i].record_len));
		} else {
			nbad++;
			if (r != -1)
				fail_msg("sts.tsv:%u: \"%s\" should fail",
				    rows[i].line, rows[i].record);
			if (strstr(err, rows[i].want) == NULL)
				fail_msg("sts.tsv:%u: error \"%s\" lacks \"%s\"",
				    rows[i].line, err, rows[i].want);
			assert_string_equal(id, "");
		}
	}
	assert_true(nok >= 5 && nbad >= 10);
}

static void
test_tlsrpt_table(void **state)
{
	static struct row rows[200];
	size_t n = read_table("tlsrpt.tsv", rows, 200), nok = 0, nbad = 0;

	(void)state;
	for (size_t i = 0; i < n; i++) {
		char rua[RECORDS_RUA_MAX], err[RECORDS_ERR_MAX] = "";
		int r = records_tlsrpt_parse(rows[i].record, rows[i].record_len,
		    rua, sizeof(rua), err, sizeof(err));

		if (strcmp(rows[i].kind, "ok") == 0) {
			nok++;
			if (r != 0)
				fail_msg("tlsrpt.tsv:%u: \"%s\" should parse: %s",
				    rows[i].line, rows[i].record, err);
			assert_string_equal(rua, rows[i].want);
			assert_true(records_is_tlsrpt(rows[i].record,
			    rows[i].record_len));
		} else {
			nbad++;
			if (r != -1)
				fail_msg("tlsrpt.tsv:%u: \"%s\" should fail",
				    rows[i].line, rows[i].record);
			if (strstr(err, rows[i].want) == NULL)
				fail_msg("tlsrpt.tsv:%u: error \"%s\" lacks \"%s\"",
				    rows[i].line, err, rows[i].want);
		}
	}
	assert_true(nok >= 5 && nbad >= 10);
}

static void
test_is_version(void **state)
{
	(void)state;
	assert_true(records_is_sts("v=STSv1", 7));
	assert_true(records_is_sts("v=STSv1x", 8));	/* counted, then refused */
	assert_false(records_is_sts("v=STSv", 6));
	assert_false(records_is_sts("v=TLSRPTv1; rua=mailto:a@b.c", 28));
	assert_true(records_is_tlsrpt("v=TLSRPTv1;", 11));
	assert_false(records_is_tlsrpt("v=STSv1; id=1", 13));
	assert_false(records_is_tlsrpt("", 0));
}

static void
test_id_valid(void **state)
{
	(void)state;
	assert_true(records_id_valid("a", 1));
	assert_true(records_id_valid("Z9", 2));
	assert_true(records_id_valid("01234567890123456789012345678901", 32));
	assert_false(records_id_valid("012345678901234567890123456789012", 33));
	assert_false(records_id_valid("", 0));
	assert_false(records_id_valid("a-b", 3));
	assert_false(records_id_valid("a b", 3));
	assert_false(records_id_valid("\xc3\xa9", 2));
}

/* the list form used by the tlsrpt config key */
static void
test_rua_list(void **state)
{
	char out[RECORDS_RUA_MAX], small[20], err[RECORDS_ERR_MAX];
	const char *s;

	(void)state;
	s = "mailto:a@example.com";
	assert_int_equal(records_rua_list(s, strlen(s), out, sizeof(out), err,
	    sizeof(err)), 0);
	assert_string_equal(out, "mailto:a@example.com");
	s = " mailto:a@example.com ,\thttps://r.example.com/tlsrpt ";
	assert_int_equal(records_rua_list(s, strlen(s), out, sizeof(out), err,
	    sizeof(err)), 0);
	assert_string_equal(out, "mailto:a@example.com,https://r.example.com/tlsrpt");
	s = "";
	assert_int_equal(records_rua_list(s, 0, out, sizeof(out), err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "no report URI"));
	s = "mailto:a@example.com,,mailto:b@example.com";
	assert_int_equal(records_rua_list(s, strlen(s), out, sizeof(out), err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "empty report URI between commas"));
	s = "mailto:abcdefgh@example.com";
	assert_int_equal(records_rua_list(s, strlen(s), small, sizeof(small),
	    err, sizeof(err)), -1);
	assert_non_null(strstr(err, "longer than 19 bytes"));
	/* one URI at a time */
	s = "https://r.example.com";
	assert_int_equal(records_rua_uri_check(s, strlen(s), err, sizeof(err)), 0);
	s = "https://r.example.com/a;b";
	assert_int_equal(records_rua_uri_check(s, strlen(s), err, sizeof(err)), -1);
	assert_non_null(strstr(err, "%3B"));
	s = "mailto:a,b@example.com";
	assert_int_equal(records_rua_uri_check(s, strlen(s), err, sizeof(err)), -1);
	assert_non_null(strstr(err, "%2C"));
	s = "https://r.example.com/caf\xc3\xa9";
	assert_int_equal(records_rua_uri_check(s, strlen(s), err, sizeof(err)), -1);
	assert_non_null(strstr(err, "non-ASCII"));
	s = "mailto:a%40b@example.com";
	assert_int_equal(records_rua_uri_check(s, strlen(s), err, sizeof(err)), 0);
}

/* messages never repeat user information, an extension's value, a field
 * that is not name=value, or anything longer than a short token */
static void
test_messages_quote_little(void **state)
{
	static const struct {
		const char *in, *want, *secret;
	} rua[] = {
		{ "https://u:pw-secret@r.example.com/x", "user information",
		    "pw-secret" },
		{ "https://u:pw-secret@r.example.com/x#f", "#fragment",
		    "pw-secret" },
		{ "ftp://u:pw-secret@r.example.com/", "not a mailto: or https:",
		    "pw-secret" },
		{ "https://r.example.com/0123456789012345678901234567890123456789"
		    "a;b", "(65 bytes, not shown) contains \";\"", "0123456789" },
		{ "https://r.example.com/ok;x", "\"https://r.example.com/ok;x\"",
		    NULL },
	}, sts[] = {
		{ "v=STSv1; id=abc; x-key=s3cr3t=v", "the value may hold only",
		    "s3cr3t" },
		{ "v=STSv1; id=abc; s3cr3t", "a field is not name=value",
		    "s3cr3t" },
		{ "v=STSv1; id=abc; x-key=s3cr3t v", "a field contains a blank",
		    "s3cr3t" },
		{ "v=STSv1 s3cr3t; id=abc", "must be followed by", "s3cr3t" },
		{ "v=STSv1; id=abc; _s3cr3t=v", "field name is not valid",
		    "s3cr3t" },
	};
	char err[RECORDS_ERR_MAX], id[RECORDS_ID_MAX + 1];

	(void)state;
	for (size_t i = 0; i < sizeof(rua) / sizeof(rua[0]); i++) {
		assert_int_equal(records_rua_uri_check(rua[i].in,
		    strlen(rua[i].in), err, sizeof(err)), -1);
		if (strstr(err, rua[i].want) == NULL ||
		    (rua[i].secret != NULL && strstr(err, rua[i].secret) != NULL))
			fail_msg("%s: \"%s\"", rua[i].in, err);
	}
	for (size_t i = 0; i < sizeof(sts) / sizeof(sts[0]); i++) {
		assert_int_equal(records_sts_parse(sts[i].in, strlen(sts[i].in),
		    id, err, sizeof(err)), -1);
		if (strstr(err, sts[i].want) == NULL ||
		    strstr(err, sts[i].secret) != NULL)
			fail_msg("%s: \"%s\"", sts[i].in, err);
	}
}

/* parse a policy from text, failing the test when it is not valid */
static void
parse(const char *text, struct policy *p)
{
	struct diag d = { 0 };

	if (policy_parse(text, strlen(text), "t", p, &d) != 0) {
		for (size_t i = 0; i < d.n; i++)
			print_message("%s\n", d.v[i].text);
		fail_msg("test policy does not parse");
	}
	diag_clear(&d);
}

static void
test_mx_cover(void **state)
{
	struct policy p;
	static const char *const hosts[] = {
		"mail.example.com",	/* exact */
		"a.mx.example.net",	/* one label under *.mx.example.net */
		"mx.example.net",	/* the wildcard's own base: not covered */
		"a.b.mx.example.net",	/* two labels: not covered */
		"other.example.org",
	};
	unsigned char ok[5], used[3];

	(void)state;
	parse("version: STSv1\nmode: enforce\nmx: mail.example.com\n"
	    "mx: *.mx.example.net\nmx: unused.example.com\nmax_age: 86400\n",
	    &p);
	assert_int_equal(records_mx_cover(&p, hosts, 5, ok, used), 3);
	assert_int_equal(ok[0], 1);
	assert_int_equal(ok[1], 1);
	assert_int_equal(ok[2], 0);
	assert_int_equal(ok[3], 0);
	assert_int_equal(ok[4], 0);
	assert_int_equal(used[0], 1);
	assert_int_equal(used[1], 1);
	assert_int_equal(used[2], 0);
	assert_int_equal(records_mx_cover(&p, hosts, 2, NULL, NULL), 0);
	assert_int_equal(records_mx_cover(&p, hosts, 0, NULL, used), 0);
	assert_int_equal(used[0], 0);
	policy_free(&p);
}

static void
test_policy_diff(void **state)
{
	struct policy a, b;
	char out[1024];

	(void)state;
	parse("version: STSv1\nmode: enforce\nmx: a.example.com\n"
	    "mx: b.example.com\nmax_age: 604800\n", &a);
	/* the same policy written differently: CRLF, other field order */
	parse("max_age: 604800\r\nversion: STSv1\r\nmx: a.example.com\r\n"
	    "mode: enforce\r\nmx: b.example.com\r\n", &b);
	assert_int_equal(records_policy_diff(&a, &b, out, sizeof(out)), 0);
	assert_string_equal(out, "");
	policy_free(&b);

	parse("version: STSv1\nmode: testing\nmx: a.example.com\n"
	    "mx: c.example.com\nmax_age: 86400\next1: x\n", &b);
	assert_int_equal(records_policy_diff(&a, &b, out, sizeof(out)), 1);
	assert_string_equal(out, "mode is testing, not enforce; max_age is "
	    "86400, not 604800; mx b.example.com is missing; mx c.example.com "
	    "is extra; extension ext1: x is extra");
	policy_free(&b);

	parse("version: STSv1\nmode: enforce\nmx: b.example.com\n"
	    "mx: a.example.com\nmax_age: 604800\n", &b);
	assert_int_equal(records_policy_diff(&a, &b, out, sizeof(out)), 1);
	assert_string_equal(out, "the mx lines are in another order");
	policy_free(&b);
	policy_free(&a);
}

static void
test_render(void **state)
{
	char out[2048], big[600], tiny[8];
	size_t n;

	(void)state;
	records_sts_value("abc123", out, sizeof(out));
	assert_string_equal(out, "v=STSv1; id=abc123");
	records_tlsrpt_value("mailto:a@example.com,https://r.example.com/x",
	    out, sizeof(out));
	assert_string_equal(out, "v=TLSRPTv1; rua=mailto:a@example.com,"
	    "https://r.example.com/x");

	n = records_zone_txt(out, sizeof(out), "_mta-sts.example.com",
	    "v=STSv1; id=abc");
	assert_string_equal(out, "_mta-sts.example.com. 3600 IN TXT "
	    "\"v=STSv1; id=abc\"");
	assert_int_equal(n, strlen(out));
	records_zone_txt(out, sizeof(out), "x.example.com.", "a\"b\\c");
	assert_string_equal(out, "x.example.com. 3600 IN TXT \"a\\\"b\\\\c\"");
	records_zone_txt(out, sizeof(out), "x.example.com", "");
	assert_string_equal(out, "x.example.com. 3600 IN TXT \"\"");
	/* longer than one character string: cut at 255 bytes */
	memset(big, 'a', 300);
	big[300] = '\0';
	records_zone_txt(out, sizeof(out), "x.example.com", big);
	assert_int_equal(strlen(out), strlen("x.example.com. 3600 IN TXT ") +
	    255 + 2 + 1 + 45 + 2);
	assert_non_null(strstr(out, "a\" \"a"));
	/* cut output, full length returned */
	n = records_zone_txt(tiny, sizeof(tiny), "x.example.com", "abc");
	assert_int_equal(n, strlen("x.example.com. 3600 IN TXT \"abc\""));
	assert_string_equal(tiny, "x.examp");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sts_table),
		cmocka_unit_test(test_tlsrpt_table),
		cmocka_unit_test(test_is_version),
		cmocka_unit_test(test_id_valid),
		cmocka_unit_test(test_rua_list),
		cmocka_unit_test(test_messages_quote_little),
		cmocka_unit_test(test_mx_cover),
		cmocka_unit_test(test_policy_diff),
		cmocka_unit_test(test_render),
	};
	const char *env = getenv("TEST_DATA_RECORDS");

	snprintf(data_dir, sizeof(data_dir), "%s",
	    env != NULL ? env : "tests/data/records");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
