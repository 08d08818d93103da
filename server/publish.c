/* publish.c - what each domain must publish in DNS: `mta-stsd dns` */
#include "publish.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include <psa/crypto.h>

#include "config.h"
#include "names.h"
#include "records.h"


struct snapshot *
publish_load(const char *config_path, size_t *nerrors)
{
	struct snapshot *snap = NULL;
	struct diag d = { 0 };
	int rc;

	rc = snapshot_build(config_path, 1, NULL, NULL, &snap, &d);
	for (size_t i = 0; i < d.n; i++)
		fprintf(stderr, "mta-stsd: %s: %s\n",
		    d.v[i].severity == DIAG_ERROR ? "error" : "warning",
		    d.v[i].text);
	*nerrors = d.nerrors;
	diag_clear(&d);
	if (rc == -1) {
		fprintf(stderr, "mta-stsd: %s: nothing could be loaded (see "
		    "above; mta-stsd -t -c %s lists every problem)\n",
		    config_path, config_path);
		return NULL;
	}
	return snap;
}

int
publish_domain_arg(const char *arg, char *out, size_t outsz)
{
	size_t len = strlen(arg);
	const char *inner;

	if (len > 1 && arg[len - 1] == '.')
		len--;
	if (name_normalise(arg, len, out, outsz) == -1) {
		fprintf(stderr, "mta-stsd: \"%s\" is not a domain name; name one "
		    "like example.com\n", arg);
		return -1;
	}
	if ((inner = name_policy_domain(out)) != NULL) {
		fprintf(stderr, "mta-stsd: \"%s\" is the policy host; name the "
		    "domain: %s\n", arg, inner);
		return -1;
	}
	return 0;
}

int
publish_args_parse(int argc, char **argv, const struct option *extra,
    int (*on_extra)(void *ctx, int val, const char *arg), void *ctx,
    void (*usage)(FILE *fp), struct publish_args *a)
{
	static const struct option common[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
	};
	struct option longopts[3 + 4 + 1];
	size_t n = 0;
	int ch;

	for (size_t i = 0; i < 3; i++)
		longopts[n++] = common[i];
	for (size_t i = 0; extra != NULL && extra[i].name != NULL && i < 4; i++)
		longopts[n++] = extra[i];
	memset(&longopts[n], 0, sizeof(longopts[n]));
	a->config_path = CONFIG_DEFAULT_PATH;
	a->json = 0;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			a->config_path = optarg;
			break;
		case 'j':
			a->json = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case '?':
			usage(stderr);
			return 2;
		default:
			if (on_extra(ctx, ch, optarg) == -1)
				return 2;
		}
	}
	a->first_domain = optind;
	for (int i = optind; i < argc; i++) {
		char name[NAME_MAX_LEN + 1];

		if (publish_domain_arg(argv[i], name, sizeof(name)) == -1)
			return 2;
	}
	return -1;
}

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

void
publish_json_string(FILE *fp, const char *s)
{
	char buf[2048];
	size_t n = records_json_string(buf, sizeof(buf), s);

	if (n < sizeof(buf)) {
		fputs(buf, fp);
		return;
	}
	{
		char *big = malloc(n + 1);

		if (big == NULL) {
			fputs("\"\"", fp);
			return;
		}
		records_json_string(big, n + 1, s);
		fputs(big, fp);
		free(big);
	}
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

/* one domain as a JSON object */
static void
print_json(FILE *fp, const struct snapshot *s, const struct domain *dom)
{
	const char *id = dom->policy_id;
	const char *rua = config_domain_tlsrpt(&s->cfg, dom->name);
	const struct domain_conf *dc = config_find_domain(&s->cfg, dom->name);
	char owner[NAME_MAX_LEN + 16], value[RECORDS_RUA_MAX + 32];

	fputs("{\"domain\": ", fp);
	publish_json_string(fp, dom->name);
	fputs(", \"policy_host\": ", fp);
	publish_json_string(fp, dom->host);
	fputs(", \"id\": ", fp);
	publish_json_string(fp, id);
	fprintf(fp, ", \"id_pinned\": %s, \"mode\": \"%s\", \"max_age\": %lu",
	    dc != NULL && dc->policy_id != NULL ? "true" : "false",
	    policy_mode_name(dom->policy.mode), dom->policy.max_age);
	fputs(", \"mx\": [", fp);
	for (size_t i = 0; i < dom->policy.nmx; i++) {
		if (i > 0)
			fputs(", ", fp);
		publish_json_string(fp, dom->policy.mx[i]);
	}
	fputs("], \"policy_file\": ", fp);
	publish_json_string(fp, dom->policy_path);
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
			publish_json_string(fp, uri);
			p += n;
			if (*p == ',')
				p++;
		}
		fputc(']', fp);
	}
	fputs(", \"records\": [", fp);
	snprintf(owner, sizeof(owner), "_mta-sts.%s.", dom->name);
	records_sts_value(id, value, sizeof(value));
	fputs("{\"name\": ", fp);
	publish_json_string(fp, owner);
	fprintf(fp, ", \"ttl\": %d, \"type\": \"TXT\", \"value\": ", RECORDS_TTL);
	publish_json_string(fp, value);
	fputc('}', fp);
	if (rua != NULL) {
		snprintf(owner, sizeof(owner), "_smtp._tls.%s.", dom->name);
		records_tlsrpt_value(rua, value, sizeof(value));
		fputs(", {\"name\": ", fp);
		publish_json_string(fp, owner);
		fprintf(fp, ", \"ttl\": %d, \"type\": \"TXT\", \"value\": ",
		    RECORDS_TTL);
		publish_json_string(fp, value);
		fputc('}', fp);
	}
	fputs("], \"address_needed\": ", fp);
	snprintf(owner, sizeof(owner), "%s.", dom->host);
	publish_json_string(fp, owner);
	fputs("}", fp);
}

int
publish_main(int argc, char **argv)
{
	struct publish_args a;
	struct snapshot *snap;
	size_t nerrors, nprinted = 0;
	int rc;

	if ((rc = publish_args_parse(argc, argv, NULL, NULL, NULL, usage,
	    &a)) != -1)
		return rc;
	rc = 0;
	if (psa_crypto_init() != PSA_SUCCESS) {
		fprintf(stderr, "mta-stsd: cannot initialise the crypto library\n");
		return 1;
	}
	if ((snap = publish_load(a.config_path, &nerrors)) == NULL) {
		mbedtls_psa_crypto_free();
		return 1;
	}

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

		publish_domain_arg(argv[i], name, sizeof(name));
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
	snapshot_unref(snap);
	mbedtls_psa_crypto_free();
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "mta-stsd: cannot write the output\n");
		return 1;
	}
	return rc;
}
