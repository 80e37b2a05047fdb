/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "secure.h"
#include "slots.h"

/*
 * What the checks below need of an open descriptor (type, mode, owner, link
 * count, size), without its times.  statx(2) is asked for no timestamp on
 * purpose: since Linux 6.13, reading a file's ctime (which fstat(2) always
 * does) makes the next write stamp it with a fine-grained time instead of the
 * coarse clock tick, so even two writes of a user file within one tick
 * would change its timestamps and dirty its inode.  On ext4 without a
 * journal, fdatasync(2) then writes the inode as well as the data: a second
 * device write for such a login (a file last written in an earlier tick has
 * its timestamps changed anyway).  Falls back to fstat(2) where statx is not
 * available (kernels before 4.11, seccomp filters that refuse it).
 */
static int stat_fd(int fd, struct stat *st)
{
        const unsigned int want =
            STATX_TYPE | STATX_MODE | STATX_NLINK | STATX_UID | STATX_GID | STATX_INO | STATX_SIZE;
        struct statx sx;

        if (statx(fd, "", AT_EMPTY_PATH | AT_STATX_SYNC_AS_STAT, want, &sx) != 0) {
                if (errno != ENOSYS && errno != EPERM && errno != EINVAL)
                        return -1;
                return fstat(fd, st);
        }
        if ((sx.stx_mask & want) != want)
                return fstat(fd, st);
        memset(st, 0, sizeof(*st));
        st->st_dev = makedev(sx.stx_dev_major, sx.stx_dev_minor);
        st->st_ino = (ino_t)sx.stx_ino;
        st->st_mode = (mode_t)sx.stx_mode;
        st->st_nlink = (nlink_t)sx.stx_nlink;
        st->st_uid = (uid_t)sx.stx_uid;
        st->st_gid = (gid_t)sx.stx_gid;
        st->st_size = (off_t)sx.stx_size;
        return 0;
}

/* Check an open descriptor: type, owner, forbidden mode bits, link count. */
static enum mailotp_rc check_fd(int fd, mode_t type, uid_t owner, mode_t forbid, const char *what,
                                struct stat *st, char *err, size_t errlen)
{
        if (stat_fd(fd, st) != 0) {
                mailotp_seterr(err, errlen, "cannot stat %s: %s", what, strerror(errno));
                return MAILOTP_ERR_IO;
        }
        if ((st->st_mode & S_IFMT) != type) {
                mailotp_seterr(err, errlen, "%s is not a %s", what,
                               type == S_IFDIR ? "directory" : "regular file");
                return MAILOTP_ERR_UNSAFE_FILE;
        }
        if (st->st_uid != owner) {
                mailotp_seterr(err, errlen, "%s is owned by uid %u, expected %u", what,
                               (unsigned)st->st_uid, (unsigned)owner);
                return MAILOTP_ERR_UNSAFE_FILE;
        }
        if ((st->st_mode & forbid) != 0) {
                mailotp_seterr(err, errlen, "%s has unsafe mode %04o", what,
                               (unsigned)(st->st_mode & 07777));
                return MAILOTP_ERR_UNSAFE_FILE;
        }
        /*
         * More than one link: someone else can change the file through another
         * name.  No link at all is harmless: a writer renamed a new version over
         * the name after we opened it, and we read the complete old one.
         */
        if (type == S_IFREG && st->st_nlink > 1) {
                mailotp_seterr(err, errlen, "%s has %lu hard links", what,
                               (unsigned long)st->st_nlink);
                return MAILOTP_ERR_UNSAFE_FILE;
        }
        return MAILOTP_OK;
}

enum mailotp_rc fio_open_dir(int atfd, const char *path, uid_t owner, mode_t forbid, int create,
                             int *fd_out, char *err, size_t errlen)
{
        struct stat st;
        enum mailotp_rc rc;
        int fd;

        *fd_out = -1;
        fd = openat(atfd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 && errno == ENOENT && create) {
                if (mkdirat(atfd, path, 0700) != 0 && errno != EEXIST) {
                        mailotp_seterr(err, errlen, "cannot create directory %s: %s", path,
                                       strerror(errno));
                        return MAILOTP_ERR_IO;
                }
                fd = openat(atfd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd >= 0 && atfd != AT_FDCWD)
                        (void)fsync(atfd);
        }
        if (fd < 0) {
                int e = errno;

                if (e == ENOENT) {
                        mailotp_seterr(err, errlen, "directory %s does not exist", path);
                        return MAILOTP_ERR_NOT_FOUND;
                }
                mailotp_seterr(err, errlen, "cannot open directory %s: %s", path,
                               e == ELOOP || e == ENOTDIR ? "not a directory (symlink?)"
                                                          : strerror(e));
                return e == ELOOP || e == ENOTDIR ? MAILOTP_ERR_UNSAFE_FILE : MAILOTP_ERR_IO;
        }
        rc = check_fd(fd, S_IFDIR, owner, forbid, path, &st, err, errlen);
        if (rc != MAILOTP_OK) {
                (void)close(fd);
                return rc;
        }
        *fd_out = fd;
        return MAILOTP_OK;
}

/* Open regular file `name` in dirfd with oflags (plus O_NOFOLLOW etc.) and check it. */
static enum mailotp_rc open_checked(int dirfd, const char *name, int oflags, uid_t owner,
                                    mode_t forbid, int *fd_out, struct stat *st, char *err,
                                    size_t errlen)
{
        enum mailotp_rc rc;
        int fd;

        *fd_out = -1;
        /* O_NONBLOCK: opening a FIFO planted in the store must not hang the login. */
        fd = openat(dirfd, name, oflags | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0) {
                int e = errno;

                if (e == ENOENT)
                        return MAILOTP_ERR_NOT_FOUND;
                if (e == ELOOP) {
                        mailotp_seterr(err, errlen, "%s is a symbolic link", name);
                        return MAILOTP_ERR_UNSAFE_FILE;
                }
                mailotp_seterr(err, errlen, "cannot open %s: %s", name, strerror(e));
                return MAILOTP_ERR_IO;
        }
        rc = check_fd(fd, S_IFREG, owner, forbid, name, st, err, errlen);
        if (rc == MAILOTP_OK && (oflags & O_ACCMODE) != O_RDONLY && st->st_nlink != 1) {
                /* Written in place: it must be the one file of that name, still linked. */
                mailotp_seterr(err, errlen, "%s has %lu links", name, (unsigned long)st->st_nlink);
                rc = MAILOTP_ERR_UNSAFE_FILE;
        }
        if (rc != MAILOTP_OK) {
                (void)close(fd);
                return rc;
        }
        *fd_out = fd;
        return MAILOTP_OK;
}

/* Read all of fd (at most max bytes, else UNSAFE_FILE) into a new NUL-terminated buffer. */
static enum mailotp_rc read_all(int fd, const char *name, const struct stat *st, size_t max,
                                int text, char **buf_out, size_t *len_out, char *err, size_t errlen)
{
        enum mailotp_rc rc;
        char *buf = NULL;
        size_t len = 0, cap;

        *buf_out = NULL;
        *len_out = 0;
        if ((size_t)st->st_size > max) {
                mailotp_seterr(err, errlen, "%s is larger than %zu bytes", name, max);
                return MAILOTP_ERR_UNSAFE_FILE;
        }
        /*
         * Room for the size fstat saw and one byte more, which tells a file
         * that grew since: then the buffer grows, up to max + 1.  (Not max +
         * 1 at once: a 64 KiB buffer per read made the heap grow and shrink
         * at every login, each shrink a TLB flush on every CPU.)
         */
        cap = (size_t)st->st_size + 1;
        buf = malloc(cap);
        if (buf == NULL) {
                mailotp_seterr(err, errlen, "out of memory reading %s", name);
                return MAILOTP_ERR_NOMEM;
        }
        /*
         * Bound the read by max, not by st_size: the file may grow meanwhile.
         * A regular file reads short only at its end, so a short read ends
         * the loop without a second read(2) for the end of file.
         */
        for (;;) {
                size_t want = cap - len;
                ssize_t n = read(fd, buf + len, want);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        mailotp_seterr(err, errlen, "cannot read %s: %s", name, strerror(errno));
                        rc = MAILOTP_ERR_IO;
                        goto fail;
                }
                if (n == 0)
                        break;
                len += (size_t)n;
                if (len > max) {
                        mailotp_seterr(err, errlen, "%s is larger than %zu bytes", name, max);
                        rc = MAILOTP_ERR_UNSAFE_FILE;
                        goto fail;
                }
                if ((size_t)n < want)
                        break;
                if (len == cap) {
                        /* It grew: a bigger buffer (the old one wiped), never over max + 1. */
                        size_t ncap = cap > (max + 1) / 2 ? max + 1 : 2 * cap;
                        char *nbuf = malloc(ncap);

                        if (nbuf == NULL) {
                                mailotp_seterr(err, errlen, "out of memory reading %s", name);
                                rc = MAILOTP_ERR_NOMEM;
                                goto fail;
                        }
                        memcpy(nbuf, buf, len);
                        secure_freezero(buf, cap);
                        buf = nbuf;
                        cap = ncap;
                }
        }
        buf[len] = '\0';
        if (text && memchr(buf, '\0', len) != NULL) {
                mailotp_seterr(err, errlen, "%s contains a NUL byte", name);
                rc = MAILOTP_ERR_FORMAT;
                goto fail;
        }
        *buf_out = buf;
        *len_out = len;
        return MAILOTP_OK;
fail:
        secure_freezero(buf, cap);
        return rc;
}

static enum mailotp_rc read_file(int dirfd, const char *name, uid_t owner, mode_t forbid,
                                 size_t max, int text, char **buf, size_t *len, char *err,
                                 size_t errlen)
{
        struct stat st;
        enum mailotp_rc rc;
        int fd;

        *buf = NULL;
        *len = 0;
        rc = open_checked(dirfd, name, O_RDONLY, owner, forbid, &fd, &st, err, errlen);
        if (rc != MAILOTP_OK)
                return rc;
        rc = read_all(fd, name, &st, max, text, buf, len, err, errlen);
        (void)close(fd);
        return rc;
}

enum mailotp_rc fio_read(int dirfd, const char *name, uid_t owner, mode_t forbid, size_t max,
                         char **buf, size_t *len, char *err, size_t errlen)
{
        return read_file(dirfd, name, owner, forbid, max, 1, buf, len, err, errlen);
}

enum mailotp_rc fio_read_bytes(int dirfd, const char *name, uid_t owner, mode_t forbid, size_t max,
                               char **buf, size_t *len, char *err, size_t errlen)
{
        return read_file(dirfd, name, owner, forbid, max, 0, buf, len, err, errlen);
}

/* ".NAME.0123456789ab": the leading dot keeps temp names out of the user namespace. */
static int temp_name(const char *name, char *out, size_t outsz)
{
        unsigned char rnd[6];
        int n;

        if (getrandom(rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd)) {
                struct timespec ts;

                (void)clock_gettime(CLOCK_MONOTONIC, &ts);
                memcpy(rnd, &ts.tv_nsec,
                       sizeof(rnd) < sizeof(ts.tv_nsec) ? sizeof(rnd) : sizeof(ts.tv_nsec));
                rnd[5] ^= (unsigned char)getpid();
        }
        /* At most 200 bytes of the name, so the result stays below NAME_MAX. */
        n = snprintf(out, outsz, ".%.200s.%02x%02x%02x%02x%02x%02x", name, rnd[0], rnd[1], rnd[2],
                     rnd[3], rnd[4], rnd[5]);
        return n > 0 && (size_t)n < outsz ? 0 : -1;
}

#define FIO_DURABLE 1U /* fsync the file and the directory */
#define FIO_NEW     2U /* rename without replacing: fail when the name exists */

/* Write data to a fresh temporary file in dirfd (closed again); its name goes to tmp. */
static enum mailotp_rc write_temp(int dirfd, const char *name, const char *data, size_t len,
                                  unsigned flags, char *tmp, size_t tmpsz, char *err, size_t errlen)
{
        size_t off = 0;
        int fd = -1, tries;

        for (tries = 0; tries < 5 && fd < 0; tries++) {
                if (temp_name(name, tmp, tmpsz) != 0) {
                        mailotp_seterr(err, errlen, "name too long for a temporary file");
                        return MAILOTP_ERR_IO;
                }
                fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
                if (fd < 0 && errno != EEXIST)
                        break;
        }
        if (fd < 0) {
                mailotp_seterr(err, errlen, "cannot create temporary file for %s: %s", name,
                               strerror(errno));
                return MAILOTP_ERR_IO;
        }
        /* The create mode is filtered by umask; make the mode exact without touching umask. */
        if (fchmod(fd, 0600) != 0)
                goto fail;
        while (off < len) {
                ssize_t n = write(fd, data + off, len - off);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        if (n == 0)
                                errno = ENOSPC;
                        goto fail;
                }
                off += (size_t)n;
        }
        if ((flags & FIO_DURABLE) && fsync(fd) != 0)
                goto fail;
        if (close(fd) != 0) {
                fd = -1;
                goto fail;
        }
        return MAILOTP_OK;
fail:
        mailotp_seterr(err, errlen, "cannot write %s: %s", name, strerror(errno));
        if (fd >= 0)
                (void)close(fd);
        (void)unlinkat(dirfd, tmp, 0);
        return MAILOTP_ERR_IO;
}

static enum mailotp_rc write_file(int dirfd, const char *name, const char *data, size_t len,
                                  unsigned flags, char *err, size_t errlen)
{
        char tmp[300];
        enum mailotp_rc rc;

        rc = write_temp(dirfd, name, data, len, flags, tmp, sizeof(tmp), err, errlen);
        if (rc != MAILOTP_OK)
                return rc;
        if (flags & FIO_NEW) {
                /*
                 * One atomic step: with link + unlink a crash between the two
                 * would leave the new file with two links, refused for ever.
                 */
                int e = renameat2(dirfd, tmp, dirfd, name, RENAME_NOREPLACE) == 0 ? 0 : errno;

                if (e == EINVAL || e == ENOSYS) {
                        /* A file system without RENAME_NOREPLACE: link, then unlink. */
                        e = linkat(dirfd, tmp, dirfd, name, 0) == 0 ? 0 : errno;
                        (void)unlinkat(dirfd, tmp, 0);
                } else if (e != 0) {
                        (void)unlinkat(dirfd, tmp, 0);
                }
                if (e == EEXIST)
                        return MAILOTP_ERR_STATE;
                if (e != 0) {
                        mailotp_seterr(err, errlen, "cannot create %s: %s", name, strerror(e));
                        return MAILOTP_ERR_IO;
                }
        } else if (renameat(dirfd, tmp, dirfd, name) != 0) {
                mailotp_seterr(err, errlen, "cannot replace %s: %s", name, strerror(errno));
                (void)unlinkat(dirfd, tmp, 0);
                return MAILOTP_ERR_IO;
        }
        if ((flags & FIO_DURABLE) && fsync(dirfd) != 0) {
                mailotp_seterr(err, errlen, "cannot fsync the directory of %s: %s", name,
                               strerror(errno));
                return MAILOTP_ERR_IO;
        }
        return MAILOTP_OK;
}

enum mailotp_rc fio_write_atomic(int dirfd, const char *name, const char *data, size_t len,
                                 char *err, size_t errlen)
{
        return write_file(dirfd, name, data, len, FIO_DURABLE, err, errlen);
}

enum mailotp_rc fio_write_atomic_fast(int dirfd, const char *name, const char *data, size_t len,
                                      char *err, size_t errlen)
{
        return write_file(dirfd, name, data, len, 0, err, errlen);
}

enum mailotp_rc fio_create_new(int dirfd, const char *name, const char *data, size_t len, char *err,
                               size_t errlen)
{
        return write_file(dirfd, name, data, len, FIO_DURABLE | FIO_NEW, err, errlen);
}

enum mailotp_rc fio_unlink(int dirfd, const char *name, char *err, size_t errlen)
{
        if (unlinkat(dirfd, name, 0) != 0) {
                if (errno == ENOENT)
                        return MAILOTP_OK;
                mailotp_seterr(err, errlen, "cannot remove %s: %s", name, strerror(errno));
                return MAILOTP_ERR_IO;
        }
        if (fsync(dirfd) != 0) {
                mailotp_seterr(err, errlen, "cannot fsync directory after removing %s: %s", name,
                               strerror(errno));
                return MAILOTP_ERR_IO;
        }
        return MAILOTP_OK;
}

/* Write all of data at offset off (pwrite loop); 0 or -1 with errno. */
static int pwrite_all(int fd, const void *data, size_t len, off_t off)
{
        const unsigned char *p = data;
        size_t done = 0;

        while (done < len) {
                ssize_t n = pwrite(fd, p + done, len - done, off + (off_t)done);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        if (n == 0)
                                errno = ENOSPC;
                        return -1;
                }
                done += (size_t)n;
        }
        return 0;
}

/* A new slot file holding next in slot 0, put in place atomically and durably. */
static enum mailotp_rc slots_create(int dirfd, const char *name, const struct fio_slot_next *next,
                                    unsigned char image[SLOTS_FILE_SIZE], char *err, size_t errlen)
{
        memset(image, 0, SLOTS_FILE_SIZE);
        if (slots_encode_ext(1, next->payload, next->len, next->ext, next->extlen, image) != 0) {
                mailotp_seterr(err, errlen, "%s: %zu bytes do not fit a slot", name,
                               next->len + next->extlen);
                return MAILOTP_ERR_INVALID;
        }
        return write_file(dirfd, name, (const char *)image, SLOTS_FILE_SIZE, FIO_DURABLE, err,
                          errlen);
}

enum mailotp_rc fio_slots_update(int dirfd, const char *name, uid_t owner, fio_slots_edit_fn edit,
                                 void *ctx, uint64_t *seq_out, char *err, size_t errlen)
{
        /* on the stack: no allocation to fail */
        unsigned char image[SLOTS_FILE_SIZE], *slot;
        struct fio_slot_next next;
        struct fio_slot_view cur;
        struct stat st;
        enum mailotp_rc rc;
        enum fio_slots_have have;
        uint64_t seq = 0;
        size_t got = 0;
        int fd = -1, idx = -1;

        memset(&cur, 0, sizeof(cur));
        memset(&next, 0, sizeof(next));
        rc = open_checked(dirfd, name, O_RDWR, owner, 077, &fd, &st, err, errlen);
        if (rc == MAILOTP_ERR_NOT_FOUND) {
                fd = -1;
                have = FIO_SLOTS_MISSING;
        } else if (rc != MAILOTP_OK) {
                return rc;
        } else {
                if (st.st_size == (off_t)SLOTS_FILE_SIZE) {
                        while (got < SLOTS_FILE_SIZE) {
                                ssize_t n =
                                    pread(fd, image + got, SLOTS_FILE_SIZE - got, (off_t)got);

                                if (n < 0 && errno == EINTR)
                                        continue;
                                if (n < 0) {
                                        mailotp_seterr(err, errlen, "cannot read %s: %s", name,
                                                       strerror(errno));
                                        rc = MAILOTP_ERR_IO;
                                        goto out;
                                }
                                if (n == 0)
                                        break;
                                got += (size_t)n;
                        }
                }
                idx = slots_pick(image, got, &seq, &cur.payload, &cur.len);
                have = idx >= 0 ? FIO_SLOTS_VALID : FIO_SLOTS_INVALID;
                if (idx >= 0)
                        (void)slots_ext(image + (size_t)idx * SLOTS_SLOT_SIZE, cur.len, &cur.ext,
                                        &cur.extlen);
        }
        rc = edit(ctx, have, have == FIO_SLOTS_VALID ? &cur : NULL, &next, err, errlen);
        if (rc != MAILOTP_OK)
                goto out;
        if (next.len == 0 || next.len > SLOTS_PAYLOAD_MAX ||
            (next.extlen > 0 && next.extlen > slots_ext_room(next.len))) {
                mailotp_seterr(err, errlen, "%s: %zu bytes do not fit a slot", name,
                               next.len + next.extlen);
                rc = MAILOTP_ERR_INVALID;
                goto out;
        }
        if (idx < 0 || seq == UINT64_MAX) {
                /*
                 * No file yet, not a slot file (the text format of 0.1.0), no
                 * valid slot left, or no next sequence number (only a tampered
                 * file gets there): a whole new file, as every write used to be.
                 */
                if (fd >= 0)
                        (void)close(fd);
                fd = -1;
                rc = slots_create(dirfd, name, &next, image, err, errlen);
                if (rc == MAILOTP_OK && seq_out != NULL)
                        *seq_out = 1;
                goto out;
        }
        /* Overwrite the other slot, never the current one, then flush it. */
        slot = image + (size_t)(1 - idx) * SLOTS_SLOT_SIZE;
        if (slots_encode_ext(seq + 1, next.payload, next.len, next.ext, next.extlen, slot) != 0) {
                mailotp_seterr(err, errlen, "%s: cannot encode the next slot", name);
                rc = MAILOTP_ERR_INVALID;
                goto out;
        }
        if (pwrite_all(fd, slot, SLOTS_SLOT_SIZE, (off_t)(1 - idx) * (off_t)SLOTS_SLOT_SIZE) != 0 ||
            fdatasync(fd) != 0) {
                mailotp_seterr(err, errlen, "cannot write %s: %s", name, strerror(errno));
                rc = MAILOTP_ERR_IO;
                goto out;
        }
        if (seq_out != NULL)
                *seq_out = seq + 1;
        rc = MAILOTP_OK;
out:
        secure_memzero(image, sizeof(image));
        secure_memzero(&next, sizeof(next));
        if (fd >= 0 && close(fd) != 0 && rc == MAILOTP_OK) {
                mailotp_seterr(err, errlen, "cannot write %s: %s", name, strerror(errno));
                rc = MAILOTP_ERR_IO;
        }
        return rc;
}

struct replace_ctx {
        const void *payload;
        size_t len;
};

/* The editor of fio_slots_write: whatever is there, the new payload and no extension. */
static enum mailotp_rc replace_payload(void *ctx, enum fio_slots_have have,
                                       const struct fio_slot_view *cur, struct fio_slot_next *next,
                                       char *err, size_t errlen)
{
        const struct replace_ctx *r = ctx;

        (void)have;
        (void)cur;
        if (r->len == 0 || r->len > SLOTS_PAYLOAD_MAX) {
                mailotp_seterr(err, errlen, "%zu bytes do not fit a slot", r->len);
                return MAILOTP_ERR_INVALID;
        }
        memcpy(next->payload, r->payload, r->len);
        next->len = r->len;
        return MAILOTP_OK;
}

enum mailotp_rc fio_slots_write(int dirfd, const char *name, uid_t owner, const void *payload,
                                size_t len, char *err, size_t errlen)
{
        struct replace_ctx r = {payload, len};

        if (len == 0 || len > SLOTS_PAYLOAD_MAX) {
                mailotp_seterr(err, errlen, "%s: %zu bytes do not fit a slot", name, len);
                return MAILOTP_ERR_INVALID;
        }
        return fio_slots_update(dirfd, name, owner, replace_payload, &r, NULL, err, errlen);
}

enum mailotp_rc fio_open_append(int dirfd, const char *name, uid_t owner, size_t max, int *fd_out,
                                char **buf, size_t *len, char *err, size_t errlen)
{
        struct stat st;
        enum mailotp_rc rc;
        int fd;

        *fd_out = -1;
        *buf = NULL;
        *len = 0;
        rc = open_checked(dirfd, name, O_RDWR | O_APPEND, owner, 077, &fd, &st, err, errlen);
        if (rc != MAILOTP_OK)
                return rc;
        rc = read_all(fd, name, &st, max, 0, buf, len, err, errlen);
        if (rc != MAILOTP_OK) {
                (void)close(fd);
                return rc;
        }
        *fd_out = fd;
        return MAILOTP_OK;
}

enum mailotp_rc fio_append(int fd, const char *name, const char *data, size_t len, int durable,
                           char *err, size_t errlen)
{
        struct stat st;
        ssize_t n;

        if (stat_fd(fd, &st) != 0) {
                mailotp_seterr(err, errlen, "cannot stat %s: %s", name, strerror(errno));
                return MAILOTP_ERR_IO;
        }
        /* One write(2): with O_APPEND a line lands whole after everything before it. */
        do {
                n = write(fd, data, len);
        } while (n < 0 && errno == EINTR);
        if (n == (ssize_t)len && durable && fdatasync(fd) != 0) {
                /* The lines may or may not be on disk: say so, do not take them back. */
                mailotp_seterr(err, errlen, "cannot flush %s: %s", name, strerror(errno));
                return MAILOTP_ERR_IO;
        }
        if (n == (ssize_t)len)
                return MAILOTP_OK;
        if (n >= 0)
                errno = ENOSPC;
        {
                int e = errno;

                /* Take a part line back (the reader would skip it anyway). */
                if (n > 0 && ftruncate(fd, st.st_size) != 0)
                        mailotp_seterr(err, errlen,
                                       "cannot append to %s: %s (a part line is left, skipped by "
                                       "readers)",
                                       name, strerror(e));
                else
                        mailotp_seterr(err, errlen, "cannot append to %s: %s", name, strerror(e));
        }
        return MAILOTP_ERR_IO;
}

void fio_close(int fd)
{
        if (fd >= 0)
                (void)close(fd);
}

static int64_t monotonic_ms(void)
{
        struct timespec ts;

        (void)clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

enum mailotp_rc fio_lock(int dirfd, const char *name, uid_t owner, unsigned timeout_ms, int *fd_out,
                         char *err, size_t errlen)
{
        struct stat st;
        enum mailotp_rc rc;
        int64_t deadline;
        long sleep_us = 1000;
        int fd;

        *fd_out = -1;
        fd = openat(dirfd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
                    0600);
        if (fd < 0) {
                int e = errno;

                mailotp_seterr(err, errlen, "cannot open lock file %s: %s", name,
                               e == ELOOP ? "symbolic link" : strerror(e));
                return e == ELOOP ? MAILOTP_ERR_UNSAFE_FILE : MAILOTP_ERR_IO;
        }
        rc = check_fd(fd, S_IFREG, owner, 077, name, &st, err, errlen);
        if (rc == MAILOTP_OK && st.st_nlink != 1) {
                /* Lock files are never removed or replaced: every locker must meet this one. */
                mailotp_seterr(err, errlen, "lock file %s has %lu links", name,
                               (unsigned long)st.st_nlink);
                rc = MAILOTP_ERR_UNSAFE_FILE;
        }
        if (rc != MAILOTP_OK) {
                (void)close(fd);
                return rc;
        }
        deadline = monotonic_ms() + timeout_ms;
        for (;;) {
                struct timespec ts;

                if (flock(fd, LOCK_EX | LOCK_NB) == 0)
                        break;
                if (errno != EWOULDBLOCK && errno != EINTR) {
                        mailotp_seterr(err, errlen, "cannot lock %s: %s", name, strerror(errno));
                        (void)close(fd);
                        return MAILOTP_ERR_IO;
                }
                if (monotonic_ms() >= deadline) {
                        mailotp_seterr(err, errlen, "lock %s still held after %u ms", name,
                                       timeout_ms);
                        (void)close(fd);
                        return MAILOTP_ERR_LOCK_TIMEOUT;
                }
                ts.tv_sec = 0;
                ts.tv_nsec = sleep_us * 1000;
                (void)nanosleep(&ts, NULL);
                if (sleep_us < 20000)
                        sleep_us *= 2;
        }
        *fd_out = fd;
        return MAILOTP_OK;
}

int64_t fio_lock_mark(int fd)
{
        struct stat st;

        if (fd < 0 || stat_fd(fd, &st) != 0)
                return -1;
        return (int64_t)st.st_size;
}

void fio_lock_mark_set(int fd, uint64_t mark)
{
        int rc;

        if (fd < 0 || mark > (uint64_t)INT32_MAX)
                return;
        rc = ftruncate(fd, (off_t)mark);
        (void)rc; /* a mark that is not set brings the older order back, nothing else */
}

void fio_unlock(int fd)
{
        if (fd >= 0)
                (void)close(fd);
}
