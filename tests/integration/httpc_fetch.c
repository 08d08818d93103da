/* httpc_fetch.c - one httpc_request from the command line, for tests/integration/httpc_test.py
 *
 * usage: httpc-fetch [--ca FILE] [--timeout S] [--method M] [--type CT]
 *                    [--body TEXT] URL
 * Prints what struct httpc_resp holds, one "name value" line each (status,
 * nonce, location, content-type, retry-after, one "link REL URL" per link,
 * body-length), then a blank line and the body as it is. Exit 0 when an
 * answer came, 1 (the reason on stderr) when not, 2 on a usage error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpc.h"

int
main(int argc, char **argv)
{
	const char *ca = NULL, *method = "GET", *type = NULL, *body = NULL;
	unsigned timeout = 10;
	struct httpc_resp r;
	struct httpc *c;
	char err[600];
	int i;

	for (i = 1; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
		if (strcmp(argv[i], "--ca") == 0)
			ca = argv[i + 1];
		else if (strcmp(argv[i], "--timeout") == 0)
			timeout = (unsigned)strtoul(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--method") == 0)
			method = argv[i + 1];
		else if (strcmp(argv[i], "--type") == 0)
			type = argv[i + 1];
		else if (strcmp(argv[i], "--body") == 0)
			body = argv[i + 1];
		else
			break;
	}
	if (i + 1 != argc) {
		fprintf(stderr, "usage: httpc-fetch [--ca FILE] [--timeout S] "
		    "[--method M] [--type CT] [--body TEXT] URL\n");
		return 2;
	}
	if ((c = httpc_new(ca, timeout, err, sizeof(err))) == NULL) {
		fprintf(stderr, "httpc-fetch: %s\n", err);
		return 1;
	}
	if (httpc_request(c, method, argv[i], type, body, body ? strlen(body) : 0,
	    &r, err, sizeof(err)) == -1) {
		fprintf(stderr, "httpc-fetch: %s\n", err);
		httpc_free(c);
		return 1;
	}
	printf("status %d\n", r.status);
	if (r.nonce != NULL)
		printf("nonce %s\n", r.nonce);
	if (r.location != NULL)
		printf("location %s\n", r.location);
	if (r.content_type != NULL)
		printf("content-type %s\n", r.content_type);
	printf("retry-after %ld\n", r.retry_after);
	for (size_t k = 0; k < r.nlinks; k++)
		printf("link %s %s\n", r.links[k].rel, r.links[k].url);
	printf("body-length %zu\n\n", r.body_len);
	fwrite(r.body, 1, r.body_len, stdout);
	httpc_resp_free(&r);
	httpc_free(c);
	return 0;
}
