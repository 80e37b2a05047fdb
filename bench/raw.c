/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Raw floors: what any module that checks a TOTP code, reads a per-user
 * file and durably records the used step must at least spend, measured in
 * the same run (and the same interleaved rounds) as the modules.
 */
#include "pambench.h"

#include <errno.h>
#include <fcntl.h>
#include <liboath/oath.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ns(void)
{
        struct timespec ts;

        (void)clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A state file as the module writes it (about 150 bytes). */
static const char state_text[] = "# pam_mailotp user state: do not edit\nversion = 1\n"
                                 "last_step = 59866653\nfailures = 0\nlocked_until = 0\n"
                                 "last_failure = 0\nlast_success = 1795999605\nend\n";

static int one_read(int dirfd)
{
        char buf[4097];
        struct stat st;
        ssize_t k;
        int fd = openat(dirfd, "small", O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

        if (fd < 0)
                return -1;
        if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
                (void)close(fd);
                return -1;
        }
        do
                k = read(fd, buf, sizeof(buf));
        while (k < 0 && errno == EINTR);
        (void)close(fd);
        return k > 0 ? 0 : -1;
}

/*
 * temp file (O_EXCL) + write + [fsync] + close + rename + [fsync of the directory]:
 * durable 0 = no fsync, 1 = file only, 2 = file and directory.
 */
static int one_rewrite(int dirfd, unsigned seq, int durable)
{
        char tmp[64];
        size_t off = 0;
        int fd;

        (void)snprintf(tmp, sizeof(tmp), ".state.%08x", seq);
        fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return -1;
        if (fchmod(fd, 0600) != 0)
                goto fail;
        while (off < sizeof(state_text) - 1) {
                ssize_t k = write(fd, state_text + off, sizeof(state_text) - 1 - off);

                if (k <= 0)
                        goto fail;
                off += (size_t)k;
        }
        if (durable && fsync(fd) != 0)
                goto fail;
        if (close(fd) != 0) {
                fd = -1;
                goto fail;
        }
        if (renameat(dirfd, tmp, dirfd, "state") != 0) {
                (void)unlinkat(dirfd, tmp, 0);
                return -1;
        }
        return durable == 2 ? fsync(dirfd) : 0;
fail:
        if (fd >= 0)
                (void)close(fd);
        (void)unlinkat(dirfd, tmp, 0);
        return -1;
}

/*
 * What our state write does (src/fileio.c fio_slots_write): open the two-slot
 * file, read both slots, overwrite the older 4 KiB slot in place, fdatasync.
 */
static int one_pwrite_at(int dirfd, const char *name, unsigned seq)
{
        static const size_t slot = 4096;
        unsigned char image[2 * 4096];
        int fd = openat(dirfd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        int rc = -1;

        if (fd < 0)
                return -1;
        memset(image, 0, sizeof(image));
        memcpy(image + (seq % 2) * slot, state_text, sizeof(state_text) - 1);
        if (pread(fd, image + slot * (1 - seq % 2), slot, (off_t)(slot * (1 - seq % 2))) >= 0 &&
            pwrite(fd, image + (seq % 2) * slot, slot, (off_t)((seq % 2) * slot)) ==
                (ssize_t)slot &&
            fdatasync(fd) == 0)
                rc = 0;
        if (close(fd) != 0)
                rc = -1;
        return rc;
}

/*
 * The same slot write to a different file each time, in turn over
 * RAW_SPREAD_FILES files of two slots (kept in the page cache: this is the
 * write, not the read): what a login's state write costs when the user file
 * was last written a while ago, as with many mailboxes.  Its timestamps then
 * change, which dirties the inode; on ext4 without a journal fdatasync writes
 * the inode as well as the data.  RAW_PWRITE_DSYNC, writing one file again
 * and again within the same clock tick, does not see that.
 */
static int one_pwrite_spread(int dirfd, unsigned seq)
{
        char name[32];

        (void)snprintf(name, sizeof(name), "spread/%03u", seq % RAW_SPREAD_FILES);
        return one_pwrite_at(dirfd, name, seq / RAW_SPREAD_FILES);
}

/* Make the files of one_pwrite_spread (once; durable before anything is timed). */
static int spread_prepare(int dirfd)
{
        unsigned char image[2 * 4096];
        char name[32];
        unsigned k;

        if (mkdirat(dirfd, "spread", 0700) != 0 && errno != EEXIST)
                return -1;
        memset(image, 0, sizeof(image));
        for (k = 0; k < RAW_SPREAD_FILES; k++) {
                struct stat st;
                int fd;

                (void)snprintf(name, sizeof(name), "spread/%03u", k);
                if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                    st.st_size == (off_t)sizeof(image))
                        continue;
                fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
                            0600);
                if (fd < 0)
                        return -1;
                if (write(fd, image, sizeof(image)) != (ssize_t)sizeof(image) || fsync(fd) != 0) {
                        (void)close(fd);
                        return -1;
                }
                (void)close(fd);
        }
        return syncfs(dirfd);
}

static int one_pwrite(int dirfd, unsigned seq)
{
        return one_pwrite_at(dirfd, "slot", seq);
}

/* What our last-logins entry costs: open with O_APPEND, read it, one write, close. */
static int one_append(int dirfd)
{
        static const char line[] = "login = 1795999605 success code imap 192.0.2.1 code-accepted\n";
        char buf[8192];
        int fd = openat(dirfd, "log", O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        int rc = -1;
        struct stat st;

        if (fd < 0)
                return -1;
        if (fstat(fd, &st) == 0 && st.st_size > 40 * (off_t)(sizeof(line) - 1) &&
            ftruncate(fd, 0) != 0)
                goto out;
        if (read(fd, buf, sizeof(buf)) >= 0 &&
            write(fd, line, sizeof(line) - 1) == (ssize_t)(sizeof(line) - 1))
                rc = 0;
out:
        if (close(fd) != 0)
                rc = -1;
        return rc;
}

int raw_run(enum raw_floor which, const char *work, double duration_s, unsigned min_attempts,
            struct bench_result *res)
{
        unsigned char secret[BENCH_SECRET_LEN];
        char path[BENCH_PATH_MAX], wrong[7];
        int64_t start, limit = (int64_t)(duration_s * 1e9);
        time_t now = time(NULL);
        unsigned i;
        int dirfd = -1, rc = 0;

        bench_secret(0, secret);
        if (bench_wrong_code(0, (int64_t)now, wrong) != 0)
                return -1;
        (void)snprintf(path, sizeof(path), "%s/raw", work);
        if (which != RAW_TOTP) {
                dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (dirfd < 0) {
                        fprintf(stderr, "pambench: cannot open %s: %s\n", path, strerror(errno));
                        return -1;
                }
        }
        if (which == RAW_PWRITE_SPREAD && spread_prepare(dirfd) != 0) {
                fprintf(stderr, "pambench: cannot prepare %s/spread: %s\n", path, strerror(errno));
                (void)close(dirfd);
                return -1;
        }
        start = now_ns();
        for (i = 0; i < BENCH_MAX_ATTEMPTS; i++) {
                int64_t t0;

                if (i >= min_attempts && now_ns() - start >= limit)
                        break;
                t0 = now_ns();
                switch (which) {
                case RAW_TOTP:
                        /* No match: all three steps are computed, as for a wrong code. */
                        rc =
                            oath_totp_validate2((const char *)secret, sizeof(secret), now,
                                                BENCH_PERIOD, 0, 1, NULL, wrong) == OATH_INVALID_OTP
                                ? 0
                                : -1;
                        break;
                case RAW_READ:
                        rc = one_read(dirfd);
                        break;
                case RAW_REWRITE:
                        rc = one_rewrite(dirfd, i, 2);
                        break;
                case RAW_REWRITE_FILE:
                        rc = one_rewrite(dirfd, i, 1);
                        break;
                case RAW_PWRITE_DSYNC:
                        rc = one_pwrite(dirfd, i);
                        break;
                case RAW_APPEND:
                        rc = one_append(dirfd);
                        break;
                case RAW_PWRITE_SPREAD:
                        rc = one_pwrite_spread(dirfd, i);
                        break;
                case RAW_REWRITE_NOSYNC:
                        rc = one_rewrite(dirfd, i, 0);
                        break;
                case RAW_COUNT:
                        rc = -1;
                        break;
                }
                res->lat_ns[i] = now_ns() - t0;
                res->rc[i] = (int8_t)(rc == 0 ? 0 : 1);
                if (rc != 0)
                        break;
        }
        res->main_done = i;
        res->done = i;
        res->elapsed_s = (double)(now_ns() - start) / 1e9;
        res->status = rc == 0 ? 0 : 1;
        {
                struct rusage ru;

                if (getrusage(RUSAGE_SELF, &ru) == 0)
                        res->cpu_s = (double)ru.ru_utime.tv_sec +
                                     (double)ru.ru_utime.tv_usec / 1e6 +
                                     (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
        }
        if (dirfd >= 0)
                (void)close(dirfd);
        return rc;
}
