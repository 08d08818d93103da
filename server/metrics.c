/* metrics.c - counters for operators, and their Prometheus text rendering */
#include "metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/version.h>
#include <microhttpd.h>

#include "json.h"
#include "snapshot.h"

#ifndef MTA_STSD_VERSION
#define MTA_STSD_VERSION "0.0.0"
#endif

/* relaxed atomics: a counter increment is one instruction on the request
 * path, and the scrape needs no consistent cut across counters */
static const unsigned status_codes[] = { 200, 400, 404, 405, 408, 413, 421,
    431, 500, 503, 0 };
#define NSTATUS (sizeof(status_codes) / sizeof(status_codes[0]))
static atomic_ulong requests[NSTATUS];	/* the last slot: any other code */
static atomic_ulong hs_ok;
static atomic_ulong hs_failed[HS_FAIL_COUNT];
static atomic_ulong shed[SHED_COUNT];
static atomic_ulong conns_opened, conns_closed;
static atomic_ulong challenges[METRICS_CHALLENGE_COUNT];
static time_t started = 0;

/* pushed by reloads and publication, never pulled from them */
static atomic_ulong reloads_ok, reloads_failed;
static atomic_llong last_reload_ok, last_reload_failed;
static atomic_ulong generation, domains_loaded, domains_failed;
static atomic_llong earliest_expiry;
static pthread_mutex_t served_lock = PTHREAD_MUTEX_INITIALIZER;
static struct snapshot *served;		/* one reference, for per-domain series */

/* the certificate manager's, pushed from its thread */
static atomic_ulong acme_orders[ACME_RESULT_COUNT];
static atomic_ulong acme_skipped_dns;
static atomic_ulong acme_domains[5];
static pthread_mutex_t acme_lock = PTHREAD_MUTEX_INITIALIZER;
static char **acme_names;		/* next renewal per domain */
static long long *acme_times;
static size_t acme_n;
static const char *const acme_results[ACME_RESULT_COUNT] = {
	"ok", "failed", "rate_limited", "server_error", "invalid"
};
static const char *const acme_states[5] = {
	"valid", "pending", "waiting_dns", "failing", "hand_managed"
};

static const char *const hs_reasons[HS_FAIL_COUNT] = {
	"unknown_sni", "no_sni", "protocol", "timeout", "limit"
};
static const char *const challenge_types[METRICS_CHALLENGE_COUNT] = {
	"tls-alpn-01", "http-01"
};
static const char *const shed_reasons[SHED_COUNT] = {
	"max_connections", "max_connections_per_ip", "request_timeout",
	"no_memory", "make_room"
};

void
metrics_request(unsigned status)
{
	size_t i;

	for (i = 0; i < NSTATUS - 1 && status_codes[i] != status; i++)
		;
	atomic_fetch_add_explicit(&requests[i], 1, memory_order_relaxed);
}

void
metrics_handshake_ok(void)
{
	atomic_fetch_add_explicit(&hs_ok, 1, memory_order_relaxed);
}

void
metrics_handshake_failed(enum metrics_hs_fail why)
{
	atomic_fetch_add_explicit(&hs_failed[why], 1, memory_order_relaxed);
}

void
metrics_shed(enum metrics_shed why)
{
	atomic_fetch_add_explicit(&shed[why], 1, memory_order_relaxed);
}

void
metrics_challenge_answered(enum metrics_challenge type)
{
	atomic_fetch_add_explicit(&challenges[type], 1, memory_order_relaxed);
}

void
metrics_conn_opened(void)
{
	if (started == 0)
		started = time(NULL);
	atomic_fetch_add_explicit(&conns_opened, 1, memory_order_relaxed);
}

void
metrics_conn_closed(void)
{
	atomic_fetch_add_explicit(&conns_closed, 1, memory_order_relaxed);
}

void
metrics_reload(int ok)
{
	if (ok) {
		atomic_fetch_add_explicit(&reloads_ok, 1, memory_order_relaxed);
		atomic_store(&last_reload_ok, (long long)time(NULL));
	} else {
		atomic_fetch_add_explicit(&reloads_failed, 1, memory_order_relaxed);
		atomic_store(&last_reload_failed, (long long)time(NULL));
	}
}

void
metrics_snapshot(struct snapshot *s)
{
	struct snapshot *old;
	time_t earliest = 0;

	for (size_t i = 0; s != NULL && i < s->ndomains; i++)
		for (int k = 0; k < 2; k++) {
			const struct certkey *ck = s->domains[i]->ck[k];

			if (ck != NULL && (earliest == 0 || ck->not_after < earliest))
				earliest = ck->not_after;
		}
	atomic_store(&generation, s != NULL ? s->generation : 0);
	atomic_store(&domains_loaded, s != NULL ? s->ndomains : 0);
	atomic_store(&domains_failed, s != NULL ? s->nfailed : 0);
	atomic_store(&earliest_expiry, (long long)earliest);
	pthread_mutex_lock(&served_lock);
	old = served;
	served = s != NULL ? snapshot_ref(s) : NULL;
	pthread_mutex_unlock(&served_lock);
	snapshot_unref(old);
}

void
metrics_acme_order(enum metrics_acme_result r)
{
	atomic_fetch_add_explicit(&acme_orders[r], 1, memory_order_relaxed);
}

void
metrics_acme_skipped_dns(void)
{
	atomic_fetch_add_explicit(&acme_skipped_dns, 1, memory_order_relaxed);
}

void
metrics_acme_domains(unsigned long valid, unsigned long pending,
    unsigned long waiting_dns, unsigned long failing,
    unsigned long hand_managed)
{
	atomic_store(&acme_domains[0], valid);
	atomic_store(&acme_domains[1], pending);
	atomic_store(&acme_domains[2], waiting_dns);
	atomic_store(&acme_domains[3], failing);
	atomic_store(&acme_domains[4], hand_managed);
}

void
metrics_acme_renewals(const char *const *names, const long long *times,
    size_t n)
{
	char **nv = calloc(n + 1, sizeof(*nv));
	long long *tv = calloc(n + 1, sizeof(*tv));
	size_t k = 0;

	for (size_t i = 0; nv != NULL && tv != NULL && i < n; i++) {
		if ((nv[k] = strdup(names[i])) == NULL)
			break;
		tv[k++] = times[i];
	}
	pthread_mutex_lock(&acme_lock);
	for (size_t i = 0; i < acme_n; i++)
		free(acme_names[i]);
	free(acme_names);
	free(acme_times);
	acme_names = nv;
	acme_times = tv;
	acme_n = nv != NULL && tv != NULL ? k : 0;
	pthread_mutex_unlock(&acme_lock);
}

unsigned long
metrics_shed_count(enum metrics_shed why)
{
	return atomic_load_explicit(&shed[why], memory_order_relaxed);
}

unsigned long
metrics_handshake_failed_count(enum metrics_hs_fail why)
{
	return atomic_load_explicit(&hs_failed[why], memory_order_relaxed);
}

/* a growing output buffer */
struct out {
	char *buf;
	size_t len, cap;
	int failed;
};

static void
out_printf(struct out *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
out_printf(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			o->failed = 1;
			return;
		}
		if ((size_t)n < o->cap - o->len) {
			o->len += (size_t)n;
			return;
		}
		size_t cap = (o->cap + (size_t)n + 1) * 2;
		char *b = realloc(o->buf, cap);
		if (b == NULL) {
			o->failed = 1;
			return;
		}
		o->buf = b;
		o->cap = cap;
	}
}

const char *
metrics_label(char *out, size_t outsz, const char *v)
{
	size_t len = strlen(v), used = 0;

	for (size_t i = 0; i < len;) {
		unsigned long cp;
		size_t n = json_utf8_char(v + i, len - i, &cp), plen = n;
		const char *put = v + i;

		if (n == 0) {
			put = "\xef\xbf\xbd";	/* U+FFFD */
			plen = 3;
			n = 1;
		} else if (cp == '\\')
			put = "\\\\", plen = 2;
		else if (cp == '"')
			put = "\\\"", plen = 2;
		else if (cp == '\n')
			put = "\\n", plen = 2;
		if (used + plen >= outsz)
			break;
		memcpy(out + used, put, plen);
		used += plen;
		i += n;
	}
	out[used] = '\0';
	return out;
}

/* HELP and TYPE lines for one metric family */
static void
family(struct out *o, const char *name, const char *type, const char *help)
{
	out_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* the ACME families; per domain: each served certificate's expiry with its
 * source, and the next renewal */
static void
render_acme(struct out *o, const struct snapshot *s, int per_domain,
    char lv[][1024])
{
	char dir[4096] = "";
	size_t dlen = 0;

	family(o, "mta_stsd_acme_orders_total", "counter",
	    "ACME orders, by result.");
	for (int i = 0; i < ACME_RESULT_COUNT; i++)
		out_printf(o, "mta_stsd_acme_orders_total{result=\"%s\"} %lu\n",
		    acme_results[i], atomic_load(&acme_orders[i]));
	family(o, "mta_stsd_acme_domains", "gauge",
	    "Domains the certificate manager looks after, by state.");
	for (int i = 0; i < 5; i++)
		out_printf(o, "mta_stsd_acme_domains{state=\"%s\"} %lu\n",
		    acme_states[i], atomic_load(&acme_domains[i]));
	family(o, "mta_stsd_acme_skipped_dns_total", "counter",
	    "Orders not placed: the name did not resolve to this server.");
	out_printf(o, "mta_stsd_acme_skipped_dns_total %lu\n",
	    atomic_load(&acme_skipped_dns));
	if (!per_domain || s == NULL)
		return;
	if (s->cfg.acme.storage != NULL) {
		snprintf(dir, sizeof(dir), "%s/certificates/", s->cfg.acme.storage);
		dlen = strlen(dir);
	}
	family(o, "mta_stsd_certificate_not_after_seconds", "gauge",
	    "Expiry of each domain's served certificate(s), by source.");
	for (size_t i = 0; i < s->ndomains; i++)
		for (int k = 0; k < 2; k++) {
			const struct certkey *ck = s->domains[i]->ck[k];

			if (ck != NULL)
				out_printf(o, "mta_stsd_certificate_not_after_"
				    "seconds{domain=\"%s\",source=\"%s\"} %lld\n",
				    metrics_label(lv[0], sizeof(lv[0]),
				    s->domains[i]->name), dlen > 0 &&
				    strncmp(ck->cert_path, dir, dlen) == 0 ?
				    "acme" : "file", (long long)ck->not_after);
		}
	family(o, "mta_stsd_certificate_next_renewal_seconds", "gauge",
	    "When the certificate manager renews each domain's certificate.");
	pthread_mutex_lock(&acme_lock);
	for (size_t i = 0; i < acme_n; i++)
		if (acme_times[i] != 0)
			out_printf(o, "mta_stsd_certificate_next_renewal_seconds"
			    "{domain=\"%s\"} %lld\n", metrics_label(lv[0],
			    sizeof(lv[0]), acme_names[i]), acme_times[i]);
	pthread_mutex_unlock(&acme_lock);
}

char *
metrics_render(int per_domain, size_t *len)
{
	const struct snapshot *s;
	struct out o = { 0 };
	char tls[64], lv[3][1024];	/* label values, escaped */

	if ((o.buf = malloc(4096)) == NULL)
		return NULL;
	o.cap = 4096;
	mbedtls_version_get_string(tls);

	family(&o, "mta_stsd_build_info", "gauge",
	    "Build information: versions of mta-stsd and its libraries.");
	out_printf(&o, "mta_stsd_build_info{version=\"%s\",mbedtls=\"%s\","
	    "libmicrohttpd=\"%s\"} 1\n",
	    metrics_label(lv[0], sizeof(lv[0]), MTA_STSD_VERSION),
	    metrics_label(lv[1], sizeof(lv[1]), tls),
	    metrics_label(lv[2], sizeof(lv[2]), MHD_get_version()));

	family(&o, "mta_stsd_requests_total", "counter",
	    "HTTP requests answered, by status code.");
	for (size_t i = 0; i < NSTATUS; i++) {
		unsigned long v = atomic_load_explicit(&requests[i],
		    memory_order_relaxed);

		if (status_codes[i] != 0)
			out_printf(&o, "mta_stsd_requests_total{code=\"%u\"} %lu\n",
			    status_codes[i], v);
		else
			out_printf(&o, "mta_stsd_requests_total{code=\"other\"} "
			    "%lu\n", v);
	}

	family(&o, "mta_stsd_tls_handshakes_total", "counter",
	    "TLS handshakes completed.");
	out_printf(&o, "mta_stsd_tls_handshakes_total %lu\n",
	    atomic_load_explicit(&hs_ok, memory_order_relaxed));
	family(&o, "mta_stsd_tls_handshake_failures_total", "counter",
	    "TLS handshakes that failed, by reason.");
	for (int i = 0; i < HS_FAIL_COUNT; i++)
		out_printf(&o, "mta_stsd_tls_handshake_failures_total{reason="
		    "\"%s\"} %lu\n", hs_reasons[i],
		    atomic_load_explicit(&hs_failed[i], memory_order_relaxed));

	family(&o, "mta_stsd_acme_challenges_answered_total", "counter",
	    "ACME challenges answered (a CA's validation), by type.");
	for (int i = 0; i < METRICS_CHALLENGE_COUNT; i++)
		out_printf(&o, "mta_stsd_acme_challenges_answered_total{type="
		    "\"%s\"} %lu\n", challenge_types[i],
		    atomic_load_explicit(&challenges[i], memory_order_relaxed));

	family(&o, "mta_stsd_connections_open", "gauge",
	    "Client connections open now.");
	{
		/* closed first: a connection closed on another worker between
		 * the two reads can then only make the difference larger */
		unsigned long closed = atomic_load(&conns_closed);
		unsigned long opened = atomic_load(&conns_opened);

		out_printf(&o, "mta_stsd_connections_open %lu\n",
		    opened >= closed ? opened - closed : 0);
	}
	family(&o, "mta_stsd_connections_total", "counter",
	    "Client connections accepted.");
	out_printf(&o, "mta_stsd_connections_total %lu\n",
	    atomic_load_explicit(&conns_opened, memory_order_relaxed));
	family(&o, "mta_stsd_connections_shed_total", "counter",
	    "Connections refused or closed early by a limit, by reason.");
	for (int i = 0; i < SHED_COUNT; i++)
		out_printf(&o, "mta_stsd_connections_shed_total{reason=\"%s\"} "
		    "%lu\n", shed_reasons[i],
		    atomic_load_explicit(&shed[i], memory_order_relaxed));

	family(&o, "mta_stsd_reloads_total", "counter",
	    "Reloads, by result (a failure keeps the previous snapshot).");
	out_printf(&o, "mta_stsd_reloads_total{result=\"success\"} %lu\n"
	    "mta_stsd_reloads_total{result=\"failure\"} %lu\n",
	    atomic_load(&reloads_ok), atomic_load(&reloads_failed));
	family(&o, "mta_stsd_last_reload_success_timestamp_seconds", "gauge",
	    "Time of the last successful reload (0: none yet).");
	out_printf(&o, "mta_stsd_last_reload_success_timestamp_seconds %lld\n",
	    (long long)atomic_load(&last_reload_ok));
	family(&o, "mta_stsd_last_reload_failure_timestamp_seconds", "gauge",
	    "Time of the last failed reload (0: none yet).");
	out_printf(&o, "mta_stsd_last_reload_failure_timestamp_seconds %lld\n",
	    (long long)atomic_load(&last_reload_failed));
	family(&o, "mta_stsd_snapshot_generation", "gauge",
	    "Generation number of the configuration being served.");
	out_printf(&o, "mta_stsd_snapshot_generation %lu\n",
	    atomic_load(&generation));

	family(&o, "mta_stsd_domains_loaded", "gauge", "Domains being served.");
	out_printf(&o, "mta_stsd_domains_loaded %lu\n", atomic_load(&domains_loaded));
	family(&o, "mta_stsd_domains_failed", "gauge",
	    "Domains whose files failed validation at the last load "
	    "(kept at their previous version when they had one).");
	out_printf(&o, "mta_stsd_domains_failed %lu\n", atomic_load(&domains_failed));

	family(&o, "mta_stsd_certificate_expiry_earliest_timestamp_seconds",
	    "gauge", "Earliest expiry among the certificates being served.");
	out_printf(&o, "mta_stsd_certificate_expiry_earliest_timestamp_seconds "
	    "%lld\n", (long long)atomic_load(&earliest_expiry));

	pthread_mutex_lock(&served_lock);
	s = served;
	if (per_domain && s != NULL) {
		family(&o, "mta_stsd_domain_certificate_expiry_timestamp_seconds",
		    "gauge", "Expiry of each domain's certificate(s).");
		for (size_t i = 0; i < s->ndomains; i++)
			for (int k = 0; k < 2; k++) {
				const struct certkey *ck = s->domains[i]->ck[k];

				if (ck != NULL)
					out_printf(&o, "mta_stsd_domain_certificate_"
					    "expiry_timestamp_seconds{domain=\"%s\","
					    "key=\"%s\"} %lld\n", metrics_label(lv[0],
					    sizeof(lv[0]), s->domains[i]->name),
					    ck->is_ec ? "ecdsa" : "rsa",
					    (long long)ck->not_after);
			}
		family(&o, "mta_stsd_domain_policy_info", "gauge",
		    "Each domain's policy id and mode.");
		for (size_t i = 0; i < s->ndomains; i++) {
			const struct domain *dom = s->domains[i];

			out_printf(&o, "mta_stsd_domain_policy_info{domain=\"%s\","
			    "id=\"%s\",mode=\"%s\"} 1\n",
			    metrics_label(lv[0], sizeof(lv[0]), dom->name),
			    metrics_label(lv[1], sizeof(lv[1]), dom->policy_id),
			    policy_mode_name(dom->policy.mode));
		}
	}
	render_acme(&o, s, per_domain, lv);
	pthread_mutex_unlock(&served_lock);
	if (o.failed) {
		free(o.buf);
		return NULL;
	}
	*len = o.len;
	return o.buf;
}
