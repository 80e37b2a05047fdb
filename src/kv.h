/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The one line parser behind every text format we read: the configuration
 * file, user records and user state.  Lines are "key = value" or a bare
 * "key"; blank lines and lines starting with '#' are skipped; spaces and tabs
 * around keys and values are trimmed.  Keys are [a-z0-9_]+.  NUL bytes and
 * other control bytes (except tab and a '\r' before '\n') are syntax errors.
 */
#ifndef MAILOTP_KV_H
#define MAILOTP_KV_H

#include <stddef.h>
#include <stdint.h>

#include "mailotp_rc.h"

struct kv_iter {
        const char *buf;
        size_t len;
        size_t pos;
        unsigned line; /* 1-based number of the line last returned or failed */
};

/* Start iterating over buf[0..len). */
void kv_iter_init(struct kv_iter *it, const char *buf, size_t len);

/*
 * Next entry: returns 1 and sets key/klen and val/vlen (pointers into the
 * buffer; val = NULL and vlen = 0 for a bare key), 0 at the end, -1 on a
 * syntax error (it->line names the line).
 */
int kv_next(struct kv_iter *it, const char **key, size_t *klen, const char **val, size_t *vlen);

/*
 * Stored text (records, the state in its slot, application passwords,
 * recovery codes, a last-logins log of version 1) ends in a line "end": a file cut short
 * anywhere, even at a line boundary, then lacks it and is refused instead of
 * being read as something else ("locked_until = 1" from "locked_until =
 * 1700000900", or a state without its last lines).  Returns 1 and the length
 * of the content before the "end" line in *content_len, or 0 when the file
 * does not end in "\nend\n" (or is just "end\n").  The configuration file,
 * edited by people, has no such line.
 */
int kv_strip_end(const char *buf, size_t len, size_t *content_len);

/* The line writers append to stored files. */
#define KV_END_LINE "end\n"

/*
 * Fields of a list entry's value ("app = NAME HASH ...", "login = TIME ..."):
 * the next space-separated field of [*p, end), advancing *p; NULL when none
 * is left.
 */
const char *kv_field(const char **p, const char *end, size_t *flen);

/* Copy a field into dst as a C string: -1 when it is empty or does not fit. */
int kv_field_copy(char *dst, size_t dstsz, const char *f, size_t flen);

/* 1 when the counted string k/klen equals the C string name. */
int kv_key_is(const char *k, size_t klen, const char *name);

/*
 * Strict unsigned decimal: digits only (no sign, no spaces, no hex), value in
 * [min, max].  Returns MAILOTP_OK or MAILOTP_ERR_FORMAT.
 */
enum mailotp_rc kv_parse_u64(const char *v, size_t vlen, uint64_t min, uint64_t max, uint64_t *out);

/*
 * Boolean: "yes"/"no", "true"/"false", "on"/"off", "1"/"0"; a bare key
 * (v == NULL) means yes.  Returns MAILOTP_OK or MAILOTP_ERR_FORMAT.
 */
enum mailotp_rc kv_parse_bool(const char *v, size_t vlen, int *out);

#endif
