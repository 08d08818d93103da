/* tool.h - what the command-line tools (`check`, `dns`) share: their command
 * line, and loading everything as the server would */
#ifndef MTA_STSD_TOOL_H
#define MTA_STSD_TOOL_H

#include <getopt.h>
#include <stdio.h>

#include "snapshot.h"

/*
 * Load the configuration and everything it names as the server would
 * (snapshot_build), printing every problem to stderr as "mta-stsd: error:
 * ..." / "mta-stsd: warning: ..." (log_diagnostics). Returns the snapshot
 * (one reference), or NULL when nothing could be loaded. *nerrors gets the
 * number of errors.
 */
struct snapshot *tool_load(const char *config_path, size_t *nerrors);

/*
 * Turn a domain named on the command line into the lower-case name the
 * snapshot knows: a trailing dot is dropped; "mta-sts.<domain>" is refused
 * with a hint. Returns 0, or -1 after printing why to stderr.
 */
int tool_domain_arg(const char *arg, char *out, size_t outsz);

/* What `dns` and `check` both take on their command line. */
struct tool_args {
	const char *config_path;	/* -c, --config */
	int json;			/* --json */
	int first_domain;		/* argv[first_domain..argc-1] name domains */
};

/*
 * Parse the command line of `dns` or `check` (argv[0] is the subcommand):
 * -c/--config, --json and -h/--help, plus the subcommand's own long options
 * in extra (at most 4, ending with a zeroed entry; NULL for none), whose
 * values go to on_extra(ctx, val, optarg), which returns 0, or -1 after
 * printing what is wrong. Then every domain named must pass
 * tool_domain_arg. usage prints the subcommand's help. Returns -1 when
 * the command is to run, else the exit status to return at once: 0 after
 * --help, 2 after a usage error (the reason printed to stderr).
 */
int tool_args_parse(int argc, char **argv, const struct option *extra,
    int (*on_extra)(void *ctx, int val, const char *arg), void *ctx,
    void (*usage)(FILE *fp), struct tool_args *a);

/*
 * The start of a subcommand with no options of its own (`dns`, `certs`):
 * the command line (tool_args_parse), the PSA crypto library, then
 * everything loaded (tool_load) into *snap. Returns -1 when the command is
 * to run (tool_end undoes the start), else the exit status to return at
 * once: that of tool_args_parse, or 1 when the crypto library or the
 * loading failed (the reason printed to stderr).
 */
int tool_start(int argc, char **argv, void (*usage)(FILE *fp),
    struct tool_args *a, struct snapshot **snap);

/* Undoes tool_start: drops snap's reference, frees the crypto library. */
void tool_end(struct snapshot *snap);

#endif
