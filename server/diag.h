/* diag.h - collected diagnostics (errors and warnings) with file:line context */
#ifndef MTA_STSD_DIAG_H
#define MTA_STSD_DIAG_H

#include <stddef.h>

enum diag_severity { DIAG_WARNING, DIAG_ERROR };

struct diag_entry {
	enum diag_severity severity;
	char *text;			/* "file:line: message", owned */
};

/*
 * A growing list of messages. Pure modules (policy, config, names) never print:
 * they append here and the caller decides where the messages go.
 */
struct diag {
	struct diag_entry *v;
	size_t n, cap;
	size_t nerrors, nwarnings;
};

/* Append one message; file may be NULL and line 0 when unknown. Never fails
 * visibly: on allocation failure the message is counted but dropped. */
void diag_add(struct diag *d, enum diag_severity sev, const char *file,
    unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Shorthands for diag_add with a fixed severity. */
#define diag_err(d, file, line, ...) diag_add((d), DIAG_ERROR, (file), (line), __VA_ARGS__)
#define diag_warn(d, file, line, ...) diag_add((d), DIAG_WARNING, (file), (line), __VA_ARGS__)

/*
 * What a message may quote of its input. A value is quoted only when it is a
 * short token: 0 to DIAG_TOKEN_MAX printable ASCII bytes without '"' or '\'.
 * Anything longer or binary may be a key or a password read from the wrong
 * file (a policy that is a symbolic link to a PEM key): of it a message gives
 * only the length. Callers never pass lines that did not parse as a known
 * field, nor the values of unknown ones.
 */
#define DIAG_TOKEN_MAX 48
#define DIAG_TOKEN_BUF (DIAG_TOKEN_MAX + 40)

/* 1 when s[0..len) is a short token a message may quote, else 0. */
int diag_is_token(const char *s, size_t len);

/* s[0..len) for a message: "\"value\"" when it is a short token, else
 * "(N bytes, not shown)". Returns buf. */
const char *diag_token(char buf[DIAG_TOKEN_BUF], const char *s, size_t len);

/* The texts of d's messages of severity sev, joined by "; ", into out
 * (cut to outsz bytes, always NUL-terminated). Returns out. */
const char *diag_join(const struct diag *d, enum diag_severity sev,
    char *out, size_t outsz);

/* Move every message of src to the end of dst, leaving src empty. */
void diag_move(struct diag *dst, struct diag *src);

/* Free every message; the struct may be reused afterwards. */
void diag_clear(struct diag *d);

#endif
