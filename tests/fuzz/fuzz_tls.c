/* fuzz_tls.c - libFuzzer harness for tls_hello_names and tls_hello_alpn (a ClientHello's server names and ALPN protocols) */
#include <stddef.h>
#include <stdint.h>

#include "challenge.h"
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

/* and its TLS-ALPN-01 branch reads the challenge store; the parsers never do */
int
challenge_enabled(void)
{
	return 0;
}

struct certkey *
challenge_tls_get(const char *name)
{
	(void)name;
	return NULL;
}

/*
 * The input is a ClientHello handshake message as a client sent it (its
 * 4-byte header, then the body). Any bytes: no crash, no read past the
 * message; a count of -1 or more, and for a positive count a first name
 * inside the message. The ALPN reader: a count of -1 or more, never more
 * matching protocols than protocols, nor more protocols than the message
 * can hold (each takes two bytes at least).
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const unsigned char *name;
	size_t len;
	int n = tls_hello_names(data, size, &name, &len);

	if (n < -1 || (n == 0 && (name != NULL || len != 0)))
		__builtin_trap();
	size_t acme;
	int a = tls_hello_alpn(data, size, TLS_ALPN_ACME, &acme);

	if (n > 0 && (name < data || len > size ||
	    name + len > data + size))
		__builtin_trap();
	if (a < -1 || (a >= 0 && (acme > (size_t)a || (size_t)a > size / 2)))
		__builtin_trap();
	return 0;
}
