/* test_policy.c - unit tests of policy.c, driven by tests/data/policies/ */
#include <dirent.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "diag.h"
#include "policy.h"

#define MIN_GOOD_FILES 10	/* fewer means the corpus was not found */
#define MIN_BAD_FILES 40

static const char *
data_dir(void)
{
	const char *dir = getenv("TEST_DATA");

	return dir != NULL && *dir != '\0' ? dir : "tests/data";
}

/* whole file into a malloc'd buffer; NULL when it does not exist */
static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0, r;

	if (f == NULL)
		return NULL;
	do {
		if (n == cap) {
			cap = cap ? cap * 2 : 4096;
			buf = realloc(buf, cap + 1);
			assert_non_null(buf);
		}
		r = fread(buf + n, 1, cap - n, f);
		n += r;
	} while (r > 0);
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* sorted names of dir ending in ".txt" */
static char **
list_txt(const char *dir, size_t *count)
{
	DIR *dp = opendir(dir);
	struct dirent *de;
	char **v = NULL;
	size_t n = 0;

	if (dp == NULL)
		fail_msg("cannot open %s: run from the repository root or set "
		    "TEST_DATA", dir);
	while ((de = readdir(dp)) != NULL) {
		size_t l = strlen(de->d_name);

		if (l <= 4 || strcmp(de->d_name + l - 4, ".txt") != 0)
			continue;
		v = realloc(v, (n + 1) * sizeof(*v));
		assert_non_null(v);
		v[n] = strdup(de->d_name);
		assert_non_null(v[n]);
		n++;
	}
	closedir(dp);
	/* insertion sort: a stable order for the messages */
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && strcmp(v[j - 1], v[j]) > 0; j--) {
			char *t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	*count = n;
	return v;
}

static void
free_list(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* path of the companion file: name.txt -> name.ext */
static void
companion(char *out, size_t outsz, const char *dir, const char *name,
    const char *ext)
{
	snprintf(out, outsz, "%s/%.*s.%s", dir, (int)(strlen(name) - 4), name,
	    ext);
}

/* does some message of d with this severity contain needle? */
static int
diag_has(const struct diag *d, int severity, const char *needle)
{
	for (size_t i = 0; i < d->n; i++)
		if ((severity < 0 || (int)d->v[i].severity == severity) &&
		    strstr(d->v[i].text, needle) != NULL)
			return 1;
	return 0;
}

static void
dump(const struct diag *d)
{
	for (size_t i = 0; i < d->n; i++)
		print_message("    %s: %s\n",
		    d->v[i].severity == DIAG_ERROR ? "error" : "warning",
		    d->v[i].text);
}

/* each non-empty line of the file at path must be in a message of d */
static int
expect_lines(const char *path, const struct diag *d, int severity,
    const char *label)
{
	size_t len;
	char *buf = slurp(path, &len), *line, *save = NULL;
	int bad = 0, n = 0;

	if (buf == NULL) {
		print_error("%s: missing %s\n", label, path);
		return 1;
	}
	for (line = strtok_r(buf, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		n++;
		if (!diag_has(d, severity, line)) {
			print_error("%s: no %s contains \"%s\"\n", label,
			    severity == DIAG_ERROR ? "error" : "warning", line);
			bad = 1;
		}
	}
	if (n == 0) {
		print_error("%s: %s expects nothing\n", label, path);
		bad = 1;
	}
	free(buf);
	return bad;
}

/* no line of the file at path, if it exists, may be in any message of d */
static int
forbid_lines(const char *path, const struct diag *d, const char *label)
{
	size_t len;
	char *buf = slurp(path, &len), *line, *save = NULL;
	int bad = 0;

	if (buf == NULL)
		return 0;
	for (line = strtok_r(buf, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (diag_has(d, -1, line)) {
			print_error("%s: a message holds \"%s\", which it must "
			    "never repeat\n", label, line);
			bad = 1;
		}
	}
	free(buf);
	return bad;
}

static int
id_ok(const char *id)
{
	if (strlen(id) != POLICY_ID_LEN)
		return 0;
	for (const char *s = id; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '2' && *s <= '7')))
			return 0;
	return 1;
}

static int
policy_is_empty(const struct policy *p)
{
	return p->mx == NULL && p->nmx == 0 && p->ext == NULL &&
	    p->next == 0 && p->text == NULL && p->text_len == 0 &&
	    p->id[0] == '\0';
}

/* good policies parse, render their .norm and warn as their .warn says */
static void
test_good_corpus(void **state)
{
	char dir[512], path[1024], comp[1024];
	size_t n, i;
	char **names;
	int failures = 0;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/policies/good", data_dir());
	names = list_txt(dir, &n);
	assert_true(n >= MIN_GOOD_FILES);

	for (i = 0; i < n; i++) {
		struct policy p, again;
		struct diag d = { 0 }, d2 = { 0 };
		size_t len, nlen;
		char *buf, *norm;
		int bad = 0;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		buf = slurp(path, &len);
		assert_non_null(buf);
		companion(comp, sizeof(comp), dir, names[i], "norm");
		norm = slurp(comp, &nlen);

		if (policy_parse(buf, len, path, &p, &d) != 0 ||
		    d.nerrors != 0) {
			print_error("%s: refused\n", names[i]);
			bad = 1;
		} else if (norm == NULL) {
			print_error("%s: missing %s\n", names[i], comp);
			bad = 1;
		} else if (p.text_len != nlen ||
		    memcmp(p.text, norm, nlen) != 0 ||
		    strlen(p.text) != p.text_len) {
			print_error("%s: normalised text differs from "
			    "%s:\n%s\n", names[i], comp, p.text);
			bad = 1;
		} else if (!id_ok(p.id)) {
			print_error("%s: bad id \"%s\"\n", names[i], p.id);
			bad = 1;
		} else {
			/* normalising is idempotent and keeps the id */
			if (policy_parse(p.text, p.text_len, "again", &again,
			    &d2) != 0 || again.text_len != p.text_len ||
			    memcmp(again.text, p.text, p.text_len) != 0 ||
			    strcmp(again.id, p.id) != 0) {
				print_error("%s: re-parsing the normalised "
				    "text changes it\n", names[i]);
				bad = 1;
			}
			policy_free(&again);
		}

		companion(comp, sizeof(comp), dir, names[i], "warn");
		{
			size_t wlen;
			char *w = slurp(comp, &wlen);

			if (w != NULL)
				bad |= expect_lines(comp, &d, DIAG_WARNING,
				    names[i]);
			else if (d.nwarnings != 0) {
				print_error("%s: unexpected warning (add a "
				    ".warn file if it is meant)\n", names[i]);
				bad = 1;
			}
			free(w);
		}
		if (bad) {
			dump(&d);
			failures++;
		}
		policy_free(&p);
		diag_clear(&d);
		diag_clear(&d2);
		free(norm);
		free(buf);
	}
	print_message("    %zu good policies checked\n", n);
	free_list(names, n);
	if (failures != 0)
		fail_msg("%d of %zu good policies failed", failures, n);
}

/* every bad policy is refused with the messages its .expect lists, and
 * none of them holds a line of its .forbid */
static void
test_bad_corpus(void **state)
{
	char dir[512], path[1024], comp[1024];
	size_t n, i;
	char **names;
	int failures = 0;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/policies/bad", data_dir());
	names = list_txt(dir, &n);
	assert_true(n >= MIN_BAD_FILES);

	for (i = 0; i < n; i++) {
		struct policy p;
		struct diag d = { 0 };
		size_t len;
		char *buf;
		int bad = 0;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		buf = slurp(path, &len);
		assert_non_null(buf);
		if (policy_parse(buf, len, path, &p, &d) != -1 ||
		    d.nerrors == 0) {
			print_error("%s: accepted\n", names[i]);
			bad = 1;
		}
		if (!policy_is_empty(&p)) {
			print_error("%s: policy not left empty\n", names[i]);
			bad = 1;
		}
		/* every message names the file */
		for (size_t j = 0; j < d.n; j++)
			if (strncmp(d.v[j].text, path, strlen(path)) != 0) {
				print_error("%s: message without file name: "
				    "%s\n", names[i], d.v[j].text);
				bad = 1;
			}
		companion(comp, sizeof(comp), dir, names[i], "expect");
		bad |= expect_lines(comp, &d, DIAG_ERROR, names[i]);
		/* bytes of the file no message may echo (secrets) */
		companion(comp, sizeof(comp), dir, names[i], "forbid");
		bad |= forbid_lines(comp, &d, names[i]);
		if (bad) {
			dump(&d);
			failures++;
		}
		policy_free(&p);
		diag_clear(&d);
		free(buf);
	}
	print_message("    %zu bad policies checked\n", n);
	free_list(names, n);
	if (failures != 0)
		fail_msg("%d of %zu bad policies failed", failures, n);
}

/* a buffer of exactly len bytes: a valid policy padded by an extension */
static char *
policy_of_size(size_t len, const char *eol)
{
	char head[256], *buf;
	size_t hlen, pad;
	int n;

	n = snprintf(head, sizeof(head), "version: STSv1%smode: testing%s"
	    "mx: mail.example.com%smax_age: 604800%sx-pad: ", eol, eol, eol,
	    eol);
	hlen = (size_t)n;
	assert_true(len > hlen + strlen(eol) + 1);
	pad = len - hlen - strlen(eol);
	buf = malloc(len + 1);
	assert_non_null(buf);
	memcpy(buf, head, hlen);
	memset(buf + hlen, 'a', pad);
	memcpy(buf + hlen + pad, eol, strlen(eol));
	buf[len] = '\0';
	return buf;
}

/* 64,000 bytes pass, 64,001 do not; the CRLF rendering counts too */
static void
test_size_limit(void **state)
{
	struct policy p;
	struct diag d = { 0 };
	char *buf;

	(void)state;
	buf = policy_of_size(POLICY_MAX_BYTES, "\r\n");
	assert_int_equal(policy_parse(buf, POLICY_MAX_BYTES, "big", &p, &d), 0);
	assert_int_equal(p.text_len, POLICY_MAX_BYTES);
	assert_memory_equal(p.text, buf, POLICY_MAX_BYTES);
	policy_free(&p);
	diag_clear(&d);
	free(buf);

	buf = policy_of_size(POLICY_MAX_BYTES + 1, "\r\n");
	assert_int_equal(policy_parse(buf, POLICY_MAX_BYTES + 1, "big", &p,
	    &d), -1);
	assert_int_equal(d.nerrors, 1);
	assert_string_equal(d.v[0].text, "big: policy is 64001 bytes; senders "
	    "refuse more than 64000: shorten it");
	assert_true(policy_is_empty(&p));
	diag_clear(&d);
	free(buf);

	/* LF input under the limit whose CRLF rendering is over it */
	buf = policy_of_size(POLICY_MAX_BYTES - 2, "\n");
	assert_int_equal(policy_parse(buf, POLICY_MAX_BYTES - 2, "big", &p,
	    &d), -1);
	assert_int_equal(d.nerrors, 1);
	assert_true(diag_has(&d, DIAG_ERROR, "with CRLF line endings) would "
	    "be 64003 bytes"));
	assert_true(policy_is_empty(&p));
	diag_clear(&d);
	free(buf);
}

/* a file of nothing but problems stops after a bounded number of messages */
static void
test_too_many_problems(void **state)
{
	struct policy p;
	struct diag d = { 0 };
	char buf[1000];

	(void)state;
	memset(buf, '\n', sizeof(buf));
	assert_int_equal(policy_parse(buf, sizeof(buf), "f", &p, &d), -1);
	assert_int_equal(d.n, 101);
	assert_string_equal(d.v[0].text, "f:1: blank line: several senders "
	    "refuse a policy with blank lines; remove it");
	assert_string_equal(d.v[99].text, "f:100: blank line: several senders "
	    "refuse a policy with blank lines; remove it");
	assert_non_null(strstr(d.v[100].text, "f:101: too many problems"));
	diag_clear(&d);
}

/* exact wording of a few messages other code and docs rely on */
static void
test_message_format(void **state)
{
	static const char text[] = "version: STSv1\nmode: enforced\n"
	    "mx: mail.example.com\nmax_age: 604800\n";
	struct policy p;
	struct diag d = { 0 };

	(void)state;
	assert_int_equal(policy_parse(text, strlen(text),
	    "policies/example.com.txt", &p, &d), -1);
	assert_int_equal(d.n, 1);
	assert_int_equal(d.v[0].severity, DIAG_ERROR);
	assert_string_equal(d.v[0].text, "policies/example.com.txt:2: mode "
	    "\"enforced\" is not one of enforce, testing, none");
	diag_clear(&d);

	/* file NULL: the message has no prefix; missing fields have no line */
	assert_int_equal(policy_parse("mode: none\n", 11, NULL, &p, &d), -1);
	assert_true(diag_has(&d, DIAG_ERROR, "no version field"));
	assert_int_equal(strncmp(d.v[0].text, "no ", 3), 0);
	assert_true(diag_has(&d, DIAG_WARNING, "mode is none"));
	diag_clear(&d);

	/* non-printable bytes are never quoted: their column is given */
	assert_int_equal(policy_parse("mode: \x01x\n", 9, "f", &p, &d), -1);
	assert_true(diag_has(&d, DIAG_ERROR, "f:1: control character at "
	    "column 7"));
	diag_clear(&d);
	assert_int_equal(policy_parse("mo\x01: x\n", 7, "f", &p, &d), -1);
	assert_true(diag_has(&d, DIAG_ERROR, "f:1: field name is not valid: "
	    "character 3 is not"));
	assert_false(diag_has(&d, -1, "mo\x01"));
	assert_false(diag_has(&d, -1, "mo\\x01"));
	diag_clear(&d);

	/* a known field's value is quoted only while it is a short token */
	assert_int_equal(policy_parse("mode: x\"y\n", 10, "f", &p, &d), -1);
	assert_true(diag_has(&d, DIAG_ERROR, "f:1: mode (3 bytes, not shown) "
	    "is not one of"));
	diag_clear(&d);
	{
		char line[128];
		int n = snprintf(line, sizeof(line), "version: %0*d\n",
		    DIAG_TOKEN_MAX + 1, 7);

		assert_int_equal(policy_parse(line, (size_t)n, "f", &p, &d), -1);
		assert_true(diag_has(&d, DIAG_ERROR, "f:1: version (49 bytes, "
		    "not shown) is not STSv1"));
		diag_clear(&d);
		n = snprintf(line, sizeof(line), "version: %0*d\n",
		    DIAG_TOKEN_MAX, 7);
		assert_int_equal(policy_parse(line, (size_t)n, "f", &p, &d), -1);
		assert_true(diag_has(&d, DIAG_ERROR, "f:1: version \"0000"));
		diag_clear(&d);
	}
}

/* an embedded NUL does not end the input early */
static void
test_nul_inside(void **state)
{
	static const char text[] = "version: STSv1\nmode: enforce\n"
	    "mx: mail.example.com\nmax_age: 604800\nx: a\0b\n";
	struct policy p;
	struct diag d = { 0 };

	(void)state;
	assert_int_equal(policy_parse(text, sizeof(text) - 1, "f", &p, &d), -1);
	assert_int_equal(d.nerrors, 1);
	assert_string_equal(d.v[0].text, "f:5: NUL byte at column 5: a policy "
	    "is plain ASCII text");
	diag_clear(&d);
}

/* the id: base32 of SHA-256 of the normalised text, 20 characters */
static void
test_id(void **state)
{
	static const char crlf[] = "version: STSv1\r\nmode: enforce\r\n"
	    "mx: mail.example.com\r\nmax_age: 604800\r\n";
	static const char lf_reordered[] = "max_age: 604800\n"
	    "mx: MAIL.example.com\nmode:\tenforce\nversion: STSv1";
	static const char changed[] = "version: STSv1\r\nmode: enforce\r\n"
	    "mx: mail.example.com\r\nmax_age: 604801\r\n";
	struct policy a, b, c;
	struct diag d = { 0 };

	(void)state;
	assert_int_equal(policy_parse(crlf, strlen(crlf), "a", &a, &d), 0);
	assert_int_equal(policy_parse(lf_reordered, strlen(lf_reordered), "b",
	    &b, &d), 0);
	assert_int_equal(policy_parse(changed, strlen(changed), "c", &c, &d),
	    0);
	assert_int_equal(d.n, 0);

	/* known answer, computed independently with Python's hashlib/base64 */
	assert_string_equal(a.id, "uwldwmnaqjrvy3wgnalr");
	assert_true(id_ok(a.id));
	assert_string_equal(a.id, b.id);	/* same normalised text */
	assert_string_equal(a.text, b.text);
	assert_string_not_equal(a.id, c.id);	/* any change: a new id */
	assert_true(id_ok(c.id));

	policy_free(&a);
	policy_free(&b);
	policy_free(&c);
}

/* the parsed fields and the mode names */
static void
test_fields(void **state)
{
	static const char text[] = "version: STSv1\nmode: testing\n"
	    "mx: mail.example.com\nmx: *.mx.Example.NET\nmax_age: 604800\n"
	    "x-a: 1\nx-b: two words\n";
	struct policy p;
	struct diag d = { 0 };

	(void)state;
	assert_int_equal(policy_parse(text, strlen(text), "f", &p, &d), 0);
	assert_int_equal(p.mode, POLICY_MODE_TESTING);
	assert_int_equal(p.max_age, 604800);
	assert_int_equal(p.nmx, 2);
	assert_string_equal(p.mx[0], "mail.example.com");
	assert_string_equal(p.mx[1], "*.mx.example.net");
	assert_int_equal(p.next, 2);
	assert_string_equal(p.ext[0].name, "x-a");
	assert_string_equal(p.ext[0].value, "1");
	assert_string_equal(p.ext[1].name, "x-b");
	assert_string_equal(p.ext[1].value, "two words");

	assert_true(policy_mx_covers(&p, "mail.example.com"));
	assert_true(policy_mx_covers(&p, "a.mx.example.net"));
	assert_false(policy_mx_covers(&p, "mx.example.net"));
	assert_false(policy_mx_covers(&p, "a.b.mx.example.net"));
	assert_false(policy_mx_covers(&p, "mail.example.org"));
	assert_false(policy_mx_covers(&p, ""));
	policy_free(&p);
	assert_false(policy_mx_covers(&p, "mail.example.com"));

	assert_string_equal(policy_mode_name(POLICY_MODE_ENFORCE), "enforce");
	assert_string_equal(policy_mode_name(POLICY_MODE_TESTING), "testing");
	assert_string_equal(policy_mode_name(POLICY_MODE_NONE), "none");
	diag_clear(&d);
}

/* policy_free on zeroed, freed and refused policies; one diag, many parses */
static void
test_free_idempotent(void **state)
{
	static const char good[] = "version: STSv1\nmode: enforce\n"
	    "mx: a.example.com\nmax_age: 604800\nx: y\n";
	static const char bad[] = "version: STSv1\nmode: enforce\n"
	    "mx: a.example.com\nmx: b.example.com\nmax_age: 604800\nx: y\n"
	    "x: z\n";
	struct policy p = { 0 };
	struct diag d = { 0 };

	(void)state;
	policy_free(&p);
	policy_free(NULL);
	assert_int_equal(policy_parse(good, strlen(good), "f", &p, &d), 0);
	policy_free(&p);
	assert_true(policy_is_empty(&p));
	policy_free(&p);

	/* a refusal after mx and extensions were collected frees them */
	assert_int_equal(policy_parse(bad, strlen(bad), "g", &p, &d), -1);
	assert_true(policy_is_empty(&p));
	policy_free(&p);
	assert_int_equal(d.nerrors, 1);
	assert_string_equal(d.v[0].text, "g:7: duplicate field \"x\" (first on "
	    "line 6): senders disagree on which one counts; keep one");
	diag_clear(&d);
}

/* the policy shipped in policies/ is valid and in testing mode */
static void
test_shipped_example(void **state)
{
	struct policy p;
	struct diag d = { 0 };
	size_t len;
	char *buf;

	(void)state;
	buf = slurp("policies/example.com.txt", &len);
	if (buf == NULL) {
		print_message("    skipped: policies/example.com.txt not found "
		    "(run from the repository root)\n");
		skip();
	}
	assert_int_equal(policy_parse(buf, len, "policies/example.com.txt", &p,
	    &d), 0);
	assert_int_equal(d.n, 0);
	assert_int_equal(p.mode, POLICY_MODE_TESTING);
	assert_true(policy_mx_covers(&p, "mail.example.com"));
	assert_true(policy_mx_covers(&p, "mx1.mx.example.net"));
	assert_string_equal(p.id, "5b76rnrhuhop7omx733f");
	policy_free(&p);
	free(buf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_corpus),
		cmocka_unit_test(test_bad_corpus),
		cmocka_unit_test(test_size_limit),
		cmocka_unit_test(test_too_many_problems),
		cmocka_unit_test(test_message_format),
		cmocka_unit_test(test_nul_inside),
		cmocka_unit_test(test_id),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_free_idempotent),
		cmocka_unit_test(test_shipped_example),
	};

	return cmocka_run_group_tests_name("policy", tests, NULL, NULL);
}
