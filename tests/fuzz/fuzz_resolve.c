/* fuzz_resolve.c - libFuzzer harness for resolve_parse (a DNS answer from the network) */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tools/resolve.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* what must hold of the records of one type */
static void
check(const struct resolve_result *r, int type, size_t size)
{
	if (r->status == RESOLVE_OK ? r->n == 0 : r->n != 0)
		__builtin_trap();
	if (r->status != RESOLVE_OK && r->status != RESOLVE_NODATA &&
	    r->status != RESOLVE_FAIL)
		__builtin_trap();
	for (size_t i = 0; i < r->n; i++) {
		const struct resolve_rr *rr = &r->rr[i];

		if (rr->text == NULL || rr->text[rr->len] != '\0')
			__builtin_trap();
		switch (type) {
		case RESOLVE_TXT:
			if (rr->len > size)	/* the strings joined, no more */
				__builtin_trap();
			break;
		case RESOLVE_MX:
			/* lower case, no trailing dot but the null MX, by preference */
			if (rr->len == 0 || strlen(rr->text) != rr->len ||
			    (rr->len > 1 && rr->text[rr->len - 1] == '.') ||
			    (i > 0 && r->rr[i - 1].pref > rr->pref))
				__builtin_trap();
			for (size_t k = 0; k < rr->len; k++)
				if (rr->text[k] >= 'A' && rr->text[k] <= 'Z')
					__builtin_trap();
			break;
		case RESOLVE_A:
		case RESOLVE_AAAA: {
			unsigned char addr[16];

			if (rr->sslen != (type == RESOLVE_A ?
			    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6)) ||
			    inet_pton(type == RESOLVE_A ? AF_INET : AF_INET6,
			    rr->text, addr) != 1)
				__builtin_trap();
			break;
		}
		}
	}
}

/*
 * The input is a DNS message as a server answered it: parsed for each of
 * the four types `check` asks for. Any bytes: no crash, no leak, no read
 * past the message, and the records coherent (check above).
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int types[] = { RESOLVE_TXT, RESOLVE_MX, RESOLVE_A,
	    RESOLVE_AAAA };

	for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
		struct resolve_result r;

		if (resolve_parse(data, size, types[t], &r) == 0)
			check(&r, types[t], size);
		resolve_free(&r);
	}
	return 0;
}
