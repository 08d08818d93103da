/* httpresp.h - one HTTP/1.x response read from bytes: status line, header fields, body (pure) */
#ifndef MTA_STSD_HTTPRESP_H
#define MTA_STSD_HTTPRESP_H

#include <stddef.h>
#include <time.h>

#define HTTPRESP_HEAD_MAX 16384		/* status line(s) and header fields, blank line included */
#define HTTPRESP_FIELDS_MAX 100		/* header fields of one response */
#define HTTPRESP_LINE_MAX 1024		/* a chunk-size line with its extensions */

/* flags of httpresp_parse */
#define HTTPRESP_NO_BODY 1		/* the answer to a HEAD request: no body, whatever it announces */

/* one header field: name and value (blanks around it removed), pointing into the buffer parsed */
struct httpresp_field {
	const char *name, *value;
	size_t name_len, value_len;
};

/* how the end of the body is known */
enum httpresp_framing {
	HTTPRESP_EMPTY,			/* 204, 304, the answer to HEAD */
	HTTPRESP_LENGTH,		/* Content-Length */
	HTTPRESP_CHUNKED,		/* Transfer-Encoding: chunked */
	HTTPRESP_CLOSE			/* neither: the body ends when the server closes */
};

struct httpresp {
	int head_done;			/* the final status line and the header fields are complete and valid */
	int status;			/* 100..999 */
	const char *line;		/* the final status line, without its end of line */
	size_t line_len;
	struct httpresp_field fields[HTTPRESP_FIELDS_MAX];
	size_t nfields;
	size_t head_len;		/* bytes before the body (interim 1xx answers included) */
	enum httpresp_framing framing;
	size_t content_length;		/* HTTPRESP_LENGTH */
	char *body;			/* malloc'd, NUL-terminated, decoded; set when the parse returns 1 */
	size_t body_len;
	int too_large;			/* the body is longer than body_max: body is NULL */
	int truncated;			/* closed before the framing's end: body holds what was complete */
	char err[200];			/* why -1, or why truncated; printable ASCII, quoting no raw bytes */
};

/* a Link header field's target and one of its relation types, pointing into the value */
struct httpresp_link {
	const char *url, *rel;
	size_t url_len, rel_len;
};

/*
 * Parse the response received so far, buf[0..len) (eof: the server has
 * closed): interim 1xx answers skipped, the status line, the header fields
 * (names are tokens, values without control characters, no folding, at most
 * HTTPRESP_HEAD_MAX bytes), then the body by Content-Length (repeated only
 * with the same value), chunked transfer-coding (extensions and trailer
 * fields checked, then ignored) or up to the close. Never reads past len.
 * Returns 1 when the response is complete, or is known to be too large
 * (r->too_large: more than body_max bytes of body), or was cut by the close
 * (r->truncated, r->err says how); 0 when more bytes are needed (never once
 * eof is set); -1 when the bytes are no valid response (r->err says why).
 * r is overwritten (its earlier body is not freed); after any return,
 * httpresp_free(r) releases what it holds. Fields point into buf.
 */
int httpresp_parse(const char *buf, size_t len, int eof, size_t body_max,
    unsigned flags, struct httpresp *r);

/* Free the body r holds (r stays usable for another parse). */
void httpresp_free(struct httpresp *r);

/* The value of the first field called name (any case), its length in *len; NULL when absent. */
const char *httpresp_field(const struct httpresp *r, const char *name,
    size_t *len);

/* The status of an HTTP/1.x status line line[0..len) without its end of line: "HTTP/1.D NNN",
 * then a blank and a reason, or the end; NNN (100..999), or -1 when it is no status line. */
int httpresp_status_code(const char *line, size_t len);

/* Seconds a Retry-After value asks to wait: delta-seconds, or an HTTP-date (IMF-fixdate,
 * RFC 850 or asctime form) minus now (0 when passed); -1 when it is neither. At most a year. */
long httpresp_retry_after(const char *v, size_t len, time_t now);

/* The links of one Link field value v[0..len) (RFC 8288): one entry per target and relation
 * type (rel="up alternate" gives two; only the first rel of a link counts; compare relation
 * types without case); links without rel are skipped. Fills out[0..max) and returns how many
 * links the value holds (beyond max they are counted, not stored), or -1 when it is malformed. */
int httpresp_links(const char *v, size_t len, struct httpresp_link *out, size_t max);

#endif
