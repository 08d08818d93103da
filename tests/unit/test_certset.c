/* test_certset.c - the on-disk layouts: which pair a changed file is of, what is watched */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "certset.h"

static char root[64];

/* root/rel as a path */
static const char *
at(const char *rel)
{
	static char buf[4][PATH_MAX];
	static int k;

	k = (k + 1) % 4;
	snprintf(buf[k], sizeof(buf[k]), "%s/%s", root, rel);
	return buf[k];
}

/* make root/rel, and its directories; a trailing '/' makes a directory */
static void
make(const char *rel)
{
	char path[PATH_MAX];
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "%s", at(rel));
	for (char *p = path + strlen(root) + 1; (p = strchr(p, '/')) != NULL; p++) {
		*p = '\0';
		assert_true(mkdir(path, 0700) == 0 || errno == EEXIST);
		*p = '/';
	}
	n = strlen(path);
	if (path[n - 1] == '/')
		return;
	assert_non_null(f = fopen(path, "w"));
	fclose(f);
}

/* the files the tools write, as they name them (contents do not matter:
 * certset_pair_of_path looks only at names and at what exists) */
static const char *const tree[] = {
	/* certbot's live/ (as plain files here), with its README */
	"live/README", "live/a.example/fullchain.pem", "live/a.example/privkey.pem",
	"live/a.example/cert.pem", "live/a.example/chain.pem",
	/* one subdirectory holding two layouts' pairs, and half a pair */
	"live/both/fullchain.pem", "live/both/privkey.pem", "live/both/tls.crt",
	"live/both/tls.key", "live/half/fullchain.pem",
	/* a Kubernetes secret */
	"k8s/s1/tls.crt", "k8s/s1/tls.key", "k8s/s1/ca.crt",
	/* acme.sh's home */
	"acme/account.conf", "acme/acme.sh", "acme/ca/srv/account.key",
	"acme/a.example_ecc/fullchain.cer", "acme/a.example_ecc/a.example.key",
	"acme/a.example_ecc/a.example.cer", "acme/a.example_ecc/ca.cer",
	"acme/a.example_ecc/a.example.conf", "acme/a.example_ecc/backup/",
	"acme/b.example/fullchain.cer", "acme/b.example/b.example.key",
	"acme/*.w.example_ecc/fullchain.cer", "acme/*.w.example_ecc/*.w.example.key",
	/* lego's .lego */
	"lego/accounts/srv/you/keys/you.key", "lego/archives/",
	"lego/certificates/a.example.crt", "lego/certificates/a.example.key",
	"lego/certificates/a.example.issuer.crt", "lego/certificates/a.example.json",
	"lego/certificates/a.example.pem", "lego/certificates/_.w.example.crt",
	"lego/certificates/_.w.example.key", "lego/certificates/c.example.crt",
};

static int
setup(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "/tmp/test_certset.XXXXXX");
	if (mkdtemp(root) == NULL)
		return -1;
	for (size_t i = 0; i < sizeof(tree) / sizeof(tree[0]); i++)
		make(tree[i]);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd) == 0 ? 0 : -1;
}

struct pair_case {
	const char *dir;	/* cert_dir, under root */
	const char *path;	/* the changed file, under root */
	int what;
	const char *cert, *key;	/* the pair there now, under root; NULL: "" */
};

static const struct pair_case pair_cases[] = {
	/* certbot: the pair's files, the other links, README, a new entry */
	{ "live", "live/a.example/fullchain.pem", CERTSET_PATH_PAIR,
	    "live/a.example/fullchain.pem", "live/a.example/privkey.pem" },
	{ "live", "live/a.example/privkey.pem", CERTSET_PATH_PAIR,
	    "live/a.example/fullchain.pem", "live/a.example/privkey.pem" },
	{ "live", "live/a.example/cert.pem", CERTSET_PATH_NONE, NULL, NULL },
	{ "live", "live/a.example/..data", CERTSET_PATH_NONE, NULL, NULL },
	{ "live", "live/README", CERTSET_PATH_NONE, NULL, NULL },
	{ "live", "live/a.example", CERTSET_PATH_ENTRY, NULL, NULL },
	{ "live", "live/gone.example", CERTSET_PATH_ENTRY, NULL, NULL },
	{ "live", "live/.hidden", CERTSET_PATH_NONE, NULL, NULL },
	{ "live", "live/a.example/deeper/x.pem", CERTSET_PATH_NONE, NULL, NULL },
	{ "live", "elsewhere/a.pem", CERTSET_PATH_NONE, NULL, NULL },
	/* one pair per subdirectory: the first layout's, whichever file */
	{ "live", "live/both/tls.crt", CERTSET_PATH_PAIR,
	    "live/both/fullchain.pem", "live/both/privkey.pem" },
	/* half a pair: its place, but no pair there now */
	{ "live", "live/half/fullchain.pem", CERTSET_PATH_PAIR, NULL, NULL },
	{ "live", "live/half/privkey.pem", CERTSET_PATH_PAIR, NULL, NULL },
	/* Kubernetes */
	{ "k8s", "k8s/s1/tls.key", CERTSET_PATH_PAIR, "k8s/s1/tls.crt",
	    "k8s/s1/tls.key" },
	{ "k8s", "k8s/s1/ca.crt", CERTSET_PATH_NONE, NULL, NULL },
	/* acme.sh: fullchain.cer + <name>.key, never <name>.cer or ca.cer */
	{ "acme", "acme/a.example_ecc/fullchain.cer", CERTSET_PATH_PAIR,
	    "acme/a.example_ecc/fullchain.cer", "acme/a.example_ecc/a.example.key" },
	{ "acme", "acme/a.example_ecc/a.example.key", CERTSET_PATH_PAIR,
	    "acme/a.example_ecc/fullchain.cer", "acme/a.example_ecc/a.example.key" },
	{ "acme", "acme/a.example_ecc/a.example.cer", CERTSET_PATH_NONE, NULL, NULL },
	{ "acme", "acme/a.example_ecc/ca.cer", CERTSET_PATH_NONE, NULL, NULL },
	{ "acme", "acme/a.example_ecc/a.example.conf", CERTSET_PATH_NONE, NULL, NULL },
	{ "acme", "acme/b.example/b.example.key", CERTSET_PATH_PAIR,
	    "acme/b.example/fullchain.cer", "acme/b.example/b.example.key" },
	{ "acme", "acme/*.w.example_ecc/fullchain.cer", CERTSET_PATH_PAIR,
	    "acme/*.w.example_ecc/fullchain.cer", "acme/*.w.example_ecc/*.w.example.key" },
	{ "acme", "acme/account.conf", CERTSET_PATH_NONE, NULL, NULL },
	{ "acme", "acme/ca/srv/account.key", CERTSET_PATH_NONE, NULL, NULL },
};

static void
test_pair_of_path(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(pair_cases) / sizeof(pair_cases[0]); i++) {
		const struct pair_case *c = &pair_cases[i];
		char cert[PATH_MAX], key[PATH_MAX];
		struct certkey *old = (struct certkey *)1;
		int what;

		what = certset_pair_of_path(NULL, at(c->dir), at(c->path), &old,
		    cert, key, sizeof(cert));
		if (what != c->what)
			fail_msg("%s in %s: %d, expected %d", c->path, c->dir, what,
			    c->what);
		assert_null(old);	/* no previous set */
		assert_string_equal(cert, c->cert != NULL ? at(c->cert) : "");
		assert_string_equal(key, c->key != NULL ? at(c->key) : "");
	}
}

/* lego's files side by side, in certificates/ as cert_dir and in .lego/ */
static const struct pair_case lego_cases[] = {
	{ "lego/certificates", "lego/certificates/a.example.crt", CERTSET_PATH_PAIR,
	    "lego/certificates/a.example.crt", "lego/certificates/a.example.key" },
	{ "lego/certificates", "lego/certificates/a.example.key", CERTSET_PATH_PAIR,
	    "lego/certificates/a.example.crt", "lego/certificates/a.example.key" },
	{ "lego/certificates", "lego/certificates/_.w.example.crt", CERTSET_PATH_PAIR,
	    "lego/certificates/_.w.example.crt", "lego/certificates/_.w.example.key" },
	{ "lego/certificates", "lego/certificates/a.example.issuer.crt",
	    CERTSET_PATH_NONE, NULL, NULL },
	{ "lego/certificates", "lego/certificates/a.example.json", CERTSET_PATH_NONE,
	    NULL, NULL },
	{ "lego/certificates", "lego/certificates/a.example.pem", CERTSET_PATH_NONE,
	    NULL, NULL },
	/* no key (lego --csr): its place, no pair now */
	{ "lego/certificates", "lego/certificates/c.example.crt", CERTSET_PATH_PAIR,
	    NULL, NULL },
	{ "lego", "lego/certificates/a.example.key", CERTSET_PATH_PAIR,
	    "lego/certificates/a.example.crt", "lego/certificates/a.example.key" },
	{ "lego", "lego/certificates/a.example.issuer.crt", CERTSET_PATH_NONE,
	    NULL, NULL },
	{ "lego", "lego/certificates", CERTSET_PATH_ENTRY, NULL, NULL },
	{ "lego", "lego/accounts/srv/you/keys/you.key", CERTSET_PATH_NONE, NULL, NULL },
};

static void
test_pair_of_path_lego(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(lego_cases) / sizeof(lego_cases[0]); i++) {
		const struct pair_case *c = &lego_cases[i];
		char cert[PATH_MAX], key[PATH_MAX];
		struct certkey *old;
		int what;

		what = certset_pair_of_path(NULL, at(c->dir), at(c->path), &old,
		    cert, key, sizeof(cert));
		if (what != c->what)
			fail_msg("%s in %s: %d, expected %d", c->path, c->dir, what,
			    c->what);
		assert_string_equal(cert, c->cert != NULL ? at(c->cert) : "");
		assert_string_equal(key, c->key != NULL ? at(c->key) : "");
	}
}

struct seen {
	char dirs[32][PATH_MAX];
	size_t n;
};

static void
note_dir(const char *dir, void *arg)
{
	struct seen *s = arg;

	assert_true(s->n < 32);
	snprintf(s->dirs[s->n++], PATH_MAX, "%s", dir);
}

static int
seen_has(const struct seen *s, const char *dir)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->dirs[i], dir) == 0)
			return 1;
	return 0;
}

/* cert_dir and its directories are watched, never a file (README, lego's) */
static void
test_watch_dirs(void **state)
{
	struct seen s = { .n = 0 };

	(void)state;
	certset_watch_dirs(at("live"), note_dir, &s);
	assert_int_equal(s.n, 4);
	assert_true(seen_has(&s, at("live")));
	assert_true(seen_has(&s, at("live/a.example")));
	assert_true(seen_has(&s, at("live/both")));
	assert_true(seen_has(&s, at("live/half")));
	s.n = 0;
	certset_watch_dirs(at("acme"), note_dir, &s);
	assert_int_equal(s.n, 5);	/* ca/ too: any may hold a pair */
	assert_true(seen_has(&s, at("acme/a.example_ecc")));
	assert_true(!seen_has(&s, at("acme/account.conf")));
	s.n = 0;
	certset_watch_dirs(at("lego/certificates"), note_dir, &s);
	assert_int_equal(s.n, 1);
	s.n = 0;
	certset_watch_dirs(at("lego"), note_dir, &s);
	assert_int_equal(s.n, 4);
	assert_true(seen_has(&s, at("lego/certificates")));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pair_of_path),
		cmocka_unit_test(test_pair_of_path_lego),
		cmocka_unit_test(test_watch_dirs),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
