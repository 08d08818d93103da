/* names.h - host name validation, normalisation and matching (pure, no I/O) */
#ifndef MTA_STSD_NAMES_H
#define MTA_STSD_NAMES_H

#include <stddef.h>

#define NAME_MAX_LEN 253	/* longest DNS name in text form, no trailing dot */

/*
 * Copy the host name in[0..len) to out (size outsz) in lower case and check
 * that it is a valid DNS host name: labels of 1..63 letters, digits and
 * hyphens, not starting or ending with a hyphen, at least two labels, at most
 * NAME_MAX_LEN characters, no trailing dot, not an IPv4 address (all-numeric
 * last label). Returns 0 when valid, -1 otherwise (out is then unspecified).
 */
int name_normalise(const char *in, size_t len, char *out, size_t outsz);

/*
 * Normalise an HTTP Host header value: strip an optional ":port" (digits only),
 * then as name_normalise. Returns 0 when valid, -1 otherwise.
 */
int name_from_host_header(const char *host, char *out, size_t outsz);

/*
 * Does a certificate SAN or MTA-STS mx pattern match a host name? Both must be
 * in lower case. "*.example.com" matches exactly one extra leftmost label
 * ("a.example.com", not "example.com" and not "a.b.example.com"); any other
 * pattern must be equal. Returns 1 on a match, 0 otherwise.
 */
int name_match(const char *pattern, const char *host);

/*
 * Given a TLS SNI or Host name already normalised, return the MTA-STS domain
 * it is for ("mta-sts.example.com" -> pointer to "example.com" inside name), or
 * NULL when the name does not start with the "mta-sts." label.
 */
const char *name_policy_domain(const char *name);

#endif
