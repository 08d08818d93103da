/* certstate.c - each domain's certificate state: `mta-stsd certs` */
#include "certstate.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "acmed.h"
#include "config.h"
#include "json.h"
#include "log.h"
#include "names.h"
#include "tool.h"

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: mta-stsd certs [-c file] [--json] [domain...]\n"
	    "\n"
	    "Show each domain's certificate (all loaded, or those named): where\n"
	    "it comes from (acme: the [acme] storage; file: cert = / key =,\n"
	    "[defaults] or cert_dir; none), when it expires, and for domains\n"
	    "the ACME manager looks after its next renewal, failures and last\n"
	    "error, from the stored state. Exit 1 when a domain has none.\n"
	    "\n"
	    "  -c file  configuration file (default " CONFIG_DEFAULT_PATH ")\n"
	    "  --json   one JSON document (an array, one object per domain)\n");
}

/* what certs knows of one domain */
struct row {
	const char *name;
	const char *source;		/* "acme", "file" or "none" */
	time_t not_after;		/* 0: no certificate */
	int managed;			/* ACME looks after it */
	struct acmed_state st;
	char err[300];			/* a state file that does not parse */
};

/* "2026-11-30T14:00:00Z", or "-" for 0 */
static const char *
when(time_t t, char *buf, size_t len)
{
	struct tm tm;

	if (t == 0)
		return "-";
	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

static void
row_fill(const struct snapshot *s, const struct domain *dom, struct row *r)
{
	const struct certkey *ck = dom->ck[0];
	char dir[PATH_MAX], host[300], file[320];

	memset(r, 0, sizeof(*r));
	r->name = dom->name;
	r->source = "none";
	if (ck != NULL) {
		size_t n = acmed_path(&s->cfg, "certificates", NULL, dir,
		    sizeof(dir)) != NULL ? strlen(dir) : 0;

		r->not_after = ck->not_after;
		r->source = n > 0 && s->cfg.acme.directory != NULL &&
		    strncmp(ck->cert_path, dir, n) == 0 &&
		    ck->cert_path[n] == '/' ? "acme" : "file";
	}
	r->managed = config_domain_acme(&s->cfg, dom->name);
	snprintf(host, sizeof(host), "mta-sts.%s", dom->name);
	snprintf(file, sizeof(file), "%s.json", host);
	if (r->managed && acmed_path(&s->cfg, "state", file, dir,
	    sizeof(dir)) != NULL && acmed_state_read(dir, &r->st, r->err,
	    sizeof(r->err)) == -1)
		fprintf(stderr, "mta-stsd: warning: %s\n", r->err);
	/* a stored certificate without its state yet: the manager's rule */
	if (r->managed && r->st.next_renewal == 0 && ck != NULL &&
	    strcmp(r->source, "acme") == 0)
		r->st.next_renewal = acmed_renewal_time(host, ck->not_before,
		    ck->not_after, 0, 0, 0);
}

static void
print_text(const struct row *r)
{
	char t[3][32], esc[300];

	printf("%s: %s, valid until %s", r->name, r->source,
	    when(r->not_after, t[0], sizeof(t[0])));
	if (!r->managed) {
		printf("; not managed by ACME\n");
		return;
	}
	printf("; next renewal %s", when(r->st.next_renewal, t[1], sizeof(t[1])));
	if (r->st.failures > 0)
		printf("; %u failure(s), retrying after %s", r->st.failures,
		    when(r->st.retry_at, t[2], sizeof(t[2])));
	if (r->st.last_error[0] != '\0')
		printf("; last error: %s", log_escape(esc, sizeof(esc),
		    r->st.last_error, strlen(r->st.last_error), ""));
	putchar('\n');
}

static void
print_json(const struct row *r, const char *sep)
{
	char t[3][32];

	json_fput_member(stdout, sep, "domain", r->name);
	json_fput_member(stdout, ", ", "source", r->source);
	json_fput_member(stdout, ", ", "not_after", r->not_after ?
	    when(r->not_after, t[0], sizeof(t[0])) : NULL);
	printf(", \"acme\": %s", r->managed ? "true" : "false");
	json_fput_member(stdout, ", ", "next_renewal", r->managed &&
	    r->st.next_renewal ? when(r->st.next_renewal, t[1], sizeof(t[1])) :
	    NULL);
	printf(", \"failures\": %u", r->st.failures);
	json_fput_member(stdout, ", ", "retry_at", r->st.retry_at ?
	    when(r->st.retry_at, t[2], sizeof(t[2])) : NULL);
	json_fput_member(stdout, ", ", "last_error", r->st.last_error[0] ?
	    r->st.last_error : NULL);
	putchar('}');
}

int
certstate_main(int argc, char **argv)
{
	struct tool_args a;
	struct snapshot *snap;
	size_t nprinted = 0;
	int rc;

	if ((rc = tool_start(argc, argv, usage, &a, &snap)) != -1)
		return rc;
	rc = 0;
	if (a.json)
		fputs("[", stdout);
	for (size_t i = 0; i < snap->ndomains || a.first_domain + (int)i < argc;
	    i++) {
		const struct domain *dom;
		char name[NAME_MAX_LEN + 1];
		struct row r;

		if (a.first_domain < argc) {
			if ((int)i >= argc - a.first_domain)
				break;
			tool_domain_arg(argv[a.first_domain + i], name,
			    sizeof(name));
			if ((dom = snapshot_find(snap, name)) == NULL) {
				fprintf(stderr, "mta-stsd: %s: not served by this "
				    "configuration, or it failed to load (see "
				    "above)\n", name);
				rc = 1;
				continue;
			}
		} else
			dom = snap->domains[i];
		row_fill(snap, dom, &r);
		if (r.not_after == 0)
			rc = 1;
		if (a.json) {
			fputs(nprinted ? ",\n " : "\n ", stdout);
			print_json(&r, "{");
		} else
			print_text(&r);
		nprinted++;
	}
	if (a.json)
		fputs(nprinted ? "\n]\n" : "]\n", stdout);
	if (a.first_domain == argc && snap->nfailed > 0)
		rc = 1;
	tool_end(snap);
	return rc;
}
