/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The store: every read and write of per-user data goes through this
 * interface, so that a second backend (a shared store for mail clusters) can
 * slot in beside the embedded file backend without touching the module or
 * the CLI.  Keys are store keys from username_to_key(), never raw names.
 *
 * Concurrency contract: a caller that reads, decides and writes a user's
 * state holds store_lock() for that key around all three, and every record
 * or state write is made under that lock.  A write is seen whole or not at
 * all (the file backend: a checksummed slot, or a new file renamed into
 * place), so reading a record without the lock is safe.
 */
#ifndef MAILOTP_STORE_H
#define MAILOTP_STORE_H

#include <stddef.h>
#include <sys/types.h>

#include "apppw.h"
#include "lastlog.h"
#include "mac.h"
#include "mailotp_rc.h"
#include "record.h"
#include "recovery.h"

struct store;
struct store_lock;

struct store_ops {
        enum mailotp_rc (*record_load)(struct store *st, const char *key, struct otp_record *rec,
                                       char *err, size_t errlen);
        enum mailotp_rc (*record_save)(struct store *st, const char *key,
                                       const struct otp_record *rec, char *err, size_t errlen);
        enum mailotp_rc (*state_load)(struct store *st, const char *key, struct otp_state *s,
                                      char *err, size_t errlen);
        enum mailotp_rc (*state_save)(struct store *st, const char *key, const struct otp_state *s,
                                      char *err, size_t errlen);
        enum mailotp_rc (*state_save_noted)(struct store *st, const char *key,
                                            const struct otp_state *s,
                                            const struct lastlog_event *ev, size_t keep, char *warn,
                                            size_t warnlen, char *err, size_t errlen);
        enum mailotp_rc (*user_delete)(struct store *st, const char *key, char *err, size_t errlen);
        enum mailotp_rc (*server_key)(struct store *st, int create, unsigned char out[MAC_KEY_LEN],
                                      char *err, size_t errlen);
        enum mailotp_rc (*apppw_load)(struct store *st, const char *key, struct apppw_list *l,
                                      char *err, size_t errlen);
        enum mailotp_rc (*apppw_save)(struct store *st, const char *key, const struct apppw_list *l,
                                      char *err, size_t errlen);
        enum mailotp_rc (*recovery_load)(struct store *st, const char *key, struct recovery_list *l,
                                         char *err, size_t errlen);
        enum mailotp_rc (*recovery_save)(struct store *st, const char *key,
                                         const struct recovery_list *l, char *err, size_t errlen);
        enum mailotp_rc (*lastlog_load)(struct store *st, const char *key, struct lastlog *l,
                                        char *err, size_t errlen);
        enum mailotp_rc (*lastlog_append)(struct store *st, const char *key,
                                          const struct lastlog_event *ev, size_t keep, char *err,
                                          size_t errlen);
        enum mailotp_rc (*lock)(struct store *st, const char *key, unsigned timeout_ms,
                                struct store_lock **lk, char *err, size_t errlen);
        void (*unlock)(struct store_lock *lk);
        void (*close)(struct store *st);
};

/* Every backend's handle starts with this. */
struct store {
        const struct store_ops *ops;
};

#define STORE_CREATE 1U /* make missing directories (CLI only; the module never creates them) */

/*
 * Open the file backend on directory `dir`, which must exist (unless
 * STORE_CREATE), be owned by `owner` and not be group- or world-writable.
 * Layout: DIR/users/KEY (record and state), DIR/locks/KEY, DIR/apppw/KEY,
 * DIR/recovery/KEY, DIR/last/KEY, each subdirectory owned by `owner` with
 * mode 0700, and DIR/server.key; DIR/records/KEY and DIR/state/KEY of 0.2.0
 * are read and moved (store_file.c).  Returns MAILOTP_ERR_NOT_FOUND for a missing
 * directory, MAILOTP_ERR_UNSAFE_FILE, MAILOTP_ERR_IO, MAILOTP_ERR_NOMEM.
 */
enum mailotp_rc store_open_files(const char *dir, uid_t owner, unsigned flags, struct store **out,
                                 char *err, size_t errlen);

/*
 * Load a user's record.  MAILOTP_ERR_NOT_FOUND means no record at all, the
 * only answer that may be read as "this user has no 2FA".  Anything else that
 * is not MAILOTP_OK (unsafe, corrupt, unreadable) must fail closed.
 */
enum mailotp_rc store_record_load(struct store *st, const char *key, struct otp_record *rec,
                                  char *err, size_t errlen);
/*
 * Write a record durably, under the user's lock (the file backend keeps the
 * user's state beside it in the same file).
 */
enum mailotp_rc store_record_save(struct store *st, const char *key, const struct otp_record *rec,
                                  char *err, size_t errlen);
/* Load the state; MAILOTP_ERR_NOT_FOUND when there is none. */
enum mailotp_rc store_state_load(struct store *st, const char *key, struct otp_state *s, char *err,
                                 size_t errlen);
/*
 * Write the state durably before returning (the file backend: in place, in
 * the older of two slots, then fdatasync).  Failure means it may not be
 * stored: the caller must fail closed.
 */
enum mailotp_rc store_state_save(struct store *st, const char *key, const struct otp_state *s,
                                 char *err, size_t errlen);
/*
 * store_state_save() for a login, which also adds its outcome `ev` to the
 * last-logins log, keeping the newest `keep` (as store_lastlog_append).
 * The result is the state write's alone: the log stays best effort, and
 * when its part fails the reason is in warn (empty otherwise), never in the
 * result.  The file backend keeps the entry in the same slot write as the
 * state (slots.h extension, no extra I/O) and moves such pending entries to
 * last/KEY in one durable append of up to LASTLOG_PENDING_MAX lines.
 */
enum mailotp_rc store_state_save_noted(struct store *st, const char *key, const struct otp_state *s,
                                       const struct lastlog_event *ev, size_t keep, char *warn,
                                       size_t warnlen, char *err, size_t errlen);
/*
 * The store's server key (32 random bytes) for keyed hashes.  With create,
 * a missing key is made (exactly one of racing creators wins, all get the
 * winner's key).  MAILOTP_ERR_NOT_FOUND when missing and not created.
 */
enum mailotp_rc store_server_key(struct store *st, int create, unsigned char out[MAC_KEY_LEN],
                                 char *err, size_t errlen);
/* Application passwords of a user; MAILOTP_ERR_NOT_FOUND when there are none. */
enum mailotp_rc store_apppw_load(struct store *st, const char *key, struct apppw_list *l, char *err,
                                 size_t errlen);
/* Write them durably (an empty list removes the file). */
enum mailotp_rc store_apppw_save(struct store *st, const char *key, const struct apppw_list *l,
                                 char *err, size_t errlen);
/* Recovery codes; MAILOTP_ERR_NOT_FOUND when there are none. */
enum mailotp_rc store_recovery_load(struct store *st, const char *key, struct recovery_list *l,
                                    char *err, size_t errlen);
/* Write them durably (a consumed code must stay consumed). */
enum mailotp_rc store_recovery_save(struct store *st, const char *key,
                                    const struct recovery_list *l, char *err, size_t errlen);
/*
 * The last-logins log with its pending entries, in time order;
 * MAILOTP_ERR_NOT_FOUND when empty.  Under the user's lock for an exact
 * answer: without it, entries being moved to the log meanwhile can show
 * twice.
 */
enum mailotp_rc store_lastlog_load(struct store *st, const char *key, struct lastlog *l, char *err,
                                   size_t errlen);
/*
 * Add one event, keeping the newest `keep`.  Best effort and without a disk
 * flush: callers ignore its failure (a log must never fail a login).  The
 * file backend appends a line and rewrites the log every `keep` events;
 * damaged lines are skipped and dropped by the next rewrite, and only a log
 * without a valid header is started afresh.
 */
enum mailotp_rc store_lastlog_append(struct store *st, const char *key,
                                     const struct lastlog_event *ev, size_t keep, char *err,
                                     size_t errlen);
/*
 * Remove a user's 2FA: record, state and recovery codes (record first, so a
 * crash never leaves 2FA half removed in a way that fails open).  Application
 * passwords and the last-logins log stay.
 */
enum mailotp_rc store_user_delete(struct store *st, const char *key, char *err, size_t errlen);
/* Take the per-user exclusive lock, waiting at most timeout_ms. */
enum mailotp_rc store_lock(struct store *st, const char *key, unsigned timeout_ms,
                           struct store_lock **lk, char *err, size_t errlen);
/* Release a lock; NULL-safe. */
void store_unlock(struct store *st, struct store_lock *lk);
/* Close the store; NULL-safe. */
void store_close(struct store *st);

#endif
