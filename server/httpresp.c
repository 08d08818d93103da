/* httpresp.c - one HTTP/1.x response read from bytes: status line, header fields, body (pure) */
#include "httpresp.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "diag.h"

#define YEAR_SECONDS 31536000L		/* the longest Retry-After taken */

static void
fail(struct httpresp *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->err, sizeof(r->err), fmt, ap);
	va_end(ap);
}

/* RFC 9110 tchar */
static int
is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || (c != '\0' && strchr("!#$%&'*+-.^_`|~",
	    c) != NULL);
}

/* the length of the token at p[0..n) (0: none) */
static size_t
token_len(const char *p, size_t n)
{
	size_t i = 0;

	while (i < n && is_tchar((unsigned char)p[i]))
		i++;
	return i;
}

/* a byte a field value, a reason phrase or a chunk extension may hold:
 * HTAB, SP, VCHAR, obs-text (no other control character) */
static int
is_text(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static size_t
skip_ows(const char *p, size_t n, size_t i)
{
	while (i < n && (p[i] == ' ' || p[i] == '\t'))
		i++;
	return i;
}

/* the quoted-string starting at p[0] == '"': its length with both quotes,
 * or 0 when it is unterminated or holds a byte it may not hold */
static size_t
quoted_len(const char *p, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '"')
			return i + 1;
		if (c == '\\') {
			if (++i == n || !is_text((unsigned char)p[i]))
				return 0;
		} else if (!is_text(c))
			return 0;
	}
	return 0;
}

/*
 * The line at p[0..n): 1 with its length without the end of line in *ll
 * and the bytes it takes with it in *used; 0 when no LF came yet; -1 when
 * it holds a CR that does not end it. LF alone ends a line too (RFC 9112
 * allows a recipient to take it).
 */
static int
line_at(const char *p, size_t n, size_t *ll, size_t *used)
{
	const char *lf = memchr(p, '\n', n);
	size_t l;

	if (lf == NULL)
		return 0;
	l = (size_t)(lf - p);
	*used = l + 1;
	if (l > 0 && p[l - 1] == '\r')
		l--;
	if (memchr(p, '\r', l) != NULL)
		return -1;
	*ll = l;
	return 1;
}

int
httpresp_status_code(const char *line, size_t len)
{
	const char *d = line + 9;

	if (len < 12 || memcmp(line, "HTTP/1.", 7) != 0 || line[7] < '0' ||
	    line[7] > '9' || line[8] != ' ' || d[0] < '1' || d[0] > '9' ||
	    d[1] < '0' || d[1] > '9' || d[2] < '0' || d[2] > '9' ||
	    (len > 12 && d[3] != ' '))
		return -1;
	for (size_t i = 13; i < len; i++)
		if (!is_text((unsigned char)line[i]))
			return -1;
	return (d[0] - '0') * 100 + (d[1] - '0') * 10 + (d[2] - '0');
}

/* one field line p[0..n) into *f: "name: value", name a token, no blank
 * before the colon, no control character in the value; 0 or -1 */
static int
field_line(const char *p, size_t n, struct httpresp_field *f,
    struct httpresp *r, const char *where, unsigned lineno)
{
	const char *colon = memchr(p, ':', n);
	char tok[DIAG_TOKEN_BUF];
	size_t v, e;

	if (n > 0 && (p[0] == ' ' || p[0] == '\t')) {
		fail(r, "%s line %u starts with a blank: folded header lines "
		    "are not accepted", where, lineno);
		return -1;
	}
	if (colon == NULL) {
		fail(r, "%s line %u has no colon: each line must be "
		    "\"Name: value\"", where, lineno);
		return -1;
	}
	f->name = p;
	f->name_len = (size_t)(colon - p);
	if (f->name_len == 0 || token_len(p, f->name_len) != f->name_len) {
		fail(r, "%s line %u: the field name %s is not a token (no "
		    "blank before the colon)", where, lineno,
		    diag_token(tok, p, f->name_len));
		return -1;
	}
	v = skip_ows(p, n, f->name_len + 1);
	for (e = n; e > v && (p[e - 1] == ' ' || p[e - 1] == '\t'); e--)
		;
	for (size_t i = v; i < e; i++) {
		if (!is_text((unsigned char)p[i])) {
			fail(r, "%s line %u: the value of %s holds the control "
			    "character 0x%02x", where, lineno,
			    diag_token(tok, p, f->name_len),
			    (unsigned char)p[i]);
			return -1;
		}
	}
	f->value = p + v;
	f->value_len = e - v;
	return 0;
}

/*
 * The status line and header fields, after any interim 1xx answers: 1 with
 * r->head_len set, 0 when more is needed, -1 when broken or too long.
 */
static int
parse_head(const char *buf, size_t len, int eof, struct httpresp *r)
{
	size_t lim = len < HTTPRESP_HEAD_MAX ? len : HTTPRESP_HEAD_MAX;
	size_t pos = 0, ll, used;
	char tok[DIAG_TOKEN_BUF];
	int rc;

	for (;;) {
		unsigned lineno = 1;

		r->nfields = 0;
		if ((rc = line_at(buf + pos, lim - pos, &ll, &used)) != 1)
			goto partial;
		r->line = buf + pos;
		r->line_len = ll;
		if ((r->status = httpresp_status_code(r->line, ll)) == -1) {
			r->status = 0;
			fail(r, "the answer does not start with an HTTP/1.x "
			    "status line (\"HTTP/1.1 200 OK\"): %s",
			    diag_token(tok, r->line, ll < 40 ? ll : 40));
			return -1;
		}
		pos += used;
		for (;;) {
			lineno++;
			if ((rc = line_at(buf + pos, lim - pos, &ll, &used)) != 1)
				goto partial;
			pos += used;
			if (ll == 0)
				break;
			if (r->nfields == HTTPRESP_FIELDS_MAX) {
				fail(r, "the answer has more than %d header "
				    "fields", HTTPRESP_FIELDS_MAX);
				return -1;
			}
			if (field_line(buf + pos - used, ll,
			    &r->fields[r->nfields], r, "header", lineno) == -1)
				return -1;
			r->nfields++;
		}
		if (r->status == 101) {
			fail(r, "the server switched protocols (101): only "
			    "HTTP/1.1 is spoken here");
			return -1;
		}
		if (r->status >= 200)
			break;
		/* 100 Continue, 103 Early Hints: the final answer follows */
	}
	r->head_len = pos;
	r->head_done = 1;
	return 1;
partial:
	if (rc == -1) {
		fail(r, "a header line holds a carriage return that does not "
		    "end it");
		return -1;
	}
	if (len >= HTTPRESP_HEAD_MAX) {
		fail(r, "the status line and headers are larger than %d bytes",
		    HTTPRESP_HEAD_MAX);
		return -1;
	}
	if (eof) {
		fail(r, len == 0 ? "the server closed the connection without "
		    "an answer" : "the server closed the connection in the "
		    "middle of the headers");
		return -1;
	}
	return 0;
}

/* a decimal Content-Length element; SIZE_MAX when it does not fit */
static int
decimal(const char *p, size_t n, size_t *v)
{
	*v = 0;
	if (n == 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		if (*v > (SIZE_MAX - 9) / 10)
			*v = SIZE_MAX;
		else
			*v = *v * 10 + (size_t)(p[i] - '0');
	}
	return 0;
}

/* one Content-Length value ("5", or a list of the same "5, 5") into *clen;
 * *seen says an earlier field gave one; 0 or -1 */
static int
content_length(const struct httpresp_field *f, size_t *clen, int *seen,
    struct httpresp *r)
{
	const char *p = f->value;
	size_t n = f->value_len, i = 0;
	char tok[DIAG_TOKEN_BUF];

	do {
		size_t s = skip_ows(p, n, i), e = s, v;

		while (e < n && p[e] != ',')
			e++;
		i = e + 1;
		while (e > s && (p[e - 1] == ' ' || p[e - 1] == '\t'))
			e--;
		if (decimal(p + s, e - s, &v) == -1) {
			fail(r, "Content-Length %s is not a number of bytes",
			    diag_token(tok, p, n));
			return -1;
		}
		if (*seen && v != *clen) {
			fail(r, "the Content-Length values disagree (%s): the "
			    "length of the body is unknown", diag_token(tok, p,
			    n));
			return -1;
		}
		*clen = v;
		*seen = 1;
	} while (i <= n);
	return 0;
}

/* one Transfer-Encoding value: each coding must be chunked, and only one
 * counted over every field (*chunked); 0 or -1 */
static int
transfer_encoding(const struct httpresp_field *f, int *chunked,
    struct httpresp *r)
{
	const char *p = f->value;
	size_t n = f->value_len, i = 0;
	char tok[DIAG_TOKEN_BUF];

	while (i < n) {
		size_t s = skip_ows(p, n, i), e = s;

		while (e < n && p[e] != ',')
			e++;
		i = e + 1;
		while (e > s && (p[e - 1] == ' ' || p[e - 1] == '\t'))
			e--;
		if (e == s)
			continue;	/* an empty list element */
		if (e - s != 7 || strncasecmp(p + s, "chunked", 7) != 0) {
			fail(r, "Transfer-Encoding %s: only chunked is "
			    "understood", diag_token(tok, p + s, e - s));
			return -1;
		}
		if ((*chunked)++) {
			fail(r, "Transfer-Encoding names chunked twice");
			return -1;
		}
	}
	return 0;
}

/* how the body's end is known, from the status and the fields; 0 or -1 */
static int
framing(struct httpresp *r, unsigned flags)
{
	int have_clen = 0, chunked = 0, te = 0;

	if (r->status == 204 || r->status == 304 || (flags & HTTPRESP_NO_BODY)) {
		r->framing = HTTPRESP_EMPTY;
		return 0;
	}
	for (size_t i = 0; i < r->nfields; i++) {
		const struct httpresp_field *f = &r->fields[i];

		if (f->name_len == 14 && strncasecmp(f->name, "Content-Length",
		    14) == 0) {
			if (content_length(f, &r->content_length, &have_clen,
			    r) == -1)
				return -1;
		} else if (f->name_len == 17 && strncasecmp(f->name,
		    "Transfer-Encoding", 17) == 0) {
			te = 1;
			if (transfer_encoding(f, &chunked, r) == -1)
				return -1;
		}
	}
	if (te && r->line[7] == '0') {
		fail(r, "an HTTP/1.0 answer with Transfer-Encoding: its "
		    "framing cannot be trusted");
		return -1;
	}
	if (te && have_clen) {
		fail(r, "the answer has both Transfer-Encoding and "
		    "Content-Length: the length of the body is ambiguous");
		return -1;
	}
	if (te && !chunked) {
		fail(r, "Transfer-Encoding names no coding");
		return -1;
	}
	r->framing = chunked ? HTTPRESP_CHUNKED : have_clen ? HTTPRESP_LENGTH :
	    HTTPRESP_CLOSE;
	return 0;
}

/* the chunk extensions p[0..n) after a chunk size: *( OWS ";" OWS token
 * [ OWS "=" OWS ( token / quoted-string ) ] ) OWS; 0 or -1 */
static int
chunk_ext(const char *p, size_t n)
{
	size_t i = 0, t;

	for (;;) {
		i = skip_ows(p, n, i);
		if (i == n)
			return 0;
		if (p[i] != ';')
			return -1;
		i = skip_ows(p, n, i + 1);
		if ((t = token_len(p + i, n - i)) == 0)
			return -1;
		i = skip_ows(p, n, i + t);
		if (i == n || p[i] != '=')
			continue;
		i = skip_ows(p, n, i + 1);
		if (i < n && p[i] == '"')
			t = quoted_len(p + i, n - i);
		else
			t = token_len(p + i, n - i);
		if (t == 0)
			return -1;
		i += t;
	}
}

/* the chunk-size line at p[0..n): 1 with the size (SIZE_MAX when it does
 * not fit) and the bytes of the line, 0 when incomplete, -1 when broken */
static int
chunk_size(const char *p, size_t n, size_t *size, size_t *used,
    struct httpresp *r)
{
	size_t ll, i;
	int rc = line_at(p, n < HTTPRESP_LINE_MAX ? n : HTTPRESP_LINE_MAX, &ll,
	    used);

	if (rc == 0 && n >= HTTPRESP_LINE_MAX) {
		fail(r, "a chunk-size line is longer than %d bytes",
		    HTTPRESP_LINE_MAX);
		return -1;
	}
	if (rc != 1) {
		if (rc == -1)
			fail(r, "a chunk-size line holds a carriage return "
			    "that does not end it");
		return rc;
	}
	*size = 0;
	for (i = 0; i < ll; i++) {
		unsigned char c = (unsigned char)p[i];
		size_t v;

		if (c >= '0' && c <= '9')
			v = c - '0';
		else if (c >= 'a' && c <= 'f')
			v = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v = c - 'A' + 10;
		else
			break;
		*size = *size > SIZE_MAX / 32 ? SIZE_MAX : *size * 16 + v;
	}
	if (i == 0 || chunk_ext(p + i, ll - i) == -1) {
		char tok[DIAG_TOKEN_BUF];

		fail(r, "the chunk-size line %s is not a hexadecimal size "
		    "with optional ;extensions", diag_token(tok, p, ll));
		return -1;
	}
	return 1;
}

/* the trailer section at p[0..n), up to its blank line: 1 with the bytes
 * it takes, 0 when incomplete, -1 when broken */
static int
trailers(const char *p, size_t n, size_t *used, struct httpresp *r)
{
	size_t lim = n < HTTPRESP_HEAD_MAX ? n : HTTPRESP_HEAD_MAX;
	size_t i = 0, ll, u;
	unsigned lineno = 0;
	int rc;

	for (;;) {
		struct httpresp_field f;

		lineno++;
		if ((rc = line_at(p + i, lim - i, &ll, &u)) != 1) {
			if (rc == -1)
				fail(r, "a trailer line holds a carriage "
				    "return that does not end it");
			else if (n >= HTTPRESP_HEAD_MAX) {
				fail(r, "the trailer fields are larger than "
				    "%d bytes", HTTPRESP_HEAD_MAX);
				rc = -1;
			}
			return rc;
		}
		i += u;
		if (ll == 0) {
			*used = i;
			return 1;
		}
		if (field_line(p + i - u, ll, &f, r, "trailer", lineno) == -1)
			return -1;
	}
}

/*
 * Walk the chunks of p[0..n), copying their data to out when not NULL (room
 * for max bytes): 1 when the last chunk and the trailers are complete, 0
 * when more is needed, 2 when the data grows past max, -1 when the framing
 * is broken. *total: the data of the chunks complete so far.
 */
static int
chunks(const char *p, size_t n, size_t max, char *out, size_t *total,
    struct httpresp *r)
{
	size_t i = 0, size, used;
	int rc;

	*total = 0;
	for (;;) {
		if ((rc = chunk_size(p + i, n - i, &size, &used, r)) != 1)
			return rc;
		i += used;
		if (size == 0)
			return trailers(p + i, n - i, &used, r);
		if (size > max - *total)
			return 2;
		if (n - i < size)
			return 0;
		if (out != NULL)
			memcpy(out + *total, p + i, size);
		*total += size;
		i += size;
		if (i < n && p[i] == '\r')
			i++;
		if (i >= n)
			return 0;
		if (p[i] != '\n') {
			fail(r, "a chunk of %zu bytes is not followed by an "
			    "end of line", size);
			return -1;
		}
		i++;
	}
}

/* r->body = a NUL-terminated copy of p[0..n); 0 or -1 */
static int
body_copy(struct httpresp *r, const char *p, size_t n)
{
	if ((r->body = malloc(n + 1)) == NULL) {
		fail(r, "out of memory for a body of %zu bytes", n);
		return -1;
	}
	if (n > 0)
		memcpy(r->body, p, n);
	r->body[n] = '\0';
	r->body_len = n;
	return 0;
}

/* the chunked body at p[0..n) */
static int
body_chunked(struct httpresp *r, const char *p, size_t n, int eof,
    size_t body_max)
{
	size_t total;
	int rc = chunks(p, n, body_max, NULL, &total, r);

	if (rc == 2) {
		r->too_large = 1;
		return 1;
	}
	if (rc == -1 || (rc == 0 && !eof))
		return rc;
	if ((r->body = malloc(total + 1)) == NULL) {
		fail(r, "out of memory for a body of %zu bytes", total);
		return -1;
	}
	chunks(p, n, body_max, r->body, &r->body_len, r);
	r->body[r->body_len] = '\0';
	if (rc == 0) {
		r->truncated = 1;
		fail(r, "the connection closed before the last chunk (%zu "
		    "bytes of body came)", r->body_len);
	}
	return 1;
}

int
httpresp_parse(const char *buf, size_t len, int eof, size_t body_max,
    unsigned flags, struct httpresp *r)
{
	size_t blen;
	int rc;

	memset(r, 0, sizeof(*r));
	if ((rc = parse_head(buf, len, eof, r)) != 1)
		return rc;
	if (framing(r, flags) == -1)
		return -1;
	blen = len - r->head_len;
	switch (r->framing) {
	case HTTPRESP_EMPTY:
		return body_copy(r, "", 0) == -1 ? -1 : 1;
	case HTTPRESP_CHUNKED:
		return body_chunked(r, buf + r->head_len, blen, eof, body_max);
	case HTTPRESP_LENGTH:
		if (r->content_length > body_max) {
			r->too_large = 1;
			return 1;
		}
		if (blen < r->content_length) {
			if (!eof)
				return 0;
			r->truncated = 1;
			fail(r, "the body ended after %zu of the %zu bytes "
			    "Content-Length announced", blen,
			    r->content_length);
		} else
			blen = r->content_length;
		break;
	case HTTPRESP_CLOSE:
		if (blen > body_max) {
			r->too_large = 1;
			return 1;
		}
		if (!eof)
			return 0;
		break;
	}
	return body_copy(r, buf + r->head_len, blen) == -1 ? -1 : 1;
}

void
httpresp_free(struct httpresp *r)
{
	free(r->body);
	r->body = NULL;
	r->body_len = 0;
}

const char *
httpresp_field(const struct httpresp *r, const char *name, size_t *len)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < r->nfields; i++) {
		if (r->fields[i].name_len == n && strncasecmp(r->fields[i].name,
		    name, n) == 0) {
			*len = r->fields[i].value_len;
			return r->fields[i].value;
		}
	}
	return NULL;
}

/* a cursor over a date's text */
struct cur {
	const char *p;
	size_t n, i;
};

/* the exact text s next: 0 (and past it) or -1 */
static int
cur_lit(struct cur *c, const char *s)
{
	size_t l = strlen(s);

	if (c->n - c->i < l || memcmp(c->p + c->i, s, l) != 0)
		return -1;
	c->i += l;
	return 0;
}

/* exactly digits decimal digits next (a blank in front of a one-digit
 * number when blank is set); the number, or -1 */
static int
cur_num(struct cur *c, int digits, int blank)
{
	int v = 0;

	if (blank && c->i < c->n && c->p[c->i] == ' ') {
		c->i++;
		digits--;
	}
	if (c->n - c->i < (size_t)digits)
		return -1;
	for (int k = 0; k < digits; k++) {
		char d = c->p[c->i++];

		if (d < '0' || d > '9')
			return -1;
		v = v * 10 + (d - '0');
	}
	return v;
}

/* one of names[0..count) next (exact case); its index, or -1 */
static int
cur_name(struct cur *c, const char *const *names, int count)
{
	for (int k = 0; k < count; k++)
		if (cur_lit(c, names[k]) == 0)
			return k;
	return -1;
}

static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May",
	"Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
static const char *const days[] = { "Mon", "Tue", "Wed", "Thu", "Fri",
	"Sat", "Sun" };
static const char *const long_days[] = { "Monday", "Tuesday", "Wednesday",
	"Thursday", "Friday", "Saturday", "Sunday" };

/* "HH:MM:SS" into tm; 0 or -1 */
static int
cur_time(struct cur *c, struct tm *tm)
{
	if ((tm->tm_hour = cur_num(c, 2, 0)) < 0 || cur_lit(c, ":") == -1 ||
	    (tm->tm_min = cur_num(c, 2, 0)) < 0 || cur_lit(c, ":") == -1 ||
	    (tm->tm_sec = cur_num(c, 2, 0)) < 0)
		return -1;
	return tm->tm_hour > 23 || tm->tm_min > 59 || tm->tm_sec > 60 ? -1 : 0;
}

/* an HTTP-date (RFC 9110 section 5.6.7, all three forms) as a time, or -1 */
static time_t
http_date(const char *p, size_t n, time_t now)
{
	struct cur c = { p, n, 0 };
	struct tm tm = { 0 };
	int year;

	if (cur_name(&c, long_days, 7) >= 0) {
		/* RFC 850: Sunday, 06-Nov-94 08:49:37 GMT */
		struct tm t;

		if (cur_lit(&c, ", ") == -1 || (tm.tm_mday = cur_num(&c, 2,
		    0)) < 0 || cur_lit(&c, "-") == -1 || (tm.tm_mon =
		    cur_name(&c, months, 12)) < 0 || cur_lit(&c, "-") == -1 ||
		    (year = cur_num(&c, 2, 0)) < 0 || cur_lit(&c, " ") == -1 ||
		    cur_time(&c, &tm) == -1 || cur_lit(&c, " GMT") == -1)
			return -1;
		/* a year more than 50 years ahead is of the century before */
		gmtime_r(&now, &t);
		year += (t.tm_year + 1900) / 100 * 100;
		if (year > t.tm_year + 1900 + 50)
			year -= 100;
	} else if (cur_name(&c, days, 7) < 0)
		return -1;
	else if (c.i < n && p[c.i] == ',') {
		/* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
		if (cur_lit(&c, ", ") == -1 || (tm.tm_mday = cur_num(&c, 2,
		    0)) < 0 || cur_lit(&c, " ") == -1 || (tm.tm_mon =
		    cur_name(&c, months, 12)) < 0 || cur_lit(&c, " ") == -1 ||
		    (year = cur_num(&c, 4, 0)) < 0 || cur_lit(&c, " ") == -1 ||
		    cur_time(&c, &tm) == -1 || cur_lit(&c, " GMT") == -1)
			return -1;
	} else {
		/* asctime: Sun Nov  6 08:49:37 1994 */
		if (cur_lit(&c, " ") == -1 || (tm.tm_mon = cur_name(&c, months,
		    12)) < 0 || cur_lit(&c, " ") == -1 || (tm.tm_mday =
		    cur_num(&c, 2, 1)) < 0 || cur_lit(&c, " ") == -1 ||
		    cur_time(&c, &tm) == -1 || cur_lit(&c, " ") == -1 ||
		    (year = cur_num(&c, 4, 0)) < 0)
			return -1;
	}
	if (c.i != n || tm.tm_mday < 1 || tm.tm_mday > 31 || year < 1970)
		return -1;
	tm.tm_year = year - 1900;
	return timegm(&tm);
}

long
httpresp_retry_after(const char *v, size_t len, time_t now)
{
	size_t s = skip_ows(v, len, 0), e = len;
	long secs = 0;
	time_t t;

	while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
		e--;
	if (e > s && v[s] >= '0' && v[s] <= '9') {
		for (size_t i = s; i < e; i++) {
			if (v[i] < '0' || v[i] > '9')
				return -1;
			if (secs < YEAR_SECONDS)
				secs = secs * 10 + (v[i] - '0');
		}
		return secs < YEAR_SECONDS ? secs : YEAR_SECONDS;
	}
	if ((t = http_date(v + s, e - s, now)) == (time_t)-1)
		return -1;
	if (t <= now)
		return 0;
	return t - now < YEAR_SECONDS ? (long)(t - now) : YEAR_SECONDS;
}

/* the relation types of one rel value p[0..n), blank-separated, each as a
 * link to url; count goes on past max */
static int
link_rels(const char *url, size_t url_len, const char *p, size_t n,
    struct httpresp_link *out, size_t max, int count)
{
	size_t i = 0;

	for (;;) {
		size_t s, t;

		while (i < n && p[i] == ' ')
			i++;
		if (i == n)
			return count;
		s = i;
		while (i < n && p[i] != ' ')
			i++;
		for (t = s; t < i; t++)
			if (p[t] == '\\' || p[t] == '\t')
				return -1;
		if ((size_t)count < max) {
			out[count].url = url;
			out[count].url_len = url_len;
			out[count].rel = p + s;
			out[count].rel_len = i - s;
		}
		count++;
	}
}

int
httpresp_links(const char *v, size_t n, struct httpresp_link *out, size_t max)
{
	size_t i = 0;
	int count = 0;

	for (;;) {
		const char *url;
		size_t url_len;
		int have_rel = 0;

		/* list elements may be empty: ", ," */
		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		if (i == n)
			return count;
		if (v[i] != '<')
			return -1;
		url = v + ++i;
		while (i < n && v[i] != '>') {
			if ((unsigned char)v[i] <= 0x20 || v[i] == '<' ||
			    v[i] == 0x7f)
				return -1;
			i++;
		}
		if (i == n)
			return -1;
		url_len = (size_t)(v + i - url);
		i++;
		/* ; name [= value] parameters, up to the next link */
		for (;;) {
			size_t t, name, name_len;

			i = skip_ows(v, n, i);
			if (i == n || v[i] == ',')
				break;
			if (v[i] != ';')
				return -1;
			i = skip_ows(v, n, i + 1);
			if ((name_len = token_len(v + i, n - i)) == 0)
				return -1;
			name = i;
			i = skip_ows(v, n, i + name_len);
			if (i == n || v[i] != '=')
				continue;
			i = skip_ows(v, n, i + 1);
			if (i < n && v[i] == '"')
				t = quoted_len(v + i, n - i);
			else
				t = token_len(v + i, n - i);
			if (t == 0)
				return -1;
			/* only the first rel counts (RFC 8288 section 3.3) */
			if (name_len == 3 && strncasecmp(v + name, "rel", 3) == 0 &&
			    !have_rel++) {
				int q = v[i] == '"';

				count = link_rels(url, url_len, v + i + q, t - 2 * q,
				    out, max, count);
				if (count == -1)
					return -1;
			}
			i += t;
		}
	}
}
