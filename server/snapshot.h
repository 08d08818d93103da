/* snapshot.h - one immutable, reference-counted generation of everything loaded */
#ifndef MTA_STSD_SNAPSHOT_H
#define MTA_STSD_SNAPSHOT_H

#include <stdatomic.h>
#include <stddef.h>

#include "certs.h"
#include "changes.h"
#include "config.h"
#include "diag.h"
#include "policy.h"
#include "strmap.h"

struct MHD_Response;
struct certset;

/*
 * One domain as served: its policy, the ready 200 response, its
 * certificates. Shared, unchanged, by every snapshot in which neither its
 * policy file nor its certificates changed (reference counted with atomics:
 * a reload builds on another thread while connections drop references).
 */
struct domain {
	atomic_uint refs;
	char *name;			/* "example.com" */
	char *host;			/* "mta-sts.example.com" */
	char *policy_path;
	struct file_stamp policy_stamp;
	struct policy policy;
	const char *policy_id;		/* to publish: pinned_id, else policy.id */
	char *pinned_id;		/* the section's policy_id, or NULL */
	struct MHD_Response *resp;	/* the ready answer (see snapshot_set_responder),
					 * one reference, released with the domain */
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
	struct file_stamp cfg_stamp;
	struct domain **domains;	/* one reference each */
	size_t ndomains;
	struct strmap index;		/* name -> struct domain * */
	const struct domain *default_domain;
	struct certset *certs;		/* every certificate loaded, for reuse */
	char **failed;			/* names of the domains that failed to load */
	size_t nfailed;
	char **clashed;			/* those of them with two policy files
					 * in policy_dir differing by case */
	size_t nclashed;
	size_t nkept;			/* of those, kept at their previous version */
	size_t nadded, nchanged, nremoved; /* against the previous snapshot */
	int paths_changed;		/* files or directories differ from prev's:
					 * what is watched must be looked at again */
	int patched;			/* built incrementally from prev */
};

/*
 * Who builds a domain's ready answer from its policy text (the HTTP layer,
 * before the first build), and releases it. Without one (-t, dns, check)
 * domains carry no answer (resp NULL). Not thread-safe: set it once, before
 * builds start.
 */
void snapshot_set_responder(struct MHD_Response *(*build)(const char *text,
    size_t len), void (*release)(struct MHD_Response *r));

/*
 * Load the configuration at config_path and everything it names: policies
 * (sections and policy_dir discovery), certificates (explicit, [defaults],
 * cert_dir discovery by SAN names) and the name index. Every problem goes to
 * d. A domain with any error is left out and counted in nfailed.
 *
 * With prev (a reload), files whose stamps did not change are not read
 * again: their certificates and domains are shared with prev. With ch (the
 * file events since prev), files ch says cannot have changed are not even
 * stat()ed, and when the events touch neither the configuration nor the
 * directories of cert_dir that hold pairs (certset_pair_of_path) the build
 * is incremental (patched): prev's tables are
 * copied and only the domains and certificates the events name are looked
 * at. A domain that fails now but loaded in prev keeps its prev version
 * (counted in nkept).
 *
 * Returns 0 and *out (one reference) when the configuration is valid and at
 * least one domain loaded; -1 otherwise.
 */
int snapshot_build(const char *config_path, unsigned long generation,
    const struct snapshot *prev, const struct changes *ch,
    struct snapshot **out, struct diag *d);

/* Does s serve exactly what prev serves, from the same files? (1 or 0)
 * A patched s must have been built from this prev. */
int snapshot_same(const struct snapshot *s, const struct snapshot *prev);

/* Where the ACME manager stores certificates (<storage>/certificates), a
 * second discovery directory beside cert_dir, in out; NULL when ACME is
 * off or it does not fit. */
char *snapshot_acme_dir(const struct config *cfg, char *out, size_t len);

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
