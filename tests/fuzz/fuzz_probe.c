/* fuzz_probe.c - libFuzzer harness for probe_parse_response (an HTTP answer from the network) */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "tools/probe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* what must hold of r after any call that returned rc */
static void
check(const struct probe_result *r, int rc)
{
	if (rc < -1 || rc > 1)
		__builtin_trap();
	fuzz_printable(r->http_err, sizeof(r->http_err));
	fuzz_printable(r->status_line, sizeof(r->status_line));
	fuzz_printable(r->content_type, sizeof(r->content_type));
	fuzz_printable(r->location, sizeof(r->location));
	if (r->body != NULL && (r->body_len > PROBE_BODY_MAX ||
	    r->body[r->body_len] != '\0' || r->body_too_large))
		__builtin_trap();
	if (rc == 1 && (!r->have_response || r->status < 0 || r->status > 999))
		__builtin_trap();
	if (rc == 1 && r->body == NULL && !r->body_too_large &&
	    r->http_err[0] == '\0')
		__builtin_trap();	/* complete, but with no body and no reason */
}

/*
 * The input is what a server sent, as probe.c's reader sees it: parsed as
 * it arrives (a few growing prefixes, as reads would deliver them, until
 * one is complete or broken), then the whole of it with the connection
 * closed. Any bytes: no crash, no leak, no read past the input, and the
 * result always says something coherent (check above).
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct probe_result r;
	char *buf = malloc(size + 1);
	size_t step = size / 8 + 1;
	int rc = 0;

	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';		/* as probe.c keeps it */
	memset(&r, 0, sizeof(r));
	for (size_t n = 0; n < size && rc == 0; n += step) {
		rc = probe_parse_response(buf, n, 0, &r);
		check(&r, rc);
	}
	probe_result_free(&r);
	memset(&r, 0, sizeof(r));
	rc = probe_parse_response(buf, size, 1, &r);
	check(&r, rc);
	if (rc == 0)
		__builtin_trap();	/* once closed, more can never come */
	probe_result_free(&r);
	free(buf);
	return 0;
}
