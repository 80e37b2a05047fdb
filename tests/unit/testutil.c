/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "slots.h"

#ifndef MAILOTP_OATHTOOL
#define MAILOTP_OATHTOOL "oathtool"
#endif
#ifndef MAILOTP_OPENSSL
#define MAILOTP_OPENSSL "openssl"
#endif

static char base_dir[256];

const char *tu_base(void)
{
        return base_dir;
}

static int rm_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
        (void)sb;
        (void)ftw;
        if (type == FTW_DP || type == FTW_D || type == FTW_DNR)
                (void)rmdir(path);
        else
                (void)unlink(path);
        return 0;
}

void tu_rm_rf(const char *path)
{
        if (path == NULL || path[0] == '\0')
                return;
        (void)nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int tu_main(Suite *s)
{
        SRunner *sr;
        int failed;

        snprintf(base_dir, sizeof(base_dir), "/tmp/mailotp-unit-XXXXXX");
        if (mkdtemp(base_dir) == NULL) {
                perror("mkdtemp");
                return EXIT_FAILURE;
        }
        sr = srunner_create(s);
        srunner_run_all(sr, CK_ENV);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        tu_rm_rf(base_dir);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

void tu_join(char *out, size_t outsz, const char *a, const char *b)
{
        int n = snprintf(out, outsz, "%s/%s", a, b);

        ck_assert_msg(n > 0 && (size_t)n < outsz, "path too long: %s/%s", a, b);
}

void tu_mkdtemp(char *out, size_t outsz)
{
        tu_join(out, outsz, base_dir, "t.XXXXXX");
        ck_assert_msg(mkdtemp(out) != NULL, "mkdtemp %s: %s", out, strerror(errno));
}

void tu_write_file(const char *path, const char *data, size_t len, mode_t mode)
{
        size_t off = 0;
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);

        ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
        ck_assert_int_eq(fchmod(fd, mode), 0);
        while (off < len) {
                ssize_t n = write(fd, data + off, len - off);

                ck_assert_msg(n > 0, "write %s: %s", path, strerror(errno));
                off += (size_t)n;
        }
        ck_assert_int_eq(close(fd), 0);
}

char *tu_read_file(const char *path, size_t *len)
{
        FILE *f = fopen(path, "rb");
        char *buf;
        long size;

        *len = 0;
        if (f == NULL)
                return NULL;
        ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
        size = ftell(f);
        ck_assert_int_ge(size, 0);
        rewind(f);
        buf = malloc((size_t)size + 1);
        ck_assert_ptr_nonnull(buf);
        *len = fread(buf, 1, (size_t)size, f);
        buf[*len] = '\0';
        fclose(f);
        return buf;
}

unsigned tu_count_dot_entries(const char *dir)
{
        DIR *d = opendir(dir);
        struct dirent *e;
        unsigned n = 0;

        ck_assert_msg(d != NULL, "opendir %s: %s", dir, strerror(errno));
        while ((e = readdir(d)) != NULL) {
                if (e->d_name[0] == '.' && strcmp(e->d_name, ".") != 0 &&
                    strcmp(e->d_name, "..") != 0)
                        n++;
        }
        closedir(d);
        return n;
}

int tu_exists(const char *path)
{
        struct stat st;

        return lstat(path, &st) == 0;
}

void tu_slot_image(uint64_t seq, const char *a, size_t alen, const char *b, size_t blen,
                   unsigned char *out)
{
        char *payload;

        ck_assert_msg(alen + blen <= SLOTS_PAYLOAD_MAX, "%zu bytes do not fit a slot", alen + blen);
        payload = malloc(alen + blen + 1);
        ck_assert_ptr_nonnull(payload);
        if (alen > 0)
                memcpy(payload, a, alen);
        if (blen > 0)
                memcpy(payload + alen, b, blen);
        memset(out, 0, SLOTS_FILE_SIZE);
        ck_assert_int_eq(slots_encode(seq, payload, alen + blen, out), 0);
        free(payload);
}

void tu_write_user_file(const char *path, uint64_t seq, const char *record, const char *state)
{
        unsigned char *image = malloc(SLOTS_FILE_SIZE);

        ck_assert_ptr_nonnull(image);
        tu_slot_image(seq, record, record != NULL ? strlen(record) : 0, state,
                      state != NULL ? strlen(state) : 0, image);
        tu_write_file(path, (const char *)image, SLOTS_FILE_SIZE, 0600);
        free(image);
}

/* The payload (ext 0) or the extension (ext 1) of the current slot of `path`; NULL: none. */
static char *read_slot_part(const char *path, int ext, size_t *len)
{
        const unsigned char *payload = NULL, *x = NULL;
        size_t size = 0, plen = 0, xlen = 0;
        char *image = tu_read_file(path, &size), *out = NULL;
        uint64_t seq;
        int idx;

        ck_assert_msg(image != NULL, "%s is missing", path);
        idx = slots_pick((const unsigned char *)image, size, &seq, &payload, &plen);
        ck_assert_msg(idx >= 0, "%s has no valid slot", path);
        if (ext) {
                /* NULL and 0 when the slot has none */
                (void)slots_ext((const unsigned char *)image + (size_t)idx * SLOTS_SLOT_SIZE, plen,
                                &x, &xlen);
        } else {
                x = payload;
                xlen = plen;
        }
        *len = xlen;
        if (x != NULL) {
                out = malloc(xlen + 1);
                ck_assert_ptr_nonnull(out);
                memcpy(out, x, xlen);
                out[xlen] = '\0';
        }
        free(image);
        return out;
}

char *tu_read_slot_payload(const char *path, size_t *len)
{
        return read_slot_part(path, 0, len);
}

char *tu_read_slot_ext(const char *path, size_t *len)
{
        return read_slot_part(path, 1, len);
}

void tu_oathtool_totp(const char *b32, int64_t t, unsigned digits, char *out, size_t outsz)
{
        char cmd[512], line[64];
        size_t i, n;
        FILE *p;
        int status;

        /* The secret is base32 (shell-safe); reject anything else before it reaches sh. */
        for (i = 0; b32[i] != '\0'; i++)
                ck_assert_msg(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567=", b32[i]) != NULL,
                              "oracle secret is not upper-case base32");
        n = (size_t)snprintf(cmd, sizeof(cmd), "%s --totp -b -d %u -N @%lld %s 2>/dev/null",
                             MAILOTP_OATHTOOL, digits, (long long)t, b32);
        ck_assert_uint_lt(n, sizeof(cmd));
        p = popen(cmd, "r");
        ck_assert_msg(p != NULL, "popen oathtool: %s", strerror(errno));
        if (fgets(line, sizeof(line), p) == NULL)
                line[0] = '\0';
        status = pclose(p);
        ck_assert_msg(status == 0, "oathtool failed (status %d): is it installed? (%s)", status,
                      MAILOTP_OATHTOOL);
        line[strcspn(line, "\r\n")] = '\0';
        ck_assert_msg(strlen(line) == digits && strspn(line, "0123456789") == digits,
                      "unexpected oathtool output \"%s\"", line);
        ck_assert_uint_gt(outsz, digits);
        memcpy(out, line, digits + 1);
}

void tu_hex(const unsigned char *in, size_t n, char *out)
{
        size_t i;

        for (i = 0; i < n; i++)
                snprintf(out + 2 * i, 3, "%02x", in[i]);
        out[2 * n] = '\0';
}

static int hexdigit(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        return -1;
}

void tu_openssl_hmac(const unsigned char *key, size_t keylen, const void *data, size_t len,
                     unsigned char out[32])
{
        char path[300], keyhex[2 * 128 + 1], cmd[1024], line[256];
        size_t i, n;
        FILE *p;
        int fd, status;

        ck_assert_uint_gt(keylen, 0);
        ck_assert_uint_le(keylen, 128);
        tu_hex(key, keylen, keyhex);
        tu_join(path, sizeof(path), base_dir, "hmac.XXXXXX");
        fd = mkstemp(path);
        ck_assert_msg(fd >= 0, "mkstemp %s: %s", path, strerror(errno));
        ck_assert_int_eq(close(fd), 0);
        tu_write_file(path, data, len, 0600);
        /* Only safe characters reach the shell. */
        for (i = 0; path[i] != '\0'; i++)
                ck_assert_msg(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                     "0123456789/._-",
                                     path[i]) != NULL,
                              "unsafe oracle path %s", path);
        n = (size_t)snprintf(cmd, sizeof(cmd),
                             "%s dgst -sha256 -mac HMAC -macopt hexkey:%s -r %s 2>/dev/null",
                             MAILOTP_OPENSSL, keyhex, path);
        ck_assert_uint_lt(n, sizeof(cmd));
        p = popen(cmd, "r");
        ck_assert_msg(p != NULL, "popen openssl: %s", strerror(errno));
        if (fgets(line, sizeof(line), p) == NULL)
                line[0] = '\0';
        status = pclose(p);
        (void)unlink(path);
        ck_assert_msg(status == 0, "openssl failed (status %d): is it installed? (%s)", status,
                      MAILOTP_OPENSSL);
        /* "<64 hex digits> *<path>" */
        ck_assert_msg(strlen(line) > 65 && line[64] == ' ', "unexpected openssl output \"%s\"",
                      line);
        for (i = 0; i < 32; i++) {
                int hi = hexdigit(line[2 * i]), lo = hexdigit(line[2 * i + 1]);

                ck_assert_msg(hi >= 0 && lo >= 0, "unexpected openssl output \"%s\"", line);
                out[i] = (unsigned char)(hi << 4 | lo);
        }
}

void tu_mac_oracle(const unsigned char key[32], const struct tu_part *parts, size_t nparts,
                   unsigned char out[32])
{
        size_t total = 0, off = 0, i;
        unsigned char *msg;

        for (i = 0; i < nparts; i++)
                total += 8 + parts[i].len;
        msg = malloc(total + 1);
        ck_assert_ptr_nonnull(msg);
        for (i = 0; i < nparts; i++) {
                uint64_t l = parts[i].len;

                for (int b = 0; b < 8; b++)
                        msg[off + (size_t)b] = (unsigned char)(l >> (8 * (7 - b)));
                off += 8;
                if (parts[i].len > 0)
                        memcpy(msg + off, parts[i].data, parts[i].len);
                off += parts[i].len;
        }
        ck_assert_uint_eq(off, total);
        tu_openssl_hmac(key, 32, msg, total, out);
        free(msg);
}

struct tu_part tu_str(const char *s)
{
        struct tu_part p;

        p.data = s;
        p.len = strlen(s);
        return p;
}
