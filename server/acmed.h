/* acmed.h - the certificate manager: which domains need a certificate, when,
 * in what order, and storing what the CA issued (the ACME thread) */
#ifndef MTA_STSD_ACMED_H
#define MTA_STSD_ACMED_H

#include <stddef.h>
#include <time.h>

#include "config.h"
#include "diag.h"

struct snapshot;

/*
 * The daemon's side. The manager runs on a thread of its own; nothing it
 * does (DNS, HTTPS to the CA, key generation) ever runs on a worker.
 */

/* -t: check the [acme] settings of cfg (storage creatable and writable,
 * ca_file readable and parsing, EAB both or neither, http-01 needing
 * http_listen, agree_terms); problems go to d. Returns 0, or -1 when there
 * is an error. Does nothing when ACME is off. */
int acmed_check(const struct config *cfg, struct diag *d);

/* Make <storage> and its subdirectories (0700) owned by uid:gid (when not
 * -1), before privileges are dropped. Returns 0, or -1 after logging why. */
int acmed_prepare(const struct config *cfg, long uid, long gid);

/* Start the manager thread for cfg's [acme] (cfg is read only during the
 * call). reload(why) is called from the manager thread when a new
 * certificate is stored: it must be thread-safe. Returns 0 or -1. */
int acmed_start(const struct config *cfg, void (*reload)(const char *why));

/* After each publication (worker 0): hand the manager s's configuration and
 * the domains it manages with their served certificates. Cheap: copies
 * names and dates, never blocks on the manager's work. */
void acmed_update(const struct config *cfg, const struct snapshot *s);

/* Stop the thread (interrupting a wait; an HTTPS exchange in progress ends
 * within its own timeouts) and free everything. Safe when never started. */
void acmed_stop(void);

/*
 * The stored state of one domain (<storage>/state/mta-sts.<domain>.json).
 */
struct acmed_state {
	time_t not_after;		/* of the stored certificate; 0: none */
	time_t next_renewal;		/* when it is to be renewed; 0: unknown */
	time_t last_attempt;		/* last order begun; 0: never */
	time_t retry_at;		/* not before this after a failure; 0: any time */
	unsigned failures;		/* orders failed in a row */
	char last_error[256];		/* "" when the last order succeeded */
	char ari_id[128];		/* the certificate's ARI id, or "" */
};

/* The <storage>/<sub>/<file> path (file may be NULL), in out. Returns out,
 * or NULL when it does not fit. */
char *acmed_path(const struct config *cfg, const char *sub, const char *file,
    char *out, size_t len);

/* Read the state file at path into *st (zeroed first). Returns 0, 1 when
 * there is no such file (*st zeroed), -1 when it does not parse (why in
 * err). */
int acmed_state_read(const char *path, struct acmed_state *st, char *err,
    size_t errlen);

/* Write *st to path atomically (a temporary file in the same directory,
 * fsync'd, renamed; mode 0600). Returns 0, or -1 with errno set. */
int acmed_state_write(const char *path, const struct acmed_state *st);

/*
 * Timing (pure: the unit tests drive them with their own clock and dice).
 */

/* Deterministic per-name offset in 0..span-1 (a hash of the name): the
 * spread that keeps domains with identical certificates apart. */
unsigned long acmed_spread(const char *name, unsigned long span);

/*
 * When a certificate valid from not_before to not_after is to be renewed.
 * With an ARI window (ari_start < ari_end): the point rnd picks in it (the
 * CA's own spread). Without: a third of the lifetime before not_after, less
 * acmed_spread(name, lifetime / 10).
 */
time_t acmed_renewal_time(const char *name, time_t not_before,
    time_t not_after, time_t ari_start, time_t ari_end, unsigned long rnd);

/* Seconds to wait after the failures-th failure in a row (>= 1): base
 * seconds doubled per failure, at most a day, +-20% by rnd; the CA's
 * Retry-After (retry_after, -1 none) when longer. */
long acmed_backoff(unsigned failures, long base, long retry_after,
    unsigned long rnd);

/* Seconds before the checks-th DNS recheck (>= 1) of a name that does not
 * point here: 10 min, doubling, at most 6 h. */
long acmed_dns_recheck(unsigned checks);

/* The order budget: a token bucket refilled at per_hour an hour, holding at
 * most 1 + per_hour / 6 (about ten minutes' orders at once). */
struct acmed_bucket {
	double tokens;
	time_t last;
	unsigned per_hour;
};

/* A full bucket for per_hour at now. */
void acmed_bucket_init(struct acmed_bucket *b, unsigned per_hour, time_t now);

/* Take one order from the budget at now: 1 when there was one, else 0 and
 * *wait (when not NULL) the seconds until there is. */
int acmed_bucket_take(struct acmed_bucket *b, time_t now, long *wait);

/*
 * Does a name that resolves to the n addresses found (text, as inet_ntop
 * writes them) and, when not NULL, is a CNAME for cname, point at this
 * server, whose addresses (cfg's `addresses`: IPs and host names, comma or
 * blank separated) are these? An IP must be among those found, a host name
 * must be the CNAME's target (case and a final dot aside). Returns 1 or 0.
 */
int acmed_points_here(const char *addresses, const char *const *found,
    size_t n, const char *cname);

/*
 * The lock of one domain in dir (<storage>/locks): the file <name>.lock
 * holding "<owner> <expiry>", created whole or not at all (a temporary file
 * linked to the name). Held by owner until expiry (one that says no expiry,
 * e.g. empty, until its mtime + timeout); after that one of the instances
 * that find it expired takes it over. Returns 1 (now ours), 0 (another
 * owner's or ours, not expired; or taken over by another meanwhile), or -1
 * with errno set. Of instances racing, exactly one gets 1, but for a rare
 * interleaving of three or more: acmed_lock_confirm settles it.
 */
int acmed_lock_take(const char *dir, const char *name, const char *owner,
    time_t now, unsigned timeout);

/* After taking it and a pause: does the lock still hold owner? 1 yes (the
 * order is ours to place), 0 no (another instance has it: back off). */
int acmed_lock_confirm(const char *dir, const char *name, const char *owner);

/* Remove the lock when it is still owner's. Returns 1 removed, 0 not ours. */
int acmed_lock_release(const char *dir, const char *name, const char *owner);

#endif
