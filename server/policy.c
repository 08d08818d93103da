/* policy.c - RFC 8461 policy: parse, validate, normalise, id (pure, no I/O) */
#include "policy.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/sha256.h>

#include "names.h"

/*
 * A file that produces this many messages is not a policy at all (a binary,
 * the wrong file, a 64,000-line accident): stop there instead of flooding the
 * operator and the heap. The limit counts warnings too, so that a file of
 * thousands of repeated mx lines is bounded as well.
 */
#define POLICY_MAX_MESSAGES 100

#define QUOTE_BUF DIAG_TOKEN_BUF	/* see diag_token: what may be quoted */
#define EXT_NAME_MAX 32			/* RFC 8461: 1 + *31 characters */
#define MX_PATTERN_MAX (NAME_MAX_LEN + 3)	/* "*." + name + NUL */

/* the fields with a meaning; any other valid name is an extension */
enum field { FIELD_VERSION, FIELD_MODE, FIELD_MAX_AGE, FIELD_MX, FIELD_EXT };

static const char *const field_names[] = { "version", "mode", "max_age", "mx" };

struct parser {
	const char *file;
	struct diag *d;
	struct policy *p;
	unsigned nerrors;		/* errors found by this parse */
	unsigned nmessages;		/* messages added by this parse */
	int stop;			/* too many messages, or no memory */
	unsigned seen[3];		/* line of version, mode, max_age */
	int mode_valid;			/* p->mode was set from the file */
	size_t mx_lines;		/* mx lines seen, valid or not */
	unsigned *mx_line;		/* line of each p->mx[i] */
	size_t mx_cap;
	unsigned *ext_line;		/* line of each p->ext[i] */
	size_t ext_cap;
};

static void
report(struct parser *ps, enum diag_severity sev, unsigned line,
    const char *fmt, va_list ap)
{
	char msg[1024];

	if (sev == DIAG_ERROR)
		ps->nerrors++;
	if (ps->stop)
		return;
	if (++ps->nmessages > POLICY_MAX_MESSAGES) {
		ps->nerrors++;
		ps->stop = 1;
		diag_err(ps->d, ps->file, line,
		    "too many problems (more than %d); stopping here: is this "
		    "really a policy file?", POLICY_MAX_MESSAGES);
		return;
	}
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (sev == DIAG_ERROR)
		diag_err(ps->d, ps->file, line, "%s", msg);
	else
		diag_warn(ps->d, ps->file, line, "%s", msg);
}

static void perr(struct parser *, unsigned, const char *, ...)
    __attribute__((format(printf, 3, 4)));
static void pwarn(struct parser *, unsigned, const char *, ...)
    __attribute__((format(printf, 3, 4)));

static void
perr(struct parser *ps, unsigned line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report(ps, DIAG_ERROR, line, fmt, ap);
	va_end(ap);
}

static void
pwarn(struct parser *ps, unsigned line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report(ps, DIAG_WARNING, line, fmt, ap);
	va_end(ap);
}

static void
oom(struct parser *ps, unsigned line)
{
	perr(ps, line, "out of memory");
	ps->stop = 1;
}

/*
 * What a message may quote of a line: the value of a known field (version,
 * mode, max_age, mx) or a valid field name, and only as diag_token allows
 * (a short token, else its length). A line that is not "name: value", an
 * invalid field name and an extension's value are never quoted: the file
 * may be the wrong one, a key or a list of passwords.
 */
static const char *
quote(char buf[QUOTE_BUF], const char *s, size_t len)
{
	return diag_token(buf, s, len);
}

static int
is_wsp(int c)
{
	return c == ' ' || c == '\t';
}

static int
is_alnum(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

static int
eq_nocase(const char *a, size_t alen, const char *b)
{
	size_t i;

	if (alen != strlen(b))
		return 0;
	for (i = 0; i < alen; i++) {
		int x = (unsigned char)a[i], y = (unsigned char)b[i];

		if (x >= 'A' && x <= 'Z')
			x += 'a' - 'A';
		if (y >= 'A' && y <= 'Z')
			y += 'a' - 'A';
		if (x != y)
			return 0;
	}
	return 1;
}

static int
eq(const char *a, size_t alen, const char *b)
{
	return alen == strlen(b) && memcmp(a, b, alen) == 0;
}

static char *
dup_n(const char *s, size_t len)
{
	char *r = malloc(len + 1);

	if (r != NULL) {
		memcpy(r, s, len);
		r[len] = '\0';
	}
	return r;
}

/* report bytes no policy may hold, once per kind and line; 0 if none */
static int
check_bytes(struct parser *ps, unsigned ln, const char *s, size_t len)
{
	int nul = 0, high = 0, cr = 0, ctl = 0;
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\0') {
			if (!nul++)
				perr(ps, ln, "NUL byte at column %zu: a policy "
				    "is plain ASCII text", i + 1);
		} else if (c >= 0x80) {
			if (!high++)
				perr(ps, ln, "non-ASCII byte at column %zu: a "
				    "policy must be ASCII (write international "
				    "names as A-labels, xn--...)", i + 1);
		} else if (c == '\r') {
			if (!cr++)
				perr(ps, ln, "carriage return not followed by "
				    "a line feed at column %zu: end every line "
				    "with LF or CRLF", i + 1);
		} else if ((c < 0x20 && c != '\t') || c == 0x7f) {
			if (!ctl++)
				perr(ps, ln, "control character at column "
				    "%zu: only printable ASCII, spaces and tabs "
				    "are allowed", i + 1);
		}
	}
	return nul || high || cr || ctl;
}

static int
valid_ext_name(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > EXT_NAME_MAX || !is_alnum((unsigned char)s[0]))
		return 0;
	for (i = 1; i < len; i++) {
		int c = (unsigned char)s[i];

		if (!is_alnum(c) && c != '_' && c != '.' && c != '-')
			return 0;
	}
	return 1;
}

static void
check_version(struct parser *ps, unsigned ln, const char *v, size_t len)
{
	char q[QUOTE_BUF];

	if (!eq(v, len, "STSv1"))
		perr(ps, ln, "version %s is not STSv1: write \"version: "
		    "STSv1\" exactly (values are case-sensitive)",
		    quote(q, v, len));
}

static void
check_mode(struct parser *ps, unsigned ln, const char *v, size_t len)
{
	static const struct {
		const char *name;
		enum policy_mode mode;
	} modes[] = {
		{ "enforce", POLICY_MODE_ENFORCE },
		{ "testing", POLICY_MODE_TESTING },
		{ "none", POLICY_MODE_NONE },
	};
	char q[QUOTE_BUF];
	size_t i;

	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		if (eq(v, len, modes[i].name)) {
			ps->p->mode = modes[i].mode;
			ps->mode_valid = 1;
			return;
		}
	}
	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		if (eq_nocase(v, len, modes[i].name)) {
			perr(ps, ln, "mode %s is not one of enforce, "
			    "testing, none (values are case-sensitive: write "
			    "%s)", quote(q, v, len), modes[i].name);
			return;
		}
	}
	perr(ps, ln, "mode %s is not one of enforce, testing, none",
	    quote(q, v, len));
}

static void
check_max_age(struct parser *ps, unsigned ln, const char *v, size_t len)
{
	unsigned long long n = 0;
	char q[QUOTE_BUF];
	size_t i;

	for (i = 0; i < len; i++)
		if (v[i] < '0' || v[i] > '9')
			break;
	if (i < len || len > 10) {
		perr(ps, ln, "max_age %s is not a number of seconds: write "
		    "1 to 10 digits, e.g. 604800 (a week)", quote(q, v, len));
		return;
	}
	for (i = 0; i < len; i++)
		n = n * 10 + (unsigned long long)(v[i] - '0');
	if (n > POLICY_MAX_AGE_MAX) {
		perr(ps, ln, "max_age %llu is more than %lu (a year), the most "
		    "RFC 8461 allows: senders refuse it", n,
		    POLICY_MAX_AGE_MAX);
		return;
	}
	ps->p->max_age = (unsigned long)n;
	if (n < POLICY_MAX_AGE_WARN)
		pwarn(ps, ln, "max_age %llu is less than a day (%lu): cached "
		    "policies expire so fast that a short outage of this host "
		    "turns MTA-STS off; 604800 (a week) or more is usual", n,
		    POLICY_MAX_AGE_WARN);
}

/* validate an mx pattern; on success out holds it in lower case */
static int
check_mx(struct parser *ps, unsigned ln, const char *v, size_t len,
    char out[MX_PATTERN_MAX])
{
	const char *rest = v;
	size_t rlen = len, i, ncolon = 0, ndigit = 0, ndot = 0;
	char q[QUOTE_BUF];
	int wild = 0;

	quote(q, v, len);
	for (i = 0; i < len; i++) {
		if (v[i] == ':')
			ncolon++;
		else if (v[i] == '.')
			ndot++;
		else if (v[i] >= '0' && v[i] <= '9')
			ndigit++;
	}
	/* "[...]", IPv6 (several colons) or only digits and dots (IPv4) */
	if (v[0] == '[' || ncolon > 1 ||
	    (ndigit > 0 && ndot > 0 && ndigit + ndot == len)) {
		perr(ps, ln, "mx %s is an IP address: mx patterns are host "
		    "names, e.g. mail.example.com", q);
		return -1;
	}
	if (ncolon == 1) {
		perr(ps, ln, "mx %s has a port: write the host name only "
		    "(senders always use port 25)", q);
		return -1;
	}
	if (len >= 2 && v[0] == '*' && v[1] == '.') {
		wild = 1;
		rest = v + 2;
		rlen = len - 2;
	}
	if (memchr(rest, '*', rlen) != NULL) {
		perr(ps, ln, "mx %s: a wildcard must be the whole leftmost "
		    "label, as in *.example.com", q);
		return -1;
	}
	if (rlen > 0 && rest[rlen - 1] == '.') {
		perr(ps, ln, "mx %s ends with a dot: write it without the "
		    "trailing dot", q);
		return -1;
	}
	if (name_normalise(rest, rlen, out + 2 * wild,
	    MX_PATTERN_MAX - 2 * wild) != 0) {
		perr(ps, ln, "mx %s is not a valid host name: use at least "
		    "two dot-separated labels of 1 to 63 letters, digits and "
		    "inner hyphens, %d characters at most, e.g. "
		    "mail.example.com or *.example.net", q, NAME_MAX_LEN);
		return -1;
	}
	if (wild) {
		out[0] = '*';
		out[1] = '.';
	}
	return 0;
}

static void
add_mx(struct parser *ps, unsigned ln, const char *v, size_t len)
{
	struct policy *p = ps->p;
	char pat[MX_PATTERN_MAX], *s;
	size_t i;

	ps->mx_lines++;
	if (check_mx(ps, ln, v, len, pat) != 0)
		return;
	for (i = 0; i < p->nmx; i++) {
		if (strcmp(p->mx[i], pat) == 0) {
			pwarn(ps, ln, "mx \"%s\" repeats line %u: keeping one",
			    pat, ps->mx_line[i]);
			return;
		}
	}
	if (p->nmx == ps->mx_cap) {
		size_t cap = ps->mx_cap ? ps->mx_cap * 2 : 8;
		char **mx = realloc(p->mx, cap * sizeof(*mx));
		unsigned *lines;

		if (mx == NULL) {
			oom(ps, ln);
			return;
		}
		p->mx = mx;
		if ((lines = realloc(ps->mx_line, cap * sizeof(*lines))) ==
		    NULL) {
			oom(ps, ln);
			return;
		}
		ps->mx_line = lines;
		ps->mx_cap = cap;
	}
	if ((s = dup_n(pat, strlen(pat))) == NULL) {
		oom(ps, ln);
		return;
	}
	ps->mx_line[p->nmx] = ln;
	p->mx[p->nmx++] = s;
}

static void
add_ext(struct parser *ps, unsigned ln, const char *k, size_t klen,
    const char *v, size_t vlen)
{
	struct policy *p = ps->p;
	struct policy_ext *e;
	size_t i;

	/* k is a valid field name (short, letters, digits, "_.-"): it may be
	 * named; v, an extension's value, is never quoted */
	if (memchr(v, ':', vlen) != NULL) {
		perr(ps, ln, "the value of extension field \"%.*s\" contains "
		    "':', which at least one sender refuses: remove the colon",
		    (int)klen, k);
		return;
	}
	if (memchr(v, '\t', vlen) != NULL) {
		perr(ps, ln, "the value of extension field \"%.*s\" contains "
		    "a tab: RFC 8461 allows only spaces inside a value",
		    (int)klen, k);
		return;
	}
	for (i = 0; i < p->next; i++) {
		if (eq(k, klen, p->ext[i].name)) {
			perr(ps, ln, "duplicate field \"%.*s\" (first on line "
			    "%u): senders disagree on which one counts; keep "
			    "one", (int)klen, k, ps->ext_line[i]);
			return;
		}
	}
	if (p->next == ps->ext_cap) {
		size_t cap = ps->ext_cap ? ps->ext_cap * 2 : 4;
		struct policy_ext *ext = realloc(p->ext, cap * sizeof(*ext));
		unsigned *lines;

		if (ext == NULL) {
			oom(ps, ln);
			return;
		}
		p->ext = ext;
		if ((lines = realloc(ps->ext_line, cap * sizeof(*lines))) ==
		    NULL) {
			oom(ps, ln);
			return;
		}
		ps->ext_line = lines;
		ps->ext_cap = cap;
	}
	e = &p->ext[p->next];
	e->name = dup_n(k, klen);
	e->value = dup_n(v, vlen);
	if (e->name == NULL || e->value == NULL) {
		free(e->name);
		free(e->value);
		oom(ps, ln);
		return;
	}
	ps->ext_line[p->next++] = ln;
}

/* say why k[0..klen) is no field name, without quoting it */
static void
bad_name(struct parser *ps, unsigned ln, const char *k, size_t klen)
{
	size_t i;

	if (klen > EXT_NAME_MAX) {
		perr(ps, ln, "field name is not valid: it is %zu characters "
		    "long; use 1 to %d letters, digits, '_', '.' or '-', "
		    "starting with a letter or digit", klen, EXT_NAME_MAX);
		return;
	}
	if (!is_alnum((unsigned char)k[0])) {
		perr(ps, ln, "field name is not valid: it does not start with a "
		    "letter or digit; use 1 to %d letters, digits, '_', '.' or "
		    "'-', starting with a letter or digit", EXT_NAME_MAX);
		return;
	}
	for (i = 1; i < klen; i++)
		if (!is_alnum((unsigned char)k[i]) && k[i] != '_' &&
		    k[i] != '.' && k[i] != '-')
			break;
	perr(ps, ln, "field name is not valid: character %zu is not a letter, "
	    "digit, '_', '.' or '-'; use 1 to %d of those, starting with a "
	    "letter or digit", i + 1, EXT_NAME_MAX);
}

/* one line without its terminator: s[0..len) */
static void
parse_line(struct parser *ps, unsigned ln, const char *s, size_t len)
{
	const char *k, *colon, *v, *end = s + len;
	enum field f;
	size_t klen, vlen, i;
	int bad;

	bad = check_bytes(ps, ln, s, len);

	for (i = 0; i < len && is_wsp((unsigned char)s[i]); i++)
		;
	if (i == len) {
		perr(ps, ln, "%s: several senders refuse a policy with blank "
		    "lines; remove it", len == 0 ? "blank line" :
		    "line holds only whitespace");
		return;
	}
	if (i > 0) {
		perr(ps, ln, "line starts with whitespace: write \"name: "
		    "value\" from the first column");
		bad = 1;
	}
	k = s + i;

	if ((colon = memchr(k, ':', (size_t)(end - k))) == NULL) {
		perr(ps, ln, "line is not \"name: value\" (it has no colon; "
		    "its text is not repeated here): write e.g. \"mode: "
		    "testing\"");
		return;
	}
	klen = (size_t)(colon - k);
	if (klen > 0 && is_wsp((unsigned char)k[klen - 1])) {
		while (klen > 0 && is_wsp((unsigned char)k[klen - 1]))
			klen--;
		if (valid_ext_name(k, klen))
			perr(ps, ln, "whitespace before the colon: write "
			    "\"%.*s:\"", (int)klen, k);
		else
			perr(ps, ln, "whitespace before the colon: remove it");
		bad = 1;
	}
	if (klen == 0) {
		perr(ps, ln, "nothing before the colon: each line must be "
		    "\"name: value\"");
		return;
	}
	if (!valid_ext_name(k, klen)) {
		bad_name(ps, ln, k, klen);
		return;
	}

	f = FIELD_EXT;
	for (i = 0; i < sizeof(field_names) / sizeof(field_names[0]); i++) {
		if (eq(k, klen, field_names[i])) {
			f = (enum field)i;
			break;
		}
		if (eq_nocase(k, klen, field_names[i])) {
			perr(ps, ln, "field names are case-sensitive: write "
			    "\"%s\", not \"%.*s\"", field_names[i],
			    (int)klen, k);
			return;
		}
	}

	/* the value: after the colon and optional spaces or tabs */
	for (v = colon + 1; v < end && is_wsp((unsigned char)*v); v++)
		;
	vlen = (size_t)(end - v);
	if (vlen > 0 && is_wsp((unsigned char)v[vlen - 1])) {
		perr(ps, ln, "trailing whitespace after the value: remove it");
		while (vlen > 0 && is_wsp((unsigned char)v[vlen - 1]))
			vlen--;
		bad = 1;
	}
	if (vlen == 0) {
		perr(ps, ln, "field \"%.*s\" has no value: write \"%.*s: "
		    "<value>\"", (int)klen, k, (int)klen, k);
		bad = 1;
	}

	switch (f) {
	case FIELD_VERSION:
	case FIELD_MODE:
	case FIELD_MAX_AGE:
		if (ps->seen[f] != 0) {
			perr(ps, ln, "duplicate field \"%s\" (first on line "
			    "%u): senders disagree on which one counts; keep "
			    "one", field_names[f], ps->seen[f]);
			return;
		}
		ps->seen[f] = ln;
		if (bad)
			return;
		if (f == FIELD_VERSION)
			check_version(ps, ln, v, vlen);
		else if (f == FIELD_MODE)
			check_mode(ps, ln, v, vlen);
		else
			check_max_age(ps, ln, v, vlen);
		break;
	case FIELD_MX:
		if (bad)
			ps->mx_lines++;
		else
			add_mx(ps, ln, v, vlen);
		break;
	case FIELD_EXT:
		if (!bad)
			add_ext(ps, ln, k, klen, v, vlen);
		break;
	}
}

/* the first POLICY_ID_LEN characters of base32(SHA-256(text)), lower case */
static int
derive_id(const char *text, size_t len, char id[POLICY_ID_LEN + 1])
{
	static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
	unsigned char hash[32];
	unsigned bits = 0, nbits = 0;
	size_t i = 0, j;

	if (mbedtls_sha256((const unsigned char *)text, len, hash, 0) != 0)
		return -1;
	for (j = 0; j < POLICY_ID_LEN; j++) {
		if (nbits < 5) {
			bits = (bits << 8) | hash[i++];
			nbits += 8;
		}
		nbits -= 5;
		id[j] = alphabet[(bits >> nbits) & 31];
		bits &= (1u << nbits) - 1;
	}
	id[POLICY_ID_LEN] = '\0';
	return 0;
}

static char *
append(char *o, const char *s)
{
	size_t n = strlen(s);

	memcpy(o, s, n);
	return o + n;
}

/* the normalised text of a valid policy into p->text; -1 if out of memory */
static int
render(struct policy *p)
{
	char age[32], *o;
	size_t n, i;

	snprintf(age, sizeof(age), "%lu", p->max_age);
	n = strlen("version: STSv1\r\n") +
	    strlen("mode: \r\n") + strlen(policy_mode_name(p->mode)) +
	    strlen("max_age: \r\n") + strlen(age);
	for (i = 0; i < p->nmx; i++)
		n += strlen("mx: \r\n") + strlen(p->mx[i]);
	for (i = 0; i < p->next; i++)
		n += strlen(": \r\n") + strlen(p->ext[i].name) +
		    strlen(p->ext[i].value);

	if ((p->text = malloc(n + 1)) == NULL)
		return -1;
	o = append(p->text, "version: STSv1\r\nmode: ");
	o = append(o, policy_mode_name(p->mode));
	o = append(o, "\r\n");
	for (i = 0; i < p->nmx; i++) {
		o = append(o, "mx: ");
		o = append(o, p->mx[i]);
		o = append(o, "\r\n");
	}
	o = append(o, "max_age: ");
	o = append(o, age);
	o = append(o, "\r\n");
	for (i = 0; i < p->next; i++) {
		o = append(o, p->ext[i].name);
		o = append(o, ": ");
		o = append(o, p->ext[i].value);
		o = append(o, "\r\n");
	}
	*o = '\0';
	p->text_len = n;
	return 0;
}

/* Parse, validate and normalise a policy; 0 and a filled *p when error-free. */
int
policy_parse(const char *buf, size_t len, const char *file,
    struct policy *p, struct diag *d)
{
	struct parser ps;
	size_t off = 0;
	unsigned ln = 0;

	memset(p, 0, sizeof(*p));
	memset(&ps, 0, sizeof(ps));
	ps.file = file;
	ps.d = d;
	ps.p = p;

	if (len == 0) {
		perr(&ps, 0, "empty file: a policy needs version, mode, mx and "
		    "max_age lines");
		return -1;
	}
	/* refused whatever else it holds; also bounds the work below */
	if (len > POLICY_MAX_BYTES) {
		perr(&ps, 0, "policy is %zu bytes; senders refuse more than "
		    "%d: shorten it", len, POLICY_MAX_BYTES);
		return -1;
	}
	if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) {
		perr(&ps, 1, "byte order mark (BOM) at the start of the file: "
		    "save it as plain ASCII without one");
		off = 3;
	}

	while (off < len && !ps.stop) {
		const char *nl = memchr(buf + off, '\n', len - off);
		size_t end = nl != NULL ? (size_t)(nl - buf) : len;
		size_t cend = end;

		ln++;
		if (nl != NULL && cend > off && buf[cend - 1] == '\r')
			cend--;
		parse_line(&ps, ln, buf + off, cend - off);
		off = nl != NULL ? end + 1 : len;
	}

	if (!ps.stop) {
		if (ps.seen[FIELD_VERSION] == 0)
			perr(&ps, 0, "no version field: add \"version: STSv1\" "
			    "as the first line");
		if (ps.seen[FIELD_MODE] == 0)
			perr(&ps, 0, "no mode field: add \"mode: testing\" (or "
			    "enforce, or none)");
		if (ps.seen[FIELD_MAX_AGE] == 0)
			perr(&ps, 0, "no max_age field: add one, e.g. "
			    "\"max_age: 604800\" (a week)");
		if (ps.mx_lines == 0 && (ps.seen[FIELD_MODE] == 0 ||
		    (ps.mode_valid && p->mode != POLICY_MODE_NONE)))
			perr(&ps, 0, "no mx field: add one \"mx: <pattern>\" "
			    "line per MX host of the domain, e.g. \"mx: "
			    "mail.example.com\" (only mode none may have "
			    "none)");
		if (ps.mode_valid && p->mode == POLICY_MODE_NONE)
			pwarn(&ps, ps.seen[FIELD_MODE], "mode is none: "
			    "senders forget this domain's policy; use it only "
			    "to retire MTA-STS (keep it served with a new id "
			    "for max_age seconds, then remove the DNS "
			    "records)");
	}

	if (ps.nerrors == 0) {
		if (render(p) != 0)
			oom(&ps, 0);
		else if (p->text_len > POLICY_MAX_BYTES)
			perr(&ps, 0, "the policy served (with CRLF line "
			    "endings) would be %zu bytes; senders refuse more "
			    "than %d: shorten it", p->text_len,
			    POLICY_MAX_BYTES);
		else if (derive_id(p->text, p->text_len, p->id) != 0)
			perr(&ps, 0, "cannot compute the policy id (SHA-256 "
			    "failed)");
	}

	free(ps.mx_line);
	free(ps.ext_line);
	if (ps.nerrors != 0) {
		policy_free(p);
		return -1;
	}
	return 0;
}

/* Free what policy_parse allocated and zero *p; idempotent. */
void
policy_free(struct policy *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->nmx; i++)
		free(p->mx[i]);
	free(p->mx);
	for (i = 0; i < p->next; i++) {
		free(p->ext[i].name);
		free(p->ext[i].value);
	}
	free(p->ext);
	free(p->text);
	memset(p, 0, sizeof(*p));
}

/* The mode as written in a policy. */
const char *
policy_mode_name(enum policy_mode mode)
{
	switch (mode) {
	case POLICY_MODE_ENFORCE:
		return "enforce";
	case POLICY_MODE_TESTING:
		return "testing";
	case POLICY_MODE_NONE:
		return "none";
	}
	return "unknown";
}

/* 1 when some mx pattern of p matches host, else 0. */
int
policy_mx_covers(const struct policy *p, const char *host)
{
	size_t i;

	for (i = 0; i < p->nmx; i++)
		if (name_match(p->mx[i], host))
			return 1;
	return 0;
}
