/* config.c - the INI configuration file (inih) as plain structs */
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
 * How a line reaches inih.
 *
 * Debian's inih reads at most INI_MAX_LINE (200) bytes a line, reports only
 * the first bad line and never tells its handler the line number. So we give
 * ini_parse_stream() our own reader, called once per line, and do the line
 * work there:
 *
 *  - we count lines, so when inih calls the handler for the line the reader
 *    just returned, ld->lineno is that line's number;
 *  - a line longer than CONFIG_MAX_LINE bytes (not counting "\n" or "\r\n")
 *    is reported and dropped whole, instead of being cut into pieces;
 *  - blank lines, comments (";" or "#" as the first non-blank character) and
 *    lines that are not "[section]" or "key = value" / "key: value" are
 *    handled (reported) here and handed to inih as empty lines, so every bad
 *    line gets its own "file:line:" message, not just the first;
 *  - section headers are handled here too, and handed on as empty lines:
 *    inih keeps only 49 bytes of a section name and a domain may have 253.
 *    The handler ignores inih's section argument and uses ours.
 *
 * Continuation lines: inih as built by default (INI_ALLOW_MULTILINE) takes a
 * non-blank line that starts with a blank, after a key line, as more of that
 * key's value and calls the handler again with the same key. An indented
 * "cert = x" under "policy = y" would then silently become a second policy
 * value "cert = x". We hand inih every line with its leading blanks removed,
 * so continuation never happens: indentation means nothing and each line
 * stands alone. An indented bare value is "not key = value", an error.
 *
 * Inline comments (INI_ALLOW_INLINE_COMMENTS, prefix ";"): a ";" that follows
 * a blank ends the value ("listen = *:443 ; all" is "*:443"); a ";" right
 * after another character is part of the value ("a;b"). "#" starts a comment
 * only at the beginning of a line: "cert = a # b" is the value "a # b".
 * The first "=" or ":" separates key and value, so "listen: [::1]:443" works.
 * A UTF-8 byte order mark at the start of the file is skipped.
 */

#define CONFIG_MAX_LISTEN 64		/* more is a mistake, and bind() per entry */
#define CONFIG_MAX_FILE (64L << 20)	/* 100,000 domains fit in a few MB */

enum section_kind {
	SEC_NONE,		/* before the first [section] */
	SEC_SERVER,
	SEC_DEFAULTS,
	SEC_DOMAIN,
	SEC_IGNORED		/* a bad or repeated header: its keys are skipped */
};

/* the keys of each kind of section; the index is the key's slot in key_line */
static const char *const server_keys[] = {
	"listen", "user", "group", "policy_dir", "cert_dir", "default_domain",
	"handshake_timeout", "idle_timeout", "max_connections", "log_level",
	"access_log", "auto_reload", "poll_interval", "max_connections_per_ip",
	"request_timeout", "max_header_size", "max_requests_per_connection",
	"allow_root", "admin_listen", "metrics_per_domain", "log_format",
	"error_log", "workers", "shutdown_timeout", NULL
};
enum { SK_LISTEN, SK_USER, SK_GROUP, SK_POLICY_DIR, SK_CERT_DIR,
	SK_DEFAULT_DOMAIN, SK_HANDSHAKE_TIMEOUT, SK_IDLE_TIMEOUT,
	SK_MAX_CONNECTIONS, SK_LOG_LEVEL, SK_ACCESS_LOG, SK_AUTO_RELOAD,
	SK_POLL_INTERVAL, SK_MAX_PER_IP, SK_REQUEST_TIMEOUT, SK_MAX_HEADER,
	SK_MAX_REQUESTS, SK_ALLOW_ROOT, SK_ADMIN_LISTEN, SK_METRICS_PER_DOMAIN,
	SK_LOG_FORMAT, SK_ERROR_LOG, SK_WORKERS, SK_SHUTDOWN_TIMEOUT, SK_COUNT };

static const char *const defaults_keys[] = {
	"cert", "key", "cert2", "key2", "tlsrpt", NULL
};
static const char *const domain_keys[] = {
	"cert", "key", "cert2", "key2", "policy", "tlsrpt", "policy_id", NULL
};
enum { CK_CERT, CK_KEY, CK_CERT2, CK_KEY2, DK_POLICY };

struct loader {
	const char *file;		/* name for messages */
	struct config *cfg;
	struct diag *d;
	const char *p, *end;		/* the unread rest of the buffer */
	unsigned lineno;
	int oom;

	enum section_kind sec;
	size_t dom;			/* cfg->domains index when SEC_DOMAIN */
	unsigned sec_line;
	unsigned key_line[SK_COUNT];	/* where each key of this section was */
	unsigned server_line, defaults_line;
	size_t domains_cap;
	int listen_given;

	/* a line too long for inih's buffer is split by the reader instead */
	int use_own;
	char own_key[CONFIG_MAX_LINE + 1], own_value[CONFIG_MAX_LINE + 1];
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

static size_t
name_hash(const char *s)
{
	uint64_t h = 14695981039346656037ULL;	/* FNV-1a */

	while (*s != '\0') {
		h ^= (unsigned char)*s++;
		h *= 1099511628211ULL;
	}
	return (size_t)h;
}

/* The slot that holds name, or the empty slot where it would go. */
static size_t *
index_slot(const struct config *cfg, const char *name)
{
	size_t mask = cfg->domain_nslots - 1;
	size_t i = name_hash(name) & mask;

	while (cfg->domain_slots[i] != 0 &&
	    strcmp(cfg->domains[cfg->domain_slots[i] - 1].name, name) != 0)
		i = (i + 1) & mask;
	return &cfg->domain_slots[i];
}

/* Make room in the index for one more domain; -1 when memory runs out. */
static int
index_grow(struct config *cfg)
{
	size_t n = cfg->domain_nslots ? cfg->domain_nslots : 64;
	size_t *old = cfg->domain_slots, oldn = cfg->domain_nslots;

	if ((cfg->ndomains + 1) * 2 <= cfg->domain_nslots)
		return 0;
	while ((cfg->ndomains + 1) * 2 > n)
		n *= 2;
	if ((cfg->domain_slots = calloc(n, sizeof(*old))) == NULL) {
		cfg->domain_slots = old;
		return -1;
	}
	cfg->domain_nslots = n;
	for (size_t i = 0; i < oldn; i++)
		if (old[i] != 0)
			*index_slot(cfg, cfg->domains[old[i] - 1].name) = old[i];
	free(old);
	return 0;
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
	size_t *slot;

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
	if (name_normalise(name, len, norm, sizeof(norm)) != 0) {
		if (diag_is_token(name, len))
			diag_err(ld->d, ld->file, ld->lineno,
			    "section [%.*s] is not [server], [defaults] or a domain name like [example.com] "
			    "(letters, digits and hyphens, at least two labels, no trailing dot)",
			    (int)len, name);
		else
			diag_err(ld->d, ld->file, ld->lineno,
			    "section name (%zu bytes, not shown) is not server, defaults or a domain name "
			    "like example.com (letters, digits and hyphens, at least two labels)", len);
		return;
	}
	if ((host = name_policy_domain(norm)) != NULL) {
		diag_err(ld->d, ld->file, ld->lineno,
		    "section [%s] is the policy host; name the domain, not the policy host: [%s]",
		    norm, host);
		return;
	}
	if (cfg->domain_nslots > 0 && (slot = index_slot(cfg, norm), *slot != 0)) {
		diag_err(ld->d, ld->file, ld->lineno,
		    "section [%s] appears twice; first at line %u, put all its keys there",
		    norm, cfg->domains[*slot - 1].line);
		return;
	}

	/* a new domain: grow the array and the index, then add it */
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
	if (index_grow(cfg) != 0) {
		ld->oom = 1;
		return;
	}
	dc = &cfg->domains[cfg->ndomains];
	memset(dc, 0, sizeof(*dc));
	if ((dc->name = ld_strdup(ld, norm)) == NULL)
		return;
	dc->line = ld->lineno;
	cfg->ndomains++;
	*index_slot(cfg, dc->name) = cfg->ndomains;
	ld->dom = cfg->ndomains - 1;
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

static void
set_number(struct loader *ld, const char *key, const char *value,
    unsigned long min, unsigned long max, const char *unit, unsigned *out)
{
	int r = parse_uint(value, min, max, out);
	char q[DIAG_TOKEN_BUF];

	if (r == -1)
		diag_err(ld->d, ld->file, ld->lineno,
		    "%s %s is not a number; use %lu..%lu%s", key,
		    diag_token(q, value, strlen(value)), min, max, unit);
	else if (r == -2)
		diag_err(ld->d, ld->file, ld->lineno,
		    "%s %s is out of range; use %lu..%lu%s", key,
		    diag_token(q, value, strlen(value)), min, max, unit);
}

static void
set_string(char **dst, char *value)
{
	free(*dst);
	*dst = value;
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
	ld->listen_given = 1;
}

/* admin_listen: "off", or one address with an explicit port:
 * "127.0.0.1:9100" or "[::1]:9100" */
static void
admin_parse(struct loader *ld, const char *value)
{
	struct listen_addr *a = &ld->cfg->admin;
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
	    "admin_listen %s is not an address with a port; use off, "
	    "127.0.0.1:9100 or [::1]:9100", diag_token(q, value, strlen(value)));
}

static int
has_blank(const char *s)
{
	for (; *s != '\0'; s++)
		if (is_blank((unsigned char)*s))
			return 1;
	return 0;
}

static void
server_key(struct loader *ld, int k, const char *key, const char *value)
{
	struct config *cfg = ld->cfg;
	char norm[NAME_MAX_LEN + 1], q[DIAG_TOKEN_BUF];
	const char *host;

	/* the values of known keys: quoted while they are short tokens */
	diag_token(q, value, strlen(value));
	switch (k) {
	case SK_LISTEN:
		listen_parse(ld, value);
		break;
	case SK_USER:
	case SK_GROUP:
		if (has_blank(value)) {
			diag_err(ld->d, ld->file, ld->lineno,
			    "%s %s contains a blank; give one %s name", key,
			    q, key);
			break;
		}
		set_string(k == SK_USER ? &cfg->user : &cfg->group,
		    ld_strdup(ld, value));
		break;
	case SK_POLICY_DIR:
		set_string(&cfg->policy_dir, path_absolute(ld, value));
		break;
	case SK_CERT_DIR:
		set_string(&cfg->cert_dir, path_absolute(ld, value));
		break;
	case SK_DEFAULT_DOMAIN:
		if (name_normalise(value, strlen(value), norm, sizeof(norm)) != 0) {
			diag_err(ld->d, ld->file, ld->lineno,
			    "default_domain %s is not a domain name; use one like example.com",
			    q);
			break;
		}
		if ((host = name_policy_domain(norm)) != NULL) {
			diag_err(ld->d, ld->file, ld->lineno,
			    "default_domain \"%s\" is the policy host; name the domain, not the policy host: %s",
			    norm, host);
			break;
		}
		set_string(&cfg->default_domain, ld_strdup(ld, norm));
		break;
	case SK_HANDSHAKE_TIMEOUT:
		set_number(ld, key, value, 1, 300, " seconds",
		    &cfg->handshake_timeout);
		break;
	case SK_IDLE_TIMEOUT:
		set_number(ld, key, value, 1, 3600, " seconds",
		    &cfg->idle_timeout);
		break;
	case SK_MAX_CONNECTIONS:
		set_number(ld, key, value, 1, 1000000, "", &cfg->max_connections);
		break;
	case SK_LOG_LEVEL:
		if (strcmp(value, "error") == 0)
			cfg->log_level = LOG_LEVEL_ERROR;
		else if (strcmp(value, "warn") == 0)
			cfg->log_level = LOG_LEVEL_WARN;
		else if (strcmp(value, "info") == 0)
			cfg->log_level = LOG_LEVEL_INFO;
		else if (strcmp(value, "debug") == 0)
			cfg->log_level = LOG_LEVEL_DEBUG;
		else
			diag_err(ld->d, ld->file, ld->lineno,
			    "log_level %s is not one of error, warn, info, debug",
			    q);
		break;
	case SK_ACCESS_LOG:
		if (strcmp(value, "stderr") == 0 || strcmp(value, "off") == 0)
			set_string(&cfg->access_log, ld_strdup(ld, value));
		else
			set_string(&cfg->access_log, path_absolute(ld, value));
		break;
	case SK_AUTO_RELOAD:
		if (strcmp(value, "yes") == 0)
			cfg->auto_reload = 1;
		else if (strcmp(value, "no") == 0)
			cfg->auto_reload = 0;
		else
			diag_err(ld->d, ld->file, ld->lineno,
			    "auto_reload %s is not yes or no", q);
		break;
	case SK_POLL_INTERVAL:
		set_number(ld, key, value, 0, 86400, " seconds (0: no polling)",
		    &cfg->poll_interval);
		break;
	case SK_MAX_PER_IP:
		set_number(ld, key, value, 1, 1000000, "",
		    &cfg->max_connections_per_ip);
		break;
	case SK_REQUEST_TIMEOUT:
		set_number(ld, key, value, 1, 300, " seconds",
		    &cfg->request_timeout);
		break;
	case SK_MAX_HEADER:
		set_number(ld, key, value, 1024, 65536, " bytes",
		    &cfg->max_header_size);
		break;
	case SK_MAX_REQUESTS:
		set_number(ld, key, value, 1, 1000000, "",
		    &cfg->max_requests_per_connection);
		break;
	case SK_SHUTDOWN_TIMEOUT:
		set_number(ld, key, value, 0, 300, " seconds",
		    &cfg->shutdown_timeout);
		break;
	case SK_ALLOW_ROOT:
	case SK_METRICS_PER_DOMAIN:
		if (strcmp(value, "yes") != 0 && strcmp(value, "no") != 0)
			diag_err(ld->d, ld->file, ld->lineno,
			    "%s %s is not yes or no", key, q);
		else if (k == SK_ALLOW_ROOT)
			cfg->allow_root = strcmp(value, "yes") == 0;
		else
			cfg->metrics_per_domain = strcmp(value, "yes") == 0;
		break;
	case SK_ADMIN_LISTEN:
		admin_parse(ld, value);
		break;
	case SK_LOG_FORMAT:
		if (strcmp(value, "text") == 0)
			cfg->log_json = 0;
		else if (strcmp(value, "json") == 0)
			cfg->log_json = 1;
		else
			diag_err(ld->d, ld->file, ld->lineno,
			    "log_format %s is not text or json", q);
		break;
	case SK_WORKERS:
		if (strcmp(value, "auto") == 0) {
			long n = sysconf(_SC_NPROCESSORS_ONLN);

			cfg->workers = n < 1 ? 1 : n > 64 ? 64 : (unsigned)n;
		} else
			set_number(ld, key, value, 1, 64, " threads, or auto (one "
			    "per core)", &cfg->workers);
		break;
	case SK_ERROR_LOG:
		if (strcmp(value, "stderr") == 0 || strcmp(value, "syslog") == 0)
			set_string(&cfg->error_log, ld_strdup(ld, value));
		else
			set_string(&cfg->error_log, path_absolute(ld, value));
		break;
	}
}

/* cert, key, cert2, key2 of [defaults] and domains; policy of domains. */
static void
paths_key(struct loader *ld, int k, const char *value)
{
	struct cert_paths *c = section_certs(ld);

	switch (k) {
	case CK_CERT:
		set_string(&c[0].cert, path_absolute(ld, value));
		break;
	case CK_KEY:
		set_string(&c[0].key, path_absolute(ld, value));
		break;
	case CK_CERT2:
		set_string(&c[1].cert, path_absolute(ld, value));
		break;
	case CK_KEY2:
		set_string(&c[1].key, path_absolute(ld, value));
		break;
	case DK_POLICY:
		set_string(&ld->cfg->domains[ld->dom].policy,
		    path_absolute(ld, value));
		break;
	}
}

/* tlsrpt of [defaults] and domains, policy_id of domains: DNS record values */
static void
record_key(struct loader *ld, const char *key, const char *value)
{
	char err[RECORDS_ERR_MAX], rua[RECORDS_RUA_MAX], q[DIAG_TOKEN_BUF];

	if (strcmp(key, "policy_id") == 0) {
		if (!records_id_valid(value, strlen(value))) {
			diag_err(ld->d, ld->file, ld->lineno,
			    "policy_id %s is not 1 to %d letters and digits "
			    "(RFC 8461 section 3.1); use e.g. policy_id = 20240501T1",
			    diag_token(q, value, strlen(value)), RECORDS_ID_MAX);
			return;
		}
		set_string(&ld->cfg->domains[ld->dom].policy_id,
		    ld_strdup(ld, value));
		return;
	}
	if (records_rua_list(value, strlen(value), rua, sizeof(rua), err,
	    sizeof(err)) == -1) {
		diag_err(ld->d, ld->file, ld->lineno, "tlsrpt: %s", err);
		return;
	}
	set_string(ld->sec == SEC_DEFAULTS ? &ld->cfg->default_tlsrpt :
	    &ld->cfg->domains[ld->dom].tlsrpt, ld_strdup(ld, rua));
}

/* "a, b, c" from a NULL-terminated list, into buf. */
static const char *
key_list(const char *const *keys, char *buf, size_t size)
{
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; keys[i] != NULL; i++)
		n += (size_t)snprintf(buf + n, n < size ? size - n : 0, "%s%s",
		    i ? ", " : "", keys[i]);
	return buf;
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
	const char *const *keys;
	char list[160], q[DIAG_TOKEN_BUF];
	int k;

	switch (ld->sec) {
	case SEC_IGNORED:
		return;
	case SEC_NONE:
		diag_err(ld->d, ld->file, ld->lineno,
		    "key %s is outside any section; put it under [server], [defaults] or a domain like [example.com]",
		    key_shown(q, key, 0));
		return;
	case SEC_SERVER:
		keys = server_keys;
		break;
	case SEC_DEFAULTS:
		keys = defaults_keys;
		break;
	default:
		keys = domain_keys;
		break;
	}

	for (k = 0; keys[k] != NULL && strcmp(keys[k], key) != 0; k++)
		;
	if (keys[k] == NULL) {
		int lower = 0;
		for (int i = 0; keys[i] != NULL; i++)
			if (strcasecmp(keys[i], key) == 0)
				lower = 1;
		diag_err(ld->d, ld->file, ld->lineno,
		    "unknown key %s in [%s]; %s: %s", key_shown(q, key, lower),
		    section_label(ld), lower ? "keys are lower case" : "valid keys are",
		    key_list(keys, list, sizeof(list)));
		return;
	}
	if (*value == '\0') {
		diag_err(ld->d, ld->file, ld->lineno,
		    "%s has an empty value; give a value or remove the line", key);
		return;
	}
	if (!(ld->sec == SEC_SERVER && k == SK_LISTEN) && ld->key_line[k] != 0) {
		diag_err(ld->d, ld->file, ld->lineno,
		    "%s is given twice in [%s] (first at line %u); give it once",
		    key, section_label(ld), ld->key_line[k]);
		return;
	}
	ld->key_line[k] = ld->lineno;

	if (ld->sec == SEC_SERVER)
		server_key(ld, k, key, value);
	else if (strcmp(key, "tlsrpt") == 0 || strcmp(key, "policy_id") == 0)
		record_key(ld, key, value);
	else
		paths_key(ld, k, value);
}

/* ---- the inih side ---- */

static int
handler(void *user, const char *section, const char *name, const char *value)
{
	struct loader *ld = user;

	(void)section;		/* cut to 49 bytes by inih; the reader tracks ours */
	if (ld->use_own) {
		name = ld->own_key;
		value = ld->own_value;
	}
	if (name != NULL && value != NULL)
		key_set(ld, name, value);
	return 1;
}

/*
 * The ini_reader: hand inih the next line in out (size num), with leading
 * and trailing blanks and the line end removed. Everything the reader
 * handles itself (see the comment at the top) becomes "".
 */
static char *
reader(char *out, int num, void *stream)
{
	struct loader *ld = stream;
	const char *line, *nl, *s, *e, *sep, *v, *ve;
	size_t len;

	if (ld->p >= ld->end || num < 2)
		return NULL;
	line = ld->p;
	nl = memchr(line, '\n', (size_t)(ld->end - line));
	len = nl != NULL ? (size_t)(nl - line) : (size_t)(ld->end - line);
	ld->p = nl != NULL ? nl + 1 : ld->end;
	ld->lineno++;
	ld->use_own = 0;
	out[0] = '\0';

	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (ld->lineno == 1 && len >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0) {
		line += 3;
		len -= 3;
	}
	if (len > CONFIG_MAX_LINE) {
		diag_err(ld->d, ld->file, ld->lineno,
		    "line is longer than %d bytes; shorten it (inih reads at most %d bytes a line: "
		    "use a shorter or relative path)", CONFIG_MAX_LINE, CONFIG_MAX_LINE);
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
		const char *close = find_chars_or_comment(s + 1, e, "]");
		const char *n = s + 1, *ne = close, *rest = close + 1;

		if (close == e || *close != ']') {
			diag_err(ld->d, ld->file, ld->lineno,
			    "section header has no closing \"]\"; write it as [example.com]");
			return out;
		}
		while (rest < e && is_blank((unsigned char)*rest))
			rest++;
		if (rest < e && !(*rest == ';' && is_blank((unsigned char)rest[-1]))) {
			diag_err(ld->d, ld->file, ld->lineno,
			    "text after the section header \"]\"; only a \" ; comment\" may follow it");
			return out;
		}
		while (n < ne && is_blank((unsigned char)*n))
			n++;
		while (ne > n && is_blank((unsigned char)ne[-1]))
			ne--;
		section_begin(ld, n, (size_t)(ne - n));
		return out;
	}

	sep = find_chars_or_comment(s, e, "=:");
	if (sep == e || (*sep != '=' && *sep != ':')) {
		diag_err(ld->d, ld->file, ld->lineno,
		    "line is not \"key = value\", \"[section]\" or a comment%s",
		    s > line ? " (indented lines do not continue the line above; write the key again)" : "");
		return out;
	}
	if (sep == s) {
		diag_err(ld->d, ld->file, ld->lineno,
		    "line has no key before \"%c\"; write it as key = value", *sep);
		return out;
	}

	if (e - s < num) {
		memcpy(out, s, (size_t)(e - s));
		out[e - s] = '\0';
		return out;
	}

	/* too long for inih's buffer: split it here as inih would, hand on a stub */
	ve = sep;
	while (ve > s && is_blank((unsigned char)ve[-1]))
		ve--;
	memcpy(ld->own_key, s, (size_t)(ve - s));
	ld->own_key[ve - s] = '\0';
	v = sep + 1;
	ve = find_chars_or_comment(v, e, NULL);
	while (v < ve && is_blank((unsigned char)*v))
		v++;
	while (ve > v && is_blank((unsigned char)ve[-1]))
		ve--;
	memcpy(ld->own_value, v, (size_t)(ve - v));
	ld->own_value[ve - v] = '\0';
	ld->use_own = 1;
	memcpy(out, "k=v", 4);
	return out;
}

/* ---- entry points ---- */

static void
config_defaults(struct config *cfg)
{
	cfg->handshake_timeout = 10;
	cfg->idle_timeout = 30;
	cfg->max_connections = 1024;
	cfg->log_level = LOG_LEVEL_INFO;
	cfg->auto_reload = 1;
	cfg->poll_interval = 0;
	cfg->max_connections_per_ip = 64;
	cfg->request_timeout = 10;
	cfg->max_header_size = 8192;
	cfg->shutdown_timeout = 5;
	cfg->max_requests_per_connection = 1000;
	cfg->workers = 1;
}

/* Fill what the file left out; reports only memory failures. */
static void
config_finish(struct loader *ld)
{
	struct config *cfg = ld->cfg;
	struct in_addr any4 = { .s_addr = htonl(INADDR_ANY) };

	if (!ld->listen_given) {
		ld->lineno = 0;
		listen_add(ld, AF_INET, &any4, CONFIG_DEFAULT_PORT);
		listen_add(ld, AF_INET6, &in6addr_any, CONFIG_DEFAULT_PORT);
	}
	if (cfg->policy_dir == NULL)
		cfg->policy_dir = path_absolute(ld, "policies");
	if (cfg->access_log == NULL)
		cfg->access_log = ld_strdup(ld, "stderr");
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
	config_defaults(cfg);
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
		r = ini_parse_stream(reader, ld, handler, ld);
		section_end(ld);
		if (r > 0)
			diag_err(d, name, (unsigned)r,
			    "inih could not parse this line (an mta-stsd bug; please report it)");
		else if (r < 0)
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
	free(cfg->domain_slots);
	memset(cfg, 0, sizeof(*cfg));
}

int
config_str_differs(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a != b;
	return strcmp(a, b) != 0;
}

/* Look name up in the domain index: one hash probe sequence, no scan. */
const struct domain_conf *
config_find_domain(const struct config *cfg, const char *name)
{
	size_t slot;

	if (cfg->domain_nslots == 0 || name == NULL)
		return NULL;
	slot = *index_slot(cfg, name);
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
