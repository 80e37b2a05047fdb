/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The embedded file backend of the store (see store.h for the contract).
 *
 *   DIR/            owner-only directory, not group/world-writable
 *   DIR/records/KEY the secret and enrollment status  (0600)
 *   DIR/state/KEY   replay step and lockout counters  (0600)
 *   DIR/locks/KEY   empty lock file, never renamed     (0600)
 *
 * Temporary files are ".KEY.RANDOM" in the same subdirectory; keys never
 * start with '.', so a stale temporary file from a crashed writer is never
 * read as a record and never blocks anything.
 */
#include "store.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "fileio.h"
#include "secure.h"

enum sub_dir { SUB_RECORDS = 0, SUB_STATE, SUB_LOCKS, SUB_COUNT };

static const char *const sub_names[SUB_COUNT] = {"records", "state", "locks"};

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

static enum mailotp_rc fs_record_load(struct store *st, const char *key, struct otp_record *rec,
                                      char *err, size_t errlen)
{
        struct file_store *fs = fs_of(st);
        char *buf = NULL;
        size_t len = 0;
        enum mailotp_rc rc;
        int fd;

        record_wipe(rec);
        rc = sub_fd(fs, SUB_RECORDS, &fd, err, errlen);
        if (rc != MAILOTP_OK)
                return rc; /* a missing records/ means nobody is enrolled: NOT_FOUND */
        rc = fio_read(fd, key, fs->owner, 077, RECORD_MAX_SIZE, &buf, &len, err, errlen);
        if (rc != MAILOTP_OK)
                return rc;
        rc = record_parse(buf, len, rec, err, errlen);
        secure_freezero(buf, len + 1);
        return rc;
}

static enum mailotp_rc fs_record_save(struct store *st, const char *key,
                                      const struct otp_record *rec, char *err, size_t errlen)
{
        struct file_store *fs = fs_of(st);
        char buf[RECORD_MAX_SIZE];
        size_t len = 0;
        enum mailotp_rc rc;
        int fd;

        rc = sub_fd(fs, SUB_RECORDS, &fd, err, errlen);
        if (rc != MAILOTP_OK)
                return rc;
        rc = record_format(rec, buf, sizeof(buf), &len);
        if (rc == MAILOTP_OK)
                rc = fio_write_atomic(fd, key, buf, len, err, errlen);
        else
                mailotp_seterr(err, errlen, "record is inconsistent");
        secure_memzero(buf, sizeof(buf));
        return rc;
}

static enum mailotp_rc fs_state_load(struct store *st, const char *key, struct otp_state *s,
                                     char *err, size_t errlen)
{
        struct file_store *fs = fs_of(st);
        char *buf = NULL;
        size_t len = 0;
        enum mailotp_rc rc;
        int fd;

        state_init(s);
        rc = sub_fd(fs, SUB_STATE, &fd, err, errlen);
        if (rc != MAILOTP_OK)
                return rc;
        rc = fio_read(fd, key, fs->owner, 077, RECORD_MAX_SIZE, &buf, &len, err, errlen);
        if (rc != MAILOTP_OK)
                return rc;
        rc = state_parse(buf, len, s, err, errlen);
        secure_freezero(buf, len + 1);
        return rc;
}

static enum mailotp_rc fs_state_save(struct store *st, const char *key, const struct otp_state *s,
                                     char *err, size_t errlen)
{
        struct file_store *fs = fs_of(st);
        char buf[RECORD_MAX_SIZE];
        size_t len = 0;
        enum mailotp_rc rc;
        int fd;

        rc = sub_fd(fs, SUB_STATE, &fd, err, errlen);
        if (rc != MAILOTP_OK)
                return rc;
        rc = state_format(s, buf, sizeof(buf), &len);
        if (rc != MAILOTP_OK) {
                mailotp_seterr(err, errlen, "state does not fit");
                return rc;
        }
        return fio_write_atomic(fd, key, buf, len, err, errlen);
}

static enum mailotp_rc fs_user_delete(struct store *st, const char *key, char *err, size_t errlen)
{
        struct file_store *fs = fs_of(st);
        enum mailotp_rc rc;
        int fd;

        /* Record first: once it is gone the user has no 2FA, whatever state remains. */
        rc = sub_fd(fs, SUB_RECORDS, &fd, err, errlen);
        if (rc == MAILOTP_OK)
                rc = fio_unlink(fd, key, err, errlen);
        if (rc != MAILOTP_OK && rc != MAILOTP_ERR_NOT_FOUND)
                return rc;
        rc = sub_fd(fs, SUB_STATE, &fd, err, errlen);
        if (rc == MAILOTP_ERR_NOT_FOUND)
                return MAILOTP_OK;
        if (rc == MAILOTP_OK)
                rc = fio_unlink(fd, key, err, errlen);
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
        if (l == NULL)
                return MAILOTP_ERR_NOMEM;
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
        if (fs == NULL)
                return MAILOTP_ERR_NOMEM;
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
        *out = &fs->base;
        return MAILOTP_OK;
}
