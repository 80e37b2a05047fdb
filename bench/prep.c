/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Preparing the three modules' stores for N mailboxes.  Enrolling 100,000
 * mailboxes through the CLI would take hours, so the files an `enroll` +
 * `confirm` leaves behind are written directly, in the store's documented
 * format (src/record.c: record_format, state_format; record and state in one
 * two-slot user file, src/userfile.h and src/slots.h, encoded with the store's own
 * slots_encode); bench/run then checks
 * a sample with `mailotp status` and adds application passwords with the CLI.
 */
#include "pambench.h"
#include "slots.h"

#include <errno.h>
#include <fcntl.h>
#include <liboath/oath.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* splitmix64: a fixed, well-mixed stream; the secrets only need to differ. */
static uint64_t mix64(uint64_t x)
{
        x += 0x9E3779B97F4A7C15ULL;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
        return x ^ (x >> 31);
}

void bench_secret(uint32_t idx, unsigned char out[BENCH_SECRET_LEN])
{
        uint64_t s = mix64(0x6d61696c6f7470ULL ^ ((uint64_t)idx << 20));
        size_t i;

        for (i = 0; i < BENCH_SECRET_LEN; i++) {
                if (i % 8 == 0)
                        s = mix64(s);
                out[i] = (unsigned char)(s >> (8 * (i % 8)));
        }
}

void bench_user_name(uint32_t idx, char *out)
{
        (void)snprintf(out, BENCH_USER_MAX, BENCH_USER_PREFIX "%06u", (unsigned)idx);
}

void bench_base32(const unsigned char in[BENCH_SECRET_LEN], char out[33])
{
        static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        unsigned buf = 0, bits = 0;
        size_t i, o = 0;

        for (i = 0; i < BENCH_SECRET_LEN; i++) {
                buf = (buf << 8) | in[i];
                bits += 8;
                while (bits >= 5) {
                        out[o++] = alphabet[(buf >> (bits - 5)) & 31U];
                        bits -= 5;
                }
        }
        out[o] = '\0'; /* 160 bits are exactly 32 characters: no padding */
}

int bench_code(uint32_t idx, int64_t t, char out[7])
{
        unsigned char secret[BENCH_SECRET_LEN];
        int rc;

        bench_secret(idx, secret);
        rc = oath_totp_generate((const char *)secret, sizeof(secret), (time_t)t, BENCH_PERIOD, 0, 6,
                                out);
        return rc == OATH_OK ? 0 : -1;
}

int bench_wrong_code(uint32_t idx, int64_t t, char out[7])
{
        char c[3][7];
        unsigned v;
        int k;

        for (k = 0; k < 3; k++) {
                if (bench_code(idx, t + (k - 1) * BENCH_PERIOD, c[k]) != 0)
                        return -1;
        }
        v = ((unsigned)strtoul(c[1], NULL, 10) + 500000U) % 1000000U;
        for (;;) {
                (void)snprintf(out, 7, "%06u", v);
                if (strcmp(out, c[0]) != 0 && strcmp(out, c[1]) != 0 && strcmp(out, c[2]) != 0)
                        return 0;
                v = (v + 1U) % 1000000U;
        }
}

/* Create dir/name with exactly this content and mode (never replacing). */
static int put_file(int dirfd, const char *name, const char *data, size_t len, mode_t mode)
{
        size_t off = 0;
        int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);

        if (fd < 0) {
                fprintf(stderr, "pambench: cannot create %s: %s\n", name, strerror(errno));
                return -1;
        }
        while (off < len) {
                ssize_t k = write(fd, data + off, len - off);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0) {
                        fprintf(stderr, "pambench: cannot write %s: %s\n", name, strerror(errno));
                        (void)close(fd);
                        return -1;
                }
                off += (size_t)k;
        }
        if (fchmod(fd, mode) != 0 || close(fd) != 0) {
                fprintf(stderr, "pambench: cannot finish %s: %s\n", name, strerror(errno));
                return -1;
        }
        return 0;
}

static int make_dir(int atfd, const char *name, int *fd_out)
{
        if (mkdirat(atfd, name, 0700) != 0) {
                fprintf(stderr, "pambench: cannot create directory %s: %s\n", name,
                        strerror(errno));
                return -1;
        }
        *fd_out = openat(atfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (*fd_out < 0) {
                fprintf(stderr, "pambench: cannot open directory %s: %s\n", name, strerror(errno));
                return -1;
        }
        return 0;
}

/* What `mailotp enroll` + `mailotp confirm` leave: the user file (record + state), a lock file. */
static int put_ours(int users_fd, int lock_fd, const char *user, const char *b32, int64_t now)
{
        static unsigned char image[SLOTS_FILE_SIZE];
        char buf[1024];
        int n;

        n = snprintf(buf, sizeof(buf),
                     "# pam_mailotp user record: do not edit, use mailotp(1)\n"
                     "version = 1\nstatus = enabled\nsecret = %s\ndigits = 6\nperiod = 30\n"
                     "created = %lld\nenabled = %lld\nend\n"
                     "# pam_mailotp user state: do not edit\nversion = 1\nlast_step = %lld\n"
                     "failures = 0\nlocked_until = 0\nlast_failure = 0\nlast_success = %lld\nend\n",
                     b32, (long long)now, (long long)now, (long long)(now / BENCH_PERIOD),
                     (long long)now);
        memset(image, 0, sizeof(image));
        if (n < 0 || (size_t)n >= sizeof(buf) || slots_encode(1, buf, (size_t)n, image) != 0 ||
            put_file(users_fd, user, (const char *)image, sizeof(image), 0600) != 0)
                return -1;
        return put_file(lock_fd, user, "", 0, 0600);
}

/*
 * What google-authenticator -t -d -w 3 writes: the secret, the options (replay
 * protection on, window 3 = +-1 step) and five scratch codes.  No RATE_LIMIT.
 */
static int put_ga(int ga_fd, const char *user, const char *b32, uint32_t idx)
{
        char buf[512];
        size_t off;
        int n, k;

        n = snprintf(buf, sizeof(buf), "%s\n\" WINDOW_SIZE 3\n\" DISALLOW_REUSE\n\" TOTP_AUTH\n",
                     b32);
        if (n < 0 || (size_t)n >= sizeof(buf))
                return -1;
        off = (size_t)n;
        for (k = 0; k < 5; k++) {
                uint64_t v = 10000000U + mix64((uint64_t)idx * 8U + (uint64_t)k) % 90000000U;

                n = snprintf(buf + off, sizeof(buf) - off, "%08llu\n", (unsigned long long)v);
                if (n < 0 || (size_t)n >= sizeof(buf) - off)
                        return -1;
                off += (size_t)n;
        }
        return put_file(ga_fd, user, buf, off, 0400);
}

static const char *const store_subdirs[] = {"users", "locks", "apppw", "recovery", "last"};
#define STORE_SUBDIRS (sizeof(store_subdirs) / sizeof(store_subdirs[0]))

int prep_users(const char *work, unsigned n, int64_t now)
{
        char path[BENCH_PATH_MAX], name[32];
        int top = -1, store = -1, sub[STORE_SUBDIRS], ga = -1, rc = -1;
        FILE *oath = NULL;
        unsigned i, k;

        for (k = 0; k < STORE_SUBDIRS; k++)
                sub[k] = -1;
        (void)snprintf(name, sizeof(name), "n%u", n);
        top = open(work, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (top < 0) {
                fprintf(stderr, "pambench: cannot open %s: %s\n", work, strerror(errno));
                return -1;
        }
        {
                int nfd;

                if (make_dir(top, name, &nfd) != 0)
                        goto out;
                (void)close(top);
                top = nfd;
        }
        if (make_dir(top, "store", &store) != 0 || make_dir(top, "ga", &ga) != 0)
                goto out;
        for (k = 0; k < STORE_SUBDIRS; k++) {
                if (make_dir(store, store_subdirs[k], &sub[k]) != 0)
                        goto out;
        }
        (void)snprintf(path, sizeof(path), "%s/%s/oath.users", work, name);
        {
                int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);

                oath = fd >= 0 ? fdopen(fd, "w") : NULL;
                if (oath == NULL) {
                        fprintf(stderr, "pambench: cannot create %s: %s\n", path, strerror(errno));
                        if (fd >= 0)
                                (void)close(fd);
                        goto out;
                }
        }
        for (i = 0; i < n; i++) {
                unsigned char secret[BENCH_SECRET_LEN];
                char user[BENCH_USER_MAX], b32[33], hex[2 * BENCH_SECRET_LEN + 1];

                bench_secret(i, secret);
                bench_base32(secret, b32);
                bench_user_name(i, user);
                for (k = 0; k < BENCH_SECRET_LEN; k++)
                        (void)snprintf(hex + 2 * k, 3, "%02x", secret[k]);
                if (put_ours(sub[0], sub[1], user, b32, now) != 0 || put_ga(ga, user, b32, i) != 0)
                        goto out;
                /* pam_oath: "-" = no password in this file (the code alone is sent). */
                if (fprintf(oath, "HOTP/T30\t%s\t-\t%s\n", user, hex) < 0)
                        goto out;
        }
        if (fclose(oath) != 0) {
                oath = NULL;
                fprintf(stderr, "pambench: cannot write %s\n", path);
                goto out;
        }
        oath = NULL;
        /* Flush it all now, so the timed fsyncs do not also write back the preparation. */
        if (syncfs(top) != 0) {
                fprintf(stderr, "pambench: syncfs: %s\n", strerror(errno));
                goto out;
        }
        rc = 0;
out:
        if (oath != NULL)
                (void)fclose(oath);
        for (k = 0; k < STORE_SUBDIRS; k++) {
                if (sub[k] >= 0)
                        (void)close(sub[k]);
        }
        if (store >= 0)
                (void)close(store);
        if (ga >= 0)
                (void)close(ga);
        if (top >= 0)
                (void)close(top);
        return rc;
}

unsigned bench_load_apppw(const char *path, struct bench_apppw *a, unsigned max)
{
        char line[256];
        unsigned n = 0;
        FILE *f = fopen(path, "re");

        if (f == NULL)
                return 0;
        while (n < max && fgets(line, sizeof(line), f) != NULL)
                if (sscanf(line, "%23s %39s", a[n].user, a[n].token) == 2)
                        n++;
        (void)fclose(f);
        return n;
}
