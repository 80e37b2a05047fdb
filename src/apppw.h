/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Application passwords (for clients that cannot type codes: ActiveSync,
 * phones).  Pure data and rules; the store keeps the list, the module and the
 * CLI use these functions.
 *
 * File format (one line per password, newest last):
 *     version = 1
 *     app = NAME HASH CREATED EXPIRES SERVICES LAST_USED LAST_SERVICE LAST_RHOST
 * HASH is hex HMAC-SHA-256(server key, "apppw", store key, 20 letters);
 * EXPIRES and LAST_USED are Unix times, 0 for never; SERVICES is "*" or a
 * comma list; LAST_SERVICE and LAST_RHOST are "-" until the first use.
 */
#ifndef MAILOTP_APPPW_H
#define MAILOTP_APPPW_H

#include <stddef.h>
#include <stdint.h>

#include "mac.h"
#include "mailotp_rc.h"

#define APPPW_MAX          50U /* passwords per user */
#define APPPW_NAME_MAX     32U
#define APPPW_SERVICES_MAX 128U
#define APPPW_SERVICE_MAX  32U
#define APPPW_RHOST_MAX    64U
#define APPPW_LETTERS      20U /* 5 groups of 4: 91.7 bits */
#define APPPW_TYPED_MAX    (APPPW_LETTERS + 4U)
#define APPPW_FILE_MAX     65536U

struct apppw_entry {
        char name[APPPW_NAME_MAX + 1];
        unsigned char hash[MAC_LEN];
        int64_t created;
        int64_t expires;                       /* 0: never */
        char services[APPPW_SERVICES_MAX + 1]; /* "*" or "imap,smtp" */
        int64_t last_used;                     /* 0: never */
        char last_service[APPPW_SERVICE_MAX + 1];
        char last_rhost[APPPW_RHOST_MAX + 1];
};

struct apppw_list {
        size_t n;
        struct apppw_entry e[APPPW_MAX];
};

/* 1 when name is 1..APPPW_NAME_MAX of [A-Za-z0-9._-], not starting with '-'. */
int apppw_name_valid(const char *name);

/*
 * Validate and normalise a service list ("imap,smtp", "*"): lower case
 * [a-z0-9._-] names of at most APPPW_SERVICE_MAX bytes, no empty or
 * repeated entries.  0 ok (out filled), -1 with a reason in err.
 */
int apppw_services_parse(const char *in, char *out, size_t outsz, char *err, size_t errlen);

/* 1 when `service` is allowed by the entry's list. */
int apppw_service_allowed(const struct apppw_entry *e, const char *service);

/*
 * How often a login stores an application password's last use: a login
 * from the same service and remote host within this many seconds after the
 * stored one leaves it (every login is in the last-logins log anyway).
 */
#define APPPW_LAST_USE_EVERY 60

/*
 * 1 when a login at `now` from `service` and `rhost` (both as stored:
 * text_log_escape()d) needs no new last use: the stored one is from the same
 * service and host, at most APPPW_LAST_USE_EVERY - 1 seconds before `now`.
 * 0 when it must be stored: never used, another service or host, older, or a
 * stored time after `now` (a clock that went back).
 */
int apppw_last_use_current(const struct apppw_entry *e, int64_t now, const char *service,
                           const char *rhost);

/* The keyed hash of a normalised password (APPPW_LETTERS letters) for `key`.
 * MAILOTP_OK, or MAILOTP_ERR_CRYPTO with the reason in err (see mac.h). */
enum mailotp_rc apppw_hash(const unsigned char server_key[MAC_KEY_LEN], const char *store_key,
                           const char *letters, unsigned char out[MAC_LEN], char *err,
                           size_t errlen);

/*
 * Find the entry whose hash equals `hash`: every entry is compared in
 * constant time, with no early exit, so the cost does not depend on where
 * (or whether) it matches.  Returns the index, or -1.
 */
int apppw_find(const struct apppw_list *l, const unsigned char hash[MAC_LEN]);

/* Index of the entry called `name`, or -1. */
int apppw_find_name(const struct apppw_list *l, const char *name);

enum mailotp_rc apppw_parse(const char *buf, size_t len, struct apppw_list *l, char *err,
                            size_t errlen);
/* Serialise; *outlen excludes the NUL.  MAILOTP_ERR_INVALID when it does not fit. */
enum mailotp_rc apppw_format(const struct apppw_list *l, char *buf, size_t bufsz, size_t *outlen);

#endif
