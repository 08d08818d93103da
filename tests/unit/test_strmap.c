/* test_strmap.c - the hash map: insert, replace, delete, growth */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "strmap.h"

#define N 5000

static char keys[N][24];

/* against a plain array model: every key present exactly when it should be */
static void
test_model(void **state)
{
	struct strmap m = { 0 };
	int present[N] = { 0 };
	unsigned seed = 12345;

	(void)state;
	for (int i = 0; i < N; i++)
		snprintf(keys[i], sizeof(keys[i]), "d%d.example", i);
	for (int round = 0; round < 60000; round++) {
		int k;

		seed = seed * 1103515245u + 12345u;
		k = (int)((seed >> 8) % N);
		if ((seed >> 4) % 3 == 0) {
			void *v = strmap_del(&m, keys[k]);

			assert_true(present[k] ? v == &keys[k] : v == NULL);
			present[k] = 0;
		} else {
			assert_int_equal(strmap_put(&m, keys[k], &keys[k]), 0);
			present[k] = 1;
		}
	}
	size_t count = 0;
	for (int i = 0; i < N; i++) {
		void *v = strmap_get(&m, keys[i]);

		assert_true(present[i] ? v == &keys[i] : v == NULL);
		count += (size_t)present[i];
	}
	assert_int_equal(m.n, count);
	strmap_free(&m);
}

static void
test_replace_and_empty(void **state)
{
	struct strmap m = { 0 };
	int a, b;

	(void)state;
	assert_null(strmap_get(&m, "x"));
	assert_null(strmap_del(&m, "x"));
	assert_int_equal(strmap_put(&m, "x", &a), 0);
	assert_int_equal(strmap_put(&m, "x", &b), 0);
	assert_ptr_equal(strmap_get(&m, "x"), &b);
	assert_int_equal(m.n, 1);
	assert_ptr_equal(strmap_del(&m, "x"), &b);
	assert_int_equal(m.n, 0);
	assert_null(strmap_get(&m, "x"));
	strmap_free(&m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_model),
		cmocka_unit_test(test_replace_and_empty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
