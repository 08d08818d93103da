/* config.c - the INI configuration file (inih) as plain structs, from one table of keys */
#include "config.h"
#include "names.h"
#include "records.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ini.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <strings.h>
#include <unistd.h>

/*
 * How a file reaches inih.
 *
 * inih does the syntax of a "key = value" line: the first "=" or ":" splits
 * it, blanks around key and value go, and a ";" that follows a blank ends
 * the value ("listen = *:443 ; all" is "*:443"; "a;b" stays "a;b"; "#"
 * starts a comment only at the beginning of a line). Its handler is called
 * once per key, and key_set() below takes it from there through the table.
 *
 * inih reads through our ini_reader (reader() below), called once per line,
 * which does only what the packaged inih cannot:
 *
 *  - line numbers. Debian builds libinih with INI_HANDLER_LINENO=1 (its
 *    patch "Force INI_HANDLER_LINENO") while the ini.h it installs still
 *    says 0, and upstream builds default to 0: what the handler receives is
 *    not known at compile time. inih calls the handler for a line before it
 *    asks for the next, so the reader's count is the handler's line;
 *  - lines inih would cut: its line buffer is INI_MAX_LINE bytes (200 with
 *    the NUL, in Debian 12 and 13), and a longer line would come back as
 *    several lines. A line longer than CONFIG_MAX_LINE is reported and
 *    dropped whole; a line of exactly CONFIG_MAX_LINE bytes (after the
 *    blanks at its ends are removed) still does not fit the buffer, and is
 *    split by line_split() as inih would (the one line inih does not see:
 *    README promises 200 bytes, and Debian's runtime ini_max_line is not in
 *    upstream's inih). NUL bytes are reported (a C string would cut at one);
 *  - every bad line gets its own message, where inih returns only the first
 *    bad line's number: the reader hands inih each "key = value" candidate
 *    and notes it; if the handler was not called for it when the next line
 *    is asked for, it had no "=" or ":", and that is reported then;
 *  - section headers are read here and handed on as empty lines: inih keeps
 *    49 bytes of a section name (a domain may have 253), does not report a
 *    header without its "]" beyond the first bad line, ignores text after
 *    the "]", and does not tell the handler that a section began (for
 *    repeated sections and a section's line in messages);
 *  - continuation lines: inih (INI_ALLOW_MULTILINE, on in the packaged
 *    build) takes an indented line after a key line as more of that key's
 *    value, so an indented "cert = x" under "policy = y" would become a
 *    second policy "cert = x". The reader hands on every line without its
 *    leading blanks: indentation means nothing, each line stands alone, and
 *    an indented bare value is "not key = value";
 *  - comments, blank lines and a UTF-8 byte order mark at the start are
 *    handed on as empty lines (inih skips those too; the reader must know
 *    them not to expect a handler call).
 */

#define CONFIG_MAX_LISTEN 64		/* more is a mistake, and bind() per entry */
#define CONFIG_MAX_FILE (64L << 20)	/* 100,000 domains fit in a few MB */

/* ---- the keys ---- */

static const char *const level_words[] = { "error", "warn", "info", "debug", NULL };
static const char *const format_words[] = { "text", "json", NULL };
static const char *const access_words[] = { "stderr", "off", NULL };
static const char *const error_words[] = { "stderr", "syslog", NULL };
static const char *const challenge_words[] = { "tls-alpn-01", "http-01", NULL };
static const char *const key_type_words[] = { "ecdsa", "rsa", "both", NULL };

#define SERVER(name, type, field) CONFIG_SECTION_SERVER, name, type, \
	.offset = offsetof(struct config, field)
/* a number key without a field in struct config: read with config_number */
#define NUMBER(name, type) CONFIG_SECTION_SERVER, name, type
#define RANGE(lo, hi, u) .min = lo, .max = hi, .unit = u
#define DEFAULTS(name, type, field) CONFIG_SECTION_DEFAULTS, name, type, \
	.offset = offsetof(struct config, field), .apply = CONFIG_APPLY_REBUILD
#define DOMAIN(name, type, field) CONFIG_SECTION_DOMAIN, name, type, \
	.offset = offsetof(struct domain_conf, field), .apply = CONFIG_APPLY_REBUILD
/* [acme] keys are read by the certificate manager (acmed.c) at each
 * publication: live (apply's zero) unless marked otherwise */
#define ACME(name, type, field) CONFIG_SECTION_ACME, name, type, \
	.offset = offsetof(struct config, acme.field)
#define ACME_NUMBER(name, type) CONFIG_SECTION_ACME, name, type

/*
 * Every key, in the order messages list them. What a change needs (apply):
 * live keys are applied on reload by log_configure (reload.c),
 * http_configure, admin_configure and conn_limits_apply (server_configure
 * calls them at start and with each snapshot published) and reload.c's own
 * (auto_reload, poll_interval); rebuild keys are part of the snapshot a reload builds;
 * restart keys are logged by a reload that sees them changed. A number key
 * may leave out .offset (no struct field): config_number() reads it. The
 * README's configuration reference must agree (tests/integration/keys_test.py).
 */
const struct config_key config_keys[] = {
	/* restart: bound, and privileges dropped, before the first load */
	{ SERVER("listen", CONFIG_LISTEN, listen), .def = "0.0.0.0:443, [::]:443",
	    .apply = CONFIG_APPLY_RESTART },
	{ SERVER("user", CONFIG_NAME, user), .apply = CONFIG_APPLY_RESTART },
	{ SERVER("group", CONFIG_NAME, group), .apply = CONFIG_APPLY_RESTART },
	{ SERVER("policy_dir", CONFIG_PATH, policy_dir), .def = "policies",
	    .apply = CONFIG_APPLY_REBUILD },
	{ SERVER("cert_dir", CONFIG_PATH, cert_dir), .apply = CONFIG_APPLY_REBUILD },
	{ SERVER("default_domain", CONFIG_DOMAIN, default_domain),
	    .apply = CONFIG_APPLY_REBUILD },
	{ SERVER("handshake_timeout", CONFIG_UINT, handshake_timeout),
	    RANGE(1, 300, " seconds"), .def = "10", .apply = CONFIG_APPLY_LIVE },
	{ SERVER("idle_timeout", CONFIG_UINT, idle_timeout),
	    RANGE(1, 3600, " seconds"), .def = "30", .apply = CONFIG_APPLY_LIVE },
	{ SERVER("max_connections", CONFIG_UINT, max_connections),
	    RANGE(1, 1000000, ""), .def = "1024", .apply = CONFIG_APPLY_LIVE },
	{ SERVER("log_level", CONFIG_ENUM, log_level), .words = level_words,
	    .def = "info", .apply = CONFIG_APPLY_LIVE },
	{ SERVER("access_log", CONFIG_DEST, access_log), .words = access_words,
	    .def = "stderr", .apply = CONFIG_APPLY_LIVE },
	{ SERVER("auto_reload", CONFIG_BOOL, auto_reload), .def = "yes",
	    .apply = CONFIG_APPLY_LIVE },
	{ SERVER("poll_interval", CONFIG_UINT, poll_interval),
	    RANGE(0, 86400, " seconds (0: no polling)"), .def = "0",
	    .apply = CONFIG_APPLY_LIVE },
	{ SERVER("max_connections_per_ip", CONFIG_UINT, max_connections_per_ip),
	    RANGE(1, 1000000, ""), .def = "64", .apply = CONFIG_APPLY_LIVE },
	{ SERVER("request_timeout", CONFIG_UINT, request_timeout),
	    RANGE(1, 300, " seconds"), .def = "10", .apply = CONFIG_APPLY_LIVE },
	/* restart: libmicrohttpd's per-connection pool is sized from it at
	 * start, and libmicrohttpd zeroes the whole pool for every request,
	 * so a pool sized for the largest value would cost 136 KB of touched
	 * memory per keep-alive connection */
	{ SERVER("max_header_size", CONFIG_UINT, max_header_size),
	    RANGE(1024, 65536, " bytes"), .def = "8192", .apply = CONFIG_APPLY_RESTART },
	{ SERVER("max_requests_per_connection", CONFIG_UINT,
	    max_requests_per_connection), RANGE(1, 1000000, ""), .def = "1000",
	    .apply = CONFIG_APPLY_LIVE },
	/* restart: checked once, at start */
	{ SERVER("allow_root", CONFIG_BOOL, allow_root), .def = "no",
	    .apply = CONFIG_APPLY_RESTART },
	/* restart: bound before the privilege drop, as listen */
	{ SERVER("admin_listen", CONFIG_ADDRESS, admin), .def = "off",
	    .apply = CONFIG_APPLY_RESTART },
	{ SERVER("metrics_per_domain", CONFIG_BOOL, metrics_per_domain),
	    .def = "no", .apply = CONFIG_APPLY_LIVE },
	{ SERVER("log_format", CONFIG_ENUM, log_json), .words = format_words,
	    .def = "text", .apply = CONFIG_APPLY_LIVE },
	{ SERVER("error_log", CONFIG_DEST, error_log), .words = error_words,
	    .def = "stderr", .apply = CONFIG_APPLY_LIVE },
	/* restart: the threads and their listening sockets exist from start */
	{ SERVER("workers", CONFIG_THREADS, workers),
	    RANGE(1, 64, " threads, or auto (one per core)"), .def = "1",
	    .apply = CONFIG_APPLY_RESTART },
	/* no field in struct config: conn_limits_apply reads config_number() */
	{ NUMBER("shutdown_timeout", CONFIG_UINT), RANGE(0, 300, " seconds"),
	    .def = "5", .apply = CONFIG_APPLY_LIVE },

	{ DEFAULTS("cert", CONFIG_PATH, default_certs[0].cert) },
	{ DEFAULTS("key", CONFIG_PATH, default_certs[0].key) },
	{ DEFAULTS("cert2", CONFIG_PATH, default_certs[1].cert) },
	{ DEFAULTS("key2", CONFIG_PATH, default_certs[1].key) },
	{ DEFAULTS("tlsrpt", CONFIG_RUA, default_tlsrpt) },

	{ DOMAIN("cert", CONFIG_PATH, certs[0].cert) },
	{ DOMAIN("key", CONFIG_PATH, certs[0].key) },
	{ DOMAIN("cert2", CONFIG_PATH, certs[1].cert) },
	{ DOMAIN("key2", CONFIG_PATH, certs[1].key) },
	{ DOMAIN("policy", CONFIG_PATH, policy) },
	{ DOMAIN("tlsrpt", CONFIG_RUA, tlsrpt) },
	{ DOMAIN("policy_id", CONFIG_POLICY_ID, policy_id) },
	{ DOMAIN("acme", CONFIG_BOOL, acme) },

	{ ACME("directory", CONFIG_URL, directory) },
	{ ACME("email", CONFIG_EMAIL, email) },
	{ ACME_NUMBER("agree_terms", CONFIG_BOOL), .def = "no" },
	/* restart: the manager's thread and the challenge store use it from start */
	{ ACME("storage", CONFIG_PATH, storage), .def = "acme",
	    .apply = CONFIG_APPLY_RESTART },
	{ ACME("ca_file", CONFIG_PATH, ca_file) },
	{ ACME_NUMBER("challenge", CONFIG_ENUM), .words = challenge_words,
	    .def = "tls-alpn-01" },
	/* restart: bound before the privilege drop, as listen */
	{ ACME("http_listen", CONFIG_ADDRESS, http_listen), .def = "off",
	    .apply = CONFIG_APPLY_RESTART },
	{ ACME_NUMBER("key_type", CONFIG_ENUM), .words = key_type_words,
	    .def = "ecdsa" },
	{ ACME("eab_kid", CONFIG_NAME, eab_kid) },
	{ ACME("eab_hmac_key", CONFIG_SECRET, eab_hmac_key) },
	{ ACME("preferred_issuer", CONFIG_TEXT, preferred_issuer) },
	{ ACME("addresses", CONFIG_HOSTS, addresses) },
	{ ACME_NUMBER("orders_per_hour", CONFIG_UINT), RANGE(1, 10000, ""),
	    .def = "60" },
	{ ACME_NUMBER("lock_timeout", CONFIG_UINT), RANGE(60, 86400, " seconds"),
	    .def = "600" },
};
const size_t config_nkeys = sizeof(config_keys) / sizeof(config_keys[0]);

_Static_assert(sizeof(config_keys) / sizeof(config_keys[0]) <= CONFIG_KEYS_MAX,
    "raise CONFIG_KEYS_MAX in config.h");

enum section_kind {
	SEC_NONE,		/* before the first [section] */
	SEC_SERVER,
	SEC_DEFAULTS,
	SEC_DOMAIN,
	SEC_ACME,
	SEC_IGNORED		/* a bad or repeated header: its keys are skipped */
};

struct loader {
	const char *file;		/* name for messages */
	struct config *cfg;
	struct diag *d;
	const char *p, *end;		/* the unread rest of the buffer */
	unsigned lineno;
	int oom;
	int expect_key;			/* the line handed on must reach the handler */
	int indented;			/* ... and it was indented in the file */

	enum section_kind sec;
	size_t dom;			/* cfg->domains index when SEC_DOMAIN */
	unsigned sec_line;
	unsigned key_line[CONFIG_KEYS_MAX]; /* where each key of this section was */
	unsigned char given[CONFIG_KEYS_MAX]; /* [server] keys in the file */
	unsigned server_line, defaults_line, acme_line;
	size_t domains_cap;
};

static int
is_blank(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static char *
ld_strdup(struct loader *ld, const char *s)
{
	char *t = strdup(s);

	if (t == NULL)
		ld->oom = 1;
	return t;
}

/* The name a section is shown by in messages. */
static const char *
section_label(const struct loader *ld)
{
	switch (ld->sec) {
	case SEC_SERVER:
		return "server";
	case SEC_DEFAULTS:
		return "defaults";
	case SEC_DOMAIN:
		return ld->cfg->domains[ld->dom].name;
	case SEC_ACME:
		return "acme";
	default:
		return "?";
	}
}

/*
 * The end of a key or value as inih finds it: the first character of chars,
 * or a ";" that follows a blank (an inline comment), or the end of the text.
 */
static const char *
find_chars_or_comment(const char *s, const char *e, const char *chars)
{
	int was_blank = 0;

	while (s < e && (chars == NULL || strchr(chars, *s) == NULL) &&
	    !(was_blank && *s == ';')) {
		was_blank = is_blank((unsigned char)*s);
		s++;
	}
	return s;
}

/* ---- directory and paths ---- */

/* The absolute directory of the file called name, or NULL (reported). */
static char *
dir_of(struct loader *ld, const char *name)
{
	const char *slash = strrchr(name, '/');
	char *cwd, *dir;
	size_t n;

	if (slash == name)
		return ld_strdup(ld, "/");
	n = slash != NULL ? (size_t)(slash - name) : 0;
	/* drop "./" prefixes and trailing slashes of the directory part */
	while (n >= 2 && name[0] == '.' && name[1] == '/') {
		name += 2;
		n -= 2;
		while (n > 0 && name[0] == '/') {
			name++;
			n--;
		}
	}
	while (n > 1 && name[n - 1] == '/')
		n--;
	if (n == 1 && name[0] == '.')
		n = 0;
	if (n > 0 && name[0] == '/') {
		if ((dir = strndup(name, n)) == NULL)
			ld->oom = 1;
		return dir;
	}

	if ((cwd = getcwd(NULL, 0)) == NULL) {
		diag_err(ld->d, ld->file, 0,
		    "cannot find the current directory to resolve relative paths: %s",
		    strerror(errno));
		return NULL;
	}
	if (n == 0)
		return cwd;
	if ((dir = malloc(strlen(cwd) + 1 + n + 1)) == NULL) {
		ld->oom = 1;
	} else {
		int root = strcmp(cwd, "/") == 0;
		sprintf(dir, "%s%s%.*s", root ? "" : cwd, "/", (int)n, name);
	}
	free(cwd);
	return dir;
}

/* value as an absolute path: relative ones are taken from cfg->dir. */
static char *
path_absolute(struct loader *ld, const char *value)
{
	const char *dir = ld->cfg->dir;
	char *out;

	if (value[0] == '/')
		return ld_strdup(ld, value);
	while (value[0] == '.' && value[1] == '/') {
		value += 2;
		while (value[0] == '/')
			value++;
	}
	if (value[0] == '\0' || strcmp(value, ".") == 0)
		return ld_strdup(ld, dir);
	if ((out = malloc(strlen(dir) + 1 + strlen(value) + 1)) == NULL) {
		ld->oom = 1;
		return NULL;
	}
	sprintf(out, "%s/%s", strcmp(dir, "/") == 0 ? "" : dir, value);
	return out;
}

/* ---- the domain index ---- */

/* The index of the domain called name (lower case) + 1, or 0. */
static size_t
domain_slot(const struct config *cfg, const char *name)
{
	return (size_t)(uintptr_t)strmap_get(&cfg->domain_index, name);
}

/* ---- sections ---- */

static struct cert_paths *
section_certs(struct loader *ld)
{
	if (ld->sec == SEC_DEFAULTS)
		return ld->cfg->default_certs;
	if (ld->sec == SEC_DOMAIN)
		return ld->cfg->domains[ld->dom].certs;
	return NULL;
}

/* Checks that need the whole section: certificates and keys come in pairs. */
static void
section_end(struct loader *ld)
{
	struct cert_paths *c = section_certs(ld);
	static const char *const cert_key[2] = { "cert", "cert2" };
	static const char *const key_key[2] = { "key", "key2" };

	if (c == NULL)
		return;
	for (int i = 0; i < 2; i++) {
		if (c[i].cert != NULL && c[i].key == NULL)
			diag_err(ld->d, ld->file, ld->sec_line,
			    "[%s] has %s but no %s; give both (the chain and its private key) or neither",
			    section_label(ld), cert_key[i], key_key[i]);
		else if (c[i].cert == NULL && c[i].key != NULL)
			diag_err(ld->d, ld->file, ld->sec_line,
			    "[%s] has %s but no %s; give both (the chain and its private key) or neither",
			    section_label(ld), key_key[i], cert_key[i]);
	}
	if (c[0].cert == NULL && c[0].key == NULL &&
	    (c[1].cert != NULL || c[1].key != NULL))
		diag_err(ld->d, ld->file, ld->sec_line,
		    "[%s] has cert2/key2 but no cert/key; put the first pair in cert and key",
		    section_label(ld));
}

/* A "[name]" header at ld->lineno: close the last section, open this one. */
static void
section_begin(struct loader *ld, const char *name, size_t len)
{
	struct config *cfg = ld->cfg;
	char norm[NAME_MAX_LEN + 1];
	const char *host;
	struct domain_conf *dc;
	size_t slot;

	section_end(ld);
	memset(ld->key_line, 0, sizeof(ld->key_line));
	ld->sec_line = ld->lineno;
	ld->sec = SEC_IGNORED;

	if (len == 6 && strncasecmp(name, "server", 6) == 0) {
		if (ld->server_line != 0) {
			diag_err(ld->d, ld->file, ld->lineno,
			    "[server] appears twice; first at line %u, put all its keys there",
			    ld->server_line);
			return;
		}
		ld->server_line = ld->lineno;
		ld->sec = SEC_SERVER;
		return;
	}
	if (len == 8 && strncasecmp(name, "defaults", 8) == 0) {
		if (ld->defaults_line != 0) {
			diag_err(ld->d, ld->file, ld->lineno,
			    "[defaults] appears twice; first at line %u, put all its keys there",
			    ld->defaults_line);
			return;
		}
		ld->defaults_line = ld->lineno;
		ld->sec = SEC_DEFAULTS;
		return;
	}
	if (len == 4 && strncasecmp(name, "acme", 4) == 0) {
		if (ld->acme_line != 0) {
			diag_err(ld->d, ld->file, ld->lineno,
			    "[acme] appears twice; first at line %u, put all its keys there",
			    ld->acme_line);
			return;
		}
		ld->acme_line = ld->lineno;
		ld->sec = SEC_ACME;
		return;
	}
	if (name_normalise(name, len, norm, sizeof(norm)) != 0) {
		if (diag_is_token(name, len))
			diag_err(ld->d, ld->file, ld->lineno,
			    "section [%.*s] is not [server], [defaults], [acme] or a domain name like [example.com] "
			    "(letters, digits and hyphens, at least two labels, no trailing dot)",
			    (int)len, name);
		else
			diag_err(ld->d, ld->file, ld->lineno,
			    "section name (%zu bytes, not shown) is not server, defaults, acme or a domain name "
			    "like example.com (letters, digits and hyphens, at least two labels)", len);
		return;
	}
	if ((host = name_policy_domain(norm)) != NULL) {
		diag_err(ld->d, ld->file, ld->lineno,
		    "section [%s] is the policy host; name the domain, not the policy host: [%s]",
		    norm, host);
		return;
	}
	if ((slot = domain_slot(cfg, norm)) != 0) {
		diag_err(ld->d, ld->file, ld->lineno,
		    "section [%s] appears twice; first at line %u, put all its keys there",
		    norm, cfg->domains[slot - 1].line);
		return;
	}

	/* a new domain: grow the array, then add it and index it */
	if (cfg->ndomains == ld->domains_cap) {
		size_t cap = ld->domains_cap ? ld->domains_cap * 2 : 16;
		dc = realloc(cfg->domains, cap * sizeof(*dc));
		if (dc == NULL) {
			ld->oom = 1;
			return;
		}
		cfg->domains = dc;
		ld->domains_cap = cap;
	}
	dc = &cfg->domains[cfg->ndomains];
	memset(dc, 0, sizeof(*dc));
	dc->acme = -1;
	if ((dc->name = ld_strdup(ld, norm)) == NULL)
		return;
	if (strmap_put(&cfg->domain_index, dc->name,
	    (void *)(uintptr_t)(cfg->ndomains + 1)) == -1) {
		free(dc->name);
		ld->oom = 1;
		return;
	}
	dc->line = ld->lineno;
	ld->dom = cfg->ndomains++;
	ld->sec = SEC_DOMAIN;
}

/* ---- values ---- */

/*
 * Parse a decimal number in min..max. Returns 0, -1 when it is not a plain
 * decimal number, -2 when it is out of range.
 */
static int
parse_uint(const char *s, unsigned long min, unsigned long max, unsigned *out)
{
	unsigned long v = 0;

	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		if (v <= max)
			v = v * 10 + (unsigned long)(*s - '0');
	}
	if (v < min || v > max)
		return -2;
	*out = (unsigned)v;
	return 0;
}

/*
 * Where key k's value lives: a field of cfg, of the domain dc ([domain]
 * keys), or cfg->values[] for a number key without a field. Shared by
 * reading and writing, hence the cast.
 */
static void *
key_field(const struct config_key *k, const struct config *cfg,
    const struct domain_conf *dc)
{
	if (k->section == CONFIG_SECTION_DOMAIN)
		return (char *)(uintptr_t)dc + k->offset;
	if (k->offset == 0)
		return (void *)(uintptr_t)&cfg->values[k - config_keys];
	return (char *)(uintptr_t)cfg + k->offset;
}

static int
is_number(const struct config_key *k)
{
	return k->type == CONFIG_UINT || k->type == CONFIG_THREADS ||
	    k->type == CONFIG_BOOL || k->type == CONFIG_ENUM;
}

/* yes/no and choice fields are int (log_level: an enum, int-sized); the
 * others and every entry of values[] are unsigned */
_Static_assert(sizeof(enum log_level) == sizeof(int), "log_level is stored as an int");

static int
number_is_int(const struct config_key *k)
{
	return k->offset != 0 && (k->type == CONFIG_BOOL || k->type == CONFIG_ENUM);
}

static unsigned
number_get(const struct config_key *k, const void *field)
{
	return number_is_int(k) ? (unsigned)*(const int *)field :
	    *(const unsigned *)field;
}

static void
number_set(const struct config_key *k, void *field, unsigned long v)
{
	if (number_is_int(k))
		*(int *)field = (int)v;
	else
		*(unsigned *)field = (unsigned)v;
}

/* Add one listen address; family AF_INET or AF_INET6, addr in network order. */
static void
listen_add(struct loader *ld, int family, const void *addr, unsigned port)
{
	struct config *cfg = ld->cfg;
	struct listen_addr la, *v;
	char host[INET6_ADDRSTRLEN];

	memset(&la, 0, sizeof(la));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&la.ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		memcpy(&sin->sin_addr, addr, sizeof(sin->sin_addr));
		la.len = sizeof(*sin);
		inet_ntop(AF_INET, addr, host, sizeof(host));
		snprintf(la.text, sizeof(la.text), "%s:%u", host, port);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&la.ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		memcpy(&sin6->sin6_addr, addr, sizeof(sin6->sin6_addr));
		la.len = sizeof(*sin6);
		inet_ntop(AF_INET6, addr, host, sizeof(host));
		snprintf(la.text, sizeof(la.text), "[%s]:%u", host, port);
	}
	la.line = ld->lineno;

	/* the text is canonical (inet_ntop), so equal text is the same socket */
	for (size_t i = 0; i < cfg->nlisten; i++) {
		if (strcmp(cfg->listen[i].text, la.text) == 0) {
			if (cfg->listen[i].line != 0)
				diag_err(ld->d, ld->file, ld->lineno,
				    "listen address %s is given twice (first at line %u); give each once",
				    la.text, cfg->listen[i].line);
			return;
		}
	}
	if (cfg->nlisten == CONFIG_MAX_LISTEN) {
		diag_err(ld->d, ld->file, ld->lineno,
		    "more than %d listen addresses; use a wildcard (*:443) instead",
		    CONFIG_MAX_LISTEN);
		return;
	}
	v = realloc(cfg->listen, (cfg->nlisten + 1) * sizeof(*v));
	if (v == NULL) {
		ld->oom = 1;
		return;
	}
	cfg->listen = v;
	cfg->listen[cfg->nlisten++] = la;
}

/*
 * One listen address tok[0..len): "1.2.3.4:443", "1.2.3.4", "[::1]:443",
 * "[::1]", "*:443", "*", ":443". No port means CONFIG_DEFAULT_PORT; "*" and
 * an empty host mean both 0.0.0.0 and [::] (IPv4 first).
 */
static void
listen_token(struct loader *ld, const char *tok, size_t len)
{
	char buf[72], *host, *port = NULL, *colon, q[DIAG_TOKEN_BUF], q2[DIAG_TOKEN_BUF];
	unsigned portnum = CONFIG_DEFAULT_PORT;
	struct in_addr a4;
	struct in6_addr a6;
	int v6 = 0;

	diag_token(q, tok, len);
	if (len >= sizeof(buf)) {
		diag_err(ld->d, ld->file, ld->lineno,
		    "listen %s is not an address; use forms like 127.0.0.1:443, [::1]:443 or *:443",
		    q);
		return;
	}
	memcpy(buf, tok, len);
	buf[len] = '\0';
	host = buf;

	if (buf[0] == '[') {
		char *close = strchr(buf, ']');
		if (close == NULL || (close[1] != '\0' && close[1] != ':')) {
			diag_err(ld->d, ld->file, ld->lineno,
			    "listen %s is not an address; write IPv6 as [::1] or [::1]:443",
			    q);
			return;
		}
		*close = '\0';
		host = buf + 1;
		if (close[1] == ':')
			port = close + 2;
		v6 = 1;
	} else if ((colon = strchr(buf, ':')) != NULL) {
		if (strchr(colon + 1, ':') != NULL) {
			if (diag_is_token(buf, len))
				diag_err(ld->d, ld->file, ld->lineno,
				    "listen \"%s\": an IPv6 address needs brackets; write [%s] or [%s]:443",
				    buf, buf, buf);
			else
				diag_err(ld->d, ld->file, ld->lineno,
				    "listen %s: an IPv6 address needs brackets, as in [::1] or [::1]:443",
				    q);
			return;
		}
		*colon = '\0';
		port = colon + 1;
	}

	if (port != NULL && parse_uint(port, 1, 65535, &portnum) != 0) {
		diag_err(ld->d, ld->file, ld->lineno,
		    "listen %s: port %s is not a number in 1..65535",
		    q, diag_token(q2, port, strlen(port)));
		return;
	}

	if (!v6 && (host[0] == '\0' || strcmp(host, "*") == 0)) {
		listen_add(ld, AF_INET, &(struct in_addr){ .s_addr = htonl(INADDR_ANY) },
		    portnum);
		listen_add(ld, AF_INET6, &in6addr_any, portnum);
	} else if (v6 && inet_pton(AF_INET6, host, &a6) == 1) {
		listen_add(ld, AF_INET6, &a6, portnum);
	} else if (!v6 && inet_pton(AF_INET, host, &a4) == 1) {
		listen_add(ld, AF_INET, &a4, portnum);
	} else {
		diag_err(ld->d, ld->file, ld->lineno,
		    "listen %s: %s is not an IP%s address; use forms like 127.0.0.1:443, "
		    "[::1]:443 or *:443 (host names are not resolved)",
		    q, diag_token(q2, host, strlen(host)), v6 ? "v6" : "v4");
	}
}

/* A listen value: one or more addresses separated by commas and/or blanks. */
static void
listen_parse(struct loader *ld, const char *value)
{
	const char *p = value, *tok;
	char q[DIAG_TOKEN_BUF];
	int any = 0;

	for (;;) {
		while (*p == ',' || is_blank((unsigned char)*p))
			p++;
		if (*p == '\0')
			break;
		tok = p;
		while (*p != '\0' && *p != ',' && !is_blank((unsigned char)*p))
			p++;
		listen_token(ld, tok, (size_t)(p - tok));
		any = 1;
	}
	if (!any)
		diag_err(ld->d, ld->file, ld->lineno,
		    "listen %s names no address; use forms like 127.0.0.1:443, [::1]:443 or *:443",
		    diag_token(q, value, strlen(value)));
}

/* admin_listen, http_listen: "off", or one address with an explicit
 * port: "127.0.0.1:9100" or "[::1]:9100" */
static void
address_parse(struct loader *ld, const struct config_key *k, const char *value,
    struct listen_addr *a)
{
	char buf[72], *host = buf, *port, q[DIAG_TOKEN_BUF];
	unsigned portnum;
	struct in_addr a4;
	struct in6_addr a6;

	memset(a, 0, sizeof(*a));
	if (strcmp(value, "off") == 0)
		return;
	if (strlen(value) >= 56)
		goto bad;
	memcpy(buf, value, strlen(value) + 1);
	if (buf[0] == '[') {
		char *close = strchr(buf, ']');

		if (close == NULL || close[1] != ':')
			goto bad;
		*close = '\0';
		host = buf + 1;
		port = close + 2;
	} else {
		if ((port = strrchr(buf, ':')) == NULL || strchr(buf, ':') != port)
			goto bad;
		*port++ = '\0';
	}
	if (parse_uint(port, 1, 65535, &portnum) != 0)
		goto bad;
	if (inet_pton(AF_INET6, host, &a6) == 1) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a->ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)portnum);
		sin6->sin6_addr = a6;
		a->len = sizeof(*sin6);
		snprintf(a->text, sizeof(a->text), "[%.46s]:%u", host, portnum);
	} else if (inet_pton(AF_INET, host, &a4) == 1) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&a->ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)portnum);
		sin->sin_addr = a4;
		a->len = sizeof(*sin);
		snprintf(a->text, sizeof(a->text), "%.46s:%u", host, portnum);
	} else
		goto bad;
	a->line = ld->lineno;
	return;
bad:
	memset(a, 0, sizeof(*a));
	diag_err(ld->d, ld->file, ld->lineno,
	    "%s %s is not an address with a port; use off, "
	    "127.0.0.1:%s or [::1]:%s", k->name, diag_token(q, value,
	    strlen(value)), strcmp(k->name, "http_listen") == 0 ? "80" : "9100",
	    strcmp(k->name, "http_listen") == 0 ? "80" : "9100");
}

static void
set_string(char **dst, char *value)
{
	free(*dst);
	*dst = value;
}

/* "a, b, c" (sep ", ") or "a|b|c" from a NULL-terminated list, into buf. */
static const char *
word_list(const char *const *words, const char *sep, char *buf, size_t size)
{
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; words[i] != NULL; i++)
		n += (size_t)snprintf(buf + n, n < size ? size - n : 0, "%s%s",
		    i ? sep : "", words[i]);
	return buf;
}

static int
has_blank(const char *s)
{
	for (; *s != '\0'; s++)
		if (is_blank((unsigned char)*s))
			return 1;
	return 0;
}

/* default_domain: a domain name, not its policy host */
static void
domain_parse(struct loader *ld, const struct config_key *k, const char *value,
    char **field)
{
	char norm[NAME_MAX_LEN + 1], q[DIAG_TOKEN_BUF];
	const char *host;

	if (name_normalise(value, strlen(value), norm, sizeof(norm)) != 0) {
		diag_err(ld->d, ld->file, ld->lineno,
		    "%s %s is not a domain name; use one like example.com",
		    k->name, diag_token(q, value, strlen(value)));
		return;
	}
	if ((host = name_policy_domain(norm)) != NULL) {
		diag_err(ld->d, ld->file, ld->lineno,
		    "%s \"%s\" is the policy host; name the domain, not the policy host: %s",
		    k->name, norm, host);
		return;
	}
	set_string(field, ld_strdup(ld, norm));
}

/* tlsrpt and policy_id: values of DNS records */
static void
record_parse(struct loader *ld, const struct config_key *k, const char *value,
    char **field)
{
	char err[RECORDS_ERR_MAX], rua[RECORDS_RUA_MAX], q[DIAG_TOKEN_BUF];

	if (k->type == CONFIG_POLICY_ID) {
		if (!records_id_valid(value, strlen(value))) {
			diag_err(ld->d, ld->file, ld->lineno,
			    "%s %s is not 1 to %d letters and digits "
			    "(RFC 8461 section 3.1); use e.g. policy_id = 20240501T1",
			    k->name, diag_token(q, value, strlen(value)),
			    RECORDS_ID_MAX);
			return;
		}
		set_string(field, ld_strdup(ld, value));
		return;
	}
	if (records_rua_list(value, strlen(value), rua, sizeof(rua), err,
	    sizeof(err)) == -1) {
		diag_err(ld->d, ld->file, ld->lineno, "%s: %s", k->name, err);
		return;
	}
	set_string(field, ld_strdup(ld, rua));
}

/* directory: an https:// URL with a host, without blanks */
static void
url_parse(struct loader *ld, const struct config_key *k, const char *value,
    char **field)
{
	char q[DIAG_TOKEN_BUF];
	const char *host = value + 8;

	if (strncmp(value, "https://", 8) != 0 || *host == '\0' ||
	    *host == '/' || *host == ':' || has_blank(value)) {
		diag_err(ld->d, ld->file, ld->lineno,
		    "%s %s is not an https:// URL; use the CA's directory URL, e.g. "
		    "https://acme-v02.api.letsencrypt.org/directory", k->name,
		    diag_token(q, value, strlen(value)));
		return;
	}
	set_string(field, ld_strdup(ld, value));
}

/* email: one address, local@domain (a "mailto:" before it is dropped) */
static void
email_parse(struct loader *ld, const struct config_key *k, const char *value,
    char **field)
{
	char q[DIAG_TOKEN_BUF];
	const char *at, *v = value;

	if (strncmp(v, "mailto:", 7) == 0)
		v += 7;
	at = strchr(v, '@');
	if (at == NULL || at == v || strchr(at + 1, '@') != NULL ||
	    strchr(at + 1, '.') == NULL || has_blank(v) || strchr(v, ',') != NULL) {
		diag_err(ld->d, ld->file, ld->lineno,
		    "%s %s is not one email address; use e.g. hostmaster@example.com",
		    k->name, diag_token(q, value, strlen(value)));
		return;
	}
	set_string(field, ld_strdup(ld, v));
}

/* addresses: IP addresses or host names, separated by commas or blanks;
 * stored as "a, b" (names in lower case) */
static void
hosts_parse(struct loader *ld, const struct config_key *k, const char *value,
    char **field)
{
	char out[CONFIG_MAX_LINE + 64], tok[NAME_MAX_LEN + 1], q[DIAG_TOKEN_BUF];
	char norm[NAME_MAX_LEN + 1];
	unsigned char addr[sizeof(struct in6_addr)];
	const char *p = value;
	size_t n = 0, len;

	out[0] = '\0';
	while (*p != '\0') {
		while (*p == ',' || is_blank((unsigned char)*p))
			p++;
		if (*p == '\0')
			break;
		for (len = 0; p[len] != '\0' && p[len] != ',' &&
		    !is_blank((unsigned char)p[len]); len++)
			;
		if (len >= sizeof(tok)) {
			diag_err(ld->d, ld->file, ld->lineno,
			    "%s: an entry of %zu bytes is longer than a host name may be; "
			    "list IP addresses or host names", k->name, len);
			return;
		}
		memcpy(tok, p, len);
		tok[len] = '\0';
		p += len;
		if (inet_pton(AF_INET, tok, addr) == 1 ||
		    inet_pton(AF_INET6, tok, addr) == 1)
			snprintf(norm, sizeof(norm), "%s", tok);
		else if (name_normalise(tok, len, norm, sizeof(norm)) != 0) {
			diag_err(ld->d, ld->file, ld->lineno,
			    "%s: %s is neither an IP address nor a host name; list the "
			    "addresses (or the CNAME target) mta-sts.<domain> resolves to, "
			    "e.g. 192.0.2.1, 2001:db8::1, policy.example.net", k->name,
			    diag_token(q, tok, len));
			return;
		}
		n += (size_t)snprintf(out + n, n < sizeof(out) ? sizeof(out) - n : 0,
		    "%s%s", n ? ", " : "", norm);
	}
	if (n == 0) {
		diag_err(ld->d, ld->file, ld->lineno,
		    "%s lists nothing; give IP addresses or host names", k->name);
		return;
	}
	set_string(field, ld_strdup(ld, out));
}

/* Parse value as key k's type into field (see key_field); errors go to the
 * diagnostics with the line being read (0 for a default). */
static void
value_set(struct loader *ld, const struct config_key *k, const char *value,
    void *field)
{
	char q[DIAG_TOKEN_BUF], list[128];
	unsigned n;
	int r;

	/* the values of known keys: quoted while they are short tokens */
	diag_token(q, value, strlen(value));
	switch (k->type) {
	case CONFIG_THREADS:
		if (strcmp(value, "auto") == 0) {
			long c = sysconf(_SC_NPROCESSORS_ONLN);

			number_set(k, field, c < (long)k->min ? k->min :
			    c > (long)k->max ? k->max : (unsigned long)c);
			break;
		}
		/* FALLTHROUGH */
	case CONFIG_UINT:
		if ((r = parse_uint(value, k->min, k->max, &n)) == 0)
			number_set(k, field, n);
		else
			diag_err(ld->d, ld->file, ld->lineno,
			    "%s %s is %s; use %lu..%lu%s", k->name, q,
			    r == -1 ? "not a number" : "out of range", k->min,
			    k->max, k->unit);
		break;
	case CONFIG_BOOL:
		if (strcmp(value, "yes") == 0 || strcmp(value, "no") == 0)
			number_set(k, field, strcmp(value, "yes") == 0);
		else
			diag_err(ld->d, ld->file, ld->lineno,
			    "%s %s is not yes or no", k->name, q);
		break;
	case CONFIG_ENUM:
		for (n = 0; k->words[n] != NULL; n++)
			if (strcmp(value, k->words[n]) == 0)
				break;
		if (k->words[n] != NULL)
			number_set(k, field, n);
		else
			diag_err(ld->d, ld->file, ld->lineno,
			    "%s %s is not one of %s", k->name, q,
			    word_list(k->words, ", ", list, sizeof(list)));
		break;
	case CONFIG_NAME:
		if (has_blank(value))
			diag_err(ld->d, ld->file, ld->lineno,
			    "%s %s contains a blank; give one %s name", k->name,
			    q, k->name);
		else
			set_string(field, ld_strdup(ld, value));
		break;
	case CONFIG_DEST:
		for (n = 0; k->words[n] != NULL; n++)
			if (strcmp(value, k->words[n]) == 0)
				break;
		set_string(field, k->words[n] != NULL ? ld_strdup(ld, value) :
		    path_absolute(ld, value));
		break;
	case CONFIG_PATH:
		set_string(field, path_absolute(ld, value));
		break;
	case CONFIG_DOMAIN:
		domain_parse(ld, k, value, field);
		break;
	case CONFIG_LISTEN:
		listen_parse(ld, value);
		break;
	case CONFIG_ADDRESS:
		address_parse(ld, k, value, field);
		break;
	case CONFIG_RUA:
	case CONFIG_POLICY_ID:
		record_parse(ld, k, value, field);
		break;
	case CONFIG_URL:
		url_parse(ld, k, value, field);
		break;
	case CONFIG_EMAIL:
		email_parse(ld, k, value, field);
		break;
	case CONFIG_TEXT:
		set_string(field, ld_strdup(ld, value));
		break;
	case CONFIG_SECRET:
		/* never quoted: it is a key */
		if (has_blank(value))
			diag_err(ld->d, ld->file, ld->lineno,
			    "%s contains a blank (%zu bytes, not shown); give the "
			    "key as the CA printed it, one word", k->name,
			    strlen(value));
		else
			set_string(field, ld_strdup(ld, value));
		break;
	case CONFIG_HOSTS:
		hosts_parse(ld, k, value, field);
		break;
	}
}

/*
 * An unknown key for a message. It is named when it looks like a key: lower
 * case letters, digits, '_', '-' or '.', at most 32 (or a known key in other
 * case); else only its length is given. Whatever stands before a "=" or ":"
 * parses as a key, and in a file that is not a configuration (a PEM key, an
 * environment file) that may be half a line of base64 or a secret's name.
 * The value of an unknown key is never shown.
 */
static const char *
key_shown(char buf[DIAG_TOKEN_BUF], const char *key, int known_in_other_case)
{
	size_t len = strlen(key), i;

	for (i = 0; i < len && len <= 32; i++)
		if (!((key[i] >= 'a' && key[i] <= 'z') ||
		    (key[i] >= '0' && key[i] <= '9') || key[i] == '_' ||
		    key[i] == '-' || key[i] == '.'))
			break;
	if ((len > 0 && i == len && len <= 32) || known_in_other_case)
		snprintf(buf, DIAG_TOKEN_BUF, "\"%s\"", key);
	else
		snprintf(buf, DIAG_TOKEN_BUF, "(%zu bytes, not shown: not a key name)",
		    len);
	return buf;
}

/* One "key = value" line of the current section. */
static void
key_set(struct loader *ld, const char *key, const char *value)
{
	enum config_section sec;
	const struct config_key *k;
	char list[600], q[DIAG_TOKEN_BUF];
	size_t i, n = 0;
	int lower = 0;

	if (*key == '\0') {
		diag_err(ld->d, ld->file, ld->lineno,
		    "line has no key before \"=\" or \":\"; write it as key = value");
		return;
	}
	switch (ld->sec) {
	case SEC_IGNORED:
		return;
	case SEC_NONE:
		diag_err(ld->d, ld->file, ld->lineno,
		    "key %s is outside any section; put it under [server], [defaults], [acme] or a domain like [example.com]",
		    key_shown(q, key, 0));
		return;
	case SEC_SERVER:
		sec = CONFIG_SECTION_SERVER;
		break;
	case SEC_DEFAULTS:
		sec = CONFIG_SECTION_DEFAULTS;
		break;
	case SEC_ACME:
		sec = CONFIG_SECTION_ACME;
		break;
	default:
		sec = CONFIG_SECTION_DOMAIN;
		break;
	}

	if ((k = config_key_find(sec, key)) == NULL) {
		list[0] = '\0';
		for (i = 0; i < config_nkeys; i++) {
			if (config_keys[i].section != sec)
				continue;
			if (strcasecmp(config_keys[i].name, key) == 0)
				lower = 1;
			n += (size_t)snprintf(list + n, n < sizeof(list) ?
			    sizeof(list) - n : 0, "%s%s", n ? ", " : "",
			    config_keys[i].name);
		}
		diag_err(ld->d, ld->file, ld->lineno,
		    "unknown key %s in [%s]; %s: %s", key_shown(q, key, lower),
		    section_label(ld), lower ? "keys are lower case" : "valid keys are",
		    list);
		return;
	}
	i = (size_t)(k - config_keys);
	if (*value == '\0') {
		diag_err(ld->d, ld->file, ld->lineno,
		    "%s has an empty value; give a value or remove the line", key);
		return;
	}
	if (k->type != CONFIG_LISTEN && ld->key_line[i] != 0) {
		diag_err(ld->d, ld->file, ld->lineno,
		    "%s is given twice in [%s] (first at line %u); give it once",
		    key, section_label(ld), ld->key_line[i]);
		return;
	}
	ld->key_line[i] = ld->lineno;
	ld->given[i] = 1;
	value_set(ld, k, value, key_field(k, ld->cfg, sec == CONFIG_SECTION_DOMAIN ?
	    &ld->cfg->domains[ld->dom] : NULL));
}

/* ---- the inih side (see the comment at the top) ---- */

/* The line handed to inih last was not "key = value" if the handler did
 * not see it: inih found no "=" or ":" in it. */
static void
line_done(struct loader *ld)
{
	if (!ld->expect_key)
		return;
	ld->expect_key = 0;
	diag_err(ld->d, ld->file, ld->lineno,
	    "line is not \"key = value\", \"[section]\" or a comment%s",
	    ld->indented ? " (indented lines do not continue the line above; write the key again)" : "");
}

static int
handler(void *user, const char *section, const char *name, const char *value)
{
	struct loader *ld = user;

	(void)section;		/* cut to 49 bytes by inih; ld->sec is ours */
	ld->expect_key = 0;
	key_set(ld, name, value);
	return 1;
}

/* A "[section]" line s..e (without blanks at its ends). */
static void
section_line(struct loader *ld, const char *s, const char *e)
{
	const char *close = find_chars_or_comment(s + 1, e, "]");
	const char *n = s + 1, *ne = close, *rest = close + 1;

	if (close == e || *close != ']') {
		diag_err(ld->d, ld->file, ld->lineno,
		    "section header has no closing \"]\"; write it as [example.com]");
		return;
	}
	while (rest < e && is_blank((unsigned char)*rest))
		rest++;
	if (rest < e && !(*rest == ';' && is_blank((unsigned char)rest[-1]))) {
		diag_err(ld->d, ld->file, ld->lineno,
		    "text after the section header \"]\"; only a \" ; comment\" may follow it");
		return;
	}
	while (n < ne && is_blank((unsigned char)*n))
		n++;
	while (ne > n && is_blank((unsigned char)ne[-1]))
		ne--;
	section_begin(ld, n, (size_t)(ne - n));
}

/* A line s..e that is within CONFIG_MAX_LINE but does not fit inih's
 * buffer: split as inih splits a line, then handled as inih would. */
static void
line_split(struct loader *ld, const char *s, const char *e)
{
	char key[CONFIG_MAX_LINE + 1], value[CONFIG_MAX_LINE + 1];
	const char *sep = find_chars_or_comment(s, e, "=:"), *ke = sep, *v, *ve;

	if (sep == e || (*sep != '=' && *sep != ':')) {
		ld->expect_key = 1;	/* reported as any line without "=" */
		return;
	}
	while (ke > s && is_blank((unsigned char)ke[-1]))
		ke--;
	v = sep + 1;
	ve = find_chars_or_comment(v, e, NULL);
	while (v < ve && is_blank((unsigned char)*v))
		v++;
	while (ve > v && is_blank((unsigned char)ve[-1]))
		ve--;
	memcpy(key, s, (size_t)(ke - s));
	key[ke - s] = '\0';
	memcpy(value, v, (size_t)(ve - v));
	value[ve - v] = '\0';
	key_set(ld, key, value);
}

/*
 * The ini_reader: hand inih the next line in out (size num), without the
 * blanks at its ends and its line end. What the reader handles itself (see
 * the comment at the top) becomes "".
 */
static char *
reader(char *out, int num, void *stream)
{
	struct loader *ld = stream;
	const char *line, *nl, *s, *e;
	size_t len;

	line_done(ld);
	if (ld->p >= ld->end || num < 2)
		return NULL;
	line = ld->p;
	nl = memchr(line, '\n', (size_t)(ld->end - line));
	len = nl != NULL ? (size_t)(nl - line) : (size_t)(ld->end - line);
	ld->p = nl != NULL ? nl + 1 : ld->end;
	ld->lineno++;
	out[0] = '\0';

	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (ld->lineno == 1 && len >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0) {
		line += 3;
		len -= 3;
	}
	if (len > CONFIG_MAX_LINE) {
		diag_err(ld->d, ld->file, ld->lineno,
		    "line is longer than %d bytes; shorten it (use a shorter or relative path)",
		    CONFIG_MAX_LINE);
		return out;
	}
	if (memchr(line, '\0', len) != NULL) {
		diag_err(ld->d, ld->file, ld->lineno,
		    "line contains a NUL byte; the configuration must be text");
		return out;
	}

	s = line;
	e = line + len;
	while (s < e && is_blank((unsigned char)*s))
		s++;
	while (e > s && is_blank((unsigned char)e[-1]))
		e--;
	if (s == e || *s == ';' || *s == '#')
		return out;
	if (*s == '[') {
		section_line(ld, s, e);
		return out;
	}
	ld->indented = s > line;
	if (e - s >= num) {
		line_split(ld, s, e);
		return out;
	}
	memcpy(out, s, (size_t)(e - s));
	out[e - s] = '\0';
	ld->expect_key = 1;
	return out;
}

/* ---- entry points ---- */

/* The defaults of the [server] keys the file did not give. */
static void
config_finish(struct loader *ld)
{
	ld->lineno = 0;
	for (size_t i = 0; i < config_nkeys; i++) {
		const struct config_key *k = &config_keys[i];

		if ((k->section == CONFIG_SECTION_SERVER ||
		    k->section == CONFIG_SECTION_ACME) && k->def != NULL &&
		    !ld->given[i])
			value_set(ld, k, k->def, key_field(k, ld->cfg, NULL));
	}
}

/* Parse buf[0..len) as the file called name; see config.h. */
int
config_load_buffer(const char *name, const char *buf, size_t len,
    struct config *cfg, struct diag *d)
{
	struct loader *ld;
	size_t errors_before = d->nerrors;
	int r;

	memset(cfg, 0, sizeof(*cfg));
	if ((ld = calloc(1, sizeof(*ld))) == NULL) {
		diag_err(d, name, 0, "out of memory");
		return -1;
	}
	ld->file = name;
	ld->cfg = cfg;
	ld->d = d;
	ld->p = buf;
	ld->end = buf + len;
	ld->sec = SEC_NONE;

	if ((cfg->path = ld_strdup(ld, name)) != NULL &&
	    (cfg->dir = dir_of(ld, name)) != NULL) {
		/* > 0: the first line without "=", reported by line_done */
		r = ini_parse_stream(reader, ld, handler, ld);
		line_done(ld);
		section_end(ld);
		if (r < 0)
			ld->oom = 1;
		if (d->nerrors == errors_before)
			config_finish(ld);
	}
	if (ld->oom)
		diag_err(d, name, 0, "out of memory");
	free(ld);

	if (d->nerrors != errors_before) {
		config_free(cfg);
		return -1;
	}
	return 0;
}

/* Read the file at path whole, then parse it as config_load_buffer does. */
int
config_load(const char *path, struct config *cfg, struct diag *d)
{
	struct stat sb;
	FILE *f;
	int fd;
	char *buf = NULL;
	size_t len = 0, cap = 0, n;
	int r;

	memset(cfg, 0, sizeof(*cfg));
	/* O_NONBLOCK: a FIFO put where the file should be must not hang us */
	if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) == -1) {
		diag_err(d, path, 0, "cannot open: %s", strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		diag_err(d, path, 0, "is not a regular file");
		close(fd);
		return -1;
	}
	if ((f = fdopen(fd, "rb")) == NULL) {
		diag_err(d, path, 0, "cannot open: %s", strerror(errno));
		close(fd);
		return -1;
	}
	for (;;) {
		if (len == cap) {
			char *nb;
			if (cap >= (size_t)CONFIG_MAX_FILE) {
				diag_err(d, path, 0,
				    "is larger than %ld MB; is this the right file?",
				    CONFIG_MAX_FILE >> 20);
				goto fail;
			}
			cap = cap ? cap * 2 : 65536;
			if ((nb = realloc(buf, cap)) == NULL) {
				diag_err(d, path, 0, "out of memory");
				goto fail;
			}
			buf = nb;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		diag_err(d, path, 0, "cannot read: %s", strerror(errno));
		goto fail;
	}
	fclose(f);
	r = config_load_buffer(path, buf, len, cfg, d);
	free(buf);
	return r;
fail:
	fclose(f);
	free(buf);
	return -1;
}

/* Free every string and array of cfg and zero it. */
void
config_free(struct config *cfg)
{
	free(cfg->path);
	free(cfg->dir);
	free(cfg->listen);
	free(cfg->user);
	free(cfg->group);
	free(cfg->policy_dir);
	free(cfg->cert_dir);
	free(cfg->default_domain);
	free(cfg->access_log);
	free(cfg->error_log);
	for (int i = 0; i < 2; i++) {
		free(cfg->default_certs[i].cert);
		free(cfg->default_certs[i].key);
	}
	free(cfg->default_tlsrpt);
	free(cfg->acme.directory);
	free(cfg->acme.email);
	free(cfg->acme.storage);
	free(cfg->acme.ca_file);
	free(cfg->acme.eab_kid);
	free(cfg->acme.eab_hmac_key);
	free(cfg->acme.preferred_issuer);
	free(cfg->acme.addresses);
	for (size_t i = 0; i < cfg->ndomains; i++) {
		struct domain_conf *dc = &cfg->domains[i];
		free(dc->name);
		free(dc->policy);
		free(dc->policy_id);
		free(dc->tlsrpt);
		for (int j = 0; j < 2; j++) {
			free(dc->certs[j].cert);
			free(dc->certs[j].key);
		}
	}
	free(cfg->domains);
	strmap_free(&cfg->domain_index);
	memset(cfg, 0, sizeof(*cfg));
}

int
config_str_differs(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a != b;
	return strcmp(a, b) != 0;
}

/* Look name up in the domain index. */
const struct domain_conf *
config_find_domain(const struct config *cfg, const char *name)
{
	size_t slot = name != NULL ? domain_slot(cfg, name) : 0;

	return slot != 0 ? &cfg->domains[slot - 1] : NULL;
}

/* A domain's section tlsrpt, else the [defaults] one, else NULL. */
const char *
config_domain_tlsrpt(const struct config *cfg, const char *name)
{
	const struct domain_conf *dc = config_find_domain(cfg, name);

	if (dc != NULL && dc->tlsrpt != NULL)
		return dc->tlsrpt;
	return cfg->default_tlsrpt;
}

/* ACME on, and the domain not hand-managed. */
int
config_domain_acme(const struct config *cfg, const char *name)
{
	const struct domain_conf *dc = config_find_domain(cfg, name);

	if (cfg->acme.directory == NULL)
		return 0;
	if (dc == NULL)
		return 1;
	if (dc->acme != -1)
		return dc->acme;
	return dc->certs[0].cert == NULL;
}

/* ---- the table, for the rest of the server ---- */

/* A linear search: 35 keys, looked up once per line read or reload. */
const struct config_key *
config_key_find(enum config_section section, const char *name)
{
	for (size_t i = 0; i < config_nkeys; i++)
		if (config_keys[i].section == section &&
		    strcmp(config_keys[i].name, name) == 0)
			return &config_keys[i];
	return NULL;
}

/* A [server] or [acme] number key's value by name; 0 when there is none. */
unsigned
config_number(const struct config *cfg, const char *name)
{
	const struct config_key *k = config_key_find(CONFIG_SECTION_SERVER, name);

	if (k == NULL)
		k = config_key_find(CONFIG_SECTION_ACME, name);

	if (k == NULL || !is_number(k))
		return 0;
	return number_get(k, key_field(k, cfg, NULL));
}

/* Format a [server], [defaults] or [acme] value as a file would give it. */
const char *
config_key_format(const struct config_key *k, const struct config *cfg,
    char *buf, size_t size)
{
	const void *field;
	const char *s;
	size_t n = 0;

	buf[0] = '\0';
	if (k->section == CONFIG_SECTION_DOMAIN || size == 0)
		return buf;
	field = key_field(k, cfg, NULL);
	switch (k->type) {
	case CONFIG_UINT:
	case CONFIG_THREADS:
		snprintf(buf, size, "%u", number_get(k, field));
		break;
	case CONFIG_BOOL:
		snprintf(buf, size, "%s", number_get(k, field) ? "yes" : "no");
		break;
	case CONFIG_ENUM:
		snprintf(buf, size, "%s", k->words[number_get(k, field)]);
		break;
	case CONFIG_LISTEN:
		for (size_t i = 0; i < cfg->nlisten; i++)
			n += (size_t)snprintf(buf + n, n < size ? size - n : 0,
			    "%s%s", i ? ", " : "", cfg->listen[i].text);
		break;
	case CONFIG_ADDRESS:
		s = ((const struct listen_addr *)field)->text;
		snprintf(buf, size, "%s", ((const struct listen_addr *)field)->len ?
		    s : "off");
		break;
	case CONFIG_SECRET:
		snprintf(buf, size, "%s", *(char *const *)field != NULL ?
		    "(set)" : "none");
		break;
	default:
		s = *(char *const *)field;
		snprintf(buf, size, "%s", s != NULL ? s : "none");
		break;
	}
	return buf;
}

/* Compare the listen lists exactly, everything else as formatted. */
int
config_key_differs(const struct config_key *k, const struct config *a,
    const struct config *b)
{
	char va[1024], vb[1024];

	if (k->section == CONFIG_SECTION_DOMAIN)
		return 0;
	if (k->type == CONFIG_LISTEN) {
		if (a->nlisten != b->nlisten)
			return 1;
		for (size_t i = 0; i < a->nlisten; i++)
			if (strcmp(a->listen[i].text, b->listen[i].text) != 0)
				return 1;
		return 0;
	}
	if (k->type == CONFIG_SECRET)	/* formatted alike: "(set)" */
		return config_str_differs(*(char *const *)key_field(k, a, NULL),
		    *(char *const *)key_field(k, b, NULL));
	return strcmp(config_key_format(k, a, va, sizeof(va)),
	    config_key_format(k, b, vb, sizeof(vb))) != 0;
}

/* Every [server] and [defaults] key that differs, through fn. */
size_t
config_diff(const struct config *old, const struct config *new,
    void (*fn)(void *arg, const struct config_key *k, const char *was,
    const char *now), void *arg)
{
	char was[1024], now[1024];
	size_t n = 0;

	for (size_t i = 0; i < config_nkeys; i++) {
		const struct config_key *k = &config_keys[i];

		if (!config_key_differs(k, old, new))
			continue;
		n++;
		if (fn != NULL)
			fn(arg, k, config_key_format(k, old, was, sizeof(was)),
			    config_key_format(k, new, now, sizeof(now)));
	}
	return n;
}

/* The type as --keys prints it. */
const char *
config_key_type(const struct config_key *k, char *buf, size_t size)
{
	static const char *const names[] = {
		[CONFIG_UINT] = "uint", [CONFIG_THREADS] = "uint|auto",
		[CONFIG_BOOL] = "yes|no", [CONFIG_ENUM] = "enum",
		[CONFIG_NAME] = "name", [CONFIG_PATH] = "path",
		[CONFIG_DEST] = "path", [CONFIG_DOMAIN] = "domain",
		[CONFIG_LISTEN] = "addresses", [CONFIG_ADDRESS] = "address|off",
		[CONFIG_RUA] = "uris", [CONFIG_POLICY_ID] = "id",
		[CONFIG_URL] = "url", [CONFIG_EMAIL] = "email",
		[CONFIG_TEXT] = "text", [CONFIG_SECRET] = "secret",
		[CONFIG_HOSTS] = "hosts",
	};
	char words[128];

	if (k->type == CONFIG_UINT || k->type == CONFIG_THREADS)
		snprintf(buf, size, "%s %lu..%lu", names[k->type], k->min, k->max);
	else if (k->type == CONFIG_ENUM)
		snprintf(buf, size, "%s", word_list(k->words, "|", words,
		    sizeof(words)));
	else if (k->type == CONFIG_DEST)
		snprintf(buf, size, "%s|path", word_list(k->words, "|", words,
		    sizeof(words)));
	else
		snprintf(buf, size, "%s", names[k->type]);
	return buf;
}

const char *
config_apply_name(enum config_apply a)
{
	return a == CONFIG_APPLY_LIVE ? "live" : a == CONFIG_APPLY_REBUILD ?
	    "rebuild" : "restart";
}

const char *
config_section_name(enum config_section s)
{
	return s == CONFIG_SECTION_SERVER ? "server" :
	    s == CONFIG_SECTION_DEFAULTS ? "defaults" :
	    s == CONFIG_SECTION_ACME ? "acme" : "domain";
}
