/* records.h - the DNS records of MTA-STS and TLS-RPT: parse, check, render (pure, no I/O) */
#ifndef MTA_STSD_RECORDS_H
#define MTA_STSD_RECORDS_H

#include <stddef.h>

#include "policy.h"

#define RECORDS_TTL 3600		/* TTL of the records `mta-stsd dns` prints */
#define RECORDS_ID_MAX 32		/* RFC 8461 section 3.1: 1*32(ALPHA / DIGIT) */
#define RECORDS_RUA_MAX 1024		/* a normalised rua list, NUL included */
#define RECORDS_ERR_MAX 512		/* enough for any message of this module */

/* Is s[0..len) a valid policy id: 1 to 32 ASCII letters and digits? 1 or 0. */
int records_id_valid(const char *s, size_t len);

/*
 * Check one TLS-RPT report URI (RFC 8460 section 3) in uri[0..len):
 * "mailto:" with a plausible address (local part, "@", a host name with at
 * least two labels) or "https://" with a host name, an optional port, path
 * and query. "," and ";" must be %-encoded; blanks, quotes, fragments and
 * user information are refused. Returns 0 when valid, else -1 with the
 * reason (and the fix) in err.
 */
int records_rua_uri_check(const char *uri, size_t len, char *err,
    size_t errsz);

/*
 * Parse a list of report URIs s[0..len) separated by "," with optional blanks
 * around the commas (the rua= value, or the tlsrpt config key) and write it
 * normalised - "uri1,uri2", no blanks - to out. Returns 0, or -1 with the
 * first problem in err (an empty list, an empty element, a bad URI, too long).
 */
int records_rua_list(const char *s, size_t len, char *out, size_t outsz,
    char *err, size_t errsz);

/* Does the TXT text start with "v=STSv1" (an MTA-STS record)? 1 or 0. */
int records_is_sts(const char *txt, size_t len);

/* Does the TXT text start with "v=TLSRPTv1" (a TLS-RPT record)? 1 or 0. */
int records_is_tlsrpt(const char *txt, size_t len);

/*
 * Parse an _mta-sts TXT record (the character strings already joined) as
 * RFC 8461 section 3.1 writes it: "v=STSv1", then fields separated by ";"
 * with optional blanks around, one of them "id=<1..32 letters and digits>",
 * the others extensions "name=value", an optional final ";". Returns 0 and
 * the id, or -1 with what is wrong in err.
 */
int records_sts_parse(const char *txt, size_t len,
    char id[RECORDS_ID_MAX + 1], char *err, size_t errsz);

/*
 * Parse an _smtp._tls TXT record as RFC 8460 section 3 writes it:
 * "v=TLSRPTv1", fields separated by ";", exactly one "rua=" with one or more
 * report URIs (see records_rua_uri_check), extensions "name=value". Returns
 * 0 and the normalised rua list ("uri1,uri2") in rua, or -1 with err.
 */
int records_tlsrpt_parse(const char *txt, size_t len, char *rua,
    size_t ruasz, char *err, size_t errsz);

/*
 * MX coverage under the one-label wildcard rule: host_ok[i] is set to 1 when
 * some mx pattern of p matches hosts[i] (lower case, no trailing dot), else
 * 0; pattern_used[j] to 1 when p->mx[j] matches some host, else 0. Either
 * array may be NULL. Returns the number of hosts not covered.
 */
size_t records_mx_cover(const struct policy *p, const char *const *hosts,
    size_t nhosts, unsigned char *host_ok, unsigned char *pattern_used);

/*
 * Compare the policy a server answered with (served) with the one expected
 * (held). Returns 0 when they mean the same (equal normalised text), else 1
 * and a description of every difference in out, e.g. "mode is testing, not
 * enforce; mx mail.example.com is missing".
 */
int records_policy_diff(const struct policy *held, const struct policy *served,
    char *out, size_t outsz);

/* The value of the _mta-sts TXT record for a policy id. */
void records_sts_value(const char *id, char *out, size_t outsz);

/* The value of the _smtp._tls TXT record for a rua list ("a,b" is fine). */
void records_tlsrpt_value(const char *rua, char *out, size_t outsz);

/*
 * One zone-file line: "<owner>. <ttl> IN TXT "<text>"", the text quoted with
 * '"' and '\' escaped and cut into character strings of at most 255 bytes.
 * Returns the length of the whole line (as snprintf does: out may be cut).
 */
size_t records_zone_txt(char *out, size_t outsz, const char *owner,
    const char *text);

#endif
