/* fuzz.h - checks the libFuzzer harnesses share (a harness is one .c file,
 * so they are static inline here) */
#ifndef MTA_STSD_FUZZ_H
#define MTA_STSD_FUZZ_H

#include <stddef.h>
#include <string.h>

/* Traps unless s is terminated within size and printable ASCII only: what
 * a peer sent must not reach a log line or a terminal as it is. */
static inline void
fuzz_printable(const char *s, size_t size)
{
	const char *end = memchr(s, '\0', size);

	if (end == NULL)
		__builtin_trap();
	for (; s < end; s++)
		if (*s < 0x20 || *s > 0x7e)
			__builtin_trap();
}

#endif
