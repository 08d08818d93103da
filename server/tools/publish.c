/* publish.c - what each domain must publish in DNS: `mta-stsd dns` */
#include "publish.h"

#include <string.h>

#include "config.h"
#include "json.h"
#include "names.h"
#include "records.h"
#include "tool.h"


static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: mta-stsd dns [-c file] [--json] [domain...]\n"
	    "\n"
	    "Print the DNS records each domain (all loaded, or those named)\n"
	    "must publish: the _mta-sts TXT record with the policy id, the\n"
	    "_smtp._tls TLS-RPT record when tlsrpt is configured, and a reminder\n"
	    "of the mta-sts.<domain> address record. Zone-file lines by default.\n"
	    "\n"
	    "  -c file  configuration file (default " CONFIG_DEFAULT_PATH ")\n"
	    "  --json   one JSON document (an array, one object per domain)\n");
}

/* one domain as zone-file lines */
static void
print_zone(FILE *fp, const struct snapshot *s, const struct domain *dom)
{
	const char *id = dom->policy_id;
	const char *rua = config_domain_tlsrpt(&s->cfg, dom->name);
	const struct domain_conf *dc = config_find_domain(&s->cfg, dom->name);
	char owner[NAME_MAX_LEN + 16], value[RECORDS_RUA_MAX + 32];
	char line[2 * RECORDS_RUA_MAX + 600];

	fprintf(fp, "; %s: mode %s, max_age %lu, policy %s, id %s\n",
	    dom->name, policy_mode_name(dom->policy.mode), dom->policy.max_age,
	    dom->policy_path, dc != NULL && dc->policy_id != NULL ?
	    "pinned by policy_id" : "derived from the policy text");
	snprintf(owner, sizeof(owner), "_mta-sts.%s", dom->name);
	records_sts_value(id, value, sizeof(value));
	records_zone_txt(line, sizeof(line), owner, value);
	fprintf(fp, "%s\n", line);
	if (rua != NULL) {
		snprintf(owner, sizeof(owner), "_smtp._tls.%s", dom->name);
		records_tlsrpt_value(rua, value, sizeof(value));
		records_zone_txt(line, sizeof(line), owner, value);
		fprintf(fp, "%s\n", line);
	} else
		fprintf(fp, "; no TLS-RPT record: set tlsrpt = mailto:<address> "
		    "in [defaults] or [%s] to get reports of failed TLS "
		    "deliveries\n", dom->name);
	fprintf(fp, "; %s. needs an A and/or AAAA record (or a CNAME) pointing "
	    "at this server\n", dom->host);
}

/* one TXT record as a JSON object, after sep (which opens it) */
static void
print_json_record(FILE *fp, const char *sep, const char *owner,
    const char *value)
{
	json_fput_member(fp, sep, "name", owner);
	fprintf(fp, ", \"ttl\": %d, \"type\": \"TXT\"", RECORDS_TTL);
	json_fput_member(fp, ", ", "value", value);
	fputc('}', fp);
}

/* one domain as a JSON object */
static void
print_json(FILE *fp, const struct snapshot *s, const struct domain *dom)
{
	const char *id = dom->policy_id;
	const char *rua = config_domain_tlsrpt(&s->cfg, dom->name);
	const struct domain_conf *dc = config_find_domain(&s->cfg, dom->name);
	char owner[NAME_MAX_LEN + 16], value[RECORDS_RUA_MAX + 32];

	json_fput_member(fp, "{", "domain", dom->name);
	json_fput_member(fp, ", ", "policy_host", dom->host);
	json_fput_member(fp, ", ", "id", id);
	fprintf(fp, ", \"id_pinned\": %s, \"mode\": \"%s\", \"max_age\": %lu",
	    dc != NULL && dc->policy_id != NULL ? "true" : "false",
	    policy_mode_name(dom->policy.mode), dom->policy.max_age);
	fputs(", \"mx\": [", fp);
	for (size_t i = 0; i < dom->policy.nmx; i++) {
		if (i > 0)
			fputs(", ", fp);
		json_fput_string(fp, dom->policy.mx[i]);
	}
	fputc(']', fp);
	json_fput_member(fp, ", ", "policy_file", dom->policy_path);
	fputs(", \"tlsrpt\": ", fp);
	if (rua == NULL)
		fputs("null", fp);
	else {
		const char *p = rua;

		fputc('[', fp);
		while (*p != '\0') {
			const char *c = strchr(p, ',');
			size_t n = c != NULL ? (size_t)(c - p) : strlen(p);
			char uri[RECORDS_RUA_MAX];

			snprintf(uri, sizeof(uri), "%.*s", (int)n, p);
			if (p != rua)
				fputs(", ", fp);
			json_fput_string(fp, uri);
			p += n;
			if (*p == ',')
				p++;
		}
		fputc(']', fp);
	}
	fputs(", \"records\": [", fp);
	snprintf(owner, sizeof(owner), "_mta-sts.%s.", dom->name);
	records_sts_value(id, value, sizeof(value));
	print_json_record(fp, "{", owner, value);
	if (rua != NULL) {
		snprintf(owner, sizeof(owner), "_smtp._tls.%s.", dom->name);
		records_tlsrpt_value(rua, value, sizeof(value));
		print_json_record(fp, ", {", owner, value);
	}
	fputc(']', fp);
	snprintf(owner, sizeof(owner), "%s.", dom->host);
	json_fput_member(fp, ", ", "address_needed", owner);
	fputs("}", fp);
}

int
publish_main(int argc, char **argv)
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
	if (a.first_domain == argc) {
		for (size_t i = 0; i < snap->ndomains; i++) {
			if (a.json) {
				fputs(nprinted ? ",\n " : "\n ", stdout);
				print_json(stdout, snap, snap->domains[i]);
			} else {
				if (nprinted)
					fputc('\n', stdout);
				print_zone(stdout, snap, snap->domains[i]);
			}
			nprinted++;
		}
		if (snap->nfailed > 0) {
			fprintf(stderr, "mta-stsd: %zu domain(s) failed to load and "
			    "are not listed (see above)\n", snap->nfailed);
			rc = 1;
		}
	}
	for (int i = a.first_domain; i < argc; i++) {
		char name[NAME_MAX_LEN + 1];
		const struct domain *dom;

		tool_domain_arg(argv[i], name, sizeof(name));
		if ((dom = snapshot_find(snap, name)) == NULL) {
			fprintf(stderr, "mta-stsd: %s: not served by this "
			    "configuration (no [%s] section or %s/%s.txt, or it "
			    "failed to load: see above)\n", name, name,
			    snap->cfg.policy_dir, name);
			rc = 1;
			continue;
		}
		if (a.json) {
			fputs(nprinted ? ",\n " : "\n ", stdout);
			print_json(stdout, snap, dom);
		} else {
			if (nprinted)
				fputc('\n', stdout);
			print_zone(stdout, snap, dom);
		}
		nprinted++;
	}
	if (a.json)
		fputs("\n]\n", stdout);
	tool_end(snap);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "mta-stsd: cannot write the output\n");
		return 1;
	}
	return rc;
}
