/* fuzz_tls.c - libFuzzer harness for tls_hello_names (the server names of a ClientHello) */
#include <stddef.h>
#include <stdint.h>

#include "snapshot.h"
#include "tls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* tls.c's certificate callback looks domains up; the parser never does */
const struct domain *
snapshot_find(const struct snapshot *s, const char *name)
{
	(void)s;
	(void)name;
	return NULL;
}

/*
 * The input is a ClientHello handshake message as a client sent it (its
 * 4-byte header, then the body). Any bytes: no crash, no read past the
 * message; a count of -1 or more, and for a positive count a first name
 * inside the message.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const unsigned char *name;
	size_t len;
	int n = tls_hello_names(data, size, &name, &len);

	if (n < -1 || (n == 0 && (name != NULL || len != 0)))
		__builtin_trap();
	if (n > 0 && (name < data || len > size ||
	    name + len > data + size))
		__builtin_trap();
	return 0;
}
