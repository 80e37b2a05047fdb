/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * All file I/O of the core, in one place.
 *
 * Every open is relative to a directory descriptor, with O_NOFOLLOW, and is
 * checked with statx (or fstat) on the descriptor (type, owner, mode, link
 * count, size) before one byte is trusted.  Files are replaced through a temporary
 * file in the same directory, made durable with fsync + rename + fsync of the
 * directory, so a reader sees the old or the new file, never a torn one; the
 * user file (record and state, written at every login) is instead rewritten
 * in place in one of two checksummed slots (slots.h, with the pending
 * last-logins entries in the slot's extension), and the last-logins log is
 * appended to.
 * The expected owner is always a parameter (the module passes geteuid()).
 */
#ifndef MAILOTP_FILEIO_H
#define MAILOTP_FILEIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "mailotp_rc.h"
#include "slots.h"

/*
 * Open directory `path` relative to atfd (AT_FDCWD for an absolute path)
 * with O_DIRECTORY|O_NOFOLLOW and check it is owned by `owner` and has none
 * of the mode bits in `forbid` (e.g. 022).  When `create` is non-zero a
 * missing directory is made with mode 0700 first.  Returns MAILOTP_ERR_NOT_FOUND
 * when it is missing (and not created), MAILOTP_ERR_UNSAFE_FILE, MAILOTP_ERR_IO.
 */
enum mailotp_rc fio_open_dir(int atfd, const char *path, uid_t owner, mode_t forbid, int create,
                             int *fd_out, char *err, size_t errlen);

/*
 * Read regular file `name` in directory dirfd: owner must be `owner`, no mode
 * bits in `forbid`, one link only, at most `max` bytes, no NUL byte.  On
 * MAILOTP_OK *buf is a new NUL-terminated buffer of *len bytes which the caller
 * releases with secure_freezero(*buf, *len + 1).  Returns MAILOTP_ERR_NOT_FOUND
 * when the name does not exist, MAILOTP_ERR_UNSAFE_FILE (symlink, FIFO,
 * directory, owner, mode, hard link, too large), MAILOTP_ERR_FORMAT (NUL byte),
 * MAILOTP_ERR_IO or MAILOTP_ERR_NOMEM.
 */
enum mailotp_rc fio_read(int dirfd, const char *name, uid_t owner, mode_t forbid, size_t max,
                         char **buf, size_t *len, char *err, size_t errlen);

/* As fio_read, for binary files: NUL bytes are allowed. */
enum mailotp_rc fio_read_bytes(int dirfd, const char *name, uid_t owner, mode_t forbid, size_t max,
                               char **buf, size_t *len, char *err, size_t errlen);

/*
 * Store payload[0..len) in the two-slot file `name` (slots.h) in dirfd: the
 * older slot is overwritten in place with the next sequence number and
 * flushed with fdatasync (one device flush, no metadata, no new block: it
 * works on a full disk).  A missing file, a file in another format or one
 * with no valid slot is replaced as by fio_write_atomic().  The file must
 * pass the fio_read checks and have exactly one link.  The caller holds the
 * lock that serialises writers.  Returns MAILOTP_OK, MAILOTP_ERR_IO,
 * MAILOTP_ERR_UNSAFE_FILE, MAILOTP_ERR_NOMEM or MAILOTP_ERR_INVALID (too big).
 */
enum mailotp_rc fio_slots_write(int dirfd, const char *name, uid_t owner, const void *payload,
                                size_t len, char *err, size_t errlen);

/* What fio_slots_update() found in the file before the write. */
enum fio_slots_have {
        FIO_SLOTS_MISSING = 0, /* no such file */
        FIO_SLOTS_INVALID,     /* a file, but no valid slot (or another format) */
        FIO_SLOTS_VALID,       /* cur[0..curlen) is the current payload */
};

/* The current content of a slot file, for the editor (pointers into the image read). */
struct fio_slot_view {
        const unsigned char *payload;
        size_t len;
        const unsigned char *ext; /* the slot's extension (slots.h); NULL when none */
        size_t extlen;
};

/* The next content, computed by the editor. */
struct fio_slot_next {
        unsigned char payload[SLOTS_PAYLOAD_MAX];
        size_t len;
        unsigned char ext[SLOTS_PAYLOAD_MAX];
        size_t extlen; /* 0: no extension; at most slots_ext_room(len) */
};

/*
 * Computes the next content from the current one (cur is NULL unless
 * FIO_SLOTS_VALID) into next, which starts zeroed.  Anything but MAILOTP_OK
 * is returned by fio_slots_update() as is, and nothing is written.
 */
typedef enum mailotp_rc (*fio_slots_edit_fn)(void *ctx, enum fio_slots_have have,
                                             const struct fio_slot_view *cur,
                                             struct fio_slot_next *next, char *err, size_t errlen);

/*
 * Read-modify-write of a two-slot file under the caller's lock: read it once,
 * let edit() compute the next payload, then write it as fio_slots_write()
 * does (in place when there is a valid slot, else a whole new file).  On
 * MAILOTP_OK *seq_out (unless NULL) is the sequence number written (1 for a
 * new file).
 */
enum mailotp_rc fio_slots_update(int dirfd, const char *name, uid_t owner, fio_slots_edit_fn edit,
                                 void *ctx, uint64_t *seq_out, char *err, size_t errlen);

/*
 * Open `name` in dirfd for appending (never created here; same checks as
 * fio_read plus exactly one link) and read its content (at most max bytes,
 * NUL bytes allowed: a crash can leave a zero-filled tail) into *buf as
 * fio_read_bytes does.  On MAILOTP_OK the caller appends with
 * fio_append() and closes with fio_close().
 */
enum mailotp_rc fio_open_append(int dirfd, const char *name, uid_t owner, size_t max, int *fd_out,
                                char **buf, size_t *len, char *err, size_t errlen);

/*
 * Append data with a single write(2) (for the last-logins log), then
 * fdatasync when `durable`.  A short write is truncated away again.
 * MAILOTP_OK or MAILOTP_ERR_IO.
 */
enum mailotp_rc fio_append(int fd, const char *name, const char *data, size_t len, int durable,
                           char *err, size_t errlen);

/* Close a descriptor from fio_open_append(); -1 is ignored. */
void fio_close(int fd);

/*
 * Replace `name` in dirfd atomically and durably with data[0..len): temp file
 * ".NAME.XXXXXXXX" (O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600), full write loop,
 * fsync, checked close, renameat, fsync(dirfd).  On failure the old file is
 * untouched and the temp file is removed.  Returns MAILOTP_OK or MAILOTP_ERR_IO.
 */
enum mailotp_rc fio_write_atomic(int dirfd, const char *name, const char *data, size_t len,
                                 char *err, size_t errlen);

/*
 * As fio_write_atomic() but without any fsync: the reader still sees the old
 * or the new file, but a crash may lose the update.  For data whose loss is
 * harmless (the last-logins log), so that it costs no disk flush per login.
 */
enum mailotp_rc fio_write_atomic_fast(int dirfd, const char *name, const char *data, size_t len,
                                      char *err, size_t errlen);

/*
 * Create `name` in dirfd durably with data[0..len) only if it does not exist
 * yet (temp file, fsync, link, directory fsync): of two racing creators
 * exactly one wins.  Returns MAILOTP_OK, MAILOTP_ERR_STATE when the name
 * already exists, or MAILOTP_ERR_IO.
 */
enum mailotp_rc fio_create_new(int dirfd, const char *name, const char *data, size_t len, char *err,
                               size_t errlen);

/*
 * Remove `name` from dirfd and fsync the directory.  A missing file is
 * MAILOTP_OK.  Returns MAILOTP_ERR_IO otherwise.
 */
enum mailotp_rc fio_unlink(int dirfd, const char *name, char *err, size_t errlen);

/*
 * Take an exclusive flock on lock file `name` in dirfd (created 0600 when
 * missing; it is never renamed or removed, so every locker meets the same
 * inode).  Waits at most timeout_ms, retrying on EINTR.  On MAILOTP_OK *fd_out
 * holds the lock until fio_unlock().  Returns MAILOTP_ERR_LOCK_TIMEOUT,
 * MAILOTP_ERR_UNSAFE_FILE or MAILOTP_ERR_IO.
 */
enum mailotp_rc fio_lock(int dirfd, const char *name, uid_t owner, unsigned timeout_ms, int *fd_out,
                         char *err, size_t errlen);

/* Release a lock taken by fio_lock (closing the descriptor drops the flock). */
void fio_unlock(int fd);

/*
 * A lock file holds no data; its size is a small number its holder may set
 * (the store's order mark, see store_file.c).  fio_lock_mark: the size, or
 * -1 when it cannot be read.  fio_lock_mark_set: best effort (ftruncate of
 * the held lock file, no flush: a lost mark costs no data).
 */
int64_t fio_lock_mark(int fd);
void fio_lock_mark_set(int fd, uint64_t mark);

#endif
