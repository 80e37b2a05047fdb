/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * All file I/O of the core, in one place.
 *
 * Every open is relative to a directory descriptor, with O_NOFOLLOW, and is
 * checked with fstat on the descriptor (type, owner, mode, link count,
 * size) before one byte is trusted.  Every write goes to a temporary file in
 * the same directory and is made durable with fsync + rename + fsync of the
 * directory, so a reader sees the old or the new file, never a torn one.
 * The expected owner is always a parameter (the module passes geteuid()).
 */
#ifndef MAILOTP_FILEIO_H
#define MAILOTP_FILEIO_H

#include <stddef.h>
#include <sys/types.h>

#include "mailotp_rc.h"

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

#endif
