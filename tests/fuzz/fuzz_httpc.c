/* fuzz_httpc.c - libFuzzer harness for httpc_parse (an ACME server's HTTP answer) and httpresp.c's value parsers */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "httpc.h"
#include "httpresp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* what must hold of r after httpc_parse returned rc */
static void
check(const struct httpc_resp *r, int rc)
{
	if (rc < -1 || rc > 1)
		__builtin_trap();
	if (rc != 1) {
		/* nothing to free after 0 and -1 */
		if (r->body != NULL || r->nonce != NULL || r->location != NULL ||
		    r->content_type != NULL || r->nlinks != 0)
			__builtin_trap();
		return;
	}
	if (r->body == NULL || r->body_len > HTTPC_BODY_MAX ||
	    r->body[r->body_len] != '\0' || r->status < 200 || r->status > 999 ||
	    r->nlinks > HTTPC_LINKS_MAX || r->retry_after < -1 ||
	    r->retry_after > 31536000)
		__builtin_trap();
	for (size_t i = 0; i < r->nlinks; i++) {
		if (r->links[i].url == NULL || r->links[i].rel == NULL ||
		    r->links[i].rel[0] == '\0')
			__builtin_trap();
		for (const char *q = r->links[i].rel; *q != '\0'; q++)
			if (*q >= 'A' && *q <= 'Z')
				__builtin_trap();
	}
	if (r->nonce != NULL && (r->nonce[0] == '\0' ||
	    strspn(r->nonce, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789-_") != strlen(r->nonce)))
		__builtin_trap();
}

/* httpc_parse over exactly buf[0..n) in a buffer of that size, so that
 * ASan sees any read past it */
static int
parse_exact(const uint8_t *data, size_t n, int eof, struct httpc_resp *r)
{
	char *buf = malloc(n ? n : 1);
	int rc;

	if (buf == NULL)
		abort();
	memcpy(buf, data, n);
	rc = httpc_parse(buf, n, eof, r);
	free(buf);
	check(r, rc);
	return rc;
}

/*
 * The input is what a server sent, read as httpc.c reads it: a few
 * growing prefixes, as reads would deliver them, then the whole of it,
 * then the whole with the connection closed. Besides no crash, leak or
 * read past the input: a prefix's verdict (complete or broken) is final,
 * a complete answer stays the same as more bytes come, and once closed an
 * answer is never still waiting. The same bytes also go to the Link and
 * Retry-After value parsers.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct httpc_resp first, r;
	struct httpresp_link l[4];
	size_t step = size / 8 + 1;
	int rc = 0, whole, closed, n;
	long ra;

	memset(&first, 0, sizeof(first));
	for (size_t len = 0; len < size && rc == 0; len += step) {
		httpc_resp_free(&first);
		rc = parse_exact(data, len, 0, &first);
	}
	whole = parse_exact(data, size, 0, &r);
	if (rc != 0 && whole != rc)
		__builtin_trap();	/* a verdict changed as more came */
	if (rc == 1 && (r.status != first.status || r.body_len !=
	    first.body_len || memcmp(r.body, first.body, r.body_len) != 0))
		__builtin_trap();
	httpc_resp_free(&first);
	closed = parse_exact(data, size, 1, &first);
	if (closed == 0 || (whole == 1 && (closed != 1 || r.body_len !=
	    first.body_len || memcmp(r.body, first.body, r.body_len) != 0)))
		__builtin_trap();
	httpc_resp_free(&first);
	httpc_resp_free(&r);

	n = httpresp_links((const char *)data, size, l, 4);
	for (int i = 0; i < n && i < 4; i++)
		if (l[i].url < (const char *)data || l[i].url + l[i].url_len >
		    (const char *)data + size || l[i].rel_len == 0 ||
		    l[i].rel < (const char *)data || l[i].rel + l[i].rel_len >
		    (const char *)data + size)
			__builtin_trap();
	ra = httpresp_retry_after((const char *)data, size, 784111777);
	if (ra < -1 || ra > 31536000)
		__builtin_trap();
	return 0;
}
