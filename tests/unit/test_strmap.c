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

/* a replaced entry holds the new key pointer: the old string can go */
static void
test_replace_takes_new_key(void **state)
{
	struct strmap m = { 0 };
	char *old = strdup("mta-sts.example.com"), *new = strdup(old);
	int a, b;

	(void)state;
	assert_int_equal(strmap_put(&m, old, &a), 0);
	assert_int_equal(strmap_put(&m, new, &b), 0);
	memset(old, 'x', strlen(old));	/* would break lookups if still used */
	free(old);
	assert_ptr_equal(strmap_get(&m, "mta-sts.example.com"), &b);
	assert_int_equal(m.n, 1);
	strmap_free(&m);
	free(new);
}

/* a copy answers like the original, and changing one leaves the other */
static void
test_copy_is_independent(void **state)
{
	static const char *letters[] = { "a", "b", "c", "d", "e", "f", "g", "h",
	    "i", "j", "k", "l", "m", "n", "o", "p", "q", "r", "s", "t" };
	struct strmap m = { 0 }, c, empty = { 0 }, c2;
	int x;

	(void)state;
	for (size_t i = 0; i < 20; i++)
		assert_int_equal(strmap_put(&m, letters[i], (void *)letters[i]), 0);
	assert_int_equal(strmap_copy(&c, &m), 0);
	assert_int_equal(c.n, m.n);
	for (size_t i = 0; i < 20; i++)
		assert_ptr_equal(strmap_get(&c, letters[i]), letters[i]);
	assert_non_null(strmap_del(&c, "a"));
	assert_int_equal(strmap_put(&c, "b", &x), 0);
	assert_int_equal(strmap_put(&c, "zz", &x), 0);
	assert_ptr_equal(strmap_get(&m, "a"), letters[0]);
	assert_ptr_equal(strmap_get(&m, "b"), letters[1]);
	assert_null(strmap_get(&m, "zz"));
	assert_null(strmap_get(&c, "a"));
	assert_ptr_equal(strmap_get(&c, "b"), &x);
	assert_int_equal(strmap_copy(&c2, &empty), 0);
	assert_null(strmap_get(&c2, "a"));
	assert_int_equal(strmap_put(&c2, "a", &x), 0);
	assert_ptr_equal(strmap_get(&c2, "a"), &x);
	strmap_free(&c2);
	strmap_free(&c);
	strmap_free(&m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_model),
		cmocka_unit_test(test_replace_and_empty),
		cmocka_unit_test(test_replace_takes_new_key),
		cmocka_unit_test(test_copy_is_independent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
