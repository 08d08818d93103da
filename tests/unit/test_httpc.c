/* test_httpc.c - httpc_parse and httpresp.c over good and broken answers, httpc_url_parse */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "httpc.h"
#include "httpresp.h"

/* the seed corpus of tests/fuzz/fuzz_httpc.c: real-looking ACME answers */
static const char *
corpus_dir(void)
{
	const char *d = getenv("TEST_HTTPC_CORPUS");

	return d != NULL && *d != '\0' ? d : "tests/fuzz/corpus/httpc";
}

/* httpc_parse over exactly s[0..len) in a buffer of that size (ASan sees
 * a read past it) */
static int
parse_n(const char *s, size_t len, int eof, struct httpc_resp *r)
{
	char *buf = malloc(len ? len : 1);
	int rc;

	assert_non_null(buf);
	memcpy(buf, s, len);
	rc = httpc_parse(buf, len, eof, r);
	free(buf);
	return rc;
}

static int
parse(const char *s, int eof, struct httpc_resp *r)
{
	return parse_n(s, strlen(s), eof, r);
}

/* s must be refused: -1, and nothing left to free */
static void
refused(const char *s, int eof, const char *what)
{
	struct httpc_resp r;
	int rc = parse(s, eof, &r);

	if (rc != -1)
		fail_msg("%s: parsed as %d, not refused", what, rc);
	assert_null(r.body);
	assert_null(r.nonce);
	assert_int_equal(r.nlinks, 0);
}

/*
 * Every prefix of msg[0..len) returns 0 (no eof), and the whole of it 1,
 * with eof when at_close (the body ends at the close) and without
 * otherwise; the body then is want.
 */
static void
split_everywhere(const char *msg, size_t len, int at_close, const char *want,
    size_t want_len, const char *name)
{
	struct httpc_resp r;

	for (size_t i = 0; i < len; i++) {
		int rc = parse_n(msg, i, 0, &r);

		if (rc != 0)
			fail_msg("%s: the first %zu of %zu bytes parse as %d, "
			    "not 0", name, i, len, rc);
		httpc_resp_free(&r);
	}
	if (parse_n(msg, len, at_close, &r) != 1)
		fail_msg("%s: the whole answer does not parse%s", name,
		    at_close ? " at the close" : " before the close");
	if (want != NULL) {
		assert_int_equal(r.body_len, want_len);
		assert_memory_equal(r.body, want, want_len);
	}
	assert_int_equal(r.body[r.body_len], '\0');
	httpc_resp_free(&r);
}

static void
test_content_length(void **state)
{
	struct httpc_resp r;

	(void)state;
	assert_int_equal(parse("HTTP/1.1 201 Created\r\n"
	    "Content-Type: application/json\r\n"
	    "location:   https://ca.test/acct/1  \r\n"
	    "REPLAY-NONCE: abc-DEF_123\r\n"
	    "Content-Length: 7\r\n\r\n{\"a\":1}extra", 0, &r), 1);
	assert_int_equal(r.status, 201);
	assert_string_equal(r.body, "{\"a\":1}");
	assert_int_equal(r.body_len, 7);
	assert_string_equal(r.content_type, "application/json");
	assert_string_equal(r.location, "https://ca.test/acct/1");
	assert_string_equal(r.nonce, "abc-DEF_123");
	assert_int_equal(r.retry_after, -1);
	assert_int_equal(r.nlinks, 0);
	httpc_resp_free(&r);

	/* not yet all of the body */
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"
	    "12345", 0, &r), 0);
	assert_null(r.body);
	/* a Replay-Nonce that is not base64url is ignored */
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nReplay-Nonce: a+b/c=\r\n"
	    "Content-Length: 0\r\n\r\n", 0, &r), 1);
	assert_null(r.nonce);
	assert_string_equal(r.body, "");
	httpc_resp_free(&r);
	/* LF alone ends lines too */
	assert_int_equal(parse("HTTP/1.1 200 OK\nContent-Length: 2\n\nok", 0,
	    &r), 1);
	assert_string_equal(r.body, "ok");
	httpc_resp_free(&r);
}

static void
test_chunked(void **state)
{
	static const char msg[] = "HTTP/1.1 200 OK\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n"
	    "5;name=value;q=\"a b;c\"\r\nhello\r\n"
	    "1 ; ext\r\n \r\n"
	    "00000006\r\nworld!\r\n"
	    "0;last\r\nX-Checksum: none\r\nX-Other: 1\r\n\r\n";
	struct httpc_resp r;

	(void)state;
	assert_int_equal(parse(msg, 0, &r), 1);
	assert_int_equal(r.body_len, 12);
	assert_string_equal(r.body, "hello world!");
	httpc_resp_free(&r);
	/* transfer-coding names are case-insensitive; list elements may be empty */
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: , CHUNKED\r\n"
	    "\r\n2\r\nab\r\n0\r\n\r\n", 0, &r), 1);
	assert_string_equal(r.body, "ab");
	httpc_resp_free(&r);
}

static void
test_split_every_offset(void **state)
{
	static const struct {
		const char *name, *msg, *body;
		int at_close;
	} t[] = {
		{ "content-length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
		    "Replay-Nonce: n1\r\n\r\nhello", "hello", 0 },
		{ "chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
		    "\r\n3;x=\"y\"\r\nabc\r\n2\r\nde\r\n0\r\nT: v\r\n\r\n",
		    "abcde", 0 },
		{ "chunked LF", "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n"
		    "\n3\nabc\n0\n\n", "abc", 0 },
		{ "no content", "HTTP/1.1 204 No Content\r\nReplay-Nonce: x\r\n"
		    "\r\n", "", 0 },
		{ "interim", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early "
		    "Hints\r\nLink: </s>;rel=preload\r\n\r\nHTTP/1.1 200 OK\r\n"
		    "Content-Length: 2\r\n\r\nok", "ok", 0 },
		{ "close-delimited", "HTTP/1.1 500 Oops\r\nContent-Type: "
		    "text/plain\r\n\r\nbroken", "broken", 1 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		split_everywhere(t[i].msg, strlen(t[i].msg), t[i].at_close,
		    t[i].body, strlen(t[i].body), t[i].name);
}

/* every answer of the fuzzer's seed corpus parses, and not before its end
 * (a name with "close" in it: its body ends at the close) */
static void
test_corpus_split(void **state)
{
	DIR *d = opendir(corpus_dir());
	struct dirent *e;
	int files = 0;

	(void)state;
	if (d == NULL)
		fail_msg("%s: cannot open (run from the repository root, or "
		    "set TEST_HTTPC_CORPUS)", corpus_dir());
	while ((e = readdir(d)) != NULL) {
		char path[1024], *buf;
		FILE *fp;
		long n;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", corpus_dir(), e->d_name);
		assert_non_null(fp = fopen(path, "rb"));
		fseek(fp, 0, SEEK_END);
		n = ftell(fp);
		rewind(fp);
		assert_non_null(buf = malloc((size_t)n + 1));
		assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
		fclose(fp);
		split_everywhere(buf, (size_t)n, strstr(e->d_name, "close") !=
		    NULL, NULL, 0, path);
		free(buf);
		files++;
	}
	closedir(d);
	assert_true(files >= 4);
}

static void
test_eof_delimited(void **state)
{
	static const char msg[] = "HTTP/1.0 200 OK\r\nContent-Type: text/plain"
	    "\r\n\r\nall of it\r\nuntil the close";
	struct httpc_resp r;

	(void)state;
	assert_int_equal(parse(msg, 0, &r), 0);
	assert_int_equal(parse(msg, 1, &r), 1);
	assert_string_equal(r.body, "all of it\r\nuntil the close");
	httpc_resp_free(&r);
	/* an empty body at the close */
	assert_int_equal(parse("HTTP/1.1 200 OK\r\n\r\n", 1, &r), 1);
	assert_int_equal(r.body_len, 0);
	httpc_resp_free(&r);
}

static void
test_bad_chunks(void **state)
{
	static const char *const bad[] = {
		"zz\r\nab\r\n0\r\n\r\n",		/* not hexadecimal */
		"\r\nab\r\n0\r\n\r\n",			/* no size */
		"-2\r\nab\r\n0\r\n\r\n",		/* a sign */
		"2 3\r\nab\r\n0\r\n\r\n",		/* a blank, then no ; */
		"2;\r\nab\r\n0\r\n\r\n",		/* ; without a name */
		"2;a=\"b\r\nab\r\n0\r\n\r\n",		/* an unterminated quote */
		"2;a=\x01\r\nab\r\n0\r\n\r\n",		/* a control byte */
		"2\r\nabc\r\n0\r\n\r\n",		/* the data longer than said */
		"2\rab\r\n0\r\n\r\n",			/* a CR that ends no line */
		"2\r\nab\r\n0\r\nno colon\r\n\r\n",	/* a broken trailer */
		"2\r\nab\r\n0\r\n folded: x\r\n\r\n",	/* a folded trailer */
	};
	char msg[200], what[64];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(msg, sizeof(msg), "HTTP/1.1 200 OK\r\nTransfer-Encoding: "
		    "chunked\r\n\r\n%s", bad[i]);
		snprintf(what, sizeof(what), "bad chunk %zu", i);
		refused(msg, 0, what);
		refused(msg, 1, what);
	}
	/* a size that does not fit anywhere is too large, not wrapped around */
	refused("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "ffffffffffffffffffffffff01\r\nab\r\n0\r\n\r\n", 0, "huge chunk");
	/* a chunk-size line that never ends */
	{
		size_t n = 40 + HTTPRESP_LINE_MAX;
		char *m = malloc(n + 64);

		assert_non_null(m);
		n = (size_t)sprintf(m, "HTTP/1.1 200 OK\r\nTransfer-Encoding: "
		    "chunked\r\n\r\n1;");
		memset(m + n, 'x', HTTPRESP_LINE_MAX);
		m[n + HTTPRESP_LINE_MAX] = '\0';
		refused(m, 0, "endless chunk-size line");
		free(m);
	}
}

/* a head of exactly the limit is read; one byte more is refused at once */
static void
test_header_too_long(void **state)
{
	const char *start = "HTTP/1.1 200 OK\r\nX-Pad: ";
	const char *end = "\r\nContent-Length: 2\r\n\r\nok";
	size_t fixed = strlen(start) + strlen(end) - 2;
	char *m = malloc(HTTPRESP_HEAD_MAX + 64);
	struct httpc_resp r;

	(void)state;
	assert_non_null(m);
	strcpy(m, start);
	memset(m + strlen(start), 'a', HTTPRESP_HEAD_MAX - fixed);
	strcpy(m + strlen(start) + HTTPRESP_HEAD_MAX - fixed, end);
	assert_int_equal(parse(m, 0, &r), 1);
	assert_string_equal(r.body, "ok");
	httpc_resp_free(&r);
	strcpy(m, start);
	memset(m + strlen(start), 'a', HTTPRESP_HEAD_MAX - fixed + 1);
	strcpy(m + strlen(start) + HTTPRESP_HEAD_MAX - fixed + 1, end);
	refused(m, 0, "a head one byte over the limit");
	/* refused without waiting for its end */
	m[HTTPRESP_HEAD_MAX] = '\0';
	refused(m, 0, "a head over the limit, its end not come yet");
	free(m);
}

static void
test_body_too_large(void **state)
{
	char msg[200];

	(void)state;
	snprintf(msg, sizeof(msg), "HTTP/1.1 200 OK\r\nContent-Length: %d"
	    "\r\n\r\n", HTTPC_BODY_MAX + 1);
	refused(msg, 0, "Content-Length over the limit");
	snprintf(msg, sizeof(msg), "HTTP/1.1 200 OK\r\nTransfer-Encoding: "
	    "chunked\r\n\r\n%x\r\n", HTTPC_BODY_MAX + 1);
	refused(msg, 0, "a chunk over the limit");
	refused("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n"
	    "\r\n", 0, "a Content-Length that fits no integer");
}

static void
test_content_length_agreement(void **state)
{
	struct httpc_resp r;

	(void)state;
	refused("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n"
	    "\r\nabcd", 0, "two Content-Length fields that disagree");
	refused("HTTP/1.1 200 OK\r\nContent-Length: 3, 4\r\n\r\nabcd", 0,
	    "a Content-Length list that disagrees");
	refused("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: "
	    "chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 0, "Content-Length and "
	    "Transfer-Encoding");
	refused("HTTP/1.1 200 OK\r\nContent-Length: +3\r\n\r\nabc", 0,
	    "a signed Content-Length");
	refused("HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\nabc", 0,
	    "an empty Content-Length");
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n"
	    "content-length: 3\r\n\r\nabc", 0, &r), 1);
	assert_string_equal(r.body, "abc");
	httpc_resp_free(&r);
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nContent-Length: 3 , 3\r\n"
	    "\r\nabc", 0, &r), 1);
	assert_string_equal(r.body, "abc");
	httpc_resp_free(&r);
}

static void
test_malformed(void **state)
{
	static const struct {
		const char *what, *msg;
	} bad[] = {
		{ "not HTTP", "SSH-2.0-OpenSSH_9.2\r\n\r\n" },
		{ "HTTP/2", "HTTP/2 200\r\n\r\n" },
		{ "a two-digit status", "HTTP/1.1 20 OK\r\n\r\n" },
		{ "a status below 100", "HTTP/1.1 099 Low\r\n\r\n" },
		{ "no blank after the status", "HTTP/1.1 200OK\r\n\r\n" },
		{ "a control byte in the reason", "HTTP/1.1 200 O\x01K\r\n\r\n" },
		{ "no colon", "HTTP/1.1 200 OK\r\nLocation /x\r\n\r\n" },
		{ "a blank before the colon", "HTTP/1.1 200 OK\r\nLocation : /x"
		    "\r\n\r\n" },
		{ "an empty name", "HTTP/1.1 200 OK\r\n: x\r\n\r\n" },
		{ "a folded line", "HTTP/1.1 200 OK\r\nX-A: 1\r\n 2\r\n\r\n" },
		{ "a bare CR", "HTTP/1.1 200 OK\r\nX-A: 1\r2\r\n\r\n" },
		{ "a control byte in a value", "HTTP/1.1 200 OK\r\nX-A: 1\x1b[2J"
		    "\r\n\r\n" },
		{ "a name that is no token", "HTTP/1.1 200 OK\r\nX(A): 1\r\n\r\n" },
		{ "gzip", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n"
		    "\r\n0\r\n\r\n" },
		{ "chunked twice", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked"
		    "\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" },
		{ "Transfer-Encoding in HTTP/1.0", "HTTP/1.0 200 OK\r\n"
		    "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" },
		{ "switching protocols", "HTTP/1.1 101 Switching Protocols\r\n"
		    "Upgrade: h2c\r\n\r\n" },
	};
	struct httpc_resp r;
	char nul[] = "HTTP/1.1 200 OK\r\nX-A: a\0b\r\nContent-Length: 0\r\n\r\n";

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		refused(bad[i].msg, 0, bad[i].what);
	assert_int_equal(parse_n(nul, sizeof(nul) - 1, 0, &r), -1);
	/* too many fields */
	{
		char *m = malloc(HTTPRESP_HEAD_MAX);
		size_t n = (size_t)sprintf(m, "HTTP/1.1 200 OK\r\n");

		for (int i = 0; i <= HTTPRESP_FIELDS_MAX; i++)
			n += (size_t)sprintf(m + n, "X-%d: 1\r\n", i);
		sprintf(m + n, "\r\n");
		refused(m, 1, "more header fields than the limit");
		free(m);
	}
}

static void
test_truncated(void **state)
{
	(void)state;
	refused("", 1, "nothing before the close");
	refused("HTTP/1.1 200 OK\r\nContent-Le", 1, "headers cut by the close");
	refused("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 1,
	    "a body cut by the close");
	refused("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc"
	    "\r\n", 1, "no last chunk before the close");
	refused("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n", 1,
	    "no end of the trailers before the close");
}

/* the answer to HEAD has no body, whatever it announces */
static void
test_head(void **state)
{
	static const char msg[] = "HTTP/1.1 200 OK\r\nContent-Length: 120\r\n"
	    "Replay-Nonce: xyz\r\n\r\n";
	struct httpresp h;

	(void)state;
	assert_int_equal(httpresp_parse(msg, strlen(msg), 0, 1000,
	    HTTPRESP_NO_BODY, &h), 1);
	assert_int_equal(h.framing, HTTPRESP_EMPTY);
	assert_int_equal(h.body_len, 0);
	httpresp_free(&h);
	assert_int_equal(httpresp_parse(msg, strlen(msg), 0, 1000, 0, &h), 0);
	httpresp_free(&h);
}

static void
test_retry_after(void **state)
{
	/* Sun, 06 Nov 1994 08:49:37 GMT */
	const time_t t = 784111777;
	static const struct {
		const char *v;
		long want;
	} cases[] = {
		{ "120", 120 },
		{ " 0 ", 0 },
		{ "99999999999", 31536000 },		/* at most a year */
		{ "Sun, 06 Nov 1994 08:49:37 GMT", 60 },
		{ "Sunday, 06-Nov-94 08:49:37 GMT", 60 },
		{ "Sun Nov  6 08:49:37 1994", 60 },
		{ "Sun, 06 Nov 1994 08:59:37 GMT", 660 },
		{ "Sun, 06 Nov 1994 08:40:00 GMT", 0 },	/* passed */
		{ "-5", -1 },
		{ "12s", -1 },
		{ "", -1 },
		{ "Sun, 06 Nov 1994 08:49:37 UTC", -1 },
		{ "Sun, 06 Nov 1994 25:49:37 GMT", -1 },
		{ "Sun, 6 Nov 1994 08:49:37 GMT", -1 },
		{ "tomorrow", -1 },
	};
	struct httpc_resp r;
	char msg[200], date[64];
	time_t soon = time(NULL) + 3600;
	struct tm tm;
	static const char *const wd[] = { "Sun", "Mon", "Tue", "Wed", "Thu",
		"Fri", "Sat" };
	static const char *const mon[] = { "Jan", "Feb", "Mar", "Apr", "May",
		"Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		long got = httpresp_retry_after(cases[i].v, strlen(cases[i].v),
		    t - 60);

		if (got != cases[i].want)
			fail_msg("Retry-After \"%s\": %ld, not %ld", cases[i].v,
			    got, cases[i].want);
	}
	/* through httpc_parse: both forms, an hour from now */
	assert_int_equal(parse("HTTP/1.1 429 Too Many\r\nRetry-After: 3600\r\n"
	    "Content-Length: 0\r\n\r\n", 0, &r), 1);
	assert_int_equal(r.retry_after, 3600);
	httpc_resp_free(&r);
	gmtime_r(&soon, &tm);
	snprintf(date, sizeof(date), "%s, %02d %s %04d %02d:%02d:%02d GMT",
	    wd[tm.tm_wday], tm.tm_mday, mon[tm.tm_mon], tm.tm_year + 1900,
	    tm.tm_hour, tm.tm_min, tm.tm_sec);
	snprintf(msg, sizeof(msg), "HTTP/1.1 503 Busy\r\nRetry-After: %s\r\n"
	    "Content-Length: 0\r\n\r\n", date);
	assert_int_equal(parse(msg, 0, &r), 1);
	if (r.retry_after < 3590 || r.retry_after > 3600)
		fail_msg("Retry-After %s: %ld s, not about 3600", date,
		    r.retry_after);
	httpc_resp_free(&r);
	/* a value that is neither form: as if absent, the answer kept */
	assert_int_equal(parse("HTTP/1.1 429 Too Many\r\nRetry-After: soon\r\n"
	    "Content-Length: 0\r\n\r\n", 0, &r), 1);
	assert_int_equal(r.status, 429);
	assert_int_equal(r.retry_after, -1);
	httpc_resp_free(&r);
}

static void
test_links(void **state)
{
	struct httpc_resp r;
	struct httpresp_link l[4];

	(void)state;
	assert_int_equal(parse("HTTP/1.1 200 OK\r\n"
	    "Link: <https://ca.test/cert/1/alt1>;rel=\"alternate\", "
	    "<https://ca.test/a,b>; title=\"x, y\"; REL=Up, <https://ca.test/n>;"
	    "title=none\r\n"
	    "Link: </dir>;rel=\"index\"\r\n"
	    "link: <https://ca.test/cert/1/alt2> ; rel = \"alternate Next\" ; "
	    "rel=ignored\r\n"
	    "Content-Length: 0\r\n\r\n", 0, &r), 1);
	assert_int_equal(r.nlinks, 5);
	assert_string_equal(r.links[0].url, "https://ca.test/cert/1/alt1");
	assert_string_equal(r.links[0].rel, "alternate");
	assert_string_equal(r.links[1].url, "https://ca.test/a,b");
	assert_string_equal(r.links[1].rel, "up");
	assert_string_equal(r.links[2].url, "/dir");	/* made absolute by httpc_request */
	assert_string_equal(r.links[2].rel, "index");
	assert_string_equal(r.links[3].url, "https://ca.test/cert/1/alt2");
	assert_string_equal(r.links[3].rel, "alternate");
	assert_string_equal(r.links[4].url, "https://ca.test/cert/1/alt2");
	assert_string_equal(r.links[4].rel, "next");
	httpc_resp_free(&r);

	/* a malformed Link field is dropped, the others kept */
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nLink: https://no-brackets;"
	    "rel=up\r\nLink: <https://ca.test/ok>;rel=up\r\n\r\n", 1, &r), 1);
	assert_int_equal(r.nlinks, 1);
	assert_string_equal(r.links[0].url, "https://ca.test/ok");
	httpc_resp_free(&r);

	/* more than fit: counted, the first kept */
	{
		const char *v = "<a>;rel=\"1 2 3\", <b>;rel=4, <c>;rel=5";

		assert_int_equal(httpresp_links(v, strlen(v), l, 4), 5);
		assert_memory_equal(l[3].url, "b", 1);
		assert_memory_equal(l[3].rel, "4", 1);
	}
	{
		static const char *const bad[] = { "<a;rel=up", "<a b>;rel=up",
			"<a>;=up", "<a>;rel=\"up", "<a> x", "<a>;rel=\"u\\p\"" };

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
			if (httpresp_links(bad[i], strlen(bad[i]), l, 4) != -1)
				fail_msg("Link \"%s\" accepted", bad[i]);
	}
}

static void
test_url_parse(void **state)
{
	static const struct {
		const char *in, *host, *path;
		unsigned port;
		int ipv6;
	} good[] = {
		{ "https://acme.test/dir", "acme.test", "/dir", 443, 0 },
		{ "HTTPS://acme.test", "acme.test", "/", 443, 0 },
		{ "https://127.0.0.1:14000/dir?x=1#frag", "127.0.0.1", "/dir?x=1",
		    14000, 0 },
		{ "https://[::1]:8443/a/b", "::1", "/a/b", 8443, 1 },
		{ "https://[2001:db8::1]", "2001:db8::1", "/", 443, 1 },
		{ "https://acme.test?q", "acme.test", "/?q", 443, 0 },
	};
	static const char *const bad[] = {
		"http://acme.test/", "acme.test/dir", "https://", "https:///dir",
		"https://user@acme.test/", "https://acme.test:0/",
		"https://acme.test:65536/", "https://acme.test:/",
		"https://acme.test:8x/", "https://[::1/", "https://[zz::1]/",
		"https://::1/", "https://acme.test/a b", "https://acme.test/\r\nX: y",
		"https://acm\xc3\xa9.test/", "https://acme.test:123456/",
	};
	struct httpc_url u;
	char err[200];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (httpc_url_parse(good[i].in, &u, err, sizeof(err)) != 0)
			fail_msg("%s: %s", good[i].in, err);
		assert_string_equal(u.host, good[i].host);
		assert_string_equal(u.path, good[i].path);
		assert_int_equal(u.port, good[i].port);
		assert_int_equal(u.ipv6, good[i].ipv6);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (httpc_url_parse(bad[i], &u, err, sizeof(err)) != -1)
			fail_msg("\"%s\" accepted as a URL", bad[i]);
		assert_true(err[0] != '\0');
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_content_length),
		cmocka_unit_test(test_chunked),
		cmocka_unit_test(test_split_every_offset),
		cmocka_unit_test(test_corpus_split),
		cmocka_unit_test(test_eof_delimited),
		cmocka_unit_test(test_bad_chunks),
		cmocka_unit_test(test_header_too_long),
		cmocka_unit_test(test_body_too_large),
		cmocka_unit_test(test_content_length_agreement),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_head),
		cmocka_unit_test(test_retry_after),
		cmocka_unit_test(test_links),
		cmocka_unit_test(test_url_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
