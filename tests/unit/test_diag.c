/* test_diag.c - collected diagnostics: adding, joining, moving */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "diag.h"

static void
test_add_join(void **state)
{
	struct diag d = { 0 }, e = { 0 };
	char out[64], tiny[12];

	(void)state;
	diag_err(&d, "a.txt", 3, "bad %s", "mode");
	diag_warn(&d, "a.txt", 0, "short max_age");
	diag_err(&d, NULL, 0, "no domain");
	assert_int_equal(d.n, 3);
	assert_int_equal(d.nerrors, 2);
	assert_int_equal(d.nwarnings, 1);
	assert_string_equal(d.v[0].text, "a.txt:3: bad mode");
	assert_string_equal(d.v[1].text, "a.txt: short max_age");
	assert_string_equal(diag_join(&d, DIAG_ERROR, out, sizeof(out)),
	    "a.txt:3: bad mode; no domain");
	assert_string_equal(diag_join(&d, DIAG_WARNING, out, sizeof(out)),
	    "a.txt: short max_age");
	/* cut, still terminated */
	assert_string_equal(diag_join(&d, DIAG_ERROR, tiny, sizeof(tiny)),
	    "a.txt:3: ba");
	/* nothing of that severity: empty */
	assert_string_equal(diag_join(&e, DIAG_ERROR, out, sizeof(out)), "");
	diag_move(&e, &d);
	assert_int_equal(d.n, 0);
	assert_int_equal(e.n, 3);
	assert_int_equal(e.nerrors, 2);
	diag_clear(&e);
	assert_int_equal(e.n, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_join),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
