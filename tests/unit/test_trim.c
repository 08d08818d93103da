/* test_trim.c - which /proc/self/maps lines are pages of libraries never called */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "trim.h"

static const char exe[] = "/usr/sbin/mta-stsd";

static int
cand(const char *line)
{
	uintptr_t lo = 0, hi = 0;

	return trim_candidate(line, exe, &lo, &hi);
}

/* GnuTLS, loaded by libmicrohttpd: its read-only and code mappings */
static void
test_unused_library(void **state)
{
	uintptr_t lo = 0, hi = 0;

	(void)state;
	assert_int_equal(trim_candidate("7f1c2a400000-7f1c2a43e000 r--p 00000000 "
	    "fe:01 1835 /usr/lib/x86_64-linux-gnu/libgnutls.so.30.34.3\n", exe,
	    &lo, &hi), 1);
	assert_true(lo == 0x7f1c2a400000u && hi == 0x7f1c2a43e000u);
	assert_int_equal(cand("7f1c2a43e000-7f1c2a55c000 r-xp 0003e000 fe:01 "
	    "1835 /usr/lib/x86_64-linux-gnu/libgnutls.so.30.34.3\n"), 1);
	assert_int_equal(cand("7f00-8f00 r-xp 0 fe:01 77 "
	    "/usr/lib/x86_64-linux-gnu/libp11-kit.so.0.3.0\n"), 1);
}

/* writable data, the executable, the libraries mta-stsd calls, anonymous
 * memory and malformed lines are left alone */
static void
test_kept(void **state)
{
	(void)state;
	assert_int_equal(cand("7f00-8f00 rw-p 00000000 fe:01 1835 "
	    "/usr/lib/x86_64-linux-gnu/libgnutls.so.30.34.3\n"), 0);
	assert_int_equal(cand("7f00-8f00 r-xs 00000000 fe:01 1835 "
	    "/usr/lib/x86_64-linux-gnu/libgnutls.so.30.34.3\n"), 0);
	assert_int_equal(cand("5600-5700 r-xp 00000000 fe:01 9 "
	    "/usr/sbin/mta-stsd\n"), 0);
	assert_int_equal(cand("7f00-8f00 r-xp 00000000 fe:01 10 "
	    "/usr/lib/x86_64-linux-gnu/libc.so.6\n"), 0);
	assert_int_equal(cand("7f00-8f00 r-xp 00000000 fe:01 11 "
	    "/usr/lib/x86_64-linux-gnu/libmicrohttpd.so.12.60.0\n"), 0);
	assert_int_equal(cand("7f00-8f00 r--p 00000000 fe:01 12 "
	    "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2\n"), 0);
	assert_int_equal(cand("7f00-8f00 r--p 00000000 00:00 0 \n"), 0);
	assert_int_equal(cand("7ffd-7ffe r-xp 00000000 00:00 0 [vdso]\n"), 0);
	assert_int_equal(cand("7f00-8f00 r--p 00000000 fe:01 13 "
	    "/usr/share/locale/locale-archive\n"), 0);
	assert_int_equal(cand("garbage\n"), 0);
	assert_int_equal(cand("8f00-7f00 r--p 0 fe:01 1 /lib/libx.so\n"), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unused_library),
		cmocka_unit_test(test_kept),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
