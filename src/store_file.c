/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The embedded file backend of the store (see store.h for the contract).
 *
 *   DIR/            owner-only directory, not group/world-writable
 *   DIR/records/KEY the secret and enrollment status  (0600)
 *   DIR/state/KEY   replay step and lockout counters, two-slot file
 *                   rewritten in place (slots.h)      (0600)
 *   DIR/locks/KEY   empty lock file, never renamed     (0600)
 *   DIR/apppw/KEY   application password hashes        (0600)
 *   DIR/recovery/KEY recovery code hashes              (0600)
 *   DIR/last/KEY    last logins, appended, best effort (0600)
 *   DIR/server.key  key of the keyed hashes            (0600)
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

enum sub_dir {
        SUB_RECORDS = 0,
        SUB_STATE,
        SUB_LOCKS,
        SUB_APPPW,
        SUB_RECOVERY,
        SUB_LAST,
        SUB_COUNT
};

static const char *const sub_names[SUB_COUNT] = {"records", "state",    "locks",
                                                 "apppw",   "recovery", "last"};

#define SERVER_KEY_NAME "server.key"

struct file_store {
        struct store base; /* must be first */
        int dirfd;
        int sub[SUB_COUNT];
        uid_t owner;
        unsigned flags;
};

struct store_lock {
        int fd;
};

static struct file_store *fs_of(struct store *st)
{
        return (struct file_store *)(void *)st;
}

/* Open (and with STORE_CREATE make) a subdirectory on first use. */
static enum mailotp_rc sub_fd(struct file_store *fs, enum sub_dir which, int *fd, char *err,
                              size_t errlen)
{
        enum mailotp_rc rc;

        if (fs->sub[which] < 0) {
                rc = fio_open_dir(fs->dirfd, sub_names[which], fs->owner, 077,
                                  (fs->flags & STORE_CREATE) != 0, &fs->sub[which], err, errlen);
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

static enum mailotp_rc fs_record_load(struct store *st, const char *key, struct otp_record *rec,
                                      char *err, size_t errlen)
{
        char *buf = NULL;
        size_t len = 0;
        enum mailotp_rc rc;

        record_wipe(rec);
        rc = load_blob(fs_of(st), SUB_RECORDS, key, RECORD_MAX_SIZE, BLOB_TEXT, &buf, &len, err,
                       errlen);
        if (rc != MAILOTP_OK)
                return rc;
        rc = record_parse(buf, len, rec, err, errlen);
        secure_freezero(buf, len + 1);
        return rc;
}

static enum mailotp_rc fs_record_save(struct store *st, const char *key,
                                      const struct otp_record *rec, char *err, size_t errlen)
{
        char buf[RECORD_MAX_SIZE];
        size_t len = 0;
        enum mailotp_rc rc;

        rc = record_format(rec, buf, sizeof(buf), &len);
        if (rc == MAILOTP_OK)
                rc = save_blob(fs_of(st), SUB_RECORDS, key, buf, len, 1, err, errlen);
        else
                mailotp_seterr(err, errlen, "record is inconsistent");
        secure_memzero(buf, sizeof(buf));
        return rc;
}

static enum mailotp_rc fs_state_load(struct store *st, const char *key, struct otp_state *s,
                                     char *err, size_t errlen)
{
        const unsigned char *payload = NULL;
        char *buf = NULL;
        size_t len = 0, plen = 0;
        enum mailotp_rc rc;
        uint64_t seq;

        state_init(s);
        rc = load_blob(fs_of(st), SUB_STATE, key, SLOTS_FILE_SIZE, BLOB_BYTES, &buf, &len, err,
                       errlen);
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

static enum mailotp_rc fs_state_save(struct store *st, const char *key, const struct otp_state *s,
                                     char *err, size_t errlen)
{
        struct file_store *fs = fs_of(st);
        char buf[SLOTS_PAYLOAD_MAX];
        size_t len = 0;
        enum mailotp_rc rc;
        int fd;

        if (state_format(s, buf, sizeof(buf), &len) != MAILOTP_OK) {
                mailotp_seterr(err, errlen, "state does not fit");
                return MAILOTP_ERR_INVALID;
        }
        rc = sub_fd(fs, SUB_STATE, &fd, err, errlen);
        if (rc == MAILOTP_ERR_NOT_FOUND)
                rc = MAILOTP_ERR_IO;
        if (rc == MAILOTP_OK)
                rc = fio_slots_write(fd, key, fs->owner, buf, len, err, errlen);
        secure_memzero(buf, sizeof(buf));
        return rc;
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

static enum mailotp_rc fs_lastlog_load(struct store *st, const char *key, struct lastlog *l,
                                       char *err, size_t errlen)
{
        char *buf = NULL;
        size_t len = 0;
        enum mailotp_rc rc;

        memset(l, 0, sizeof(*l));
        /* As bytes: damaged lines (NUL bytes included) are skipped by the parser. */
        rc = load_blob(fs_of(st), SUB_LAST, key, LASTLOG_FILE_MAX, BLOB_BYTES, &buf, &len, err,
                       errlen);
        if (rc != MAILOTP_OK)
                return rc;
        rc = lastlog_parse(buf, len, l, err, errlen);
        secure_freezero(buf, len + 1);
        return rc;
}

/*
 * One line appended per login (open, read, write, close: no new inode, no
 * rename, no flush).  Every `keep` logins, or when the log is in the old
 * format, corrupt or `keep` changed, it is rewritten with the newest `keep`
 * entries through a temporary file.
 */
static enum mailotp_rc fs_lastlog_append(struct store *st, const char *key,
                                         const struct lastlog_event *ev, size_t keep, char *err,
                                         size_t errlen)
{
        struct file_store *fs = fs_of(st);
        struct lastlog *l = malloc(sizeof(*l));
        char *out = malloc(LASTLOG_FILE_MAX), *buf = NULL;
        char line[LASTLOG_LINE_MAX + 2]; /* room for a leading newline */
        size_t len = 0, olen = 0, llen = 0;
        enum mailotp_rc rc = MAILOTP_ERR_NOMEM;
        int dfd, afd = -1;

        if (l == NULL || out == NULL) {
                mailotp_seterr(err, errlen, "out of memory");
                goto out;
        }
        rc = sub_fd(fs, SUB_LAST, &dfd, err, errlen);
        if (rc != MAILOTP_OK) {
                if (rc == MAILOTP_ERR_NOT_FOUND)
                        rc = MAILOTP_ERR_IO;
                goto out;
        }
        rc = fio_open_append(dfd, key, fs->owner, LASTLOG_FILE_MAX, &afd, &buf, &len, err, errlen);
        if (rc == MAILOTP_OK)
                rc = lastlog_parse(buf, len, l, err, errlen);
        if (rc == MAILOTP_ERR_NOT_FOUND || rc == MAILOTP_ERR_FORMAT) {
                memset(l, 0, sizeof(*l)); /* missing, or no log at all: start afresh */
        } else if (rc != MAILOTP_OK) {
                goto out; /* unreadable now: keep the history, skip this event */
        }
        if (lastlog_format_line(ev, line, sizeof(line) - 1, &llen) != MAILOTP_OK) {
                rc = MAILOTP_ERR_INVALID;
                goto out;
        }
        if (afd >= 0 && rc == MAILOTP_OK && !lastlog_needs_rewrite(l, keep, len, llen)) {
                /* After a line cut short by a crash, start on a line of its own. */
                if (len > 0 && buf[len - 1] != '\n') {
                        memmove(line + 1, line, llen + 1);
                        line[0] = '\n';
                        llen++;
                }
                rc = fio_append(afd, key, line, llen, err, errlen);
                goto out;
        }
        lastlog_push(l, ev, keep);
        rc = lastlog_format(l, out, LASTLOG_FILE_MAX, &olen);
        if (rc == MAILOTP_OK)
                rc = fio_write_atomic_fast(dfd, key, out, olen, err, errlen);
out:
        fio_close(afd);
        if (buf != NULL)
                secure_freezero(buf, len + 1);
        free(l);
        free(out);
        return rc;
}

static enum mailotp_rc fs_user_delete(struct store *st, const char *key, char *err, size_t errlen)
{
        struct file_store *fs = fs_of(st);
        enum mailotp_rc rc;

        /* Record first: once it is gone the user has no 2FA, whatever else remains. */
        rc = remove_blob(fs, SUB_RECORDS, key, err, errlen);
        if (rc == MAILOTP_OK)
                rc = remove_blob(fs, SUB_STATE, key, err, errlen);
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
        *lk = l;
        return MAILOTP_OK;
}

static void fs_unlock(struct store_lock *lk)
{
        fio_unlock(lk->fd);
        free(lk);
}

static void fs_close(struct store *st)
{
        struct file_store *fs = fs_of(st);
        int i;

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
