/* test_metrics.c - Prometheus label values: the format's escapes, UTF-8 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "metrics.h"
#include "snapshot.h"

/* metrics.c keeps a reference to the served snapshot; none is served here */
struct snapshot *
snapshot_ref(struct snapshot *s)
{
	return s;
}

void
snapshot_unref(struct snapshot *s)
{
	(void)s;
}

static void
test_label(void **state)
{
	static const struct {
		const char *in, *want;
	} rows[] = {
		{ "example.com", "example.com" },
		{ "", "" },
		{ "a\\b\"c\nd", "a\\\\b\\\"c\\nd" },	/* the format's three escapes */
		{ "tab\there", "tab\there" },		/* nothing else is escaped */
		{ "caf\xc3\xa9", "caf\xc3\xa9" },	/* UTF-8 as it is */
		{ "x\xffy", "x\xef\xbf\xbdy" },		/* not UTF-8: U+FFFD */
		{ "\xe2\x82", "\xef\xbf\xbd\xef\xbf\xbd" },
	};
	char out[64], tiny[4];

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		assert_string_equal(metrics_label(out, sizeof(out), rows[i].in),
		    rows[i].want);
	/* cut between characters, never inside an escape or a character */
	assert_string_equal(metrics_label(tiny, sizeof(tiny), "ab\"c"), "ab");
	assert_string_equal(metrics_label(tiny, sizeof(tiny), "a\xc3\xa9z"),
	    "a\xc3\xa9");
	assert_string_equal(metrics_label(tiny, sizeof(tiny), "a\xff"), "a");
}

/* the rendering: every series line is name{labels} value, quotes balanced */
static void
test_render(void **state)
{
	size_t len;
	char *text = metrics_render(1, &len), *line, *save = NULL;

	(void)state;
	assert_non_null(text);
	assert_int_equal(strlen(text), len);
	assert_non_null(strstr(text, "mta_stsd_build_info{version=\""));
	for (line = strtok_r(text, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		size_t quotes = 0;

		if (line[0] == '#')
			continue;
		for (const char *p = line; *p != '\0'; p++)
			if (*p == '\\')
				p++;
			else if (*p == '"')
				quotes++;
		if (quotes % 2 != 0)
			fail_msg("unbalanced quotes: %s", line);
	}
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_label),
		cmocka_unit_test(test_render),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
