/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The embedded file backend of the store (see store.h for the contract).
 *
 *   DIR/            owner-only directory, not group/world-writable
 *   DIR/users/KEY   the record (secret, enrollment status) and the state
 *                   (replay step, lockout counters) in one two-slot file
 *                   rewritten in place (userfile.h, slots.h), with the
 *                   newest last-logins entries in the slot's extension
 *                   until they are moved to last/KEY         (0600)
 *   DIR/locks/KEY   lock file, never renamed, no data: its size is
 *                   the order mark (below)             (0600)
 *   DIR/apppw/KEY   application password hashes        (0600)
 *   DIR/recovery/KEY recovery code hashes              (0600)
 *   DIR/last/KEY    last logins, appended, best effort (0600)
 *   DIR/server.key  key of the keyed hashes            (0600)
 *
 * Stores of 0.2.0 kept the record in DIR/records/KEY and the state in
 * DIR/state/KEY.  They are still read; the first write under a user's lock
 * moves the user into users/KEY, then replaces records/KEY by
 * USERFILE_MOVED and removes state/KEY.  A store without users/ (a 0.2.0
 * store the CLI has not opened yet) is written in the 0.2.0 layout.
 *
 * Temporary files are ".KEY.RANDOM" in the same subdirectory; keys never
 * start with '.', so a stale temporary file from a crashed writer is never
 * read as a record and never blocks anything.
 */
#include "store.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "kv.h"
#include "secure.h"
#include "slots.h"
#include "userfile.h"
#include "username.h"

enum sub_dir {
        SUB_RECORDS = 0,
        SUB_STATE,
        SUB_LOCKS,
        SUB_APPPW,
        SUB_RECOVERY,
        SUB_LAST,
        SUB_USERS,
        SUB_COUNT
};

static const char *const sub_names[SUB_COUNT] = {"records",  "state", "locks", "apppw",
                                                 "recovery", "last",  "users"};

/* The 0.2.0 layout's subdirectories: read, never made. */
static int sub_is_legacy(int which)
{
        return which == SUB_RECORDS || which == SUB_STATE;
}

#define SERVER_KEY_NAME "server.key"

struct file_store {
        struct store base; /* must be first */
        int dirfd;
        int sub[SUB_COUNT];
        uid_t owner;
        unsigned flags;
        struct store_lock *held; /* the user lock this handle holds (the order mark) */
};

struct store_lock {
        int fd;
        struct file_store *fs;
        char key[USERNAME_MAX + 1]; /* set when it is the store's held lock */
};

static struct file_store *fs_of(struct store *st)
{
        return (struct file_store *)(void *)st;
}

/*
 * The order mark.  Within one second, the times of the entries cannot tell
 * `mailotp last` whether an entry kept with the state (pending in the user
 * file) came before or after one written to last/KEY; the merged view lists
 * the pending ones first.  So that this is the order they happened in, every
 * write to last/KEY under the user's lock leaves the second of its newest
 * entry as the size of the lock file (which holds no data, and whose size
 * the holder reads with one statx), and a login that writes the state
 * appends its entry to last/KEY too, after that one, when the log already
 * has an entry of its second or of the few seconds after it (a login that
 * waited for the lock).  The mark is 1 + the time modulo ORDER_MARK_SPAN, so
 * a lock file stays under 4 KiB; a mark that matches by chance (68 minutes
 * apart) only sends one entry to the log.  Best effort: a mark that cannot
 * be set or read gives the order of 0.3.2.
 */
#define ORDER_MARK_SPAN   4093U
#define ORDER_MARK_WINDOW 64U /* seconds a login may have waited for the lock */

static uint64_t order_mark_of(int64_t t)
{
        return 1U + (uint64_t)t % ORDER_MARK_SPAN;
}

static struct store_lock *held_lock(struct file_store *fs, const char *key)
{
        if (fs->held == NULL || strcmp(fs->held->key, key) != 0)
                return NULL;
        return fs->held;
}

/* After entries up to time `newest` went to last/KEY. */
static void order_mark_set(struct file_store *fs, const char *key, int64_t newest)
{
        struct store_lock *l = held_lock(fs, key);

        if (l != NULL && newest >= 0)
                fio_lock_mark_set(l->fd, order_mark_of(newest));
}

/* 1 when last/KEY has an entry of second t or of the window after it. */
static int order_mark_at_or_after(struct file_store *fs, const char *key, int64_t t)
{
        struct store_lock *l = held_lock(fs, key);
        int64_t mark;

        if (l == NULL || t < 0)
                return 0;
        mark = fio_lock_mark(l->fd);
        if (mark < 1 || (uint64_t)mark > ORDER_MARK_SPAN)
                return 0;
        return ((uint64_t)mark - order_mark_of(t) + ORDER_MARK_SPAN) % ORDER_MARK_SPAN <
               ORDER_MARK_WINDOW;
}

/* Open (and with STORE_CREATE make) a subdirectory on first use. */
static enum mailotp_rc sub_fd(struct file_store *fs, enum sub_dir which, int *fd, char *err,
                              size_t errlen)
{
        enum mailotp_rc rc;

        if (fs->sub[which] < 0) {
                rc = fio_open_dir(fs->dirfd, sub_names[which], fs->owner, 077,
                                  (fs->flags & STORE_CREATE) != 0 && !sub_is_legacy((int)which),
                                  &fs->sub[which], err, errlen);
                if (rc != MAILOTP_OK)
                        return rc;
        }
        *fd = fs->sub[which];
        return MAILOTP_OK;
}

#define BLOB_TEXT  0 /* NUL bytes refused */
#define BLOB_BYTES 1 /* NUL bytes allowed: the state's slots, a damaged log */

/* Read KEY from a subdirectory: NUL-terminated buffer for the caller to secure_freezero(len + 1).
 */
static enum mailotp_rc load_blob(struct file_store *fs, enum sub_dir which, const char *key,
                                 size_t max, int kind, char **buf, size_t *len, char *err,
                                 size_t errlen)
{
        enum mailotp_rc rc;
        int fd;

        rc = sub_fd(fs, which, &fd, err, errlen);
        if (rc != MAILOTP_OK)
                return rc; /* a missing subdirectory means no such data: NOT_FOUND */
        return kind == BLOB_BYTES
                   ? fio_read_bytes(fd, key, fs->owner, 077, max, buf, len, err, errlen)
                   : fio_read(fd, key, fs->owner, 077, max, buf, len, err, errlen);
}

static enum mailotp_rc save_blob(struct file_store *fs, enum sub_dir which, const char *key,
                                 const char *buf, size_t len, int durable, char *err, size_t errlen)
{
        enum mailotp_rc rc;
        int fd;

        rc = sub_fd(fs, which, &fd, err, errlen);
        if (rc == MAILOTP_ERR_NOT_FOUND)
                return MAILOTP_ERR_IO;
        if (rc != MAILOTP_OK)
                return rc;
        return durable ? fio_write_atomic(fd, key, buf, len, err, errlen)
                       : fio_write_atomic_fast(fd, key, buf, len, err, errlen);
}

static enum mailotp_rc remove_blob(struct file_store *fs, enum sub_dir which, const char *key,
                                   char *err, size_t errlen)
{
        enum mailotp_rc rc;
        int fd;

        rc = sub_fd(fs, which, &fd, err, errlen);
        if (rc == MAILOTP_ERR_NOT_FOUND)
                return MAILOTP_OK;
        if (rc != MAILOTP_OK)
                return rc;
        return fio_unlink(fd, key, err, errlen);
}

/* ---- record and state: users/KEY, or the 0.2.0 layout ------------------- */

/* The current payload of users/KEY: record text p[0..reclen), state text p[reclen..plen). */
struct user_image {
        char *buf; /* the whole file, for secure_freezero(buf, len + 1) */
        size_t len;
        const char *p;
        size_t plen, reclen;
        const char *ext; /* pending last-logins entries, or NULL */
        size_t extlen;
};

static void user_image_free(struct user_image *u)
{
        if (u->buf != NULL)
                secure_freezero(u->buf, u->len + 1);
        u->buf = NULL;
}

static enum mailotp_rc user_read(struct file_store *fs, const char *key, struct user_image *u,
                                 char *err, size_t errlen)
{
        const unsigned char *payload = NULL, *ext = NULL;
        enum mailotp_rc rc;
        uint64_t seq;
        int idx;

        memset(u, 0, sizeof(*u));
        rc = load_blob(fs, SUB_USERS, key, SLOTS_FILE_SIZE, BLOB_BYTES, &u->buf, &u->len, err,
                       errlen);
        if (rc != MAILOTP_OK) {
                u->buf = NULL;
                return rc;
        }
        idx = slots_pick((const unsigned char *)u->buf, u->len, &seq, &payload, &u->plen);
        if (idx >= 0 && slots_ext((const unsigned char *)u->buf + (size_t)idx * SLOTS_SLOT_SIZE,
                                  u->plen, &ext, &u->extlen))
                u->ext = (const char *)ext;
        if (idx < 0) {
                mailotp_seterr(err, errlen, "user file has no valid slot");
                rc = MAILOTP_ERR_FORMAT;
        } else if (userfile_split((const char *)payload, u->plen, &u->reclen) != 0) {
                mailotp_seterr(err, errlen, "user file: no record in the current slot");
                rc = MAILOTP_ERR_FORMAT;
        } else {
                u->p = (const char *)payload;
                return MAILOTP_OK;
        }
        user_image_free(u);
        return rc;
}

/* records/KEY of 0.2.0; *moved is set (and MAILOTP_ERR_NOT_FOUND returned) for USERFILE_MOVED. */
static enum mailotp_rc legacy_record_load(struct file_store *fs, const char *key,
                                          struct otp_record *rec, int *moved, char *err,
                                          size_t errlen)
{
        char *buf = NULL;
        size_t len = 0;
        enum mailotp_rc rc;

        *moved = 0;
        rc = load_blob(fs, SUB_RECORDS, key, RECORD_MAX_SIZE, BLOB_TEXT, &buf, &len, err, errlen);
        if (rc != MAILOTP_OK)
                return rc;
        if (userfile_is_moved(buf, len)) {
                *moved = 1;
                rc = MAILOTP_ERR_NOT_FOUND;
        } else {
                rc = record_parse(buf, len, rec, err, errlen);
        }
        secure_freezero(buf, len + 1);
        return rc;
}

/* state/KEY of 0.2.0 (two slots) or 0.1.0 (text). */
static enum mailotp_rc legacy_state_load(struct file_store *fs, const char *key,
                                         struct otp_state *s, char *err, size_t errlen)
{
        const unsigned char *payload = NULL;
        char *buf = NULL;
        size_t len = 0, plen = 0;
        enum mailotp_rc rc;
        uint64_t seq;

        rc = load_blob(fs, SUB_STATE, key, SLOTS_FILE_SIZE, BLOB_BYTES, &buf, &len, err, errlen);
        if (rc != MAILOTP_OK)
                return rc;
        if (slots_pick((const unsigned char *)buf, len, &seq, &payload, &plen) >= 0) {
                rc = state_parse((const char *)payload, plen, s, err, errlen);
        } else if (len != SLOTS_FILE_SIZE && memchr(buf, '\0', len) == NULL) {
                rc = state_parse(buf, len, s, err, errlen); /* the text file of 0.1.0 */
        } else {
                mailotp_seterr(err, errlen, "state file has no valid slot");
                rc = MAILOTP_ERR_FORMAT;
        }
        secure_freezero(buf, len + 1);
        return rc;
}

/* records/KEY says the user moved, but there is no users/KEY: fail closed, never "no 2FA". */
static enum mailotp_rc moved_but_missing(char *err, size_t errlen)
{
        mailotp_seterr(err, errlen,
                       "records/ says the user moved to users/, but the user file is missing "
                       "(restore it)");
        return MAILOTP_ERR_FORMAT;
}

static enum mailotp_rc fs_record_load(struct store *st, const char *key, struct otp_record *rec,
                                      char *err, size_t errlen)
{
        struct file_store *fs = fs_of(st);
        struct user_image u;
        enum mailotp_rc rc;
        int attempt, moved = 0;

        record_wipe(rec);
        /* Read without the lock: a user may be moved into users/ meanwhile. */
        for (attempt = 0; attempt < 2; attempt++) {
                rc = user_read(fs, key, &u, err, errlen);
                if (rc == MAILOTP_OK) {
                        rc = record_parse(u.p, u.reclen, rec, err, errlen);
                        user_image_free(&u);
                        return rc;
                }
                if (rc != MAILOTP_ERR_NOT_FOUND || attempt > 0)
                        break;
                rc = legacy_record_load(fs, key, rec, &moved, err, errlen);
                if (!moved)
                        return rc;
                /* records/KEY says moved: users/KEY was made before it, look again. */
        }
        if (rc == MAILOTP_ERR_NOT_FOUND && moved)
                return moved_but_missing(err, errlen);
        return rc;
}

static enum mailotp_rc fs_state_load(struct store *st, const char *key, struct otp_state *s,
                                     char *err, size_t errlen)
{
        struct file_store *fs = fs_of(st);
        struct user_image u;
        enum mailotp_rc rc;

        state_init(s);
        rc = user_read(fs, key, &u, err, errlen);
        if (rc == MAILOTP_OK) {
                rc = u.reclen == u.plen
                         ? MAILOTP_ERR_NOT_FOUND
                         : state_parse(u.p + u.reclen, u.plen - u.reclen, s, err, errlen);
                user_image_free(&u);
                return rc;
        }
        if (rc != MAILOTP_ERR_NOT_FOUND)
                return rc;
        return legacy_state_load(fs, key, s, err, errlen);
}

/* The new text of one part of users/KEY, for edit_user(). */
struct user_edit {
        const char *text;
        size_t len;
        int is_state;
        struct file_store *fs; /* where pending entries are moved to (last/KEY) */
        const char *key;
        const char *line; /* a login's last-logins entry to keep with the state, or NULL */
        size_t linelen, keep;
        int64_t when; /* the entry's time */
        int noted;    /* set when the entry is in the new slot */
        char *warn;   /* why pending entries were not moved (best effort) */
        size_t warnlen;
};

static enum mailotp_rc lastlog_add(struct file_store *fs, const char *key,
                                   const struct lastlog_event *evs, size_t n, size_t keep,
                                   int durable, char *err, size_t errlen);

/*
 * Move pending entries x[0..xlen) to last/KEY: one durable append (so no
 * crash loses entries the new slot no longer has).  Best effort: on failure
 * they are lost, and e->warn says so.  A crash, or a failed slot write, after
 * the move can show them twice; never a login without its entry.
 */
static int move_pending(struct user_edit *e, const char *x, size_t xlen)
{
        struct lastlog *l = malloc(sizeof(*l));
        enum mailotp_rc rc = MAILOTP_ERR_NOMEM;

        if (e->warn != NULL && e->warnlen > 0)
                e->warn[0] = '\0';
        if (l != NULL) {
                rc = lastlog_parse(x, xlen, l, e->warn, e->warnlen); /* bounded by xlen */
                if (rc == MAILOTP_OK && l->n > 0)
                        rc = lastlog_add(e->fs, e->key, l->ev, l->n,
                                         e->line != NULL ? e->keep : l->keep, 1, e->warn,
                                         e->warnlen);
        } else {
                mailotp_seterr(e->warn, e->warnlen, "out of memory");
        }
        if (rc != MAILOTP_OK && e->warn != NULL && e->warnlen > 0) {
                char why[160];

                (void)snprintf(why, sizeof(why), "%s", e->warn);
                mailotp_seterr(e->warn, e->warnlen, "pending last-logins entries lost: %s", why);
        }
        free(l);
        return rc == MAILOTP_OK;
}

/*
 * The next slot's extension: the pending entries it had, plus e's entry
 * when there is one.  Entries that no longer fit (a full batch, a bigger
 * record, another keep, a damaged extension) are moved to last/KEY first.
 * e's entry is left to the caller (appended to last/KEY after the slot
 * write, e->noted unset) when last/KEY already has an entry of its second
 * (the order mark), moved there now or written before.
 */
static void edit_pending(struct user_edit *e, const struct fio_slot_view *cur,
                         struct fio_slot_next *next)
{
        const char *x = cur != NULL ? (const char *)cur->ext : NULL;
        size_t xlen = x != NULL ? cur->extlen : 0, room = slots_ext_room(next->len);
        char *out = (char *)next->ext;

        next->extlen = 0;
        if (e->line == NULL || order_mark_at_or_after(e->fs, e->key, e->when)) {
                if (xlen > 0 && xlen <= room) {
                        memcpy(out, x, xlen);
                        next->extlen = xlen;
                } else if (xlen > 0) {
                        (void)move_pending(e, x, xlen);
                }
                return;
        }
        if (lastlog_pending_add(x, xlen, e->keep, e->line, e->linelen, out, room, &next->extlen)) {
                e->noted = 1;
                return;
        }
        if (xlen > 0 && move_pending(e, x, xlen) && order_mark_at_or_after(e->fs, e->key, e->when))
                return; /* the batch had an entry of its second: after it, in last/KEY */
        if (lastlog_pending_add(NULL, 0, e->keep, e->line, e->linelen, out, room, &next->extlen))
                e->noted = 1;
        else
                next->extlen = 0; /* no room at all: the caller appends the entry to last/KEY */
}

static enum mailotp_rc edit_user(void *ctx, enum fio_slots_have have,
                                 const struct fio_slot_view *cur, struct fio_slot_next *next,
                                 char *err, size_t errlen)
{
        struct user_edit *e = ctx;
        const char *c = cur != NULL ? (const char *)cur->payload : NULL;
        size_t curlen = cur != NULL ? cur->len : 0, reclen = 0;
        char *o = (char *)next->payload;
        enum mailotp_rc rc;

        if (have == FIO_SLOTS_MISSING)
                return MAILOTP_ERR_NOT_FOUND; /* the caller moves a 0.2.0 user or makes the file */
        if (have == FIO_SLOTS_VALID && userfile_split(c, curlen, &reclen) != 0)
                have = FIO_SLOTS_INVALID;
        if (have == FIO_SLOTS_INVALID && e->is_state) {
                /* Nothing to keep the state with: never throw a record away for a counter. */
                mailotp_seterr(err, errlen,
                               "user file has no valid slot (restore it, or re-enroll with "
                               "mailotp enroll --force)");
                return MAILOTP_ERR_FORMAT;
        }
        if (have == FIO_SLOTS_INVALID)
                rc = userfile_join(e->text, e->len, NULL, 0, o, SLOTS_PAYLOAD_MAX, &next->len);
        else if (e->is_state)
                rc = userfile_join(c, reclen, e->text, e->len, o, SLOTS_PAYLOAD_MAX, &next->len);
        else
                rc = userfile_join(e->text, e->len, c + reclen, curlen - reclen, o,
                                   SLOTS_PAYLOAD_MAX, &next->len);
        if (rc != MAILOTP_OK) {
                mailotp_seterr(err, errlen, "record and state do not fit the user file");
                return rc;
        }
        edit_pending(e, have == FIO_SLOTS_VALID ? cur : NULL, next);
        return MAILOTP_OK;
}

/*
 * The end of a move, once users/KEY is in place: a 0.2.0 record left in
 * records/KEY gets the note, a stale state/KEY goes.  Best effort: users/KEY
 * wins anyway, this only keeps a 0.2.0 module still in memory from reading
 * the old record and state.  The first few writes of a user file (a new one
 * has sequence number 1) do it again, in case a crash or an I/O error cut
 * the move short.
 */
#define USERFILE_FINISH_SEQ 4U

static void finish_move(struct file_store *fs, const char *key)
{
        char *buf = NULL, scratch[128];
        size_t len = 0;
        enum mailotp_rc rc;
        int moved = 0;

        rc = load_blob(fs, SUB_RECORDS, key, RECORD_MAX_SIZE, BLOB_BYTES, &buf, &len, scratch,
                       sizeof(scratch));
        if (rc == MAILOTP_OK) {
                moved = userfile_is_moved(buf, len);
                secure_freezero(buf, len + 1);
        }
        /* Anything in records/KEY but the note (a record, a bad file, a symlink) gets it. */
        if (rc != MAILOTP_ERR_NOT_FOUND && !moved &&
            save_blob(fs, SUB_RECORDS, key, USERFILE_MOVED, sizeof(USERFILE_MOVED) - 1, 1, scratch,
                      sizeof(scratch)) != MAILOTP_OK)
                return;
        (void)remove_blob(fs, SUB_STATE, key, scratch, sizeof(scratch));
}

/*
 * A user without users/KEY: make it from the new part and the other part as
 * the 0.2.0 layout has it, then finish the move (finish_move).  users/KEY
 * comes first, so a crash in between leaves a user file that wins.
 */
static enum mailotp_rc user_create(struct file_store *fs, int dfd, const char *key,
                                   const struct user_edit *e, char *err, size_t errlen)
{
        struct otp_record rec;
        struct otp_state s;
        char rtext[RECORD_MAX_SIZE], stext[SLOTS_PAYLOAD_MAX], payload[SLOTS_PAYLOAD_MAX];
        const char *r = NULL, *t = NULL;
        size_t rlen = 0, slen = 0, plen = 0;
        enum mailotp_rc rc, lrc;
        int moved = 0;

        record_wipe(&rec);
        lrc = legacy_record_load(fs, key, &rec, &moved, err, errlen);
        if (e->is_state) {
                if (moved) {
                        rc = moved_but_missing(err, errlen);
                        goto out;
                }
                if (lrc == MAILOTP_ERR_NOT_FOUND) {
                        mailotp_seterr(err, errlen, "no record to keep the state with");
                        rc = MAILOTP_ERR_NOT_FOUND;
                        goto out;
                }
                if (lrc != MAILOTP_OK) {
                        rc = lrc;
                        goto out;
                }
                rc = record_format(&rec, rtext, sizeof(rtext), &rlen);
                if (rc != MAILOTP_OK) {
                        mailotp_seterr(err, errlen, "record is inconsistent");
                        goto out;
                }
                r = rtext;
                t = e->text;
                slen = e->len;
        } else {
                r = e->text;
                rlen = e->len;
                /* A readable 0.2.0 state goes along; an unreadable one is dropped. */
                if (legacy_state_load(fs, key, &s, err, errlen) == MAILOTP_OK &&
                    state_format(&s, stext, sizeof(stext), &slen) == MAILOTP_OK)
                        t = stext;
                else
                        slen = 0;
                secure_memzero(&s, sizeof(s));
        }
        rc = userfile_join(r, rlen, t, slen, payload, sizeof(payload), &plen);
        if (rc != MAILOTP_OK) {
                mailotp_seterr(err, errlen, "record and state do not fit the user file");
                goto out;
        }
        if (err != NULL && errlen > 0)
                err[0] = '\0';
        rc = fio_slots_write(dfd, key, fs->owner, payload, plen, err, errlen);
        if (rc == MAILOTP_OK)
                finish_move(fs, key);
out:
        record_wipe(&rec);
        secure_memzero(rtext, sizeof(rtext));
        secure_memzero(stext, sizeof(stext));
        secure_memzero(payload, sizeof(payload));
        return rc;
}

/* Store one part (record or state) of a user under the caller's lock. */
static enum mailotp_rc user_save(struct file_store *fs, const char *key, struct user_edit *e,
                                 char *err, size_t errlen)
{
        enum mailotp_rc rc;
        uint64_t seq = 0;
        int dfd;

        rc = sub_fd(fs, SUB_USERS, &dfd, err, errlen);
        if (rc == MAILOTP_ERR_NOT_FOUND) {
                /* A 0.2.0 store: written as 0.2.0 wrote it. */
                if (e->is_state) {
                        rc = sub_fd(fs, SUB_STATE, &dfd, err, errlen);
                        if (rc == MAILOTP_OK)
                                rc = fio_slots_write(dfd, key, fs->owner, e->text, e->len, err,
                                                     errlen);
                        return rc == MAILOTP_ERR_NOT_FOUND ? MAILOTP_ERR_IO : rc;
                }
                return save_blob(fs, SUB_RECORDS, key, e->text, e->len, 1, err, errlen);
        }
        if (rc != MAILOTP_OK)
                return rc;
        rc = fio_slots_update(dfd, key, fs->owner, edit_user, e, &seq, err, errlen);
        if (rc == MAILOTP_ERR_NOT_FOUND)
                return user_create(fs, dfd, key, e, err, errlen);
        if (rc == MAILOTP_OK && seq <= USERFILE_FINISH_SEQ)
                finish_move(fs, key);
        return rc;
}

static enum mailotp_rc fs_record_save(struct store *st, const char *key,
                                      const struct otp_record *rec, char *err, size_t errlen)
{
        char buf[RECORD_MAX_SIZE];
        struct user_edit e;
        enum mailotp_rc rc;

        memset(&e, 0, sizeof(e));
        e.text = buf;
        e.fs = fs_of(st);
        e.key = key;

        rc = record_format(rec, buf, sizeof(buf), &e.len);
        if (rc == MAILOTP_OK)
                rc = user_save(fs_of(st), key, &e, err, errlen);
        else
                mailotp_seterr(err, errlen, "record is inconsistent");
        secure_memzero(buf, sizeof(buf));
        return rc;
}

/* The state, and a login's entry when ev is not NULL (store_state_save_noted). */
static enum mailotp_rc state_save(struct store *st, const char *key, const struct otp_state *s,
                                  const struct lastlog_event *ev, size_t keep, char *warn,
                                  size_t warnlen, char *err, size_t errlen)
{
        struct file_store *fs = fs_of(st);
        char buf[SLOTS_PAYLOAD_MAX], line[LASTLOG_LINE_MAX + 1];
        struct user_edit e;
        enum mailotp_rc rc;

        memset(&e, 0, sizeof(e));
        e.text = buf;
        e.is_state = 1;
        e.fs = fs;
        e.key = key;
        e.keep = keep;
        e.warn = warn;
        e.warnlen = warnlen;
        if (ev != NULL && lastlog_format_line(ev, line, sizeof(line), &e.linelen) == MAILOTP_OK) {
                e.line = line;
                e.when = ev->time;
        }
        if (state_format(s, buf, sizeof(buf), &e.len) != MAILOTP_OK) {
                mailotp_seterr(err, errlen, "state does not fit");
                return MAILOTP_ERR_INVALID;
        }
        rc = user_save(fs, key, &e, err, errlen);
        secure_memzero(buf, sizeof(buf));
        /* Not kept with the state (a 0.2.0 store, a user being moved, no room): appended. */
        if (rc == MAILOTP_OK && ev != NULL && !e.noted) {
                char why[160] = "";

                /* A lost batch is the bigger news: its warning stays. */
                if (lastlog_add(fs, key, ev, 1, keep, 0, why, sizeof(why)) != MAILOTP_OK &&
                    (warn == NULL || warnlen == 0 || warn[0] == '\0'))
                        mailotp_seterr(warn, warnlen, "%s", why);
        }
        return rc;
}

static enum mailotp_rc fs_state_save(struct store *st, const char *key, const struct otp_state *s,
                                     char *err, size_t errlen)
{
        return state_save(st, key, s, NULL, 0, NULL, 0, err, errlen);
}

static enum mailotp_rc fs_state_save_noted(struct store *st, const char *key,
                                           const struct otp_state *s,
                                           const struct lastlog_event *ev, size_t keep, char *warn,
                                           size_t warnlen, char *err, size_t errlen)
{
        return state_save(st, key, s, ev, keep, warn, warnlen, err, errlen);
}

static enum mailotp_rc fs_server_key(struct store *st, int create, unsigned char out[MAC_KEY_LEN],
                                     char *err, size_t errlen)
{
        struct file_store *fs = fs_of(st);
        char *buf = NULL, text[256], hex[2 * MAC_KEY_LEN + 1];
        size_t len = 0;
        enum mailotp_rc rc;
        int attempt, n;

        for (attempt = 0; attempt < 2; attempt++) {
                struct kv_iter it;
                const char *k, *v;
                size_t klen, vlen;
                uint64_t ver;

                rc = fio_read(fs->dirfd, SERVER_KEY_NAME, fs->owner, 077, 4096, &buf, &len, err,
                              errlen);
                if (rc == MAILOTP_OK) {
                        kv_iter_init(&it, buf, len);
                        rc = MAILOTP_ERR_FORMAT;
                        if (kv_next(&it, &k, &klen, &v, &vlen) == 1 &&
                            kv_key_is(k, klen, "version") &&
                            kv_parse_u64(v, vlen, 1, 1, &ver) == MAILOTP_OK &&
                            kv_next(&it, &k, &klen, &v, &vlen) == 1 && kv_key_is(k, klen, "key") &&
                            mac_unhex(v, vlen, out, MAC_KEY_LEN) == 0 &&
                            kv_next(&it, &k, &klen, &v, &vlen) == 0)
                                rc = MAILOTP_OK;
                        else
                                mailotp_seterr(err, errlen, "%s is corrupt", SERVER_KEY_NAME);
                        secure_freezero(buf, len + 1);
                        return rc;
                }
                if (rc != MAILOTP_ERR_NOT_FOUND || !create || attempt > 0)
                        return rc;
                /* Make one; if another process wins the race, read the winner's. */
                rc = mac_random(out, MAC_KEY_LEN);
                if (rc != MAILOTP_OK)
                        return rc;
                mac_hex(out, MAC_KEY_LEN, hex);
                n = snprintf(text, sizeof(text),
                             "# pam_mailotp server key: never copy, never edit\n"
                             "version = 1\nkey = %s\n",
                             hex);
                if (n < 0 || (size_t)n >= sizeof(text))
                        return MAILOTP_ERR_INVALID;
                len = (size_t)n;
                rc = fio_create_new(fs->dirfd, SERVER_KEY_NAME, text, len, err, errlen);
                secure_memzero(text, sizeof(text));
                secure_memzero(hex, sizeof(hex));
                if (rc == MAILOTP_OK)
                        return rc;
                secure_memzero(out, MAC_KEY_LEN);
                if (rc != MAILOTP_ERR_STATE)
                        return rc;
        }
        return MAILOTP_ERR_IO;
}

static enum mailotp_rc fs_apppw_load(struct store *st, const char *key, struct apppw_list *l,
                                     char *err, size_t errlen)
{
        char *buf = NULL;
        size_t len = 0;
        enum mailotp_rc rc;

        memset(l, 0, sizeof(*l));
        rc = load_blob(fs_of(st), SUB_APPPW, key, APPPW_FILE_MAX, BLOB_TEXT, &buf, &len, err,
                       errlen);
        if (rc != MAILOTP_OK)
                return rc;
        rc = apppw_parse(buf, len, l, err, errlen);
        secure_freezero(buf, len + 1);
        return rc;
}

static enum mailotp_rc fs_apppw_save(struct store *st, const char *key, const struct apppw_list *l,
                                     char *err, size_t errlen)
{
        char *buf;
        size_t len = 0;
        enum mailotp_rc rc;

        if (l->n == 0)
                return remove_blob(fs_of(st), SUB_APPPW, key, err, errlen);
        buf = malloc(APPPW_FILE_MAX);
        if (buf == NULL) {
                mailotp_seterr(err, errlen, "out of memory");
                return MAILOTP_ERR_NOMEM;
        }
        rc = apppw_format(l, buf, APPPW_FILE_MAX, &len);
        if (rc == MAILOTP_OK)
                rc = save_blob(fs_of(st), SUB_APPPW, key, buf, len, 1, err, errlen);
        secure_freezero(buf, APPPW_FILE_MAX);
        return rc;
}

static enum mailotp_rc fs_recovery_load(struct store *st, const char *key, struct recovery_list *l,
                                        char *err, size_t errlen)
{
        char *buf = NULL;
        size_t len = 0;
        enum mailotp_rc rc;

        memset(l, 0, sizeof(*l));
        rc = load_blob(fs_of(st), SUB_RECOVERY, key, RECORD_MAX_SIZE, BLOB_TEXT, &buf, &len, err,
                       errlen);
        if (rc != MAILOTP_OK)
                return rc;
        rc = recovery_parse(buf, len, l, err, errlen);
        secure_freezero(buf, len + 1);
        return rc;
}

static enum mailotp_rc fs_recovery_save(struct store *st, const char *key,
                                        const struct recovery_list *l, char *err, size_t errlen)
{
        char buf[RECORD_MAX_SIZE];
        size_t len = 0;
        enum mailotp_rc rc;

        rc = recovery_format(l, buf, sizeof(buf), &len);
        if (rc == MAILOTP_OK)
                rc = save_blob(fs_of(st), SUB_RECOVERY, key, buf, len, 1, err, errlen);
        secure_memzero(buf, sizeof(buf));
        return rc;
}

/* The pending entries of users/KEY's slot, parsed; 0 when there are none (or none readable). */
static int load_pending(struct file_store *fs, const char *key, struct lastlog *p)
{
        struct user_image u;
        char scratch[128];
        int ok = 0;

        memset(p, 0, sizeof(*p));
        if (user_read(fs, key, &u, scratch, sizeof(scratch)) != MAILOTP_OK)
                return 0;
        if (u.ext != NULL)
                ok = lastlog_parse(u.ext, u.extlen, p, scratch, sizeof(scratch)) == MAILOTP_OK &&
                     p->n > 0;
        user_image_free(&u);
        return ok;
}

static enum mailotp_rc fs_lastlog_load(struct store *st, const char *key, struct lastlog *l,
                                       char *err, size_t errlen)
{
        struct file_store *fs = fs_of(st);
        struct lastlog *p = malloc(sizeof(*p));
        char *buf = NULL;
        size_t len = 0;
        enum mailotp_rc rc;
        int pending;

        memset(l, 0, sizeof(*l));
        if (p == NULL) {
                mailotp_seterr(err, errlen, "out of memory");
                return MAILOTP_ERR_NOMEM;
        }
        /* The user file first: an entry moved meanwhile then shows twice, never not at all. */
        pending = load_pending(fs, key, p);
        /* As bytes: damaged lines (NUL bytes included) are skipped by the parser. */
        rc = load_blob(fs, SUB_LAST, key, LASTLOG_FILE_MAX, BLOB_BYTES, &buf, &len, err, errlen);
        if (rc == MAILOTP_OK) {
                rc = lastlog_parse(buf, len, l, err, errlen);
                secure_freezero(buf, len + 1);
        }
        if (rc == MAILOTP_ERR_NOT_FOUND && pending) {
                memset(l, 0, sizeof(*l));
                rc = MAILOTP_OK;
        }
        if (rc == MAILOTP_OK && pending)
                lastlog_merge(l, p);
        free(p);
        return rc;
}

/*
 * Add n entries to last/KEY in one append (open, read, write, close: no new
 * inode, no rename; fdatasync when `durable`), without parsing the log when
 * lastlog_can_append says it is well formed.  Once it would hold more than
 * lastlog_rewrite_at(keep) lines, or when it is in the old format, damaged,
 * too big or `keep` changed, it is rewritten with the newest `keep` entries
 * through a temporary file.
 */
static enum mailotp_rc lastlog_add(struct file_store *fs, const char *key,
                                   const struct lastlog_event *evs, size_t n, size_t keep,
                                   int durable, char *err, size_t errlen)
{
        struct lastlog *l = NULL;                     /* only when the log must be parsed */
        char *out = NULL, *buf = NULL, *lines = NULL; /* out: only for a rewrite */
        size_t len = 0, olen = 0, llen = 0, i, cap = n * LASTLOG_LINE_MAX + 2;
        enum mailotp_rc rc;
        int dfd, afd = -1;

        lines = malloc(cap);
        if (lines == NULL) {
                mailotp_seterr(err, errlen, "out of memory");
                return MAILOTP_ERR_NOMEM;
        }
        lines[0] = '\n'; /* room for a leading newline */
        for (i = 0; i < n; i++) {
                size_t one = 0;

                if (lastlog_format_line(&evs[i], lines + 1 + llen, cap - 1 - llen, &one) !=
                    MAILOTP_OK) {
                        mailotp_seterr(err, errlen, "cannot format the last-logins entry");
                        rc = MAILOTP_ERR_INVALID;
                        goto out;
                }
                llen += one;
        }
        rc = sub_fd(fs, SUB_LAST, &dfd, err, errlen);
        if (rc != MAILOTP_OK) {
                if (rc == MAILOTP_ERR_NOT_FOUND)
                        rc = MAILOTP_ERR_IO;
                goto out;
        }
        rc = fio_open_append(dfd, key, fs->owner, LASTLOG_FILE_MAX, &afd, &buf, &len, err, errlen);
        if (rc == MAILOTP_OK && lastlog_can_append(buf, len, keep, n, llen)) {
                /* Most batches: a well-formed log with room for them. */
                rc = fio_append(afd, key, lines + 1, llen, durable, err, errlen);
                goto out;
        }
        if (rc != MAILOTP_OK && rc != MAILOTP_ERR_NOT_FOUND)
                goto out; /* unreadable now: keep the history, skip these entries */
        l = malloc(sizeof(*l));
        if (l == NULL) {
                mailotp_seterr(err, errlen, "out of memory");
                rc = MAILOTP_ERR_NOMEM;
                goto out;
        }
        if (rc == MAILOTP_OK)
                rc = lastlog_parse(buf, len, l, err, errlen);
        if (rc == MAILOTP_ERR_NOT_FOUND || rc == MAILOTP_ERR_FORMAT) {
                memset(l, 0, sizeof(*l)); /* missing, or no log at all: start afresh */
        } else if (rc != MAILOTP_OK) {
                goto out;
        }
        if (afd >= 0 && rc == MAILOTP_OK && !lastlog_needs_rewrite(l, keep, len, n, llen)) {
                /* After a line cut short by a crash, start on a line of its own. */
                int nl = len > 0 && buf[len - 1] != '\n';

                rc = fio_append(afd, key, lines + 1 - nl, llen + (size_t)nl, durable, err, errlen);
                goto out;
        }
        for (i = 0; i < n; i++)
                lastlog_push(l, &evs[i], keep);
        out = malloc(LASTLOG_FILE_MAX);
        if (out == NULL) {
                mailotp_seterr(err, errlen, "out of memory");
                rc = MAILOTP_ERR_NOMEM;
                goto out;
        }
        rc = lastlog_format(l, out, LASTLOG_FILE_MAX, &olen);
        if (rc == MAILOTP_OK)
                rc = durable ? fio_write_atomic(dfd, key, out, olen, err, errlen)
                             : fio_write_atomic_fast(dfd, key, out, olen, err, errlen);
out:
        if (rc == MAILOTP_OK) {
                int64_t newest = -1;

                for (i = 0; i < n; i++)
                        newest = evs[i].time > newest ? evs[i].time : newest;
                order_mark_set(fs, key, newest);
        }
        fio_close(afd);
        if (buf != NULL)
                secure_freezero(buf, len + 1);
        free(lines);
        free(l);
        free(out);
        return rc;
}

/* One entry, written straight to last/KEY without a flush (outcomes that write no state). */
static enum mailotp_rc fs_lastlog_append(struct store *st, const char *key,
                                         const struct lastlog_event *ev, size_t keep, char *err,
                                         size_t errlen)
{
        return lastlog_add(fs_of(st), key, ev, 1, keep, 0, err, errlen);
}

static enum mailotp_rc fs_user_delete(struct store *st, const char *key, char *err, size_t errlen)
{
        struct file_store *fs = fs_of(st);
        struct lastlog *p = malloc(sizeof(*p));
        enum mailotp_rc rc;

        /* The last-logins log stays: first the entries still pending in the user file. */
        if (p != NULL && load_pending(fs, key, p)) {
                char scratch[128];

                (void)lastlog_add(fs, key, p->ev, p->n, p->keep, 1, scratch, sizeof(scratch));
        }
        free(p);
        /*
         * records/KEY (a 0.2.0 record, or the note that it moved) before the
         * user file, so no crash leaves an old record that comes back: once
         * both are gone the user has no 2FA, whatever else remains.
         */
        rc = remove_blob(fs, SUB_RECORDS, key, err, errlen);
        if (rc == MAILOTP_OK)
                rc = remove_blob(fs, SUB_STATE, key, err, errlen);
        if (rc == MAILOTP_OK)
                rc = remove_blob(fs, SUB_USERS, key, err, errlen);
        if (rc == MAILOTP_OK)
                rc = remove_blob(fs, SUB_RECOVERY, key, err, errlen);
        /* The lock file stays: removing it would let two lockers meet different inodes. */
        return rc;
}

static enum mailotp_rc fs_lock(struct store *st, const char *key, unsigned timeout_ms,
                               struct store_lock **lk, char *err, size_t errlen)
{
        struct file_store *fs = fs_of(st);
        struct store_lock *l;
        enum mailotp_rc rc;
        int fd, lfd = -1;

        *lk = NULL;
        rc = sub_fd(fs, SUB_LOCKS, &fd, err, errlen);
        if (rc != MAILOTP_OK)
                return rc == MAILOTP_ERR_NOT_FOUND ? MAILOTP_ERR_IO : rc;
        l = malloc(sizeof(*l));
        if (l == NULL) {
                mailotp_seterr(err, errlen, "out of memory");
                return MAILOTP_ERR_NOMEM;
        }
        rc = fio_lock(fd, key, fs->owner, timeout_ms, &lfd, err, errlen);
        if (rc != MAILOTP_OK) {
                free(l);
                return rc;
        }
        l->fd = lfd;
        l->fs = fs;
        l->key[0] = '\0';
        if (fs->held == NULL && strlen(key) < sizeof(l->key)) {
                memcpy(l->key, key, strlen(key) + 1);
                fs->held = l;
        }
        *lk = l;
        return MAILOTP_OK;
}

static void fs_unlock(struct store_lock *lk)
{
        if (lk->fs != NULL && lk->fs->held == lk)
                lk->fs->held = NULL;
        fio_unlock(lk->fd);
        free(lk);
}

static void fs_close(struct store *st)
{
        struct file_store *fs = fs_of(st);
        int i;

        if (fs->held != NULL)
                fs->held->fs = NULL; /* a lock still held outlives its store: no mark */

        for (i = 0; i < SUB_COUNT; i++) {
                if (fs->sub[i] >= 0)
                        (void)close(fs->sub[i]);
        }
        if (fs->dirfd >= 0)
                (void)close(fs->dirfd);
        free(fs);
}

static const struct store_ops file_ops = {
    .record_load = fs_record_load,
    .record_save = fs_record_save,
    .state_load = fs_state_load,
    .state_save = fs_state_save,
    .state_save_noted = fs_state_save_noted,
    .user_delete = fs_user_delete,
    .server_key = fs_server_key,
    .apppw_load = fs_apppw_load,
    .apppw_save = fs_apppw_save,
    .recovery_load = fs_recovery_load,
    .recovery_save = fs_recovery_save,
    .lastlog_load = fs_lastlog_load,
    .lastlog_append = fs_lastlog_append,
    .lock = fs_lock,
    .unlock = fs_unlock,
    .close = fs_close,
};

enum mailotp_rc store_open_files(const char *dir, uid_t owner, unsigned flags, struct store **out,
                                 char *err, size_t errlen)
{
        struct file_store *fs;
        enum mailotp_rc rc;
        int i;

        *out = NULL;
        fs = calloc(1, sizeof(*fs));
        if (fs == NULL) {
                mailotp_seterr(err, errlen, "out of memory");
                return MAILOTP_ERR_NOMEM;
        }
        fs->base.ops = &file_ops;
        fs->owner = owner;
        fs->flags = flags;
        for (i = 0; i < SUB_COUNT; i++)
                fs->sub[i] = -1;
        rc = fio_open_dir(AT_FDCWD, dir, owner, 022, (flags & STORE_CREATE) != 0, &fs->dirfd, err,
                          errlen);
        if (rc != MAILOTP_OK) {
                fs->dirfd = -1;
                fs_close(&fs->base);
                return rc;
        }
        if (flags & STORE_CREATE) {
                /* The CLI lays out the whole store, so the module never has to create anything. */
                for (i = 0; i < SUB_COUNT; i++) {
                        int fd;

                        if (sub_is_legacy(i))
                                continue;
                        rc = sub_fd(fs, (enum sub_dir)i, &fd, err, errlen);
                        if (rc != MAILOTP_OK) {
                                fs_close(&fs->base);
                                return rc;
                        }
                }
        }
        *out = &fs->base;
        return MAILOTP_OK;
}
