/* diag.c - collected diagnostics with file:line context */
#include "diag.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
diag_add(struct diag *d, enum diag_severity sev, const char *file,
    unsigned line, const char *fmt, ...)
{
	char msg[1024], *text;
	va_list ap;
	int n;

	if (sev == DIAG_ERROR)
		d->nerrors++;
	else
		d->nwarnings++;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	if (file != NULL && line > 0)
		n = snprintf(NULL, 0, "%s:%u: %s", file, line, msg);
	else if (file != NULL)
		n = snprintf(NULL, 0, "%s: %s", file, msg);
	else
		n = snprintf(NULL, 0, "%s", msg);
	if (n < 0 || (text = malloc((size_t)n + 1)) == NULL)
		return;
	if (file != NULL && line > 0)
		snprintf(text, (size_t)n + 1, "%s:%u: %s", file, line, msg);
	else if (file != NULL)
		snprintf(text, (size_t)n + 1, "%s: %s", file, msg);
	else
		snprintf(text, (size_t)n + 1, "%s", msg);

	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 8;
		struct diag_entry *v = realloc(d->v, cap * sizeof(*v));
		if (v == NULL) {
			free(text);
			return;
		}
		d->v = v;
		d->cap = cap;
	}
	d->v[d->n].severity = sev;
	d->v[d->n].text = text;
	d->n++;
}

void
diag_move(struct diag *dst, struct diag *src)
{
	for (size_t i = 0; i < src->n; i++) {
		if (dst->n == dst->cap) {
			size_t cap = dst->cap ? dst->cap * 2 : 8;
			struct diag_entry *v = realloc(dst->v, cap * sizeof(*v));
			if (v == NULL) {
				free(src->v[i].text);
				continue;
			}
			dst->v = v;
			dst->cap = cap;
		}
		dst->v[dst->n++] = src->v[i];
	}
	dst->nerrors += src->nerrors;
	dst->nwarnings += src->nwarnings;
	free(src->v);
	memset(src, 0, sizeof(*src));
}

const char *
diag_join(const struct diag *d, enum diag_severity sev, char *out,
    size_t outsz)
{
	size_t n = 0;

	if (outsz > 0)
		out[0] = '\0';
	for (size_t i = 0; i < d->n && n < outsz; i++)
		if (d->v[i].severity == sev)
			n += (size_t)snprintf(out + n, outsz - n, "%s%s",
			    n ? "; " : "", d->v[i].text);
	return out;
}

void
diag_clear(struct diag *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->v[i].text);
	free(d->v);
	memset(d, 0, sizeof(*d));
}

int
diag_is_token(const char *s, size_t len)
{
	if (len > DIAG_TOKEN_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c > 0x7e || c == '"' || c == '\\')
			return 0;
	}
	return 1;
}

const char *
diag_token(char buf[DIAG_TOKEN_BUF], const char *s, size_t len)
{
	if (diag_is_token(s, len))
		snprintf(buf, DIAG_TOKEN_BUF, "\"%.*s\"", (int)len, s);
	else
		snprintf(buf, DIAG_TOKEN_BUF, "(%zu bytes, not shown)", len);
	return buf;
}
