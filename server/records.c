/* records.c - the DNS records of MTA-STS and TLS-RPT: parse, check, render (pure, no I/O) */
#include "records.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "diag.h"
#include "names.h"

/* an output buffer that counts what would have been written, as snprintf */
struct sbuf {
	char *p;
	size_t size, len;
};

static void
sb_putc(struct sbuf *sb, char c)
{
	if (sb->len + 1 < sb->size)
		sb->p[sb->len] = c;
	sb->len++;
	if (sb->size > 0)
		sb->p[sb->len < sb->size ? sb->len : sb->size - 1] = '\0';
}

static void
sb_puts(struct sbuf *sb, const char *s)
{
	while (*s != '\0')
		sb_putc(sb, *s++);
}

static void sb_printf(struct sbuf *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static void
sb_printf(struct sbuf *sb, const char *fmt, ...)
{
	char tmp[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	sb_puts(sb, tmp);
}

static void seterr(char *, size_t, const char *, ...)
    __attribute__((format(printf, 3, 4)));

static void
seterr(char *err, size_t errsz, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errsz == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errsz, fmt, ap);
	va_end(ap);
}

static int
is_alnum(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

static int
is_hex(int c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	    (c >= 'A' && c <= 'F');
}

static int
is_wsp(int c)
{
	return c == ' ' || c == '\t';
}

/*
 * Messages quote a report URI or an id only as diag_token allows (a short
 * token, else its length), never a URI with user information, and never a
 * field that is not name=value or an extension's value: the same rule as
 * for policy files, though TXT records are public, because a tlsrpt value
 * comes from the configuration file.
 */
static const char *
uri_shown(char q[DIAG_TOKEN_BUF], const char *uri, size_t len)
{
	/* "https://user:password@host": never quoted */
	if (!(len >= 7 && strncasecmp(uri, "mailto:", 7) == 0) &&
	    memchr(uri, '@', len) != NULL) {
		snprintf(q, DIAG_TOKEN_BUF, "(%zu bytes, not shown: it holds "
		    "user information)", len);
		return q;
	}
	return diag_token(q, uri, len);
}

int
records_id_valid(const char *s, size_t len)
{
	if (len < 1 || len > RECORDS_ID_MAX)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!is_alnum((unsigned char)s[i]))
			return 0;
	return 1;
}

/* ---- report URIs (RFC 8460 section 3) ---- */

/*
 * Check the characters of s[0..len), part of uri: "%" must start "%XX", ","
 * and ";" must be encoded, and only what is listed in ok (besides letters and
 * digits) may appear. Returns 0 or -1 with err.
 */
static int
uri_chars(const char *uri, size_t ulen, const char *s, size_t len,
    const char *ok, char *err, size_t errsz)
{
	char q[DIAG_TOKEN_BUF];

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '%') {
			if (i + 2 >= len)
				goto badpct;
			if (!is_hex((unsigned char)s[i + 1]) ||
			    !is_hex((unsigned char)s[i + 2]))
				goto badpct;
			i += 2;
			continue;
		}
		if (is_alnum(c) || (c != '\0' && strchr(ok, c) != NULL))
			continue;
		if (c == ',' || c == ';') {
			seterr(err, errsz, "report URI %s contains \"%c\": "
			    "RFC 8460 requires it written as %s",
			    uri_shown(q, uri, ulen), c, c == ',' ? "%2C" : "%3B");
			return -1;
		}
		if (c < 0x21 || c > 0x7e) {
			seterr(err, errsz, "report URI %s contains a blank, "
			    "control or non-ASCII byte; write it %%-encoded",
			    uri_shown(q, uri, ulen));
			return -1;
		}
		seterr(err, errsz, "report URI %s contains \"%c\", which "
		    "is not allowed there; %%-encode it", uri_shown(q, uri, ulen), c);
		return -1;
	}
	return 0;
badpct:
	seterr(err, errsz, "report URI %s has a \"%%\" not followed by "
	    "two hex digits", uri_shown(q, uri, ulen));
	return -1;
}

static int
mailto_check(const char *uri, size_t ulen, char *err, size_t errsz)
{
	const char *a = uri + 7, *e = uri + ulen, *at;
	char host[NAME_MAX_LEN + 1], q[DIAG_TOKEN_BUF], q2[DIAG_TOKEN_BUF];

	if (memchr(a, '?', (size_t)(e - a)) != NULL) {
		seterr(err, errsz, "report URI %s: a mailto: URI with "
		    "?headers is not accepted; give the plain address, e.g. "
		    "mailto:tlsrpt@example.com", uri_shown(q, uri, ulen));
		return -1;
	}
	at = memchr(a, '@', (size_t)(e - a));
	if (at == NULL || memchr(at + 1, '@', (size_t)(e - at - 1)) != NULL) {
		seterr(err, errsz, "report URI %s is not a mail address; "
		    "use mailto:local-part@domain, e.g. mailto:tlsrpt@example.com",
		    uri_shown(q, uri, ulen));
		return -1;
	}
	if (at == a) {
		seterr(err, errsz, "report URI %s has nothing before \"@\"; "
		    "use e.g. mailto:tlsrpt@example.com", uri_shown(q, uri, ulen));
		return -1;
	}
	if (a[0] == '.' || at[-1] == '.' ||
	    memmem(a, (size_t)(at - a), "..", 2) != NULL) {
		seterr(err, errsz, "report URI %s: the local part may not "
		    "start or end with a dot or hold two dots in a row",
		    uri_shown(q, uri, ulen));
		return -1;
	}
	if (uri_chars(uri, ulen, a, (size_t)(at - a), "-._~!$'*+/=&",
	    err, errsz) == -1)
		return -1;
	if (name_normalise(at + 1, (size_t)(e - at - 1), host, sizeof(host))
	    == -1) {
		seterr(err, errsz, "report URI %s: %s after \"@\" is "
		    "not a mail domain (letters, digits and hyphens, at least two "
		    "labels)", uri_shown(q, uri, ulen), diag_token(q2, at + 1,
		    (size_t)(e - at - 1)));
		return -1;
	}
	return 0;
}

static int
https_check(const char *uri, size_t ulen, char *err, size_t errsz)
{
	const char *a = uri + 8, *e = uri + ulen, *h, *he, *colon;
	char host[NAME_MAX_LEN + 1], q[DIAG_TOKEN_BUF], q2[DIAG_TOKEN_BUF];

	h = a;
	he = a;
	while (he < e && *he != '/' && *he != '?' && *he != '#')
		he++;
	if (memchr(a, '#', (size_t)(e - a)) != NULL) {
		seterr(err, errsz, "report URI %s has a #fragment; remove "
		    "it", uri_shown(q, uri, ulen));
		return -1;
	}
	if (memchr(h, '@', (size_t)(he - h)) != NULL) {
		seterr(err, errsz, "a report URI holds user information "
		    "(\"user@\" or \"user:password@\"; not shown); give "
		    "https://host/path only");
		return -1;
	}
	if (h < he && *h == '[') {
		seterr(err, errsz, "report URI %s: use a host name, not an "
		    "IP address", uri_shown(q, uri, ulen));
		return -1;
	}
	colon = memchr(h, ':', (size_t)(he - h));
	if (colon != NULL) {
		unsigned long port = 0;
		const char *p = colon + 1;

		if (p == he)
			port = 0;
		for (; p < he && *p >= '0' && *p <= '9' && port <= 65535; p++)
			port = port * 10 + (unsigned long)(*p - '0');
		if (p != he || port < 1 || port > 65535) {
			seterr(err, errsz, "report URI %s: the port is not a "
			    "number in 1..65535", uri_shown(q, uri, ulen));
			return -1;
		}
		he = colon;
	}
	if (name_normalise(h, (size_t)(he - h), host, sizeof(host)) == -1) {
		seterr(err, errsz, "report URI %s: %s is not a host "
		    "name (letters, digits and hyphens, at least two labels, not "
		    "an IP address)", uri_shown(q, uri, ulen), diag_token(q2, h,
		    (size_t)(he - h)));
		return -1;
	}
	while (a < e && *a != '/' && *a != '?')
		a++;
	return uri_chars(uri, ulen, a, (size_t)(e - a), "-._~!$&'()*+=:@/?",
	    err, errsz);
}

int
records_rua_uri_check(const char *uri, size_t len, char *err, size_t errsz)
{
	char q[DIAG_TOKEN_BUF];

	if (len == 0) {
		seterr(err, errsz, "empty report URI; give mailto:address or "
		    "https://host/path");
		return -1;
	}
	for (size_t i = 0; i < len; i++)
		if (is_wsp((unsigned char)uri[i]) || uri[i] == '"' ||
		    uri[i] == '\\') {
			seterr(err, errsz, "report URI %s contains a %s; "
			    "%%-encode it", uri_shown(q, uri, len),
			    is_wsp((unsigned char)uri[i]) ? "blank" :
			    uri[i] == '"' ? "quote" : "backslash");
			return -1;
		}
	if (len > 7 && strncasecmp(uri, "mailto:", 7) == 0)
		return mailto_check(uri, len, err, errsz);
	if (len > 8 && strncasecmp(uri, "https://", 8) == 0)
		return https_check(uri, len, err, errsz);
	if (len >= 7 && strncasecmp(uri, "http://", 7) == 0) {
		seterr(err, errsz, "report URI %s uses http:; RFC 8460 "
		    "allows only https: (and mailto:)", uri_shown(q, uri, len));
		return -1;
	}
	seterr(err, errsz, "report URI %s is not a mailto: or https: URI; "
	    "use e.g. mailto:tlsrpt@example.com or "
	    "https://reports.example.com/tlsrpt", uri_shown(q, uri, len));
	return -1;
}

int
records_rua_list(const char *s, size_t len, char *out, size_t outsz,
    char *err, size_t errsz)
{
	struct sbuf sb = { out, outsz, 0 };
	const char *p = s, *e = s + len;
	int n = 0;

	if (outsz > 0)
		out[0] = '\0';
	for (;;) {
		const char *t, *te;

		while (p < e && is_wsp((unsigned char)*p))
			p++;
		t = p;
		while (p < e && *p != ',')
			p++;
		te = p;
		while (te > t && is_wsp((unsigned char)te[-1]))
			te--;
		if (te == t) {
			seterr(err, errsz, n == 0 && p == e ? "no report URI; "
			    "give one or more mailto: or https: URIs separated "
			    "by commas" : "an empty report URI between commas; "
			    "remove the extra comma");
			return -1;
		}
		if (records_rua_uri_check(t, (size_t)(te - t), err, errsz) == -1)
			return -1;
		if (n++ > 0)
			sb_putc(&sb, ',');
		for (const char *c = t; c < te; c++)
			sb_putc(&sb, *c);
		if (p == e)
			break;
		p++;		/* the comma */
	}
	if (sb.len >= outsz) {
		seterr(err, errsz, "the report URIs are longer than %zu bytes; "
		    "give fewer or shorter ones", outsz - 1);
		return -1;
	}
	return 0;
}

/* ---- TXT records ---- */

int
records_is_sts(const char *txt, size_t len)
{
	return len >= 7 && memcmp(txt, "v=STSv1", 7) == 0;
}

int
records_is_tlsrpt(const char *txt, size_t len)
{
	return len >= 10 && memcmp(txt, "v=TLSRPTv1", 10) == 0;
}

/* an extension field "name=value" (the same rule in RFC 8461 and 8460) */
static int
ext_valid(const char *f, size_t len, const char *eq, const char *what,
    char *err, size_t errsz)
{
	size_t nlen = (size_t)(eq - f), vlen = len - nlen - 1;
	const char *v = eq + 1;

	/* an invalid name is not quoted (only its length or a column), a
	 * valid one is (at most 32 letters, digits, "_-."), a value never */
	if (nlen < 1 || nlen > 32 || !is_alnum((unsigned char)f[0])) {
		seterr(err, errsz, "%s field name is not valid (%s): 1 to 32 "
		    "letters, digits, \"_\", \"-\", \".\", starting with a letter "
		    "or digit", what, nlen == 0 ? "it is empty" : nlen > 32 ?
		    "it is too long" : "it does not start with a letter or digit");
		return -1;
	}
	for (size_t i = 1; i < nlen; i++)
		if (!is_alnum((unsigned char)f[i]) && f[i] != '_' &&
		    f[i] != '-' && f[i] != '.') {
			seterr(err, errsz, "%s field name is not valid (character "
			    "%zu): 1 to 32 letters, digits, \"_\", \"-\", \".\"",
			    what, i + 1);
			return -1;
		}
	if (vlen == 0) {
		seterr(err, errsz, "%s field \"%.*s\" has an empty value", what,
		    (int)nlen, f);
		return -1;
	}
	for (size_t i = 0; i < vlen; i++) {
		unsigned char c = (unsigned char)v[i];

		if (c < 0x21 || c > 0x7e || c == '=' || c == ';') {
			seterr(err, errsz, "%s field \"%.*s\": the value may hold "
			    "only visible ASCII other than \"=\" and \";\"", what,
			    (int)nlen, f);
			return -1;
		}
	}
	return 0;
}

/*
 * Split txt[0..len) (after its version tag of vlen bytes) into fields at
 * ";" with optional blanks around; call fn for each trimmed field. Returns 0
 * or -1 with err (a missing ";" after the version, an empty field).
 */
static int
split_fields(const char *txt, size_t len, size_t vlen, const char *what,
    int (*fn)(void *, const char *, size_t, char *, size_t), void *arg,
    char *err, size_t errsz)
{
	const char *p = txt + vlen, *e = txt + len;

	while (p < e && is_wsp((unsigned char)*p))
		p++;
	if (p == e)
		return 0;
	if (*p != ';') {
		seterr(err, errsz, "\"%.*s\" must be followed by \";\"",
		    (int)vlen, txt);
		return -1;
	}
	while (p < e) {
		const char *f, *fe;

		p++;		/* the ";" */
		while (p < e && is_wsp((unsigned char)*p))
			p++;
		if (p == e)
			break;	/* a final ";" is allowed */
		f = p;
		while (p < e && *p != ';')
			p++;
		fe = p;
		while (fe > f && is_wsp((unsigned char)fe[-1]))
			fe--;
		if (fe == f) {
			seterr(err, errsz, "%s record has an empty field (\";;\"); "
			    "remove the extra \";\"", what);
			return -1;
		}
		if (fn(arg, f, (size_t)(fe - f), err, errsz) == -1)
			return -1;
	}
	return 0;
}

struct sts_state {
	char *id;
	int have_id;
};

static int
sts_field(void *arg, const char *f, size_t len, char *err, size_t errsz)
{
	struct sts_state *st = arg;
	const char *eq = memchr(f, '=', len);

	for (size_t i = 0; i < len; i++)
		if (is_wsp((unsigned char)f[i])) {
			seterr(err, errsz, "a field contains a blank; "
			    "separate fields with \";\"");
			return -1;
		}
	if (eq == NULL) {
		seterr(err, errsz, "a field is not name=value (it has no "
		    "\"=\")");
		return -1;
	}
	if (eq - f == 2 && memcmp(f, "id", 2) == 0) {
		char q[DIAG_TOKEN_BUF];

		if (st->have_id) {
			seterr(err, errsz, "the record has two id= fields; give "
			    "one");
			return -1;
		}
		if (!records_id_valid(eq + 1, len - 3)) {
			seterr(err, errsz, "id %s is not 1 to 32 letters "
			    "and digits", diag_token(q, eq + 1, len - 3));
			return -1;
		}
		memcpy(st->id, eq + 1, len - 3);
		st->id[len - 3] = '\0';
		st->have_id = 1;
		return 0;
	}
	return ext_valid(f, len, eq, "MTA-STS", err, errsz);
}

int
records_sts_parse(const char *txt, size_t len, char id[RECORDS_ID_MAX + 1],
    char *err, size_t errsz)
{
	struct sts_state st = { id, 0 };

	id[0] = '\0';
	if (!records_is_sts(txt, len)) {
		seterr(err, errsz, "the record does not start with \"v=STSv1\"");
		return -1;
	}
	if (split_fields(txt, len, 7, "MTA-STS", sts_field, &st, err,
	    errsz) == -1) {
		id[0] = '\0';
		return -1;
	}
	if (!st.have_id) {
		seterr(err, errsz, "the record has no id= field");
		return -1;
	}
	return 0;
}

struct tlsrpt_state {
	char *rua;
	size_t ruasz;
	int have_rua;
};

static int
tlsrpt_field(void *arg, const char *f, size_t len, char *err, size_t errsz)
{
	struct tlsrpt_state *st = arg;
	const char *eq = memchr(f, '=', len);

	if (eq == NULL) {
		seterr(err, errsz, "a field is not name=value (it has no "
		    "\"=\")");
		return -1;
	}
	if (eq - f == 3 && memcmp(f, "rua", 3) == 0) {
		if (st->have_rua) {
			seterr(err, errsz, "the record has two rua= fields; give "
			    "one, with the URIs separated by commas");
			return -1;
		}
		st->have_rua = 1;
		return records_rua_list(eq + 1, len - 4, st->rua, st->ruasz,
		    err, errsz);
	}
	for (size_t i = 0; i < len; i++)
		if (is_wsp((unsigned char)f[i])) {
			seterr(err, errsz, "a field contains a blank; "
			    "separate fields with \";\"");
			return -1;
		}
	return ext_valid(f, len, eq, "TLS-RPT", err, errsz);
}

int
records_tlsrpt_parse(const char *txt, size_t len, char *rua, size_t ruasz,
    char *err, size_t errsz)
{
	struct tlsrpt_state st = { rua, ruasz, 0 };

	if (ruasz > 0)
		rua[0] = '\0';
	if (!records_is_tlsrpt(txt, len)) {
		seterr(err, errsz, "the record does not start with "
		    "\"v=TLSRPTv1\"");
		return -1;
	}
	if (split_fields(txt, len, 10, "TLS-RPT", tlsrpt_field, &st, err,
	    errsz) == -1)
		return -1;
	if (!st.have_rua) {
		seterr(err, errsz, "the record has no rua= field; add "
		    "rua=mailto:<address> (or https:)");
		return -1;
	}
	return 0;
}

/* ---- MX coverage and policy comparison ---- */

size_t
records_mx_cover(const struct policy *p, const char *const *hosts,
    size_t nhosts, unsigned char *host_ok, unsigned char *pattern_used)
{
	size_t missing = 0;

	if (pattern_used != NULL)
		memset(pattern_used, 0, p->nmx);
	for (size_t i = 0; i < nhosts; i++) {
		int ok = 0;

		for (size_t j = 0; j < p->nmx; j++)
			if (name_match(p->mx[j], hosts[i])) {
				ok = 1;
				if (pattern_used != NULL)
					pattern_used[j] = 1;
			}
		if (host_ok != NULL)
			host_ok[i] = (unsigned char)ok;
		if (!ok)
			missing++;
	}
	return missing;
}

static int
has_mx(const struct policy *p, const char *mx)
{
	for (size_t i = 0; i < p->nmx; i++)
		if (strcmp(p->mx[i], mx) == 0)
			return 1;
	return 0;
}

static int
has_ext(const struct policy *p, const struct policy_ext *x)
{
	for (size_t i = 0; i < p->next; i++)
		if (strcmp(p->ext[i].name, x->name) == 0 &&
		    strcmp(p->ext[i].value, x->value) == 0)
			return 1;
	return 0;
}

static void
diff_item(struct sbuf *sb, int *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
diff_item(struct sbuf *sb, int *n, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if ((*n)++ > 0)
		sb_puts(sb, "; ");
	sb_puts(sb, tmp);
}

int
records_policy_diff(const struct policy *held, const struct policy *served,
    char *out, size_t outsz)
{
	struct sbuf sb = { out, outsz, 0 };
	int n = 0, same_set = 1;

	if (outsz > 0)
		out[0] = '\0';
	if (held->text_len == served->text_len &&
	    memcmp(held->text, served->text, held->text_len) == 0)
		return 0;
	if (served->mode != held->mode)
		diff_item(&sb, &n, "mode is %s, not %s",
		    policy_mode_name(served->mode), policy_mode_name(held->mode));
	if (served->max_age != held->max_age)
		diff_item(&sb, &n, "max_age is %lu, not %lu", served->max_age,
		    held->max_age);
	for (size_t i = 0; i < held->nmx; i++)
		if (!has_mx(served, held->mx[i])) {
			diff_item(&sb, &n, "mx %s is missing", held->mx[i]);
			same_set = 0;
		}
	for (size_t i = 0; i < served->nmx; i++)
		if (!has_mx(held, served->mx[i])) {
			diff_item(&sb, &n, "mx %s is extra", served->mx[i]);
			same_set = 0;
		}
	if (same_set && held->nmx == served->nmx) {
		for (size_t i = 0; i < held->nmx; i++)
			if (strcmp(held->mx[i], served->mx[i]) != 0) {
				diff_item(&sb, &n, "the mx lines are in another "
				    "order");
				break;
			}
	} else if (same_set)
		diff_item(&sb, &n, "an mx line is repeated");
	for (size_t i = 0; i < held->next; i++)
		if (!has_ext(served, &held->ext[i]))
			diff_item(&sb, &n, "extension %s: %s is missing",
			    held->ext[i].name, held->ext[i].value);
	for (size_t i = 0; i < served->next; i++)
		if (!has_ext(held, &served->ext[i]))
			diff_item(&sb, &n, "extension %s: %s is extra",
			    served->ext[i].name, served->ext[i].value);
	if (n == 0)
		diff_item(&sb, &n, "the fields are the same but their order "
		    "differs");
	return 1;
}

/* ---- rendering ---- */

void
records_sts_value(const char *id, char *out, size_t outsz)
{
	snprintf(out, outsz, "v=STSv1; id=%s", id);
}

void
records_tlsrpt_value(const char *rua, char *out, size_t outsz)
{
	snprintf(out, outsz, "v=TLSRPTv1; rua=%s", rua);
}

size_t
records_zone_txt(char *out, size_t outsz, const char *owner, const char *text)
{
	struct sbuf sb = { out, outsz, 0 };
	size_t len = strlen(text), olen = strlen(owner);

	if (outsz > 0)
		out[0] = '\0';
	sb_puts(&sb, owner);
	if (olen == 0 || owner[olen - 1] != '.')
		sb_putc(&sb, '.');
	sb_printf(&sb, " %d IN TXT", RECORDS_TTL);
	for (size_t i = 0; i == 0 || i < len; i += 255) {
		sb_puts(&sb, " \"");
		for (size_t j = i; j < len && j < i + 255; j++) {
			if (text[j] == '"' || text[j] == '\\')
				sb_putc(&sb, '\\');
			sb_putc(&sb, text[j]);
		}
		sb_putc(&sb, '"');
	}
	return sb.len;
}
