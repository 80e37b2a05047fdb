/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fileio.c against real fixtures in a private temporary directory: every
 * kind of unsafe file, atomic replacement, locking and directory checks.
 * The expected owner is always geteuid().
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "secure.h"
#include "testutil.h"

static char dir[512];
static int dfd = -1;
static char err[256];

static void setup(void)
{
        tu_mkdtemp(dir, sizeof(dir));
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ck_assert_int_ge(dfd, 0);
        err[0] = '\0';
}

static void teardown(void)
{
        if (dfd >= 0)
                close(dfd);
        dfd = -1;
        tu_rm_rf(dir);
}

/* Create dir/name with the given text and mode. */
static void put(const char *name, const char *text, mode_t mode)
{
        char p[600];

        tu_join(p, sizeof(p), dir, name);
        tu_write_file(p, text, strlen(text), mode);
}

static enum mailotp_rc rd(const char *name, mode_t forbid, size_t max, char **buf, size_t *len)
{
        err[0] = '\0';
        return fio_read(dfd, name, geteuid(), forbid, max, buf, len, err, sizeof(err));
}

static void assert_read_refused(const char *name, enum mailotp_rc want)
{
        char *buf = err; /* any non-NULL value: must come back NULL */
        size_t len = 99;

        ck_assert_int_eq(rd(name, 077, 4096, &buf, &len), want);
        ck_assert_ptr_null(buf);
        ck_assert_uint_eq(len, 0);
}

static void assert_read_refused_max(const char *name, size_t max)
{
        char *buf = err;
        size_t len = 99;

        ck_assert_int_eq(rd(name, 077, max, &buf, &len), MAILOTP_ERR_UNSAFE_FILE);
        ck_assert_ptr_null(buf);
        ck_assert_uint_eq(len, 0);
}

static int64_t now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- fio_read ------------------------------------------------------------------ */

START_TEST(read_regular)
{
        char *buf = NULL;
        size_t len = 0;

        put("alice", "version = 1\n", 0600);
        ck_assert_int_eq(rd("alice", 077, 4096, &buf, &len), MAILOTP_OK);
        ck_assert_uint_eq(len, 12);
        ck_assert_str_eq(buf, "version = 1\n");
        ck_assert_int_eq(buf[len], '\0');
        secure_freezero(buf, len + 1);
}
END_TEST

START_TEST(read_empty_file)
{
        char *buf = NULL;
        size_t len = 7;

        put("empty", "", 0600);
        ck_assert_int_eq(rd("empty", 077, 4096, &buf, &len), MAILOTP_OK);
        ck_assert_uint_eq(len, 0);
        ck_assert_ptr_nonnull(buf);
        ck_assert_str_eq(buf, "");
        secure_freezero(buf, len + 1);
}
END_TEST

START_TEST(read_exactly_max)
{
        char text[101];
        char *buf = NULL;
        size_t len = 0;

        memset(text, 'a', 100);
        text[100] = '\0';
        put("f", text, 0600);
        ck_assert_int_eq(rd("f", 077, 100, &buf, &len), MAILOTP_OK);
        ck_assert_uint_eq(len, 100);
        secure_freezero(buf, len + 1);
        buf = NULL;
        ck_assert_int_eq(rd("f", 077, 99, &buf, &len), MAILOTP_ERR_UNSAFE_FILE);
        ck_assert_ptr_null(buf);
}
END_TEST

/*
 * A file that grows between fstat and read: fio_read sizes its buffer from
 * fstat, so the first read(2) it makes appends grow_by bytes to grow_path
 * here (once) before reading, as another writer would.
 */
static char grow_path[700];
static size_t grow_by;

static void grow_now(void)
{
        char pad[4096];
        size_t left = grow_by;
        int fd;

        grow_by = 0;
        fd = open(grow_path, O_WRONLY | O_APPEND | O_CLOEXEC);
        if (fd < 0)
                return;
        memset(pad, 'b', sizeof(pad));
        while (left > 0) {
                size_t n = left < sizeof(pad) ? left : sizeof(pad);

                if (write(fd, pad, n) != (ssize_t)n)
                        break;
                left -= n;
        }
        (void)close(fd);
}

ssize_t read(int fd, void *buf, size_t n)
{
        if (grow_by > 0)
                grow_now();
        return (ssize_t)syscall(SYS_read, fd, buf, n);
}

ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen);
ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen)
{
        (void)buflen;
        return read(fd, buf, n);
}

/*
 * statx(2) as the code under test sees it: every call's flags and mask are
 * noted, and with statx_errno set it fails as under a seccomp filter or on a
 * kernel without statx (the code then falls back to fstat).
 */
static int statx_errno;
static unsigned statx_calls, statx_timed_calls, statx_fd_form;

int statx(int fd, const char *path, int flags, unsigned int mask, struct statx *sx)
{
        statx_calls++;
        if ((mask & (STATX_ATIME | STATX_MTIME | STATX_CTIME | STATX_BTIME)) != 0)
                statx_timed_calls++;
        if (path[0] == '\0' && (flags & AT_EMPTY_PATH) != 0)
                statx_fd_form++;
        if (statx_errno != 0) {
                errno = statx_errno;
                return -1;
        }
        return (int)syscall(SYS_statx, fd, path, flags, mask, sx);
}

/* The checks ask for no timestamp: reading the ctime would make the next write stamp a fine one. */
START_TEST(checks_ask_statx_for_no_time)
{
        char *buf = NULL;
        size_t len = 0;

        statx_calls = statx_timed_calls = statx_fd_form = 0;
        put("t", "x\n", 0600);
        ck_assert_int_eq(rd("t", 077, 4096, &buf, &len), MAILOTP_OK);
        secure_freezero(buf, len + 1);
        ck_assert_uint_gt(statx_calls, 0);
        ck_assert_uint_eq(statx_fd_form, statx_calls);
        ck_assert_uint_eq(statx_timed_calls, 0);
}
END_TEST

/* Without statx the same checks hold, through fstat. */
START_TEST(checks_fall_back_to_fstat)
{
        static const int errs[] = {ENOSYS, EPERM};
        char a[600], b[600], *buf = NULL;
        size_t len = 0, i;

        for (i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
                statx_errno = errs[i];
                put("ok", "x\n", 0600);
                ck_assert_int_eq(rd("ok", 077, 4096, &buf, &len), MAILOTP_OK);
                ck_assert_uint_eq(len, 2);
                secure_freezero(buf, len + 1);
                buf = NULL;
                put("m", "x\n", 0640);
                assert_read_refused("m", MAILOTP_ERR_UNSAFE_FILE);
                put("big", "0123456789\n", 0600);
                assert_read_refused_max("big", 5);
                tu_join(a, sizeof(a), dir, "ok");
                tu_join(b, sizeof(b), dir, "ok2");
                (void)unlink(b);
                ck_assert_int_eq(link(a, b), 0);
                assert_read_refused("ok", MAILOTP_ERR_UNSAFE_FILE);
                ck_assert_int_eq(unlink(b), 0);
                ck_assert_int_eq(unlink(a), 0);
        }
        /* Any other error is an error, not a reason to look again. */
        statx_errno = EIO;
        put("ok", "x\n", 0600);
        assert_read_refused("ok", MAILOTP_ERR_IO);
        ck_assert_ptr_nonnull(strstr(err, "cannot stat"));
        statx_errno = 0;
}
END_TEST

START_TEST(read_file_that_grows_meanwhile)
{
        static const size_t grows[] = {1, 100, 4096, 10000};
        char *buf = NULL;
        size_t len = 0, i, k;

        for (i = 0; i < sizeof(grows) / sizeof(grows[0]); i++) {
                put("g", "version = 1\n", 0600);
                tu_join(grow_path, sizeof(grow_path), dir, "g");
                grow_by = grows[i];
                ck_assert_int_eq(rd("g", 077, 65536, &buf, &len), MAILOTP_OK);
                ck_assert_uint_eq(grow_by, 0);
                /* All of it, as it is after the growth: the old bytes, then the new. */
                ck_assert_uint_eq(len, 12 + grows[i]);
                ck_assert(memcmp(buf, "version = 1\n", 12) == 0);
                for (k = 12; k < len; k++)
                        ck_assert_int_eq(buf[k], 'b');
                ck_assert_int_eq(buf[len], '\0');
                secure_freezero(buf, len + 1);
                buf = NULL;
        }
}
END_TEST

START_TEST(read_file_that_grows_beyond_max)
{
        char *buf = err;
        size_t len = 99;

        put("g", "version = 1\n", 0600);
        tu_join(grow_path, sizeof(grow_path), dir, "g");
        grow_by = 200; /* 212 bytes then, over a max of 100 */
        ck_assert_int_eq(rd("g", 077, 100, &buf, &len), MAILOTP_ERR_UNSAFE_FILE);
        ck_assert_ptr_null(buf);
        ck_assert_uint_eq(len, 0);
        ck_assert_ptr_nonnull(strstr(err, "larger than 100 bytes"));
        /* Up to exactly max is still read. */
        put("g", "version = 1\n", 0600);
        grow_by = 88;
        ck_assert_int_eq(rd("g", 077, 100, &buf, &len), MAILOTP_OK);
        ck_assert_uint_eq(len, 100);
        secure_freezero(buf, len + 1);
}
END_TEST

START_TEST(read_missing)
{
        assert_read_refused("nobody", MAILOTP_ERR_NOT_FOUND);
}
END_TEST

START_TEST(read_symlink)
{
        char p[600];

        put("real", "x\n", 0600);
        tu_join(p, sizeof(p), dir, "link");
        ck_assert_int_eq(symlink("real", p), 0);
        assert_read_refused("link", MAILOTP_ERR_UNSAFE_FILE);
        /* a dangling link too */
        tu_join(p, sizeof(p), dir, "dangling");
        ck_assert_int_eq(symlink("nowhere", p), 0);
        assert_read_refused("dangling", MAILOTP_ERR_UNSAFE_FILE);
}
END_TEST

START_TEST(read_hard_link)
{
        char a[600], b[600];

        put("a", "x\n", 0600);
        tu_join(a, sizeof(a), dir, "a");
        tu_join(b, sizeof(b), dir, "b");
        ck_assert_int_eq(link(a, b), 0);
        assert_read_refused("a", MAILOTP_ERR_UNSAFE_FILE);
        assert_read_refused("b", MAILOTP_ERR_UNSAFE_FILE);
        ck_assert_ptr_nonnull(strstr(err, "link"));
}
END_TEST

START_TEST(read_directory)
{
        char p[600];

        tu_join(p, sizeof(p), dir, "sub");
        ck_assert_int_eq(mkdir(p, 0700), 0);
        assert_read_refused("sub", MAILOTP_ERR_UNSAFE_FILE);
}
END_TEST

START_TEST(read_fifo_does_not_hang)
{
        char p[600];
        int64_t t0;

        tu_join(p, sizeof(p), dir, "fifo");
        ck_assert_int_eq(mkfifo(p, 0600), 0);
        alarm(5); /* a hang kills the test instead of the run */
        t0 = now_ms();
        assert_read_refused("fifo", MAILOTP_ERR_UNSAFE_FILE);
        alarm(0);
        ck_assert_int_lt(now_ms() - t0, 2000);
}
END_TEST

START_TEST(read_unsafe_modes)
{
        static const mode_t modes[] = {0640, 0604, 0660, 0606, 0644, 0666, 0610, 0601, 0700};

        for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
                char *buf = NULL;
                size_t len = 0;
                enum mailotp_rc rc;

                put("m", "x\n", modes[i]);
                rc = rd("m", 077, 4096, &buf, &len);
                ck_assert_msg(rc == (modes[i] == 0700 ? MAILOTP_OK : MAILOTP_ERR_UNSAFE_FILE),
                              "mode %04o", (unsigned)modes[i]);
                if (buf != NULL)
                        secure_freezero(buf, len + 1);
        }
}
END_TEST

START_TEST(read_forbid_mask_is_respected)
{
        char *buf = NULL;
        size_t len = 0;

        /* the configuration file is read with forbid 022: 0644 is fine there */
        put("conf", "x\n", 0644);
        ck_assert_int_eq(rd("conf", 022, 4096, &buf, &len), MAILOTP_OK);
        secure_freezero(buf, len + 1);
        put("conf", "x\n", 0664);
        ck_assert_int_eq(rd("conf", 022, 4096, &buf, &len), MAILOTP_ERR_UNSAFE_FILE);
        put("conf", "x\n", 0646);
        ck_assert_int_eq(rd("conf", 022, 4096, &buf, &len), MAILOTP_ERR_UNSAFE_FILE);
}
END_TEST

START_TEST(read_wrong_owner)
{
        struct stat st;
        char p[600];
        char *buf = NULL;
        size_t len = 0;

        put("owned", "x\n", 0600);
        tu_join(p, sizeof(p), dir, "owned");
        if (geteuid() == 0) {
                ck_assert_int_eq(chown(p, 1, (gid_t)-1), 0);
                assert_read_refused("owned", MAILOTP_ERR_UNSAFE_FILE);
                ck_assert_ptr_nonnull(strstr(err, "owned by uid 1"));
        } else {
                fprintf(stderr, "read_wrong_owner: not root, checking with a different "
                                "expected owner instead of chown\n");
        }
        /* the same file with an expected owner it does not have */
        ck_assert_int_eq(lstat(p, &st), 0);
        ck_assert_int_eq(
            fio_read(dfd, "owned", st.st_uid + 1, 077, 4096, &buf, &len, err, sizeof(err)),
            MAILOTP_ERR_UNSAFE_FILE);
        ck_assert_ptr_null(buf);
}
END_TEST

START_TEST(read_oversized)
{
        char text[200];
        char *buf = NULL;
        size_t len = 0;

        memset(text, 'a', sizeof(text) - 1);
        text[sizeof(text) - 1] = '\0';
        put("big", text, 0600);
        assert_read_refused_max("big", 198);
        ck_assert_int_eq(rd("big", 077, 199, &buf, &len), MAILOTP_OK);
        ck_assert_uint_eq(len, 199);
        secure_freezero(buf, len + 1);
}
END_TEST

START_TEST(read_nul_byte)
{
        char p[600];

        tu_join(p, sizeof(p), dir, "nul");
        tu_write_file(p, "version = 1\n\0x\n", 15, 0600);
        assert_read_refused("nul", MAILOTP_ERR_FORMAT);
        tu_write_file(p, "\0", 1, 0600);
        assert_read_refused("nul", MAILOTP_ERR_FORMAT);
}
END_TEST

/* ---- fio_write_atomic ------------------------------------------------------------- */

static void assert_file_is(const char *name, const char *want, mode_t mode)
{
        char p[600];
        struct stat st;
        size_t len = 0;
        char *got;

        tu_join(p, sizeof(p), dir, name);
        ck_assert_int_eq(lstat(p, &st), 0);
        ck_assert_msg(S_ISREG(st.st_mode), "not a regular file");
        ck_assert_uint_eq(st.st_mode & 07777, mode);
        ck_assert_uint_eq(st.st_nlink, 1);
        got = tu_read_file(p, &len);
        ck_assert_ptr_nonnull(got);
        ck_assert_uint_eq(len, strlen(want));
        ck_assert_str_eq(got, want);
        free(got);
}

START_TEST(write_new_file)
{
        ck_assert_int_eq(fio_write_atomic(dfd, "alice", "hello\n", 6, err, sizeof(err)),
                         MAILOTP_OK);
        assert_file_is("alice", "hello\n", 0600);
        ck_assert_uint_eq(tu_count_dot_entries(dir), 0);
}
END_TEST

START_TEST(write_replaces_existing)
{
        put("alice", "old content that is longer\n", 0644);
        ck_assert_int_eq(fio_write_atomic(dfd, "alice", "new\n", 4, err, sizeof(err)), MAILOTP_OK);
        assert_file_is("alice", "new\n", 0600);
        ck_assert_uint_eq(tu_count_dot_entries(dir), 0);
        /* and again, many times: never a temp file left */
        for (int i = 0; i < 20; i++)
                ck_assert_int_eq(fio_write_atomic(dfd, "alice", "x\n", 2, err, sizeof(err)),
                                 MAILOTP_OK);
        assert_file_is("alice", "x\n", 0600);
        ck_assert_uint_eq(tu_count_dot_entries(dir), 0);
}
END_TEST

START_TEST(write_mode_ignores_umask)
{
        mode_t old = umask(0);

        ck_assert_int_eq(fio_write_atomic(dfd, "a", "1\n", 2, err, sizeof(err)), MAILOTP_OK);
        umask(0777);
        ck_assert_int_eq(fio_write_atomic(dfd, "b", "2\n", 2, err, sizeof(err)), MAILOTP_OK);
        umask(old);
        assert_file_is("a", "1\n", 0600);
        assert_file_is("b", "2\n", 0600);
}
END_TEST

START_TEST(write_empty_and_readable_back)
{
        char *buf = NULL;
        size_t len = 9;

        ck_assert_int_eq(fio_write_atomic(dfd, "e", "", 0, err, sizeof(err)), MAILOTP_OK);
        assert_file_is("e", "", 0600);
        ck_assert_int_eq(rd("e", 077, 10, &buf, &len), MAILOTP_OK);
        ck_assert_uint_eq(len, 0);
        secure_freezero(buf, 1);
}
END_TEST

START_TEST(write_long_name)
{
        char name[256];
        char *buf = NULL;
        size_t len = 0;

        memset(name, 'n', 255);
        name[255] = '\0';
        ck_assert_msg(fio_write_atomic(dfd, name, "long\n", 5, err, sizeof(err)) == MAILOTP_OK,
                      "%s", err);
        assert_file_is(name, "long\n", 0600);
        ck_assert_uint_eq(tu_count_dot_entries(dir), 0);
        ck_assert_int_eq(rd(name, 077, 100, &buf, &len), MAILOTP_OK);
        ck_assert_str_eq(buf, "long\n");
        secure_freezero(buf, len + 1);
}
END_TEST

START_TEST(write_large_content)
{
        const size_t n = 256 * 1024;
        char *data = malloc(n + 1);
        char p[600];
        char *got;
        size_t len = 0;

        ck_assert_ptr_nonnull(data);
        for (size_t i = 0; i < n; i++)
                data[i] = (char)('a' + i % 26);
        data[n] = '\0';
        ck_assert_int_eq(fio_write_atomic(dfd, "big", data, n, err, sizeof(err)), MAILOTP_OK);
        tu_join(p, sizeof(p), dir, "big");
        got = tu_read_file(p, &len);
        ck_assert_uint_eq(len, n);
        ck_assert_int_eq(memcmp(got, data, n), 0);
        free(got);
        free(data);
}
END_TEST

START_TEST(write_into_directory_target_fails_cleanly)
{
        char p[600];

        /* the target is a non-empty directory: rename fails, temp file removed */
        tu_join(p, sizeof(p), dir, "d");
        ck_assert_int_eq(mkdir(p, 0700), 0);
        put("d/inner", "x", 0600);
        ck_assert_int_eq(fio_write_atomic(dfd, "d", "x\n", 2, err, sizeof(err)), MAILOTP_ERR_IO);
        ck_assert_str_ne(err, "");
        ck_assert_uint_eq(tu_count_dot_entries(dir), 0);
}
END_TEST

START_TEST(write_replaces_symlink_not_target)
{
        char p[600];

        /* rename replaces the link itself; the file it pointed at is untouched */
        put("target", "keep\n", 0600);
        tu_join(p, sizeof(p), dir, "alice");
        ck_assert_int_eq(symlink("target", p), 0);
        ck_assert_int_eq(fio_write_atomic(dfd, "alice", "new\n", 4, err, sizeof(err)), MAILOTP_OK);
        assert_file_is("alice", "new\n", 0600);
        assert_file_is("target", "keep\n", 0600);
}
END_TEST

START_TEST(unlink_file)
{
        char p[600];

        put("gone", "x\n", 0600);
        ck_assert_int_eq(fio_unlink(dfd, "gone", err, sizeof(err)), MAILOTP_OK);
        tu_join(p, sizeof(p), dir, "gone");
        ck_assert(!tu_exists(p));
        ck_assert_int_eq(fio_unlink(dfd, "gone", err, sizeof(err)), MAILOTP_OK); /* missing */
        tu_join(p, sizeof(p), dir, "sub");
        ck_assert_int_eq(mkdir(p, 0700), 0);
        ck_assert_int_eq(fio_unlink(dfd, "sub", err, sizeof(err)), MAILOTP_ERR_IO);
}
END_TEST

/* ---- fio_lock ----------------------------------------------------------------------- */

/*
 * Fork a child that tries the lock with timeout_ms.  It exits 0 when the
 * result is `want` and the time taken is within [min_ms, max_ms], else 1..4.
 */
static void child_lock(enum mailotp_rc want, unsigned timeout_ms, int64_t min_ms, int64_t max_ms)
{
        pid_t pid = fork();
        int status = 0;

        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                int fd = -1;
                char e[256];
                int64_t t0 = now_ms(), dt;
                enum mailotp_rc rc =
                    fio_lock(dfd, "alice", geteuid(), timeout_ms, &fd, e, sizeof(e));

                dt = now_ms() - t0;
                if (rc != want)
                        _exit(1);
                if (dt < min_ms)
                        _exit(2);
                if (dt > max_ms)
                        _exit(3);
                if ((rc == MAILOTP_OK) != (fd >= 0))
                        _exit(4);
                fio_unlock(fd);
                _exit(0);
        }
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFEXITED(status));
        ck_assert_msg(WEXITSTATUS(status) == 0, "child lock check failed with %d",
                      WEXITSTATUS(status));
}

START_TEST(lock_and_timeout)
{
        int fd = -1;

        ck_assert_int_eq(fio_lock(dfd, "alice", geteuid(), 1000, &fd, err, sizeof(err)),
                         MAILOTP_OK);
        ck_assert_int_ge(fd, 0);
        /* held by us: the child waits ~300 ms (slack 1.5 s) and gives up */
        child_lock(MAILOTP_ERR_LOCK_TIMEOUT, 300, 290, 1800);
        /* zero timeout: one try only */
        child_lock(MAILOTP_ERR_LOCK_TIMEOUT, 0, 0, 1000);
        fio_unlock(fd);
        /* released: the child gets it at once */
        child_lock(MAILOTP_OK, 300, 0, 250);
}
END_TEST

START_TEST(lock_waits_for_release)
{
        int fd = -1;
        pid_t pid;
        int status = 0;

        ck_assert_int_eq(fio_lock(dfd, "alice", geteuid(), 1000, &fd, err, sizeof(err)),
                         MAILOTP_OK);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                /* the holder releases after 200 ms */
                struct timespec ts = {0, 200 * 1000 * 1000};

                nanosleep(&ts, NULL);
                fio_unlock(fd);
                _exit(0);
        }
        fio_unlock(fd); /* the parent's copy; the child's copy still holds the lock */
        {
                int fd2 = -1;
                int64_t t0 = now_ms();

                ck_assert_int_eq(fio_lock(dfd, "alice", geteuid(), 5000, &fd2, err, sizeof(err)),
                                 MAILOTP_OK);
                ck_assert_int_ge(now_ms() - t0, 150);
                ck_assert_int_lt(now_ms() - t0, 4000);
                fio_unlock(fd2);
        }
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
}
END_TEST

START_TEST(lock_file_created_0600_and_kept)
{
        int fd = -1;
        char p[600];
        struct stat st;

        ck_assert_int_eq(fio_lock(dfd, "bob", geteuid(), 100, &fd, err, sizeof(err)), MAILOTP_OK);
        fio_unlock(fd);
        tu_join(p, sizeof(p), dir, "bob");
        ck_assert_int_eq(lstat(p, &st), 0);
        ck_assert(S_ISREG(st.st_mode));
        ck_assert_uint_eq(st.st_mode & 077, 0);
        ck_assert_int_eq(st.st_size, 0);
        /* relock works on the same inode */
        ck_assert_int_eq(fio_lock(dfd, "bob", geteuid(), 100, &fd, err, sizeof(err)), MAILOTP_OK);
        fio_unlock(fd);
        fio_unlock(-1); /* harmless */
}
END_TEST

START_TEST(lock_symlink_refused)
{
        int fd = 5;
        char p[600];

        put("real", "", 0600);
        tu_join(p, sizeof(p), dir, "alice");
        ck_assert_int_eq(symlink("real", p), 0);
        ck_assert_int_eq(fio_lock(dfd, "alice", geteuid(), 100, &fd, err, sizeof(err)),
                         MAILOTP_ERR_UNSAFE_FILE);
        ck_assert_int_eq(fd, -1);
        /* a dangling link must not create its target either */
        tu_join(p, sizeof(p), dir, "carol");
        ck_assert_int_eq(symlink("created-through-link", p), 0);
        ck_assert_int_eq(fio_lock(dfd, "carol", geteuid(), 100, &fd, err, sizeof(err)),
                         MAILOTP_ERR_UNSAFE_FILE);
        tu_join(p, sizeof(p), dir, "created-through-link");
        ck_assert(!tu_exists(p));
}
END_TEST

START_TEST(lock_unsafe_lock_files)
{
        int fd = -1;
        char p[600];

        put("wide", "", 0644);
        ck_assert_int_eq(fio_lock(dfd, "wide", geteuid(), 100, &fd, err, sizeof(err)),
                         MAILOTP_ERR_UNSAFE_FILE);
        tu_join(p, sizeof(p), dir, "fifo");
        ck_assert_int_eq(mkfifo(p, 0600), 0);
        alarm(5);
        ck_assert_int_eq(fio_lock(dfd, "fifo", geteuid(), 100, &fd, err, sizeof(err)),
                         MAILOTP_ERR_UNSAFE_FILE);
        alarm(0);
        put("theirs", "", 0600);
        ck_assert_int_eq(fio_lock(dfd, "theirs", geteuid() + 1, 100, &fd, err, sizeof(err)),
                         MAILOTP_ERR_UNSAFE_FILE);
        ck_assert_int_eq(fd, -1);
}
END_TEST

/* ---- fio_open_dir --------------------------------------------------------------------- */

START_TEST(open_dir_ok)
{
        int fd = -1;

        ck_assert_int_eq(fio_open_dir(AT_FDCWD, dir, geteuid(), 022, 0, &fd, err, sizeof(err)),
                         MAILOTP_OK);
        ck_assert_int_ge(fd, 0);
        close(fd);
}
END_TEST

START_TEST(open_dir_writable_refused)
{
        static const mode_t modes[] = {0720, 0702, 0770, 0777, 01777};
        char p[600];
        int fd = 5;

        tu_join(p, sizeof(p), dir, "d");
        ck_assert_int_eq(mkdir(p, 0700), 0);
        for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
                ck_assert_int_eq(chmod(p, modes[i]), 0);
                ck_assert_msg(fio_open_dir(dfd, "d", geteuid(), 022, 0, &fd, err, sizeof(err)) ==
                                  MAILOTP_ERR_UNSAFE_FILE,
                              "mode %04o accepted", (unsigned)modes[i]);
                ck_assert_int_eq(fd, -1);
        }
        /* 0755 is fine with forbid 022, not with 077 */
        ck_assert_int_eq(chmod(p, 0755), 0);
        ck_assert_int_eq(fio_open_dir(dfd, "d", geteuid(), 022, 0, &fd, err, sizeof(err)),
                         MAILOTP_OK);
        close(fd);
        ck_assert_int_eq(fio_open_dir(dfd, "d", geteuid(), 077, 0, &fd, err, sizeof(err)),
                         MAILOTP_ERR_UNSAFE_FILE);
}
END_TEST

START_TEST(open_dir_symlink_refused)
{
        char p[600];
        int fd = 5;

        tu_join(p, sizeof(p), dir, "real");
        ck_assert_int_eq(mkdir(p, 0700), 0);
        tu_join(p, sizeof(p), dir, "link");
        ck_assert_int_eq(symlink("real", p), 0);
        ck_assert_int_eq(fio_open_dir(dfd, "link", geteuid(), 022, 0, &fd, err, sizeof(err)),
                         MAILOTP_ERR_UNSAFE_FILE);
        ck_assert_int_eq(fd, -1);
        ck_assert_int_eq(fio_open_dir(AT_FDCWD, p, geteuid(), 022, 1, &fd, err, sizeof(err)),
                         MAILOTP_ERR_UNSAFE_FILE);
}
END_TEST

START_TEST(open_dir_regular_file_refused)
{
        int fd = 5;

        put("file", "x", 0600);
        ck_assert_int_eq(fio_open_dir(dfd, "file", geteuid(), 022, 1, &fd, err, sizeof(err)),
                         MAILOTP_ERR_UNSAFE_FILE);
        ck_assert_int_eq(fd, -1);
}
END_TEST

START_TEST(open_dir_missing)
{
        char p[600];
        int fd = 5;

        ck_assert_int_eq(fio_open_dir(dfd, "nope", geteuid(), 022, 0, &fd, err, sizeof(err)),
                         MAILOTP_ERR_NOT_FOUND);
        ck_assert_int_eq(fd, -1);
        tu_join(p, sizeof(p), dir, "nope");
        ck_assert(!tu_exists(p)); /* not created without the flag */
}
END_TEST

START_TEST(open_dir_create)
{
        char p[600];
        struct stat st;
        int fd = -1;
        mode_t old = umask(0);

        ck_assert_int_eq(fio_open_dir(dfd, "made", geteuid(), 077, 1, &fd, err, sizeof(err)),
                         MAILOTP_OK);
        umask(old);
        ck_assert_int_ge(fd, 0);
        close(fd);
        tu_join(p, sizeof(p), dir, "made");
        ck_assert_int_eq(lstat(p, &st), 0);
        ck_assert(S_ISDIR(st.st_mode));
        ck_assert_uint_eq(st.st_mode & 07777, 0700);
        ck_assert_uint_eq(st.st_uid, geteuid());
        /* existing: create flag is harmless */
        ck_assert_int_eq(fio_open_dir(dfd, "made", geteuid(), 077, 1, &fd, err, sizeof(err)),
                         MAILOTP_OK);
        close(fd);
}
END_TEST

START_TEST(open_dir_wrong_owner)
{
        struct stat st;
        char p[600];
        int fd = 5;

        tu_join(p, sizeof(p), dir, "d");
        ck_assert_int_eq(mkdir(p, 0700), 0);
        if (geteuid() == 0) {
                ck_assert_int_eq(chown(p, 1, (gid_t)-1), 0);
                ck_assert_int_eq(fio_open_dir(dfd, "d", 0, 022, 0, &fd, err, sizeof(err)),
                                 MAILOTP_ERR_UNSAFE_FILE);
        } else {
                fprintf(stderr, "open_dir_wrong_owner: not root, chown skipped\n");
        }
        ck_assert_int_eq(lstat(p, &st), 0);
        ck_assert_int_eq(fio_open_dir(dfd, "d", st.st_uid + 1, 022, 0, &fd, err, sizeof(err)),
                         MAILOTP_ERR_UNSAFE_FILE);
        ck_assert_int_eq(fd, -1);
}
END_TEST

/* ---- fio_write_atomic_fast / fio_create_new ------------------------------------------ */

START_TEST(write_fast_replaces)
{
        ck_assert_int_eq(fio_write_atomic_fast(dfd, "last", "one\n", 4, err, sizeof(err)),
                         MAILOTP_OK);
        assert_file_is("last", "one\n", 0600);
        put("other", "old\n", 0644);
        ck_assert_int_eq(fio_write_atomic_fast(dfd, "other", "two\n", 4, err, sizeof(err)),
                         MAILOTP_OK);
        assert_file_is("other", "two\n", 0600);
        ck_assert_uint_eq(tu_count_dot_entries(dir), 0);
}
END_TEST

START_TEST(create_new_makes_file)
{
        ck_assert_int_eq(fio_create_new(dfd, "server.key", "k\n", 2, err, sizeof(err)), MAILOTP_OK);
        assert_file_is("server.key", "k\n", 0600);
        ck_assert_uint_eq(tu_count_dot_entries(dir), 0);
}
END_TEST

START_TEST(create_new_never_replaces)
{
        char p[600], target[600];
        size_t len = 0;
        char *got;

        put("server.key", "first\n", 0600);
        ck_assert_int_eq(fio_create_new(dfd, "server.key", "second\n", 7, err, sizeof(err)),
                         MAILOTP_ERR_STATE);
        assert_file_is("server.key", "first\n", 0600);
        ck_assert_uint_eq(tu_count_dot_entries(dir), 0);
        /* a symlink in the way is not followed and not replaced */
        tu_join(target, sizeof(target), dir, "target");
        tu_write_file(target, "t\n", 2, 0600);
        tu_join(p, sizeof(p), dir, "link");
        ck_assert_int_eq(symlink(target, p), 0);
        ck_assert_int_eq(fio_create_new(dfd, "link", "x\n", 2, err, sizeof(err)),
                         MAILOTP_ERR_STATE);
        got = tu_read_file(target, &len);
        ck_assert_ptr_nonnull(got);
        ck_assert_str_eq(got, "t\n");
        free(got);
        ck_assert_uint_eq(tu_count_dot_entries(dir), 0);
}
END_TEST

START_TEST(create_new_race_one_winner)
{
        enum { N = 6 };
        pid_t pids[N];
        int wins = 0, losses = 0, winner = -1;
        char want[32], *got;
        size_t len = 0;
        char p[600];

        for (int i = 0; i < N; i++) {
                pids[i] = fork();
                ck_assert_int_ge(pids[i], 0);
                if (pids[i] == 0) {
                        char text[32], e[128];
                        int n = snprintf(text, sizeof(text), "child %d\n", i);
                        enum mailotp_rc rc =
                            fio_create_new(dfd, "key", text, (size_t)n, e, sizeof(e));

                        _exit(rc == MAILOTP_OK ? 0 : rc == MAILOTP_ERR_STATE ? 1 : 2);
                }
        }
        for (int i = 0; i < N; i++) {
                int status = 0;

                ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
                ck_assert(WIFEXITED(status));
                if (WEXITSTATUS(status) == 0) {
                        wins++;
                        winner = i;
                } else {
                        ck_assert_int_eq(WEXITSTATUS(status), 1);
                        losses++;
                }
        }
        ck_assert_int_eq(wins, 1);
        ck_assert_int_eq(losses, N - 1);
        snprintf(want, sizeof(want), "child %d\n", winner);
        tu_join(p, sizeof(p), dir, "key");
        got = tu_read_file(p, &len);
        ck_assert_ptr_nonnull(got);
        ck_assert_str_eq(got, want);
        free(got);
        ck_assert_uint_eq(tu_count_dot_entries(dir), 0);
}
END_TEST

static Suite *fileio_suite(void)
{
        Suite *s = suite_create("fileio");
        TCase *tc;

        tc = tcase_create("read");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 10);
        tcase_add_test(tc, read_regular);
        tcase_add_test(tc, read_empty_file);
        tcase_add_test(tc, read_exactly_max);
        tcase_add_test(tc, read_file_that_grows_meanwhile);
        tcase_add_test(tc, read_file_that_grows_beyond_max);
        tcase_add_test(tc, read_missing);
        tcase_add_test(tc, read_symlink);
        tcase_add_test(tc, read_hard_link);
        tcase_add_test(tc, read_directory);
        tcase_add_test(tc, read_fifo_does_not_hang);
        tcase_add_test(tc, read_unsafe_modes);
        tcase_add_test(tc, read_forbid_mask_is_respected);
        tcase_add_test(tc, read_wrong_owner);
        tcase_add_test(tc, read_oversized);
        tcase_add_test(tc, read_nul_byte);
        tcase_add_test(tc, checks_ask_statx_for_no_time);
        tcase_add_test(tc, checks_fall_back_to_fstat);
        suite_add_tcase(s, tc);

        tc = tcase_create("write");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 20);
        tcase_add_test(tc, write_new_file);
        tcase_add_test(tc, write_replaces_existing);
        tcase_add_test(tc, write_mode_ignores_umask);
        tcase_add_test(tc, write_empty_and_readable_back);
        tcase_add_test(tc, write_long_name);
        tcase_add_test(tc, write_large_content);
        tcase_add_test(tc, write_into_directory_target_fails_cleanly);
        tcase_add_test(tc, write_replaces_symlink_not_target);
        tcase_add_test(tc, unlink_file);
        tcase_add_test(tc, write_fast_replaces);
        tcase_add_test(tc, create_new_makes_file);
        tcase_add_test(tc, create_new_never_replaces);
        tcase_add_test(tc, create_new_race_one_winner);
        suite_add_tcase(s, tc);

        tc = tcase_create("lock");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 20);
        tcase_add_test(tc, lock_and_timeout);
        tcase_add_test(tc, lock_waits_for_release);
        tcase_add_test(tc, lock_file_created_0600_and_kept);
        tcase_add_test(tc, lock_symlink_refused);
        tcase_add_test(tc, lock_unsafe_lock_files);
        suite_add_tcase(s, tc);

        tc = tcase_create("dir");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, open_dir_ok);
        tcase_add_test(tc, open_dir_writable_refused);
        tcase_add_test(tc, open_dir_symlink_refused);
        tcase_add_test(tc, open_dir_regular_file_refused);
        tcase_add_test(tc, open_dir_missing);
        tcase_add_test(tc, open_dir_create);
        tcase_add_test(tc, open_dir_wrong_owner);
        suite_add_tcase(s, tc);
        return s;
}

int main(void)
{
        return tu_main(fileio_suite());
}
