/* policy.h - RFC 8461 policy: parse, validate, normalise, render (pure, no I/O) */
#ifndef MTA_STSD_POLICY_H
#define MTA_STSD_POLICY_H

#include <stddef.h>

#include "diag.h"

#define POLICY_MAX_BYTES 64000		/* strictest sender measured: 64,000 bytes */
#define POLICY_MAX_AGE_MAX 31557600UL	/* RFC 8461 section 3.2 */
#define POLICY_MAX_AGE_WARN 86400UL	/* below a day: legal but risky */
#define POLICY_ID_LEN 20		/* length of the derived policy id */

enum policy_mode { POLICY_MODE_ENFORCE, POLICY_MODE_TESTING, POLICY_MODE_NONE };

struct policy_ext {
	char *name;
	char *value;
};

struct policy {
	enum policy_mode mode;
	unsigned long max_age;
	char **mx;			/* patterns as written (lower case), owned */
	size_t nmx;
	struct policy_ext *ext;		/* extension fields in file order, owned */
	size_t next;
	char *text;			/* normalised rendering (see policy_parse), owned */
	size_t text_len;
	char id[POLICY_ID_LEN + 1];	/* derived from text: [0-9a-z], stable */
};

/*
 * Parse and validate the policy in buf[0..len). Every problem found is added
 * to d as "file:line: message" (file names the source in messages only).
 * Errors: anything RFC 8461 or the strictest real sender would refuse,
 * duplicates of non-mx fields, non-ASCII bytes, NUL bytes, blank lines, a
 * missing version/mode/max_age, a BOM, more than POLICY_MAX_BYTES.
 * Warnings: max_age below a day, mode none.
 * On success (no error) fills *p, including the normalised text - "version:
 * STSv1" first, then mode, then mx lines in file order, then max_age, then the
 * extension fields in file order, each "name: value" ending in CRLF, no blank
 * line - and its id, and returns 0. On error returns -1 and leaves *p empty.
 */
int policy_parse(const char *buf, size_t len, const char *file,
    struct policy *p, struct diag *d);

/* Free what policy_parse allocated; safe on a zeroed or already-freed policy. */
void policy_free(struct policy *p);

/* Name of a mode as written in a policy ("enforce", "testing", "none"). */
const char *policy_mode_name(enum policy_mode mode);

/* Does some mx pattern of p match host (lower case)? Returns 1 or 0. */
int policy_mx_covers(const struct policy *p, const char *host);

#endif
