/* certset.h - the certificates one snapshot loaded, by file pair and by SAN name */
#ifndef MTA_STSD_CERTSET_H
#define MTA_STSD_CERTSET_H

#include <stdatomic.h>
#include <stddef.h>
#include <time.h>

#include "certs.h"
#include "changes.h"
#include "diag.h"
#include "strmap.h"

/*
 * Every certificate + key pair a build loaded, each once. Pairs found by
 * cert_dir discovery are also indexed by their SAN names, for picking a
 * domain's certificate; pairs named in the configuration are not. A set is
 * filled by one build and then never changed, so snapshots whose
 * certificates did not change share it (reference counted with atomics).
 */
struct certset {
	atomic_uint refs;
	struct certkey **v;		/* one reference each */
	unsigned char *indexed;		/* by SAN name? parallel to v: 0 no,
					 * else a CERTSET_INDEX_ value */
	size_t n, cap;
	struct certset_names *nodes;	/* the SAN name lists' nodes */
	size_t nnodes, capnodes, ngarbage; /* ngarbage: unlinked nodes */
	struct strmap by_pair;		/* certkey's pair -> certkey */
	struct strmap by_name;		/* SAN name -> 1 + index of its list's
					 * first node (newest first) */
};
/* how a pair is indexed by its SAN names (certset_load's index_names) */
#define CERTSET_INDEX_FILE 1	/* found in cert_dir */
#define CERTSET_INDEX_ACME 2	/* found in the ACME storage (certset_pick
				 * takes it after a valid hand-managed one) */

/* A new empty set (one reference) with room for about n pairs, or NULL. */
struct certset *certset_new(size_t n);

/* Take one more reference; returns cs. */
struct certset *certset_ref(struct certset *cs);

/* Drop one reference; the last one frees the set. NULL is fine. */
void certset_unref(struct certset *cs);

/*
 * Load a chain + key into cs once per build; *out borrows the set's
 * reference. A pair that prev holds, from files that ch (NULL: anything may
 * have changed) and their stamps say are unchanged, is shared, not parsed
 * again (parsing keys is the costly part of a reload). index_names: index
 * the pair's SAN names for certset_pick. Returns 0, or -1 after adding the
 * reason to d.
 */
int certset_load(struct certset *cs, const struct certset *prev,
    const struct changes *ch, const char *cert, const char *key,
    int index_names, struct certkey **out, struct diag *d);

/* Add ck, already loaded (one more reference is taken), as certset_load
 * would have. Returns 0, or -1 when memory runs out. */
int certset_add(struct certset *cs, struct certkey *ck, int index_names);

/*
 * A new set (one reference) holding what src holds except the ndrop pairs
 * in drop, for an incremental build: src's tables are copied as they are
 * (no hashing, no string copied), then the dropped pairs are unlinked.
 * Returns NULL when memory runs out.
 */
struct certset *certset_copy(const struct certset *src,
    struct certkey *const *drop, size_t ndrop);

/*
 * The on-disk certificate layouts cert_dir discovery knows (certbot's
 * live/<name>/, a Kubernetes TLS secret, the ACME clients' directories) are
 * one table in certset.c, one row each; README's cert_dir section lists
 * them. Nothing outside certset.c knows a layout: it asks the functions
 * below. Each row says where a pair's two files lie: in a subdirectory of
 * cert_dir of their own (at most one pair from each), or side by side with
 * other pairs' files in cert_dir or in a subdirectory of it.
 */

/*
 * Load every certificate in cert_dir dir (acme: the ACME storage's
 * certificates/, whose pairs certset_pick takes only after a valid
 * hand-managed one), in any of the layouts. Names
 * starting with '.' are skipped, and so are the other files the tools write
 * beside a pair and directories holding none of a pair's files; a dangling
 * symlink, an unreadable entry or half a pair is a warning naming it and
 * the likely cause. prev and ch as for certset_load.
 */
void certset_discover(struct certset *cs, const struct certset *prev,
    const struct changes *ch, const char *dir, int acme, struct diag *d);

/* what a path under cert_dir is to discovery (certset_pair_of_path) */
enum {
	CERTSET_PATH_NONE,	/* no pair's file: a change to it changes nothing */
	CERTSET_PATH_PAIR,	/* a file of one pair */
	CERTSET_PATH_ENTRY	/* maybe a directory that holds pairs, come or
				 * gone: only a new discovery can tell */
};

/*
 * Which pair the file at path, in cert_dir dir or below, belongs to: for
 * CERTSET_PATH_PAIR, *old is the pair prev holds from the same place
 * (looked up, not on disk; NULL: none) and cert and key (each of size len)
 * the pair discovery finds there now ("" when its files are not both there).
 * Returns a CERTSET_PATH_ value.
 */
int certset_pair_of_path(const struct certset *prev, const char *dir,
    const char *path, struct certkey **old, char *cert, char *key,
    size_t len);

/* Call fn(d, arg) for cert_dir dir and for every directory in it where
 * discovery may find pairs, now or once their files are written: the
 * directories whose events can change what discovery finds. */
void certset_watch_dirs(const char *dir, void (*fn)(const char *d, void *arg),
    void *arg);

/* Choose up to one ECDSA and one RSA certificate for host (of domain name)
 * from the SAN index: the exact name first, then the one-label wildcard;
 * among several, one valid at now, then a hand-managed one before one of
 * the ACME storage, then the latest expiry. ck[0] is the
 * preferred one (ECDSA when there is one); ck[] borrows the set's refs. */
void certset_pick(const struct certset *cs, const char *name,
    const char *host, time_t now, struct certkey *ck[2]);

/* Does cs hold the pair cert + key? Returns 1 or 0. */
int certset_has(const struct certset *cs, const char *cert, const char *key);

/* Do a and b hold the same file pairs? Returns 1 or 0. */
int certset_same_pairs(const struct certset *a, const struct certset *b);

#endif
