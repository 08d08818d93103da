/* trim.h - give back the pages of libraries that are loaded but never called */
#ifndef MTA_STSD_TRIM_H
#define MTA_STSD_TRIM_H

#include <stddef.h>
#include <stdint.h>

/*
 * Is the /proc/self/maps line a read-only, file-backed mapping of a shared
 * library that mta-stsd never calls (one that is not the executable, whose
 * path is exe, and not one of the libraries it links for its own use)?
 * Fills *start and *end when so. Returns 1 or 0. Pure.
 */
int trim_candidate(const char *line, const char *exe, uintptr_t *start,
    uintptr_t *end);

/*
 * Ask the kernel to reclaim the resident pages of every such mapping now
 * (madvise MADV_PAGEOUT: clean file pages, dropped and read again from the
 * file should they ever be touched, so nothing can break). Debian's
 * libmicrohttpd links GnuTLS and initialises it when loaded; mta-stsd does
 * its TLS with mbedTLS and never calls GnuTLS, whose pages (and those of
 * its dependencies) would otherwise stay resident: about 2 MiB. The kernel
 * pages out only pages no other process maps, and only for a caller allowed
 * to write the file (root), so this is done before privileges are dropped.
 * Returns the number of mappings of which the kernel really reclaimed pages
 * (fewer resident after the advice than before: none for an unprivileged
 * process), or -1 when /proc is unreadable.
 */
int trim_unused_libraries(void);

#endif
