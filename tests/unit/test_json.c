/* test_json.c - the one JSON string writer: escaping, UTF-8, cutting */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json.h"

/* an input of len bytes and the escape it must give */
struct row {
	const char *in;
	size_t len;
	const char *want;
};

#define ROW(in, want) { in, sizeof(in) - 1, want }

static const struct row rows[] = {
	ROW("", ""),
	ROW("abc ~", "abc ~"),
	ROW("a\"b\\c/", "a\\\"b\\\\c/"),
	ROW("\b\f\n\r\t", "\\b\\f\\n\\r\\t"),
	ROW("\x01\x1f", "\\u0001\\u001f"),
	ROW("a\0b", "a\\u0000b"),		/* a NUL inside the length */
	ROW("\x7f", "\\u007f"),			/* DEL */
	/* well-formed UTF-8 passes as it is */
	ROW("caf\xc3\xa9", "caf\xc3\xa9"),	/* U+00E9 */
	ROW("\xe2\x82\xac", "\xe2\x82\xac"),	/* U+20AC, 3 bytes */
	ROW("\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80"),	/* U+1F600, 4 bytes */
	ROW("\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf"),	/* U+10FFFF, the last */
	ROW("\xef\xbf\xbd", "\xef\xbf\xbd"),	/* U+FFFD itself */
	/* C1 controls and the JavaScript line breaks as \u */
	ROW("\xc2\x85\xc2\x9b", "\\u0085\\u009b"),
	ROW("\xc2\xa0", "\xc2\xa0"),		/* U+00A0: no control */
	ROW("\xe2\x80\xa8\xe2\x80\xa9", "\\u2028\\u2029"),
	/* every byte of what is not UTF-8: U+FFFD */
	ROW("\xff", "\\ufffd"),
	ROW("caf\xc3\xa9\xff", "caf\xc3\xa9\\ufffd"),
	ROW("\x80", "\\ufffd"),			/* a stray continuation byte */
	ROW("\xc3", "\\ufffd"),			/* cut short at the end */
	ROW("\xe2\x82", "\\ufffd\\ufffd"),
	ROW("\xe2\x82" "A", "\\ufffd\\ufffdA"),	/* cut short by a character */
	ROW("\xc0\xaf", "\\ufffd\\ufffd"),	/* overlong '/' */
	ROW("\xc1\xbf", "\\ufffd\\ufffd"),
	ROW("\xe0\x80\xaf", "\\ufffd\\ufffd\\ufffd"),	/* overlong, 3 bytes */
	ROW("\xf0\x80\x80\xaf", "\\ufffd\\ufffd\\ufffd\\ufffd"),
	ROW("\xed\xa0\x80", "\\ufffd\\ufffd\\ufffd"),	/* surrogate U+D800 */
	ROW("\xed\xbf\xbf", "\\ufffd\\ufffd\\ufffd"),	/* surrogate U+DFFF */
	ROW("\xf4\x90\x80\x80", "\\ufffd\\ufffd\\ufffd\\ufffd"),	/* > U+10FFFF */
	ROW("\xf5\x80\x80\x80", "\\ufffd\\ufffd\\ufffd\\ufffd"),
	ROW("\xfe\xfe\xff\xff", "\\ufffd\\ufffd\\ufffd\\ufffd"),
	ROW("\xc3\xc3\xa9", "\\ufffd\xc3\xa9"),	/* a start byte, then a character */
};

static void
test_escape_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char out[128];
		size_t n = json_escape(out, sizeof(out), rows[i].in, rows[i].len);

		if (strcmp(out, rows[i].want) != 0 || n != strlen(rows[i].want))
			fail_msg("row %zu: escape gave \"%s\" (%zu), want \"%s\"", i,
			    out, n, rows[i].want);
	}
}

static void
test_utf8_char(void **state)
{
	unsigned long cp = 0;

	(void)state;
	assert_int_equal(json_utf8_char("A", 1, &cp), 1);
	assert_int_equal(cp, 'A');
	assert_int_equal(json_utf8_char("\xc3\xa9", 2, &cp), 2);
	assert_int_equal(cp, 0xe9);
	assert_int_equal(json_utf8_char("\xe2\x82\xac", 3, &cp), 3);
	assert_int_equal(cp, 0x20ac);
	assert_int_equal(json_utf8_char("\xf4\x8f\xbf\xbf", 4, &cp), 4);
	assert_int_equal(cp, 0x10ffff);
	/* the bytes are there, but len says they are not */
	assert_int_equal(json_utf8_char("\xc3\xa9", 1, &cp), 0);
	assert_int_equal(json_utf8_char("", 0, &cp), 0);
	assert_int_equal(json_utf8_char("\xed\x9f\xbf", 3, &cp), 3);	/* U+D7FF */
	assert_int_equal(json_utf8_char("\xee\x80\x80", 3, &cp), 3);	/* U+E000 */
	assert_int_equal(json_utf8_char("\xed\xa0\x80", 3, &cp), 0);
}

/* cut output: only whole escapes and whole characters, and the full length */
static void
test_escape_cut(void **state)
{
	const char in[] = "a\n\xc3\xa9\xff";	/* a \n é \ufffd: 1+2+2+6 = 11 */
	const char *want[] = { "", "", "a", "a", "a\\n", "a\\n", "a\\n\xc3\xa9",
	    "a\\n\xc3\xa9", "a\\n\xc3\xa9", "a\\n\xc3\xa9", "a\\n\xc3\xa9",
	    "a\\n\xc3\xa9", "a\\n\xc3\xa9\\ufffd" };
	char out[16];

	(void)state;
	assert_int_equal(json_escape(NULL, 0, in, sizeof(in) - 1), 11);
	for (size_t sz = 1; sz <= 12; sz++) {
		memset(out, 'x', sizeof(out));
		assert_int_equal(json_escape(out, sz, in, sizeof(in) - 1), 11);
		if (strcmp(out, want[sz]) != 0)
			fail_msg("size %zu: \"%s\", want \"%s\"", sz, out, want[sz]);
	}
	/* once cut, nothing later is written, even what would fit */
	assert_int_equal(json_escape(out, 4, "\xff" "a", 2), 7);
	assert_string_equal(out, "");
}

/* random bytes: the escape is always valid UTF-8 without a control byte,
 * as long as it says, and the same through the stream */
static void
test_escape_random(void **state)
{
	uint32_t x = 12345;

	(void)state;
	for (int round = 0; round < 20000; round++) {
		char in[24], out[24 * 6 + 1], *mem = NULL;
		size_t len = (size_t)(round % 24), n, memlen = 0;
		FILE *fp;

		for (size_t i = 0; i < len; i++) {
			x = x * 1103515245u + 12345u;
			/* a mix weighted towards bytes that start sequences */
			in[i] = (char)(round & 1 ? (x >> 16) & 0xff :
			    0xc0 | ((x >> 16) & 0x3f));
			if ((x >> 8) % 3 == 0)
				in[i] = (char)(0x80 | ((x >> 20) & 0x3f));
		}
		n = json_escape(out, sizeof(out), in, len);
		assert_int_equal(n, strlen(out));
		for (size_t i = 0; i < n;) {
			unsigned long cp;
			size_t k = json_utf8_char(out + i, n - i, &cp);

			if (k == 0 || cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) ||
			    cp == '"')
				fail_msg("round %d: byte %zu of \"%s\" is not allowed",
				    round, i, out);
			if (cp == '\\')
				k++;	/* its escaped character */
			i += k;
		}
		/* the stream writes the same, quoted (the input without NULs) */
		for (size_t i = 0; i < len; i++)
			if (in[i] == '\0')
				in[i] = 'z';
		in[len] = '\0';
		json_escape(out, sizeof(out), in, len);
		assert_non_null(fp = open_memstream(&mem, &memlen));
		json_fput_string(fp, in);
		fclose(fp);
		assert_int_equal(memlen, strlen(out) + 2);
		assert_memory_equal(mem + 1, out, strlen(out));
		free(mem);
	}
}

static void
test_stream(void **state)
{
	char *mem = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&mem, &len);

	(void)state;
	assert_non_null(fp);
	json_fput_string(fp, "a\"\xc3\xa9\xff\n");
	fputc(' ', fp);
	json_fput_string(fp, NULL);
	fputc(' ', fp);
	json_fput_string(fp, "");
	json_fput_member(fp, ", ", "id", "x\\y");
	json_fput_member(fp, "", "none", NULL);
	fclose(fp);
	assert_string_equal(mem, "\"a\\\"\xc3\xa9\\ufffd\\n\" null \"\", \"id\": "
	    "\"x\\\\y\"\"none\": null");
	free(mem);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape_table),
		cmocka_unit_test(test_utf8_char),
		cmocka_unit_test(test_escape_cut),
		cmocka_unit_test(test_escape_random),
		cmocka_unit_test(test_stream),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
