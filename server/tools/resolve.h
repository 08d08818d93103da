/* resolve.h - DNS lookups through the system resolver configuration (glibc libresolv) */
#ifndef MTA_STSD_RESOLVE_H
#define MTA_STSD_RESOLVE_H

#include <stddef.h>
#include <sys/socket.h>

enum resolve_status {
	RESOLVE_OK,		/* at least one record of the type */
	RESOLVE_NODATA,		/* the name exists, with no record of the type */
	RESOLVE_NXDOMAIN,	/* the name does not exist */
	RESOLVE_FAIL		/* no usable answer: timeout, SERVFAIL, REFUSED, ... */
};

/* One record of an answer. */
struct resolve_rr {
	char *text;		/* TXT: the character strings joined; MX: the host,
				 * lower case, no trailing dot ("." for a null MX);
				 * A/AAAA: the address as text */
	size_t len;		/* of text (a TXT record may hold NUL bytes) */
	unsigned pref;		/* MX preference */
	struct sockaddr_storage ss;	/* A/AAAA, port 0 */
	socklen_t sslen;
};

struct resolve_result {
	enum resolve_status status;
	char why[160];		/* RESOLVE_FAIL: what went wrong */
	struct resolve_rr *rr;	/* in answer order; MX sorted by preference */
	size_t n;
};

/*
 * Read the resolver configuration (/etc/resolv.conf) and set how long one
 * query may wait for a server (seconds, at least 1) and how often it is sent.
 * Returns 0, or -1 when the configuration cannot be read.
 */
int resolve_init(unsigned timeout, unsigned attempts);

/*
 * Ask for the records of one type (RESOLVE_TXT, RESOLVE_MX, RESOLVE_A or
 * RESOLVE_AAAA) at name, as a stub resolver: no search list. Only records of
 * that type in the answer section count (a CNAME chain is followed by the
 * server). Fills *out; returns 0, or -1 when memory ran out (status FAIL).
 */
enum { RESOLVE_A = 1, RESOLVE_MX = 15, RESOLVE_TXT = 16, RESOLVE_AAAA = 28 };
int resolve_query(const char *name, int type, struct resolve_result *out);

/*
 * Parse a DNS answer message ans[0..len) as resolve_query does for type:
 * the records of that type and class IN in the answer section, malformed
 * ones skipped. Fills *out (RESOLVE_OK or RESOLVE_NODATA, RESOLVE_FAIL when
 * the message does not parse); returns 0, or -1 when memory ran out. No
 * I/O: tests/fuzz/fuzz_resolve.c feeds it anything.
 */
int resolve_parse(const unsigned char *ans, size_t len, int type,
    struct resolve_result *out);

/* Free the records of r; safe on a zeroed result. */
void resolve_free(struct resolve_result *r);

/* The status as words for messages ("no such name", ...). */
const char *resolve_status_text(const struct resolve_result *r);

#endif
