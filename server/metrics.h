/* metrics.h - counters for operators, and their Prometheus text rendering */
#ifndef MTA_STSD_METRICS_H
#define MTA_STSD_METRICS_H

#include <stddef.h>

struct snapshot;

/* why a TLS handshake did not complete */
enum metrics_hs_fail {
	HS_FAIL_UNKNOWN_SNI,	/* an SNI name we do not serve */
	HS_FAIL_NO_SNI,		/* no SNI and no default_domain */
	HS_FAIL_PROTOCOL,	/* anything else mbedTLS refused, or the peer left */
	HS_FAIL_TIMEOUT,	/* handshake_timeout passed */
	HS_FAIL_LIMIT,		/* refused at accept: a connection limit */
	HS_FAIL_COUNT
};

/* why a connection was shed */
enum metrics_shed {
	SHED_MAX_CONNECTIONS,
	SHED_PER_IP,
	SHED_REQUEST_TIMEOUT,
	SHED_NO_MEMORY,
	SHED_MAKE_ROOM,		/* closed with nothing in flight for a new one */
	SHED_COUNT
};

/* which ACME challenge was answered */
enum metrics_challenge {
	METRICS_CHALLENGE_TLS_ALPN,	/* tls-alpn-01: a handshake on the TLS listener */
	METRICS_CHALLENGE_HTTP,		/* http-01: a GET on http_listen */
	METRICS_CHALLENGE_COUNT
};

/* A request was answered with this status. */
void metrics_request(unsigned status);

/* A handshake completed. */
void metrics_handshake_ok(void);

/* A handshake failed for this reason. */
void metrics_handshake_failed(enum metrics_hs_fail why);

/* A connection was shed (refused or closed early) for this reason. */
void metrics_shed(enum metrics_shed why);

/* An ACME challenge (a CA's validation request) was answered. */
void metrics_challenge_answered(enum metrics_challenge type);

/* Connections opened / closed (the difference is the open count). */
void metrics_conn_opened(void);
void metrics_conn_closed(void);

/* A reload ended: its snapshot was published (ok 1) or it failed (ok 0).
 * Counts it and stamps the time. */
void metrics_reload(int ok);

/*
 * s is served from now on (NULL: nothing any more, at exit): sets the
 * snapshot's gauges and keeps one reference to it for the per-domain series
 * (dropping the one on the previous snapshot). Called by whoever publishes.
 */
void metrics_snapshot(struct snapshot *s);

/* how an ACME order ended (mta_stsd_acme_orders_total's result) */
enum metrics_acme_result {
	ACME_RESULT_OK,
	ACME_RESULT_FAILED,
	ACME_RESULT_RATE_LIMITED,
	ACME_RESULT_SERVER_ERROR,
	ACME_RESULT_INVALID,
	ACME_RESULT_COUNT
};

/* An ACME order ended with this result. */
void metrics_acme_order(enum metrics_acme_result r);

/* A domain was not ordered: its name does not resolve to this server. */
void metrics_acme_skipped_dns(void);

/* The certificate manager's domains by state (a gauge each). */
void metrics_acme_domains(unsigned long valid, unsigned long pending,
    unsigned long waiting_dns, unsigned long failing,
    unsigned long hand_managed);

/* Each managed domain's next renewal time (0: none planned), copied;
 * shown per domain when metrics_per_domain is on. */
void metrics_acme_renewals(const char *const *names, const long long *times,
    size_t n);

/* Counter values, for the rate-limited log and the tests. */
unsigned long metrics_shed_count(enum metrics_shed why);
unsigned long metrics_handshake_failed_count(enum metrics_hs_fail why);

/*
 * v as a label value of the Prometheus text format into out (outsz > 0
 * bytes, always terminated, cut between characters): backslash, double
 * quote and line feed as \\, \" and \n, the only escapes the format has;
 * every other character as it is, but a byte that is not UTF-8 (the
 * format's text is UTF-8) as U+FFFD, judged as json.c judges it. Every
 * string label value of metrics_render goes through it. Returns out.
 */
const char *metrics_label(char *out, size_t outsz, const char *v);

/*
 * Render every metric in the Prometheus text exposition format (version
 * 0.0.4) into a new buffer (*len bytes); per-domain series only when
 * per_domain is set. Returns the buffer (free it) or NULL.
 */
char *metrics_render(int per_domain, size_t *len);

#endif
