/* check.c - `mta-stsd check`: what a sending MTA sees, finding by finding */
#include "check.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/x509.h>
#include <psa/crypto.h>

#include "certs.h"
#include "config.h"
#include "json.h"
#include "log.h"
#include "names.h"
#include "policy.h"
#include "probe.h"
#include "records.h"
#include "resolve.h"
#include "snapshot.h"
#include "tool.h"

#define DAY 86400L

enum severity { SEV_INFO, SEV_WARNING, SEV_ERROR };

static const char *const sev_names[] = { "info", "warning", "error" };

struct finding {
	enum severity sev;
	char *what;
	char *fix;
};

/* everything found about one domain */
struct report {
	char domain[NAME_MAX_LEN + 1];
	const char *id;			/* the id this server holds, or NULL */
	struct finding *v;
	size_t n, cap;
	size_t count[3];		/* by severity */
	char summary[640];		/* said when there is no finding */
};

struct options {
	unsigned timeout;
	unsigned port;
	int json;
	const char *ca_file;	/* NULL: the system's store */
};

static void add(struct report *, enum severity, const char *, const char *,
    ...) __attribute__((format(printf, 4, 5)));

/*
 * Add one finding: fix is a plain string, what a format. Out of memory the
 * finding is still counted, so the exit status stays right.
 */
static void
add(struct report *rep, enum severity sev, const char *fix,
    const char *fmt, ...)
{
	char what[1536];
	va_list ap;

	rep->count[sev]++;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (rep->n == rep->cap) {
		size_t cap = rep->cap ? rep->cap * 2 : 8;
		struct finding *v = realloc(rep->v, cap * sizeof(*v));

		if (v == NULL)
			return;
		rep->v = v;
		rep->cap = cap;
	}
	rep->v[rep->n].sev = sev;
	rep->v[rep->n].what = strdup(what);
	rep->v[rep->n].fix = strdup(fix);
	if (rep->v[rep->n].what == NULL || rep->v[rep->n].fix == NULL) {
		free(rep->v[rep->n].what);
		free(rep->v[rep->n].fix);
		return;
	}
	rep->n++;
}

static void
report_free(struct report *rep)
{
	for (size_t i = 0; i < rep->n; i++) {
		free(rep->v[i].what);
		free(rep->v[i].fix);
	}
	free(rep->v);
}

/* a fix text built with printf, for add() */
static const char *fixf(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static const char *
fixf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return buf;
}

/* a TXT text fit for a message: escaped as the logs are (quotes too), cut
 * at 120 bytes */
static void
printable(const char *s, size_t len, char *out, size_t outsz)
{
	size_t n = strlen(log_escape(out, outsz - 3, s, len > 120 ? 120 : len,
	    "\""));

	if (len > 120)
		memcpy(out + n, "...", 4);
}

/* ---- DNS: _mta-sts ---- */

static void
check_sts_txt(struct report *rep, const struct domain *dom, const char *id)
{
	struct resolve_result r;
	char owner[NAME_MAX_LEN + 16], want[64], fix[600];
	size_t nsts = 0, which = 0;

	snprintf(owner, sizeof(owner), "_mta-sts.%s", dom->name);
	records_sts_value(id, want, sizeof(want));
	fixf(fix, sizeof(fix), "publish %s. %d IN TXT \"%s\" (mta-stsd dns "
	    "prints it)", owner, RECORDS_TTL, want);
	if (resolve_query(owner, RESOLVE_TXT, &r) == -1 ||
	    r.status == RESOLVE_FAIL) {
		add(rep, SEV_ERROR, "make sure the domain's DNS servers answer: "
		    "a sender that cannot look the record up skips MTA-STS",
		    "cannot look up the TXT record %s: %s", owner,
		    resolve_status_text(&r));
		resolve_free(&r);
		return;
	}
	if (r.status != RESOLVE_OK) {
		add(rep, SEV_ERROR, fix, "no TXT record at %s (%s): senders do "
		    "not know that %s has an MTA-STS policy", owner,
		    resolve_status_text(&r), dom->name);
		resolve_free(&r);
		return;
	}
	for (size_t i = 0; i < r.n; i++)
		if (records_is_sts(r.rr[i].text, r.rr[i].len)) {
			nsts++;
			which = i;
		}
	if (nsts == 0) {
		add(rep, SEV_ERROR, fix, "none of the %zu TXT record(s) at %s "
		    "starts with v=STSv1: senders do not see an MTA-STS policy",
		    r.n, owner);
	} else if (nsts > 1) {
		add(rep, SEV_ERROR, fixf(fix, sizeof(fix), "keep exactly one "
		    "record starting with v=STSv1 at %s: \"%s\"; delete the "
		    "others", owner, want), "%zu TXT records at %s start with "
		    "v=STSv1: senders then ignore MTA-STS for %s (RFC 8461 "
		    "section 3.1)", nsts, owner, dom->name);
	} else {
		char got[RECORDS_ID_MAX + 1], err[RECORDS_ERR_MAX], text[600];

		printable(r.rr[which].text, r.rr[which].len, text, sizeof(text));
		if (records_sts_parse(r.rr[which].text, r.rr[which].len, got, err,
		    sizeof(err)) == -1)
			add(rep, SEV_ERROR, fix, "the TXT record at %s, \"%s\", is "
			    "not valid: %s", owner, text, err);
		else if (strcmp(got, id) != 0)
			add(rep, SEV_ERROR, fixf(fix, sizeof(fix), "publish id=%s: "
			    "%s. %d IN TXT \"%s\" (senders fetch the policy again "
			    "only when the id changes)", id, owner, RECORDS_TTL,
			    want), "%s has id=%s but the policy this server holds "
			    "has id %s: the policy changed but the TXT id did not",
			    owner, got, id);
	}
	resolve_free(&r);
}

/* ---- DNS: _smtp._tls (TLS-RPT) ---- */

static void
check_tlsrpt(struct report *rep, const struct snapshot *s,
    const struct domain *dom)
{
	const char *rua = config_domain_tlsrpt(&s->cfg, dom->name);
	struct resolve_result r;
	char owner[NAME_MAX_LEN + 16], want[RECORDS_RUA_MAX + 32], fix[1600];
	size_t n = 0, which = 0;

	snprintf(owner, sizeof(owner), "_smtp._tls.%s", dom->name);
	if (rua != NULL) {
		records_tlsrpt_value(rua, want, sizeof(want));
		fixf(fix, sizeof(fix), "publish %s. %d IN TXT \"%s\" (mta-stsd "
		    "dns prints it)", owner, RECORDS_TTL, want);
	} else
		fixf(fix, sizeof(fix), "set tlsrpt = mailto:<address> in "
		    "[defaults] or [%s], then publish the %s TXT record that "
		    "mta-stsd dns prints", dom->name, owner);
	if (resolve_query(owner, RESOLVE_TXT, &r) == -1 ||
	    r.status == RESOLVE_FAIL) {
		add(rep, SEV_WARNING, "make sure the domain's DNS servers answer",
		    "cannot look up the TLS-RPT record %s: %s", owner,
		    resolve_status_text(&r));
		resolve_free(&r);
		return;
	}
	for (size_t i = 0; i < r.n; i++)
		if (records_is_tlsrpt(r.rr[i].text, r.rr[i].len)) {
			n++;
			which = i;
		}
	if (n == 0)
		add(rep, SEV_WARNING, fix, "no TLS-RPT record at %s: no sender "
		    "will report failed TLS deliveries to you, so problems stay "
		    "unseen", owner);
	else if (n > 1)
		add(rep, SEV_WARNING, fix, "%zu TXT records at %s start with "
		    "v=TLSRPTv1: senders then send no reports (RFC 8460 section "
		    "3); keep exactly one", n, owner);
	else {
		char got[RECORDS_RUA_MAX], err[RECORDS_ERR_MAX], text[600];

		printable(r.rr[which].text, r.rr[which].len, text, sizeof(text));
		if (records_tlsrpt_parse(r.rr[which].text, r.rr[which].len, got,
		    sizeof(got), err, sizeof(err)) == -1)
			add(rep, SEV_WARNING, fix, "the TLS-RPT record at %s, "
			    "\"%s\", is not valid: %s", owner, text, err);
		else if (rua != NULL && strcmp(got, rua) != 0)
			add(rep, SEV_WARNING, fix, "the TLS-RPT record at %s "
			    "sends reports to %s, the configuration says %s",
			    owner, got, rua);
	}
	resolve_free(&r);
}

/* ---- MX coverage ---- */

static void
check_mx(struct report *rep, const struct domain *dom)
{
	const struct policy *p = &dom->policy;
	const char **hosts = NULL;
	unsigned char *ok = NULL, *used = NULL;
	struct resolve_result r;
	char fix[800], list[1024];
	size_t used_len = 0;

	if (resolve_query(dom->name, RESOLVE_MX, &r) == -1 ||
	    r.status == RESOLVE_FAIL) {
		add(rep, SEV_WARNING, "make sure the domain's DNS servers answer",
		    "cannot look up the MX records of %s: %s; MX coverage not "
		    "checked", dom->name, resolve_status_text(&r));
		goto out;
	}
	if (r.status == RESOLVE_NXDOMAIN) {
		add(rep, SEV_ERROR, "check the domain name, or register and "
		    "publish it", "%s does not exist in DNS (NXDOMAIN)",
		    dom->name);
		goto out;
	}
	if (r.status == RESOLVE_NODATA) {
		add(rep, SEV_WARNING, p->mode == POLICY_MODE_NONE ? "publish MX "
		    "records for the hosts that receive mail" : "publish MX "
		    "records for the hosts that receive mail, and cover each "
		    "with an mx line of the policy", "%s has no MX record: "
		    "senders deliver to the address of %s itself (implicit MX)",
		    dom->name, dom->name);
		goto out;
	}
	if (r.n == 1 && strcmp(r.rr[0].text, ".") == 0) {
		add(rep, SEV_WARNING, "if the domain should receive mail, replace "
		    "the null MX with real MX records; otherwise retire MTA-STS "
		    "(serve mode: none with a new id, wait max_age, then remove "
		    "the records)", "%s has a null MX (\"MX 0 .\"): it accepts "
		    "no mail, so its MTA-STS policy protects nothing", dom->name);
		goto out;
	}
	if (p->mode == POLICY_MODE_NONE)
		goto out;	/* nothing is enforced or reported */
	hosts = calloc(r.n, sizeof(*hosts));
	ok = calloc(r.n, 1);
	used = calloc(p->nmx ? p->nmx : 1, 1);
	if (hosts == NULL || ok == NULL || used == NULL)
		goto out;
	list[0] = '\0';
	for (size_t i = 0; i < r.n; i++) {
		hosts[i] = r.rr[i].text;
		if (used_len < sizeof(list))
			used_len += (size_t)snprintf(list + used_len,
			    sizeof(list) - used_len, "%s%s", i ? ", " : "",
			    hosts[i]);
	}
	records_mx_cover(p, hosts, r.n, ok, used);
	for (size_t i = 0; i < r.n; i++) {
		if (ok[i])
			continue;
		if (strcmp(hosts[i], ".") == 0) {
			add(rep, SEV_WARNING, "remove the \"MX 0 .\" record: a null "
			    "MX must be the only MX record", "%s has a null MX "
			    "beside other MX records", dom->name);
			continue;
		}
		fixf(fix, sizeof(fix), "add \"mx: %s\" (or a *. pattern that "
		    "covers it) to %s and publish the new id, or remove the MX "
		    "record", hosts[i], dom->policy_path);
		if (p->mode == POLICY_MODE_ENFORCE)
			add(rep, SEV_ERROR, fix, "MX host %s (preference %u) is not "
			    "matched by any mx line of the policy: enforce-mode "
			    "senders refuse to deliver to it", hosts[i],
			    r.rr[i].pref);
		else
			add(rep, SEV_WARNING, fix, "MX host %s (preference %u) is "
			    "not matched by any mx line of the policy: senders "
			    "report failures for it now, and would refuse to "
			    "deliver to it under enforce", hosts[i], r.rr[i].pref);
	}
	for (size_t j = 0; j < p->nmx; j++)
		if (!used[j])
			add(rep, SEV_WARNING, "remove it from the policy, or fix it: "
			    "\"*.\" stands for exactly one label (*.example.com "
			    "matches a.example.com, not example.com or "
			    "a.b.example.com)", "mx pattern %s matches none of the "
			    "MX hosts of %s (%s)", p->mx[j], dom->name, list);
out:
	free(hosts);
	free(ok);
	free(used);
	resolve_free(&r);
}

/* ---- HTTPS ---- */

static int
is_text_plain(const char *ct)
{
	size_t n = strcspn(ct, ";");

	while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
		n--;
	return n == 10 && strncasecmp(ct, "text/plain", 10) == 0;
}

static void
date_text(time_t t, char *out, size_t outsz)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, outsz, "%Y-%m-%d %H:%M UTC", &tm);
}

/* what the certificate check found */
static void
check_cert(struct report *rep, const struct domain *dom,
    const struct probe_result *pr, const char *at)
{
	uint32_t f = pr->verify_flags;
	char when[40], fix[600];
	time_t now = time(NULL);

	if (pr->have_cert)
		date_text(pr->not_after, when, sizeof(when));
	else
		snprintf(when, sizeof(when), "(unknown)");
	if (f & MBEDTLS_X509_BADCERT_EXPIRED)
		add(rep, SEV_ERROR, "renew it, and make sure the server loads the "
		    "renewed file (mta-stsd reloads changed certificates)",
		    "the certificate of %s%s expired on %s: senders refuse it",
		    dom->host, at, when);
	if (f & MBEDTLS_X509_BADCERT_FUTURE)
		add(rep, SEV_ERROR, "check the clock of the machine that issued "
		    "it, or wait until it is valid", "the certificate of %s%s is "
		    "not valid yet", dom->host, at);
	if (f & MBEDTLS_X509_BADCERT_CN_MISMATCH)
		add(rep, SEV_ERROR, fixf(fix, sizeof(fix), "use a certificate "
		    "whose subject alternative names include %s (or *.%s)",
		    dom->host, dom->name), "the certificate of %s%s does not "
		    "cover %s: it is for %s", dom->host, at, dom->host,
		    pr->leaf_names[0] != '\0' ? pr->leaf_names :
		    "no DNS name at all");
	if (f & MBEDTLS_X509_BADCERT_NOT_TRUSTED) {
		if (pr->self_signed)
			add(rep, SEV_ERROR, "use a certificate from a CA that "
			    "senders trust (e.g. Let's Encrypt); with a private CA, "
			    "pass its certificate with --ca-file to test",
			    "the certificate of %s%s is self-signed: senders do not "
			    "trust it", dom->host, at);
		else if (pr->chain_len <= 1)
			add(rep, SEV_ERROR, "serve the full chain: the leaf "
			    "followed by its intermediates (fullchain.pem, not "
			    "cert.pem)", "%s%s sends only its own certificate, "
			    "without the intermediate (issuer: %s): senders cannot "
			    "build a chain to a trusted root", dom->host, at,
			    pr->leaf_issuer);
		else
			add(rep, SEV_ERROR, "use a certificate from a CA that "
			    "senders trust and serve its full chain; with a private "
			    "CA, pass its certificate with --ca-file to test",
			    "the certificate chain of %s%s does not lead to a "
			    "trusted root (issuer: %s)", dom->host, at,
			    pr->leaf_issuer);
	}
	f &= ~(uint32_t)(MBEDTLS_X509_BADCERT_EXPIRED |
	    MBEDTLS_X509_BADCERT_FUTURE | MBEDTLS_X509_BADCERT_CN_MISMATCH |
	    MBEDTLS_X509_BADCERT_NOT_TRUSTED);
	if (f != 0)
		add(rep, SEV_ERROR, "replace the certificate with one a public CA "
		    "issued for this name", "the certificate of %s%s is refused: "
		    "%s", dom->host, at, pr->verify_text);
	if (pr->have_cert && !(pr->verify_flags & MBEDTLS_X509_BADCERT_EXPIRED) &&
	    pr->not_after - now < CERTS_EXPIRY_WARN_DAYS * DAY)
		add(rep, SEV_WARNING, "renew it now (certbot renews 30 days "
		    "ahead; check that its timer runs and that the server loads "
		    "the renewed file)", "the certificate of %s%s expires in %ld "
		    "day(s), on %s", dom->host, at,
		    (long)((pr->not_after - now) / DAY), when);
}

/* the answer a sender got: status, type, body, time */
static void
check_answer(struct report *rep, const struct domain *dom,
    const struct probe_result *pr, const char *at, unsigned timeout)
{
	char url[NAME_MAX_LEN + 64], fix[800];

	snprintf(url, sizeof(url), "https://%s" PROBE_PATH, dom->host);
	if (!pr->have_response) {
		add(rep, SEV_ERROR, "make sure the HTTPS server answers GET "
		    PROBE_PATH " promptly", "no HTTP answer from %s%s: %s", url,
		    at, pr->timed_out ? "nothing within the timeout" :
		    pr->http_err);
		return;
	}
	if (pr->status >= 300 && pr->status < 400) {
		add(rep, SEV_ERROR, "serve the policy itself at this URL with "
		    "status 200, on mta-sts.<domain> (mta-stsd does)", "%s%s "
		    "answers %d, a redirect%s%s: senders never follow redirects, "
		    "so they see no policy", url, at, pr->status,
		    pr->location[0] ? " to " : "", pr->location);
		return;
	}
	if (pr->status != 200) {
		add(rep, SEV_ERROR, "serve the policy at " PROBE_PATH " with "
		    "status 200", "%s%s answers \"%s\": only 200 counts, senders "
		    "see no policy", url, at, pr->status_line);
		return;
	}
	if (!pr->has_content_type)
		add(rep, SEV_ERROR, "send Content-Type: text/plain", "%s%s "
		    "answers without a Content-Type: some senders reject the "
		    "policy", url, at);
	else if (!is_text_plain(pr->content_type))
		add(rep, SEV_ERROR, "send Content-Type: text/plain", "%s%s "
		    "answers with Content-Type \"%s\", not text/plain: some "
		    "senders reject the policy", url, at, pr->content_type);
	if (pr->body_too_large) {
		add(rep, SEV_ERROR, "shorten the policy", "%s%s answers with "
		    "more than %d bytes: senders give up at 64,000", url, at,
		    PROBE_BODY_MAX);
	} else if (pr->body != NULL) {
		struct policy served = { 0 };
		struct diag d = { 0 };

		if (pr->http_err[0] != '\0')
			add(rep, SEV_ERROR, "make sure the server sends the whole "
			    "policy", "the answer of %s%s is incomplete: %s", url,
			    at, pr->http_err);
		if (policy_parse(pr->body, pr->body_len, "served policy",
		    &served, &d) == -1) {
			char why[600];

			diag_join(&d, DIAG_ERROR, why, sizeof(why));
			add(rep, SEV_ERROR, fixf(fix, sizeof(fix), "serve the "
			    "policy this server holds (%s); mta-stsd -t checks a "
			    "policy file", dom->policy_path), "the policy at %s%s "
			    "is not valid: %s", url, at, why);
		} else {
			char diff[1024];

			if (records_policy_diff(&dom->policy, &served, diff,
			    sizeof(diff)))
				add(rep, SEV_ERROR, fixf(fix, sizeof(fix), "make "
				    "sure %s is answered by this server with the "
				    "policy it holds (%s; reload it after a change), "
				    "then publish the id mta-stsd dns prints",
				    dom->host, dom->policy_path), "the policy served "
				    "at %s%s differs from the one this server holds: "
				    "%s", url, at, diff);
		}
		policy_free(&served);
		diag_clear(&d);
	}
	if (pr->seconds > CHECK_SLOW_SECONDS)
		add(rep, SEV_WARNING, "answer in well under a second: check the "
		    "server's load, its network path and anything in front of "
		    "it", "%s%s took %.1f s to answer: the strictest senders give "
		    "up after %.0f s", url, at, pr->seconds,
		    CHECK_SLOW_SECONDS);
	(void)timeout;
}

/* fetch from one address and judge what came back */
static void
check_fetch(struct report *rep, const struct domain *dom,
    const struct resolve_rr *rr, const struct options *o, int *fetched,
    char *served_at, size_t served_size)
{
	struct probe_result pr;
	char at[96];
	size_t before = rep->count[SEV_ERROR];

	snprintf(at, sizeof(at), " [%s]", rr->text);
	if (probe_fetch((const struct sockaddr *)&rr->ss, rr->sslen, o->port,
	    dom->host, o->timeout, &pr) == -1 && !pr.connected) {
		if (rr->ss.ss_family == AF_INET6 && (pr.conn_errno == ENETUNREACH
		    || pr.conn_errno == EADDRNOTAVAIL)) {
			add(rep, SEV_INFO, "run the check from a host with IPv6 to "
			    "test this address", "%s%s not checked: this host has "
			    "no IPv6 route (%s)", dom->host, at, pr.conn_err);
			return;
		}
		add(rep, SEV_ERROR, "make sure the HTTPS server listens on port "
		    "443 at this address and that no firewall blocks it (senders "
		    "always use port 443)", "cannot connect to %s%s port %u: %s",
		    dom->host, at, o->port, pr.conn_err);
		return;
	}
	if (!pr.handshake_ok) {
		char fix[600];

		if (pr.verify_flags != 0)
			check_cert(rep, dom, &pr, at);
		add(rep, SEV_ERROR, fixf(fix, sizeof(fix), "make sure the server "
		    "has a certificate for %s and speaks TLS 1.2 or 1.3 on port "
		    "443", dom->host), "the TLS handshake with %s%s failed: %s",
		    dom->host, at, pr.tls_err);
		probe_result_free(&pr);
		return;
	}
	check_cert(rep, dom, &pr, at);
	check_answer(rep, dom, &pr, at, o->timeout);
	if (rep->count[SEV_ERROR] == before) {
		size_t n = strlen(served_at);

		snprintf(served_at + n, served_size - n, "%s%s", n ? ", " : "",
		    rr->text);
		(*fetched)++;
	}
	probe_result_free(&pr);
}

static void
check_https(struct report *rep, const struct domain *dom,
    const struct options *o, char *served_at, size_t served_size)
{
	struct resolve_result a, aaaa;
	int fetched = 0;

	if (resolve_query(dom->host, RESOLVE_A, &a) == -1)
		a.status = RESOLVE_FAIL;
	if (resolve_query(dom->host, RESOLVE_AAAA, &aaaa) == -1)
		aaaa.status = RESOLVE_FAIL;
	if (a.status != RESOLVE_OK && aaaa.status != RESOLVE_OK) {
		char fix[600];

		fixf(fix, sizeof(fix), "publish an A and/or AAAA record (or a "
		    "CNAME) for %s pointing at this server", dom->host);
		if (a.status == RESOLVE_FAIL || aaaa.status == RESOLVE_FAIL)
			add(rep, SEV_ERROR, fix, "cannot look up the address of %s: "
			    "%s", dom->host, resolve_status_text(
			    a.status == RESOLVE_FAIL ? &a : &aaaa));
		else
			add(rep, SEV_ERROR, fix, "%s does not resolve (%s): senders "
			    "cannot fetch the policy", dom->host,
			    a.status == RESOLVE_NXDOMAIN ? "no such name" :
			    "no A or AAAA record");
		goto out;
	}
	if (a.status == RESOLVE_FAIL || aaaa.status == RESOLVE_FAIL)
		add(rep, SEV_WARNING, "make sure the DNS servers answer both A "
		    "and AAAA queries", "the %s lookup of %s failed: %s",
		    a.status == RESOLVE_FAIL ? "A" : "AAAA", dom->host,
		    resolve_status_text(a.status == RESOLVE_FAIL ? &a : &aaaa));
	for (size_t i = 0; i < a.n && i < CHECK_MAX_ADDRS; i++)
		check_fetch(rep, dom, &a.rr[i], o, &fetched, served_at,
		    served_size);
	for (size_t i = 0; i < aaaa.n && i < CHECK_MAX_ADDRS; i++)
		check_fetch(rep, dom, &aaaa.rr[i], o, &fetched, served_at,
		    served_size);
out:
	resolve_free(&a);
	resolve_free(&aaaa);
}

/* ---- the policy itself ---- */

static void
check_hygiene(struct report *rep, const struct domain *dom)
{
	const struct policy *p = &dom->policy;

	if (p->max_age < POLICY_MAX_AGE_WARN)
		add(rep, SEV_WARNING, "use at least 604800 (a week) once the "
		    "policy works; RFC 8461 suggests weeks",
		    "max_age is %lu s, under a day: senders forget the policy "
		    "that soon, and an attacker who blocks the refetch strips "
		    "MTA-STS", p->max_age);
	else if (p->max_age > CHECK_MAX_AGE_LONG)
		add(rep, SEV_WARNING, "use a few weeks (e.g. 1209600 to 2419200) "
		    "so that a mistake does not stay cached for a year",
		    "max_age is %lu s, over a year: a wrong policy stays in "
		    "senders' caches that long", p->max_age);
	if (p->mode == POLICY_MODE_NONE)
		add(rep, SEV_WARNING, "use mode none only to retire MTA-STS "
		    "(serve it with a new id for max_age, then remove the "
		    "records); to protect mail use testing, then enforce",
		    "mode is none: senders drop the policy of %s", dom->name);
	else if (p->mode == POLICY_MODE_TESTING)
		add(rep, SEV_INFO, "switch to mode enforce once the TLS reports "
		    "(TLS-RPT) show no failures for a few weeks, and publish the "
		    "new id", "mode is testing: senders report TLS failures but "
		    "still deliver without TLS; enforce is the goal");
}

static void
check_domain(struct report *rep, const struct snapshot *s,
    const struct domain *dom, const struct options *o)
{
	char served_at[400] = "";

	rep->id = dom->policy_id;
	check_sts_txt(rep, dom, rep->id);
	check_tlsrpt(rep, s, dom);
	check_mx(rep, dom);
	check_https(rep, dom, o, served_at, sizeof(served_at));
	check_hygiene(rep, dom);
	snprintf(rep->summary, sizeof(rep->summary), "all checks passed: id "
	    "%s, mode %s, policy served at %s", rep->id,
	    policy_mode_name(dom->policy.mode), served_at[0] ? served_at :
	    "(no address)");
}

/* ---- output ---- */

static enum severity
worst(const struct report *rep)
{
	return rep->count[SEV_ERROR] ? SEV_ERROR :
	    rep->count[SEV_WARNING] ? SEV_WARNING : SEV_INFO;
}

static void
print_text(const struct report *rep)
{
	if (rep->count[SEV_ERROR] + rep->count[SEV_WARNING] == 0 &&
	    rep->summary[0] != '\0')
		printf("%s ok %s\n", rep->domain, rep->summary);
	for (size_t i = 0; i < rep->n; i++)
		printf("%s %s %s -- %s\n", rep->domain, sev_names[rep->v[i].sev],
		    rep->v[i].what, rep->v[i].fix);
}

static void
print_json(const struct report *rep, int first)
{
	enum severity w = worst(rep);

	fputs(first ? "\n  " : ",\n  ", stdout);
	json_fput_member(stdout, "{", "domain", rep->domain);
	json_fput_member(stdout, ", ", "id", rep->id);
	printf(", \"status\": \"%s\", \"errors\": %zu, \"warnings\": %zu, "
	    "\"infos\": %zu, \"findings\": [",
	    w == SEV_INFO ? "ok" : sev_names[w], rep->count[SEV_ERROR],
	    rep->count[SEV_WARNING], rep->count[SEV_INFO]);
	for (size_t i = 0; i < rep->n; i++) {
		printf("%s{\"severity\": \"%s\", \"message\": ", i ? ", " : "",
		    sev_names[rep->v[i].sev]);
		json_fput_string(stdout, rep->v[i].what);
		json_fput_member(stdout, ", ", "fix", rep->v[i].fix);
		fputs("}", stdout);
	}
	fputs("]}", stdout);
}

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: mta-stsd check [-c file] [--json] [--ca-file file] "
	    "[--timeout sec] [domain...]\n"
	    "\n"
	    "Check live, as a sending MTA would, every domain loaded (or those\n"
	    "named): the _mta-sts and _smtp._tls TXT records, MX coverage by the\n"
	    "policy, and the HTTPS fetch of the policy (name, certificate,\n"
	    "status, type, content, time). One line per finding:\n"
	    "  <domain> <error|warning|info> <what is wrong> -- <how to fix>\n"
	    "Exit status: 0 clean, 1 warnings only, 2 errors.\n"
	    "\n"
	    "  -c file         configuration file (default " CONFIG_DEFAULT_PATH ")\n"
	    "  --json          one JSON document, for monitoring\n"
	    "  --ca-file file  trust these CA certificates instead of the system\n"
	    "                  store (" PROBE_SYSTEM_CA ")\n"
	    "  --timeout sec   time allowed for each HTTPS fetch (default %d)\n",
	    CHECK_DEFAULT_TIMEOUT);
}

/* check's own options: --ca-file and --timeout */
static int
check_option(void *ctx, int val, const char *arg)
{
	struct options *o = ctx;
	char *end;
	unsigned long v;

	if (val == 'a') {
		o->ca_file = arg;
		return 0;
	}
	v = strtoul(arg, &end, 10);
	if (*arg == '\0' || *end != '\0' || v < 1 || v > 300) {
		fprintf(stderr, "mta-stsd: --timeout \"%s\" is not a number of "
		    "seconds in 1..300\n", arg);
		return -1;
	}
	o->timeout = (unsigned)v;
	return 0;
}

int
check_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "ca-file", required_argument, NULL, 'a' },
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 }
	};
	const char *env;
	struct options o = { CHECK_DEFAULT_TIMEOUT, 443, 0, NULL };
	struct tool_args a;
	struct snapshot *snap;
	struct report *reps;
	size_t nreps = 0, nerrors, total[3] = { 0, 0, 0 };
	char err[600];
	int rc;

	if ((rc = tool_args_parse(argc, argv, longopts, check_option, &o,
	    usage, &a)) != -1)
		return rc;
	o.json = a.json;
	/* for tests only: senders always use 443 */
	if ((env = getenv("MTA_STSD_CHECK_PORT")) != NULL && *env != '\0') {
		unsigned long v = strtoul(env, NULL, 10);

		if (v >= 1 && v <= 65535)
			o.port = (unsigned)v;
	}
	if (psa_crypto_init() != PSA_SUCCESS) {
		fprintf(stderr, "mta-stsd: cannot initialise the crypto library\n");
		return 2;
	}
	if (probe_init(o.ca_file, err, sizeof(err)) == -1) {
		fprintf(stderr, "mta-stsd: %s\n", err);
		probe_done();
		mbedtls_psa_crypto_free();
		return 2;
	}
	if (resolve_init(o.timeout < 5 ? o.timeout : 5, 2) == -1)
		fprintf(stderr, "mta-stsd: cannot read the resolver configuration "
		    "(/etc/resolv.conf); DNS lookups will fail\n");
	if ((snap = tool_load(a.config_path, &nerrors)) == NULL) {
		probe_done();
		mbedtls_psa_crypto_free();
		return 2;
	}
	reps = calloc(a.first_domain < argc ? (size_t)(argc - a.first_domain) :
	    snap->cfg.ndomains + snap->ndomains + 1, sizeof(*reps));
	if (reps == NULL) {
		fprintf(stderr, "mta-stsd: out of memory\n");
		snapshot_unref(snap);
		probe_done();
		mbedtls_psa_crypto_free();
		return 2;
	}

	if (a.first_domain < argc) {
		for (int i = a.first_domain; i < argc; i++) {
			struct report *rep = &reps[nreps++];
			const struct domain *dom;

			tool_domain_arg(argv[i], rep->domain,
			    sizeof(rep->domain));
			if ((dom = snapshot_find(snap, rep->domain)) == NULL) {
				add(rep, SEV_ERROR, "add a section for it or a "
				    "<domain>.txt file to policy_dir, and fix what "
				    "mta-stsd -t reports", "this server holds no "
				    "policy for %s (not configured, or it failed to "
				    "load)", rep->domain);
				continue;
			}
			check_domain(rep, snap, dom, &o);
		}
	} else {
		for (size_t i = 0; i < snap->ndomains; i++) {
			struct report *rep = &reps[nreps++];

			snprintf(rep->domain, sizeof(rep->domain), "%s",
			    snap->domains[i]->name);
			check_domain(rep, snap, snap->domains[i], &o);
		}
		/* configured domains that did not load: the server lacks them */
		for (size_t i = 0; i < snap->cfg.ndomains; i++) {
			const char *name = snap->cfg.domains[i].name;
			struct report *rep;

			if (snapshot_find(snap, name) != NULL)
				continue;
			rep = &reps[nreps++];
			snprintf(rep->domain, sizeof(rep->domain), "%s", name);
			add(rep, SEV_ERROR, "fix what mta-stsd -t reports for it",
			    "the policy or certificate of %s does not load (see "
			    "the messages above), so this server does not serve "
			    "it", name);
		}
	}

	if (o.json)
		fputs("{\"domains\": [", stdout);
	for (size_t i = 0; i < nreps; i++) {
		for (int s = 0; s < 3; s++)
			total[s] += reps[i].count[s];
		if (o.json)
			print_json(&reps[i], i == 0);
		else
			print_text(&reps[i]);
		fflush(stdout);
	}
	rc = total[SEV_ERROR] ? 2 : total[SEV_WARNING] ? 1 : 0;
	if (o.json)
		printf("\n], \"errors\": %zu, \"warnings\": %zu, \"infos\": %zu, "
		    "\"exit\": %d}\n", total[SEV_ERROR], total[SEV_WARNING],
		    total[SEV_INFO], rc);
	for (size_t i = 0; i < nreps; i++)
		report_free(&reps[i]);
	free(reps);
	snapshot_unref(snap);
	probe_done();
	mbedtls_psa_crypto_free();
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "mta-stsd: cannot write the output\n");
		return 2;
	}
	return rc;
}
