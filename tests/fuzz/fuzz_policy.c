/* fuzz_policy.c - libFuzzer harness for policy_parse */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Parse any bytes; an accepted policy must re-parse to itself, same id. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct policy p, again;
	struct diag d = { 0 };

	if (policy_parse((const char *)data, size, "fuzz", &p, &d) == 0) {
		if (p.text == NULL || p.text_len > POLICY_MAX_BYTES ||
		    strlen(p.text) != p.text_len ||
		    strlen(p.id) != POLICY_ID_LEN || d.nerrors != 0)
			abort();
		if (policy_parse(p.text, p.text_len, "again", &again,
		    &d) != 0 || again.text_len != p.text_len ||
		    memcmp(again.text, p.text, p.text_len) != 0 ||
		    strcmp(again.id, p.id) != 0)
			abort();
		for (size_t i = 0; i < p.nmx; i++) {
			const char *host = p.mx[i][0] == '*' ? p.mx[i] + 2 :
			    p.mx[i];

			/* an exact pattern covers itself */
			if (p.mx[i][0] != '*' && !policy_mx_covers(&p, host))
				abort();
		}
		policy_free(&again);
	} else if (d.nerrors == 0 || p.text != NULL || p.nmx != 0 ||
	    p.next != 0)
		abort();
	policy_free(&p);
	policy_free(&p);
	diag_clear(&d);
	return 0;
}
