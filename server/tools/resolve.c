/* resolve.c - DNS lookups through the system resolver configuration (glibc libresolv) */
#include "resolve.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * One resolver state for the process (the check runs one query at a time).
 * The answer buffer is as large as a DNS message can be, so glibc retries a
 * truncated UDP answer over TCP instead of handing us a cut one.
 */
static struct __res_state rs;
static int rs_ready;

#define ANSWER_MAX 65536

int
resolve_init(unsigned timeout, unsigned attempts)
{
	if (rs_ready) {
		res_nclose(&rs);
		rs_ready = 0;
	}
	memset(&rs, 0, sizeof(rs));
	if (res_ninit(&rs) != 0)
		return -1;
	rs.retrans = timeout > 0 ? (int)timeout : 1;
	rs.retry = attempts > 0 ? (int)attempts : 1;
	rs_ready = 1;
	return 0;
}

void
resolve_free(struct resolve_result *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->rr[i].text);
	free(r->rr);
	r->rr = NULL;
	r->n = 0;
}

const char *
resolve_status_text(const struct resolve_result *r)
{
	switch (r->status) {
	case RESOLVE_OK:
		return "found";
	case RESOLVE_NODATA:
		return "no record of this type";
	case RESOLVE_NXDOMAIN:
		return "no such name: NXDOMAIN";
	case RESOLVE_FAIL:
		return r->why[0] != '\0' ? r->why : "the lookup failed";
	}
	return "?";
}

/* append one record; -1 when memory runs out */
static int
add_rr(struct resolve_result *out, char *text, size_t len)
{
	struct resolve_rr *v = realloc(out->rr, (out->n + 1) * sizeof(*v));

	if (v == NULL) {
		free(text);
		return -1;
	}
	out->rr = v;
	memset(&v[out->n], 0, sizeof(v[out->n]));
	v[out->n].text = text;
	v[out->n].len = len;
	out->n++;
	return 0;
}

/* TXT rdata: <len><bytes>... joined into one string (RFC 8461 section 3.1) */
static char *
txt_join(const unsigned char *p, size_t len, size_t *outlen)
{
	char *s = malloc(len + 1);
	size_t n = 0, i = 0;

	if (s == NULL)
		return NULL;
	while (i < len) {
		size_t l = p[i++];

		if (l > len - i)
			l = len - i;
		memcpy(s + n, p + i, l);
		n += l;
		i += l;
	}
	s[n] = '\0';
	*outlen = n;
	return s;
}

static int
mx_cmp(const void *a, const void *b)
{
	const struct resolve_rr *x = a, *y = b;

	if (x->pref != y->pref)
		return x->pref < y->pref ? -1 : 1;
	return strcmp(x->text, y->text);
}

/* one answer-section record of the wanted type into out */
static int
take_rr(ns_msg *msg, ns_rr *rr, int type, struct resolve_result *out)
{
	const unsigned char *rd = ns_rr_rdata(*rr);
	size_t rdlen = ns_rr_rdlen(*rr);
	char buf[NS_MAXDNAME + 1], *text;
	size_t len;

	switch (type) {
	case RESOLVE_TXT:
		if ((text = txt_join(rd, rdlen, &len)) == NULL)
			return -1;
		return add_rr(out, text, len);
	case RESOLVE_MX:
		if (rdlen < 3 || dn_expand(ns_msg_base(*msg), ns_msg_end(*msg),
		    rd + 2, buf, sizeof(buf)) < 0)
			return 0;	/* malformed: skip it */
		if (buf[0] == '\0')
			snprintf(buf, sizeof(buf), ".");
		for (char *c = buf; *c != '\0'; c++)
			if (*c >= 'A' && *c <= 'Z')
				*c = (char)(*c - 'A' + 'a');
		len = strlen(buf);
		if (len > 1 && buf[len - 1] == '.')
			buf[--len] = '\0';
		if ((text = strdup(buf)) == NULL)
			return -1;
		if (add_rr(out, text, len) == -1)
			return -1;
		out->rr[out->n - 1].pref = ns_get16(rd);
		return 0;
	case RESOLVE_A:
	case RESOLVE_AAAA: {
		struct resolve_rr *r;

		if (rdlen != (type == RESOLVE_A ? 4u : 16u))
			return 0;
		inet_ntop(type == RESOLVE_A ? AF_INET : AF_INET6, rd, buf,
		    sizeof(buf));
		if ((text = strdup(buf)) == NULL ||
		    add_rr(out, text, strlen(buf)) == -1)
			return -1;
		r = &out->rr[out->n - 1];
		if (type == RESOLVE_A) {
			struct sockaddr_in *sin = (struct sockaddr_in *)&r->ss;

			sin->sin_family = AF_INET;
			memcpy(&sin->sin_addr, rd, 4);
			r->sslen = sizeof(*sin);
		} else {
			struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&r->ss;

			sin6->sin6_family = AF_INET6;
			memcpy(&sin6->sin6_addr, rd, 16);
			r->sslen = sizeof(*sin6);
		}
		return 0;
	}
	}
	return 0;
}

int
resolve_query(const char *name, int type, struct resolve_result *out)
{
	unsigned char *ans;
	int n, rc;

	memset(out, 0, sizeof(*out));
	out->status = RESOLVE_FAIL;
	if (!rs_ready && resolve_init(5, 2) == -1) {
		snprintf(out->why, sizeof(out->why), "cannot read the resolver "
		    "configuration (/etc/resolv.conf)");
		return 0;
	}
	if ((ans = malloc(ANSWER_MAX)) == NULL) {
		snprintf(out->why, sizeof(out->why), "out of memory");
		return -1;
	}
	n = res_nquery(&rs, name, ns_c_in, type, ans, ANSWER_MAX);
	if (n < 0) {
		switch (rs.res_h_errno) {
		case HOST_NOT_FOUND:
			out->status = RESOLVE_NXDOMAIN;
			break;
		case NO_DATA:
			out->status = RESOLVE_NODATA;
			break;
		case TRY_AGAIN:
			snprintf(out->why, sizeof(out->why), "no answer from the "
			    "DNS servers in /etc/resolv.conf (timeout or "
			    "SERVFAIL)");
			break;
		default:
			snprintf(out->why, sizeof(out->why), "the DNS server "
			    "refused or could not answer the query (REFUSED, "
			    "NOTIMP or FORMERR)");
			break;
		}
		free(ans);
		return 0;
	}
	rc = resolve_parse(ans, (size_t)n, type, out);
	free(ans);
	return rc;
}

int
resolve_parse(const unsigned char *ans, size_t len, int type,
    struct resolve_result *out)
{
	ns_msg msg;

	memset(out, 0, sizeof(*out));
	out->status = RESOLVE_FAIL;
	if (len > ANSWER_MAX || ns_initparse(ans, (int)len, &msg) < 0) {
		snprintf(out->why, sizeof(out->why), "the DNS answer cannot be "
		    "parsed");
		return 0;
	}
	for (int i = 0; i < ns_msg_count(msg, ns_s_an); i++) {
		ns_rr rr;

		if (ns_parserr(&msg, ns_s_an, i, &rr) < 0)
			break;
		if ((int)ns_rr_type(rr) != type || ns_rr_class(rr) != ns_c_in)
			continue;
		if (take_rr(&msg, &rr, type, out) == -1) {
			snprintf(out->why, sizeof(out->why), "out of memory");
			resolve_free(out);
			return -1;
		}
	}
	out->status = out->n > 0 ? RESOLVE_OK : RESOLVE_NODATA;
	if (type == RESOLVE_MX && out->n > 1)
		qsort(out->rr, out->n, sizeof(*out->rr), mx_cmp);
	return 0;
}
