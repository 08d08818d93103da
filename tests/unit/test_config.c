/* test_config.c - config_load over the files in tests/data/config/{good,bad} */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <glob.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "diag.h"

static char data_dir[1024];	/* tests/data/config, or $TEST_DATA */
static char cwd[1024];

static const char *
data_path(const char *rel)
{
	static char buf[4096];

	snprintf(buf, sizeof(buf), "%s/%s", data_dir, rel);
	return buf;
}

/* The absolute directory data_dir/sub, as config.c computes it. */
static const char *
abs_dir(const char *sub)
{
	static char buf[4096];

	if (data_dir[0] == '/')
		snprintf(buf, sizeof(buf), "%s/%s", data_dir, sub);
	else
		snprintf(buf, sizeof(buf), "%s/%s/%s", cwd, data_dir, sub);
	return buf;
}

static void
diag_print(const struct diag *d)
{
	for (size_t i = 0; i < d->n; i++)
		print_message("    %s\n", d->v[i].text);
}

static int
diag_contains(const struct diag *d, const char *needle)
{
	for (size_t i = 0; i < d->n; i++)
		if (strstr(d->v[i].text, needle) != NULL)
			return 1;
	return 0;
}

static int
config_is_zero(const struct config *cfg)
{
	static const struct config zero;

	return memcmp(cfg, &zero, sizeof(zero)) == 0;
}

/* Load a good file, failing the test with its diagnostics if it has errors. */
static void
load_good(const char *path, struct config *cfg)
{
	struct diag d = { 0 };
	int r = config_load(path, cfg, &d);

	if (r != 0 || d.nerrors != 0) {
		print_message("%s:\n", path);
		diag_print(&d);
		diag_clear(&d);
		fail_msg("%s should load without error", path);
	}
	diag_clear(&d);
}

static void
check_listen(const struct listen_addr *la, int family, const char *addr,
    unsigned port, const char *text)
{
	char got[INET6_ADDRSTRLEN];

	assert_string_equal(la->text, text);
	assert_int_equal(la->ss.ss_family, family);
	if (family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)&la->ss;
		assert_int_equal(la->len, sizeof(*sin));
		assert_int_equal(ntohs(sin->sin_port), port);
		inet_ntop(AF_INET, &sin->sin_addr, got, sizeof(got));
	} else {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&la->ss;
		assert_int_equal(la->len, sizeof(*sin6));
		assert_int_equal(ntohs(sin6->sin6_port), port);
		inet_ntop(AF_INET6, &sin6->sin6_addr, got, sizeof(got));
	}
	assert_string_equal(got, addr);
}

/* ---- table-driven: every file in good/ loads, every file in bad/ fails ---- */

static void
test_good_files(void **state)
{
	glob_t g;
	char pattern[8192];

	(void)state;
	snprintf(pattern, sizeof(pattern), "%s/good/*.conf", data_dir);
	assert_int_equal(glob(pattern, 0, NULL, &g), 0);
	assert_true(g.gl_pathc >= 5);
	for (size_t i = 0; i < g.gl_pathc; i++) {
		struct config cfg;
		load_good(g.gl_pathv[i], &cfg);
		assert_non_null(cfg.path);
		assert_non_null(cfg.dir);
		assert_true(cfg.dir[0] == '/');
		assert_true(cfg.nlisten >= 1);
		assert_non_null(cfg.policy_dir);
		assert_non_null(cfg.access_log);
		config_free(&cfg);
		assert_true(config_is_zero(&cfg));
	}
	globfree(&g);
}

/*
 * Every bad/X.conf must fail, leave the config zeroed, and produce every
 * line of bad/X.expect as a substring of some diagnostic, and none of
 * bad/X.forbid.
 */
static void
test_bad_files(void **state)
{
	glob_t g;
	char pattern[8192];

	(void)state;
	snprintf(pattern, sizeof(pattern), "%s/bad/*.conf", data_dir);
	assert_int_equal(glob(pattern, 0, NULL, &g), 0);
	assert_true(g.gl_pathc >= 15);
	for (size_t i = 0; i < g.gl_pathc; i++) {
		const char *conf = g.gl_pathv[i];
		char expect[8192], line[1024];
		struct config cfg;
		struct diag d = { 0 };
		FILE *f;
		int r, nexp = 0;

		memset(&cfg, 0xa5, sizeof(cfg));
		r = config_load(conf, &cfg, &d);
		if (r != -1 || d.nerrors == 0) {
			diag_print(&d);
			fail_msg("%s should fail to load", conf);
		}
		assert_true(config_is_zero(&cfg));

		snprintf(expect, sizeof(expect), "%.*s.expect",
		    (int)(strlen(conf) - strlen(".conf")), conf);
		if ((f = fopen(expect, "r")) == NULL)
			fail_msg("%s has no %s", conf, expect);
		while (fgets(line, sizeof(line), f) != NULL) {
			line[strcspn(line, "\n")] = '\0';
			if (line[0] == '\0')
				continue;
			nexp++;
			if (!diag_contains(&d, line)) {
				print_message("%s: diagnostics were:\n", conf);
				diag_print(&d);
				fclose(f);
				fail_msg("%s: no diagnostic contains \"%s\"", conf, line);
			}
			/* every message is "file:line: ..." for this very file */
		}
		fclose(f);
		assert_true(nexp > 0);
		for (size_t j = 0; j < d.n; j++)
			assert_true(strncmp(d.v[j].text, conf, strlen(conf)) == 0);

		/* bad/X.forbid, if there is one: bytes of the file (secrets)
		 * no diagnostic may repeat */
		snprintf(expect, sizeof(expect), "%.*s.forbid",
		    (int)(strlen(conf) - strlen(".conf")), conf);
		if ((f = fopen(expect, "r")) != NULL) {
			while (fgets(line, sizeof(line), f) != NULL) {
				line[strcspn(line, "\n")] = '\0';
				if (line[0] == '\0' || !diag_contains(&d, line))
					continue;
				print_message("%s: diagnostics were:\n", conf);
				diag_print(&d);
				fclose(f);
				fail_msg("%s: a diagnostic repeats \"%s\"", conf, line);
			}
			fclose(f);
		}
		diag_clear(&d);
	}
	globfree(&g);
}

/* ---- what particular good files mean ---- */

static void
test_defaults(void **state)
{
	struct config cfg;
	char want[8192];

	(void)state;
	load_good(data_path("good/minimal.conf"), &cfg);
	assert_int_equal(cfg.nlisten, 2);
	check_listen(&cfg.listen[0], AF_INET, "0.0.0.0", 443, "0.0.0.0:443");
	check_listen(&cfg.listen[1], AF_INET6, "::", 443, "[::]:443");
	assert_int_equal(cfg.listen[0].line, 0);
	assert_string_equal(cfg.dir, abs_dir("good"));
	snprintf(want, sizeof(want), "%s/policies", abs_dir("good"));
	assert_string_equal(cfg.policy_dir, want);
	assert_null(cfg.cert_dir);
	assert_null(cfg.user);
	assert_null(cfg.group);
	assert_null(cfg.default_domain);
	assert_int_equal(cfg.handshake_timeout, 10);
	assert_int_equal(cfg.idle_timeout, 30);
	assert_int_equal(cfg.max_connections, 1024);
	assert_int_equal(cfg.log_level, LOG_LEVEL_INFO);
	assert_string_equal(cfg.access_log, "stderr");
	assert_null(cfg.default_certs[0].cert);
	assert_int_equal(cfg.ndomains, 0);
	assert_null(config_find_domain(&cfg, "example.com"));
	config_free(&cfg);
}

static void
test_full(void **state)
{
	struct config cfg;
	const struct domain_conf *dc;
	char want[8192];
	const char *dir;

	(void)state;
	load_good(data_path("good/full.conf"), &cfg);
	dir = abs_dir("good");
	assert_int_equal(cfg.nlisten, 2);
	check_listen(&cfg.listen[0], AF_INET, "127.0.0.1", 8443, "127.0.0.1:8443");
	check_listen(&cfg.listen[1], AF_INET6, "::1", 8443, "[::1]:8443");
	assert_int_equal(cfg.listen[0].line, 3);
	assert_int_equal(cfg.listen[1].line, 4);
	assert_string_equal(cfg.user, "mta-stsd");
	assert_string_equal(cfg.group, "nogroup");
	snprintf(want, sizeof(want), "%s/pol", dir);
	assert_string_equal(cfg.policy_dir, want);
	assert_string_equal(cfg.cert_dir, "/etc/letsencrypt/live");
	assert_string_equal(cfg.default_domain, "example.com");
	assert_int_equal(cfg.handshake_timeout, 300);
	assert_int_equal(cfg.idle_timeout, 3600);
	assert_int_equal(cfg.max_connections, 1000000);
	assert_int_equal(cfg.log_level, LOG_LEVEL_DEBUG);
	snprintf(want, sizeof(want), "%s/logs/access.log", dir);
	assert_string_equal(cfg.access_log, want);

	snprintf(want, sizeof(want), "%s/certs/fullchain.pem", dir);
	assert_string_equal(cfg.default_certs[0].cert, want);
	snprintf(want, sizeof(want), "%s/certs/privkey.pem", dir);
	assert_string_equal(cfg.default_certs[0].key, want);
	snprintf(want, sizeof(want), "%s/certs/rsa/fullchain.pem", dir);
	assert_string_equal(cfg.default_certs[1].cert, want);
	snprintf(want, sizeof(want), "%s/certs/rsa/privkey.pem", dir);
	assert_string_equal(cfg.default_certs[1].key, want);

	assert_int_equal(cfg.ndomains, 2);
	dc = config_find_domain(&cfg, "example.com");
	assert_ptr_equal(dc, &cfg.domains[0]);
	assert_int_equal(dc->line, 22);
	snprintf(want, sizeof(want), "%s/policies/example.com.txt", dir);
	assert_string_equal(dc->policy, want);
	snprintf(want, sizeof(want), "%s/certs/example.com/fullchain.pem", dir);
	assert_string_equal(dc->certs[0].cert, want);
	snprintf(want, sizeof(want), "%s/certs/example.com/privkey.pem", dir);
	assert_string_equal(dc->certs[0].key, want);
	assert_string_equal(dc->certs[1].cert, "/abs/rsa.pem");
	assert_string_equal(dc->certs[1].key, "/abs/rsa.key");

	/* [Example.NET]: lower-cased, no keys: everything from defaults */
	dc = config_find_domain(&cfg, "example.net");
	assert_ptr_equal(dc, &cfg.domains[1]);
	assert_string_equal(dc->name, "example.net");
	assert_int_equal(dc->line, 29);
	assert_null(dc->policy);
	assert_null(dc->certs[0].cert);
	assert_null(dc->certs[0].key);
	assert_null(dc->certs[1].cert);
	assert_null(config_find_domain(&cfg, "Example.NET"));
	assert_null(config_find_domain(&cfg, "example.org"));
	config_free(&cfg);
}

static void
test_listen_forms(void **state)
{
	struct config cfg;

	(void)state;
	load_good(data_path("good/listen_forms.conf"), &cfg);
	assert_int_equal(cfg.nlisten, 11);
	check_listen(&cfg.listen[0], AF_INET, "192.0.2.1", 8443, "192.0.2.1:8443");
	check_listen(&cfg.listen[1], AF_INET, "192.0.2.2", 443, "192.0.2.2:443");
	check_listen(&cfg.listen[2], AF_INET6, "2001:db8::1", 8443, "[2001:db8::1]:8443");
	check_listen(&cfg.listen[3], AF_INET6, "2001:db8::2", 443, "[2001:db8::2]:443");
	check_listen(&cfg.listen[4], AF_INET, "0.0.0.0", 8444, "0.0.0.0:8444");
	check_listen(&cfg.listen[5], AF_INET6, "::", 8444, "[::]:8444");
	check_listen(&cfg.listen[6], AF_INET, "0.0.0.0", 8445, "0.0.0.0:8445");
	check_listen(&cfg.listen[7], AF_INET6, "::", 8445, "[::]:8445");
	check_listen(&cfg.listen[8], AF_INET, "198.51.100.1", 1, "198.51.100.1:1");
	check_listen(&cfg.listen[9], AF_INET6, "::1", 65535, "[::1]:65535");
	check_listen(&cfg.listen[10], AF_INET, "198.51.100.2", 80, "198.51.100.2:80");
	assert_int_equal(cfg.listen[0].line, 2);
	assert_int_equal(cfg.listen[10].line, 8);
	config_free(&cfg);

	load_good(data_path("good/listen_star.conf"), &cfg);
	assert_int_equal(cfg.nlisten, 2);
	check_listen(&cfg.listen[0], AF_INET, "0.0.0.0", 443, "0.0.0.0:443");
	check_listen(&cfg.listen[1], AF_INET6, "::", 443, "[::]:443");
	assert_int_equal(cfg.listen[1].line, 2);
	config_free(&cfg);
}

/* BOM, CRLF, comments, "key: value", indentation, inline ";" rules */
static void
test_syntax(void **state)
{
	struct config cfg;
	char want[8192];

	(void)state;
	load_good(data_path("good/syntax.conf"), &cfg);
	assert_string_equal(cfg.user, "mta-stsd");
	assert_string_equal(cfg.group, "mta;sts");	/* no blank before ";" */
	assert_int_equal(cfg.log_level, LOG_LEVEL_WARN);
	assert_string_equal(cfg.access_log, "off");
	snprintf(want, sizeof(want), "%s/a # b.pem", abs_dir("good"));
	assert_string_equal(cfg.default_certs[0].cert, want);	/* "#" inline is text */
	assert_int_equal(cfg.ndomains, 1);
	assert_string_equal(cfg.domains[0].name, "example.org");
	assert_int_equal(cfg.domains[0].line, 13);
	config_free(&cfg);
}

/* a 200-byte line is allowed even though inih's buffer holds 199 bytes */
static void
test_line_200(void **state)
{
	struct config cfg;
	char want[256];

	(void)state;
	load_good(data_path("good/line200.conf"), &cfg);
	assert_int_equal(cfg.ndomains, 2);
	memset(want, 'p', sizeof(want));
	want[0] = '/';
	want[193] = '\0';
	assert_string_equal(cfg.domains[0].policy, want);
	memset(want, 'q', sizeof(want));
	want[0] = '/';
	want[173] = '\0';
	assert_string_equal(cfg.domains[1].policy, want);
	config_free(&cfg);
}

/* a 200-byte line with an inline comment: split as inih splits lines */
static void
test_line_200_comment(void **state)
{
	struct config cfg;
	char want[256];

	(void)state;
	load_good(data_path("good/line200_comment.conf"), &cfg);
	assert_int_equal(cfg.ndomains, 1);
	memset(want, 'r', sizeof(want));
	want[0] = '/';
	want[187] = '\0';
	assert_string_equal(cfg.domains[0].policy, want);
	config_free(&cfg);
}

static void
test_relative_paths(void **state)
{
	struct config cfg;
	char want[8192];
	const char *dir;

	(void)state;
	load_good(data_path("good/paths.conf"), &cfg);
	dir = abs_dir("good");
	snprintf(want, sizeof(want), "%s/pol/./x", dir);
	assert_string_equal(cfg.policy_dir, want);
	snprintf(want, sizeof(want), "%s/../live", dir);
	assert_string_equal(cfg.cert_dir, want);
	assert_string_equal(cfg.access_log, "/var/log/mta-stsd.log");
	assert_string_equal(cfg.default_certs[0].cert, dir);	/* "." */
	assert_string_equal(cfg.default_certs[0].key, dir);	/* "./" */
	assert_string_equal(cfg.domains[0].policy, "/srv/p.txt");
	snprintf(want, sizeof(want), "%s/c.pem", dir);
	assert_string_equal(cfg.domains[0].certs[0].cert, want);
	snprintf(want, sizeof(want), "%s/sub/k.pem", dir);
	assert_string_equal(cfg.domains[0].certs[0].key, want);
	config_free(&cfg);
}

/* the directory of the file, whichever way its name is written */
static void
test_dir_of_name(void **state)
{
	static const struct {
		const char *name, *dir;	/* dir NULL: the current directory */
	} cases[] = {
		{ "x.conf", NULL },
		{ "./x.conf", NULL },
		{ "/x.conf", "/" },
		{ "/etc/mta-stsd/x.conf", "/etc/mta-stsd" },
		{ "/etc/mta-stsd//x.conf", "/etc/mta-stsd" },
	};
	const char text[] = "[defaults]\ncert = c.pem\nkey = /k.pem\n";

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config cfg;
		struct diag d = { 0 };
		const char *dir = cases[i].dir ? cases[i].dir : cwd;
		char want[8192];

		assert_int_equal(config_load_buffer(cases[i].name, text,
		    sizeof(text) - 1, &cfg, &d), 0);
		assert_string_equal(cfg.path, cases[i].name);
		assert_string_equal(cfg.dir, dir);
		snprintf(want, sizeof(want), "%s/c.pem",
		    strcmp(dir, "/") == 0 ? "" : dir);
		assert_string_equal(cfg.default_certs[0].cert, want);
		assert_string_equal(cfg.default_certs[0].key, "/k.pem");
		config_free(&cfg);
		diag_clear(&d);
	}

	/* "sub/x.conf": the cwd joined with sub */
	{
		struct config cfg;
		struct diag d = { 0 };
		char want[8192];

		assert_int_equal(config_load_buffer("sub/x.conf", "", 0, &cfg, &d), 0);
		snprintf(want, sizeof(want), "%s/sub", cwd);
		assert_string_equal(cfg.dir, want);
		config_free(&cfg);
		diag_clear(&d);
	}
}

static void
test_missing_file(void **state)
{
	struct config cfg;
	struct diag d = { 0 };
	const char *path = data_path("no-such-file.conf");
	char want[8192];

	(void)state;
	assert_int_equal(config_load(path, &cfg, &d), -1);
	assert_int_equal(d.nerrors, 1);
	assert_int_equal(d.n, 1);
	snprintf(want, sizeof(want), "%s: cannot open: No such file or directory", path);
	assert_string_equal(d.v[0].text, want);
	assert_true(config_is_zero(&cfg));
	diag_clear(&d);
}

/* errors accumulate in d: earlier messages stay, the count is per call */
static void
test_diag_accumulates(void **state)
{
	struct config cfg;
	struct diag d = { 0 };

	(void)state;
	diag_err(&d, "other", 1, "an earlier error");
	assert_int_equal(config_load_buffer("a.conf", "[server]\n", 9, &cfg, &d), 0);
	assert_int_equal(d.n, 1);
	config_free(&cfg);
	assert_int_equal(config_load_buffer("b.conf", "[bad]\n", 6, &cfg, &d), -1);
	assert_int_equal(d.nerrors, 2);
	assert_true(strncmp(d.v[1].text, "b.conf:1: section [bad]", 23) == 0);
	diag_clear(&d);
}

/* tlsrpt ([defaults] and domains, normalised) and policy_id (domains) */
static void
test_records_keys(void **state)
{
	struct config cfg;
	const struct domain_conf *dc;

	(void)state;
	load_good(data_path("good/records.conf"), &cfg);
	assert_string_equal(cfg.default_tlsrpt, "mailto:tlsrpt@example.com");
	dc = config_find_domain(&cfg, "example.com");
	assert_non_null(dc);
	assert_string_equal(dc->policy_id, "2024may01a");
	assert_string_equal(dc->tlsrpt, "mailto:reports@example.com,"
	    "https://tlsrpt.example.net:8443/v1/report?d=example.com");
	assert_string_equal(config_domain_tlsrpt(&cfg, "example.com"),
	    dc->tlsrpt);
	dc = config_find_domain(&cfg, "example.net");
	assert_string_equal(dc->policy_id, "Z");
	assert_null(dc->tlsrpt);
	assert_string_equal(config_domain_tlsrpt(&cfg, "example.net"),
	    "mailto:tlsrpt@example.com");
	dc = config_find_domain(&cfg, "example.org");
	assert_null(dc->policy_id);
	/* a domain without a section (found in policy_dir) gets [defaults]' */
	assert_string_equal(config_domain_tlsrpt(&cfg, "example.info"),
	    "mailto:tlsrpt@example.com");
	config_free(&cfg);

	load_good(data_path("good/minimal.conf"), &cfg);
	assert_null(cfg.default_tlsrpt);
	assert_null(config_domain_tlsrpt(&cfg, "example.com"));
	config_free(&cfg);
}

/* the shipped example loads cleanly and says what it shows */
static void
test_example(void **state)
{
	const char *path = getenv("TEST_EXAMPLE");
	struct config cfg;
	const struct domain_conf *dc;

	(void)state;
	if (path == NULL)
		path = "mta-stsd.conf.example";
	load_good(path, &cfg);
	assert_int_equal(cfg.nlisten, 2);
	check_listen(&cfg.listen[0], AF_INET, "127.0.0.1", 8443, "127.0.0.1:8443");
	check_listen(&cfg.listen[1], AF_INET6, "::1", 8443, "[::1]:8443");
	assert_non_null(cfg.default_certs[0].cert);
	assert_non_null(cfg.default_certs[0].key);
	dc = config_find_domain(&cfg, "example.com");
	assert_non_null(dc);
	assert_non_null(dc->policy);
	assert_non_null(strstr(dc->policy, "/policies/example.com.txt"));
	assert_non_null(strstr(dc->certs[0].cert, "/certs/example.com/fullchain.pem"));
	assert_non_null(strstr(dc->certs[0].key, "/certs/example.com/privkey.pem"));
	config_free(&cfg);
}

/* 100,000 domain sections: loaded, all found, a repeat caught with its line */
static void
test_many_domains(void **state)
{
	enum { N = 100000 };
	size_t cap = (size_t)N * 40 + 64, len = 0;
	char *buf = malloc(cap), name[64];
	struct config cfg;
	struct diag d = { 0 };

	(void)state;
	assert_non_null(buf);
	for (int i = 0; i < N; i++)
		len += (size_t)snprintf(buf + len, cap - len,
		    "[d%d.example]\ncert = c\nkey = k\n", i);
	assert_int_equal(config_load_buffer("many.conf", buf, len, &cfg, &d), 0);
	assert_int_equal(cfg.ndomains, N);
	for (int i = 0; i < N; i++) {
		const struct domain_conf *dc;
		snprintf(name, sizeof(name), "d%d.example", i);
		dc = config_find_domain(&cfg, name);
		assert_non_null(dc);
		assert_string_equal(dc->name, name);
		assert_int_equal(dc->line, (unsigned)(i * 3 + 1));
	}
	config_free(&cfg);

	len += (size_t)snprintf(buf + len, cap - len, "[D77.example]\n");
	assert_int_equal(config_load_buffer("many.conf", buf, len, &cfg, &d), -1);
	assert_int_equal(d.nerrors, 1);
	assert_string_equal(d.v[0].text,
	    "many.conf:300001: section [d77.example] appears twice; first at line 232, "
	    "put all its keys there");
	diag_clear(&d);
	free(buf);
}

/* ---- the key table ---- */

/* config_diff's callback: count the keys and remember the last one */
struct diff_seen {
	size_t n;
	const struct config_key *last;
	char was[256], now[256];
};

static void
diff_note(void *arg, const struct config_key *k, const char *was, const char *now)
{
	struct diff_seen *ds = arg;

	ds->n++;
	ds->last = k;
	snprintf(ds->was, sizeof(ds->was), "%s", was);
	snprintf(ds->now, sizeof(ds->now), "%s", now);
}

static void
load_text(const char *text, struct config *cfg)
{
	struct diag d = { 0 };

	/* named as minimal.conf, so relative paths resolve the same way */
	if (config_load_buffer(data_path("good/minimal.conf"), text, strlen(text),
	    cfg, &d) != 0) {
		diag_print(&d);
		diag_clear(&d);
		fail_msg("%s should load", text);
	}
	diag_clear(&d);
}

/* every row is sound: unique, a sane range holding its default, a field or
 * a number; the defaults written out load as the defaults left out do */
static void
test_key_table(void **state)
{
	struct config none, all;
	struct diff_seen ds = { 0 };
	char text[4096];
	size_t len = 0;

	(void)state;
	assert_true(config_nkeys > 30);
	for (size_t i = 0; i < config_nkeys; i++) {
		const struct config_key *k = &config_keys[i];

		for (size_t j = 0; j < i; j++)
			if (config_keys[j].section == k->section &&
			    strcmp(config_keys[j].name, k->name) == 0)
				fail_msg("key %s is in the table twice", k->name);
		assert_ptr_equal(config_key_find(k->section, k->name), k);
		if (k->type == CONFIG_UINT || k->type == CONFIG_THREADS) {
			unsigned long def;

			assert_non_null(k->def);
			def = strtoul(k->def, NULL, 10);
			assert_true(k->min <= def && def <= k->max);
		}
		if (k->type == CONFIG_ENUM || k->type == CONFIG_DEST)
			assert_non_null(k->words);
		if (k->section == CONFIG_SECTION_DEFAULTS ||
		    k->section == CONFIG_SECTION_DOMAIN)
			assert_int_equal(k->apply, CONFIG_APPLY_REBUILD);
		if (k->section == CONFIG_SECTION_SERVER && k->def != NULL)
			len += (size_t)snprintf(text + len, sizeof(text) - len,
			    "%s%s = %s\n", len ? "" : "[server]\n", k->name, k->def);
	}
	/* [acme]'s defaults written out, in a section of their own */
	for (size_t i = 0, first = 1; i < config_nkeys; i++) {
		const struct config_key *k = &config_keys[i];

		if (k->section == CONFIG_SECTION_ACME && k->def != NULL) {
			len += (size_t)snprintf(text + len, sizeof(text) - len,
			    "%s%s = %s\n", first ? "[acme]\n" : "", k->name, k->def);
			first = 0;
		}
	}
	assert_null(config_key_find(CONFIG_SECTION_DEFAULTS, "policy"));
	load_text("", &none);
	load_text(text, &all);
	assert_int_equal(config_diff(&none, &all, diff_note, &ds), 0);
	assert_int_equal(config_number(&none, "max_connections"), 1024);
	assert_int_equal(config_number(&none, "log_level"), LOG_LEVEL_INFO);
	assert_int_equal(config_number(&none, "auto_reload"), 1);
	assert_int_equal(config_number(&none, "shutdown_timeout"), 5); /* no field */
	assert_int_equal(config_number(&none, "no_such_key"), 0);
	assert_int_equal(config_number(&none, "orders_per_hour"), 60); /* [acme] */
	assert_int_equal(config_number(&none, "lock_timeout"), 600);
	assert_null(none.acme.directory);
	assert_non_null(strstr(none.acme.storage, "/acme"));
	assert_int_equal(config_domain_acme(&none, "example.com"), 0);
	config_free(&none);
	config_free(&all);
}

/* an [acme] section giving every key, eab_hmac_key = key, in buf */
static const char *
acme_section(const char *key, char *buf, size_t size)
{
	snprintf(buf, size, "[acme]\n"
	    "directory = https://127.0.0.1:14000/dir\n"
	    "email = mailto:Hostmaster@example.com\n"
	    "agree_terms = yes\n"
	    "challenge = http-01\n"
	    "http_listen = 127.0.0.1:8080\n"
	    "eab_kid = kid-1\n"
	    "eab_hmac_key = %s\n"
	    "preferred_issuer = ISRG Root X1\n"
	    "addresses = 192.0.2.1 2001:DB8::1,Policy.Example.NET\n"
	    "orders_per_hour = 5\n", key);
	return buf;
}

/* [acme]: values as given, the secret never formatted, domains opting out */
static void
test_acme_keys(void **state)
{
	struct config cfg, other;
	struct diff_seen ds = { 0 };
	const struct config_key *k;
	char buf[256], sec[1024], text[1536];

	(void)state;
	snprintf(text, sizeof(text), "%s[a.example]\n"
	    "acme = no\n"
	    "[b.example]\n"
	    "cert = b.pem\n"
	    "key = b.key\n"
	    "[c.example]\n"
	    "policy = c.txt\n", acme_section("c2VjcmV0S2V5", sec, sizeof(sec)));
	load_text(text, &cfg);
	assert_string_equal(cfg.acme.directory, "https://127.0.0.1:14000/dir");
	assert_string_equal(cfg.acme.email, "Hostmaster@example.com");
	assert_string_equal(cfg.acme.preferred_issuer, "ISRG Root X1");
	assert_string_equal(cfg.acme.addresses,
	    "192.0.2.1, 2001:DB8::1, policy.example.net");
	assert_string_equal(cfg.acme.http_listen.text, "127.0.0.1:8080");
	assert_int_equal(config_number(&cfg, "agree_terms"), 1);
	assert_int_equal(config_number(&cfg, "challenge"), 1);
	assert_int_equal(config_number(&cfg, "orders_per_hour"), 5);
	assert_int_equal(config_domain_acme(&cfg, "a.example"), 0);
	assert_int_equal(config_domain_acme(&cfg, "b.example"), 0); /* hand-managed */
	assert_int_equal(config_domain_acme(&cfg, "c.example"), 1);
	assert_int_equal(config_domain_acme(&cfg, "d.example"), 1); /* no section */
	k = config_key_find(CONFIG_SECTION_ACME, "eab_hmac_key");
	assert_non_null(k);
	assert_string_equal(config_key_format(k, &cfg, buf, sizeof(buf)), "(set)");
	assert_null(config_key_find(CONFIG_SECTION_SERVER, "directory"));
	/* a change of the secret is seen, and said without its value */
	load_text(acme_section("b3RoZXJLZXk", sec, sizeof(sec)), &other);
	assert_int_equal(config_diff(&cfg, &other, diff_note, &ds), 1);
	assert_ptr_equal(ds.last, k);
	assert_string_equal(ds.was, "(set)");
	assert_string_equal(ds.now, "(set)");
	config_free(&cfg);
	config_free(&other);
}

/* each [server] key changed alone is the one difference config_diff finds,
 * with both values as a file gives them */
static void
test_key_diff(void **state)
{
	static const struct { const char *key, *value, *was, *now; } cases[] = {
		{ "listen", "127.0.0.1:8443", "0.0.0.0:443, [::]:443", "127.0.0.1:8443" },
		{ "user", "nobody", "none", "nobody" },
		{ "handshake_timeout", "300", "10", "300" },
		{ "log_level", "debug", "info", "debug" },
		{ "log_format", "json", "text", "json" },
		{ "auto_reload", "no", "yes", "no" },
		{ "admin_listen", "[::1]:9100", "off", "[::1]:9100" },
		{ "error_log", "syslog", "stderr", "syslog" },
		{ "workers", "4", "1", "4" },
		{ "default_domain", "Example.COM", "none", "example.com" },
	};
	struct config base, one;
	char text[512];

	(void)state;
	load_text("", &base);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct diff_seen ds = { 0 };

		snprintf(text, sizeof(text), "[server]\n%s = %s\n", cases[i].key,
		    cases[i].value);
		load_text(text, &one);
		assert_int_equal(config_diff(&base, &one, diff_note, &ds), 1);
		assert_string_equal(ds.last->name, cases[i].key);
		assert_string_equal(ds.was, cases[i].was);
		assert_string_equal(ds.now, cases[i].now);
		assert_int_equal(config_key_differs(ds.last, &base, &one), 1);
		assert_int_equal(config_key_differs(ds.last, &one, &one), 0);
		config_free(&one);
	}
	/* [defaults] too; [domain] keys are the snapshot's to compare */
	{
		struct diff_seen ds = { 0 };

		load_text("[defaults]\ntlsrpt = mailto:tls@example.com\n", &one);
		assert_int_equal(config_diff(&base, &one, diff_note, &ds), 1);
		assert_string_equal(ds.last->name, "tlsrpt");
		config_free(&one);
		load_text("[example.com]\npolicy = p.txt\n", &one);
		assert_int_equal(config_diff(&base, &one, NULL, NULL), 0);
		config_free(&one);
	}
	config_free(&base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_files),
		cmocka_unit_test(test_bad_files),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_listen_forms),
		cmocka_unit_test(test_syntax),
		cmocka_unit_test(test_line_200),
		cmocka_unit_test(test_line_200_comment),
		cmocka_unit_test(test_relative_paths),
		cmocka_unit_test(test_dir_of_name),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_diag_accumulates),
		cmocka_unit_test(test_records_keys),
		cmocka_unit_test(test_example),
		cmocka_unit_test(test_many_domains),
		cmocka_unit_test(test_key_table),
		cmocka_unit_test(test_key_diff),
		cmocka_unit_test(test_acme_keys),
	};
	const char *env = getenv("TEST_DATA");

	snprintf(data_dir, sizeof(data_dir), "%s",
	    env != NULL ? env : "tests/data/config");
	if (getcwd(cwd, sizeof(cwd)) == NULL) {
		perror("getcwd");
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
