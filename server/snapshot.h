/* snapshot.h - one immutable, reference-counted generation of everything loaded */
#ifndef MTA_STSD_SNAPSHOT_H
#define MTA_STSD_SNAPSHOT_H

#include <stdatomic.h>
#include <stddef.h>

#include "certs.h"
#include "config.h"
#include "diag.h"
#include "policy.h"
#include "strmap.h"

struct MHD_Response;

/* One domain as served: its policy, the ready 200 response, its certificates. */
struct domain {
	char *name;			/* "example.com" */
	char *host;			/* "mta-sts.example.com" */
	char *policy_path;
	struct policy policy;
	struct MHD_Response *resp;	/* one reference, released with the snapshot */
	struct certkey *ck[2];		/* one reference each; ck[1] may be NULL */
};

/*
 * A snapshot is built completely to the side, then published. It is never
 * modified afterwards, so any number of connections can read it without
 * locks. Each connection takes a reference when it is accepted and drops it
 * when it closes; the loader holds one for the "current" pointer. When the
 * current snapshot is replaced, connections still using the old one keep it
 * alive until the last of them closes, and then it is freed.
 */
struct snapshot {
	atomic_uint refs;
	unsigned long generation;
	struct config cfg;
	struct domain *domains;
	size_t ndomains;
	struct strmap index;		/* name -> struct domain * */
	const struct domain *default_domain;
	size_t nfailed;			/* domains refused at load */
};

/*
 * Load the configuration at config_path and everything it names: policies
 * (sections and policy_dir discovery), certificates (explicit, [defaults],
 * cert_dir discovery by SAN names) and the name index. Every problem goes to
 * d. A domain with any error is left out and counted in nfailed. Returns 0
 * and *out (one reference) when the configuration is valid and at least one
 * domain loaded; -1 otherwise.
 */
int snapshot_build(const char *config_path, unsigned long generation,
    struct snapshot **out, struct diag *d);

/* Find a loaded domain by lower-case name, or NULL. */
const struct domain *snapshot_find(const struct snapshot *s, const char *name);

/* Take one more reference; returns s. */
struct snapshot *snapshot_ref(struct snapshot *s);

/* Drop one reference; the last one frees everything. NULL is fine. */
void snapshot_unref(struct snapshot *s);

/* The snapshot now being served (borrowed: take a reference to keep it). */
struct snapshot *snapshot_current(void);

/* Publish s as current (the caller's reference passes to it) and drop the
 * reference held on the previous one. */
void snapshot_publish(struct snapshot *s);

#endif
