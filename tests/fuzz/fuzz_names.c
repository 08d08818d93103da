/* fuzz_names.c - libFuzzer harness for names.c */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "names.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * The input is "pattern\nhost" (or just a name). Checks: normalising is
 * idempotent and lower-cases; a Host header without a port normalises like
 * the name; an exact pattern matches itself.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[NAME_MAX_LEN + 1], out2[NAME_MAX_LEN + 1];
	char hdr[NAME_MAX_LEN + 1];
	char *buf, *pattern, *host, *nl;
	const char *dom;

	if ((buf = malloc(size + 1)) == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';

	if (name_normalise(buf, size, out, sizeof(out)) == 0) {
		if (strlen(out) != size)
			abort();
		for (const char *s = out; *s; s++)
			if (*s >= 'A' && *s <= 'Z')
				abort();
		if (name_normalise(out, size, out2, sizeof(out2)) != 0 ||
		    strcmp(out, out2) != 0)
			abort();
		if (name_from_host_header(buf, hdr, sizeof(hdr)) != 0 ||
		    strcmp(hdr, out) != 0)
			abort();
		if (!name_match(out, out))
			abort();
		if ((dom = name_policy_domain(out)) != NULL &&
		    (dom != out + 8 || *dom == '\0'))
			abort();
	}
	(void)name_from_host_header(buf, hdr, sizeof(hdr));

	pattern = buf;
	host = "";
	if ((nl = strchr(buf, '\n')) != NULL) {
		*nl = '\0';
		host = nl + 1;
	}
	(void)name_match(pattern, host);
	(void)name_policy_domain(host);
	free(buf);
	return 0;
}
