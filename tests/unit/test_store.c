/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * store.c / store_file.c: the file backend on a private temporary directory,
 * opened with STORE_CREATE for setup (as the CLI does) and with 0 for
 * module-like opens.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "slots.h"
#include "store.h"
#include "testutil.h"

#define SECRET "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
#define PENDING_FILE                                                                               \
        "version = 1\nstatus = pending\nsecret = " SECRET                                          \
        "\ndigits = 6\nperiod = 30\ncreated = 1\nend\n"

static char base[512], sdir[600];
static char err[256];

static void setup(void)
{
        tu_mkdtemp(base, sizeof(base));
        tu_join(sdir, sizeof(sdir), base, "store");
        err[0] = '\0';
}

static void teardown(void)
{
        tu_rm_rf(base);
}

static struct store *open_store(unsigned flags)
{
        struct store *st = NULL;

        ck_assert_msg(store_open_files(sdir, geteuid(), flags, &st, err, sizeof(err)) == MAILOTP_OK,
                      "store_open_files: %s", err);
        ck_assert_ptr_nonnull(st);
        return st;
}

static void fill_record(struct otp_record *r)
{
        memset(r, 0, sizeof(*r));
        r->status = OTP_STATUS_ENABLED;
        memcpy(r->secret, SECRET, sizeof(SECRET));
        r->digits = 6;
        r->period = 30;
        r->created = 1700000000;
        r->enabled = 1700000060;
}

static void sub_path(char *out, size_t outsz, const char *sub, const char *name)
{
        char d[700];

        tu_join(d, sizeof(d), sdir, sub);
        if (name == NULL) {
                ck_assert_uint_lt(strlen(d), outsz);
                memcpy(out, d, strlen(d) + 1);
        } else {
                tu_join(out, outsz, d, name);
        }
}

/* ---- opening ------------------------------------------------------------------ */

START_TEST(open_create_makes_dir)
{
        struct store *st = open_store(STORE_CREATE);
        struct stat sb;

        ck_assert_int_eq(lstat(sdir, &sb), 0);
        ck_assert(S_ISDIR(sb.st_mode));
        ck_assert_uint_eq(sb.st_mode & 077, 0);
        store_close(st);
}
END_TEST

START_TEST(open_missing_dir)
{
        static struct store dummy;
        struct store *st = &dummy;

        ck_assert_int_eq(store_open_files(sdir, geteuid(), 0, &st, err, sizeof(err)),
                         MAILOTP_ERR_NOT_FOUND);
        ck_assert_ptr_null(st);
        ck_assert(!tu_exists(sdir)); /* the module never creates it */
}
END_TEST

START_TEST(open_world_writable_dir)
{
        struct store *st = NULL;

        store_close(open_store(STORE_CREATE));
        ck_assert_int_eq(chmod(sdir, 0777), 0);
        ck_assert_int_eq(store_open_files(sdir, geteuid(), 0, &st, err, sizeof(err)),
                         MAILOTP_ERR_UNSAFE_FILE);
        ck_assert_ptr_null(st);
        ck_assert_int_eq(chmod(sdir, 0770), 0);
        ck_assert_int_eq(store_open_files(sdir, geteuid(), 0, &st, err, sizeof(err)),
                         MAILOTP_ERR_UNSAFE_FILE);
        /* 0755 (readable, not writable by others) is allowed for the top directory */
        ck_assert_int_eq(chmod(sdir, 0755), 0);
        ck_assert_int_eq(store_open_files(sdir, geteuid(), 0, &st, err, sizeof(err)), MAILOTP_OK);
        store_close(st);
}
END_TEST

START_TEST(open_symlinked_dir)
{
        struct store *st = NULL;
        char real[600];

        tu_join(real, sizeof(real), base, "real");
        ck_assert_int_eq(mkdir(real, 0700), 0);
        ck_assert_int_eq(symlink(real, sdir), 0);
        ck_assert_int_eq(store_open_files(sdir, geteuid(), 0, &st, err, sizeof(err)),
                         MAILOTP_ERR_UNSAFE_FILE);
        ck_assert_ptr_null(st);
}
END_TEST

START_TEST(open_wrong_owner)
{
        struct store *st = NULL;

        store_close(open_store(STORE_CREATE));
        ck_assert_int_eq(store_open_files(sdir, geteuid() + 1, 0, &st, err, sizeof(err)),
                         MAILOTP_ERR_UNSAFE_FILE);
        ck_assert_ptr_null(st);
}
END_TEST

START_TEST(close_and_unlock_null_safe)
{
        store_close(NULL);
        store_unlock(NULL, NULL);
}
END_TEST

/* ---- records ---------------------------------------------------------------------- */

START_TEST(record_round_trip)
{
        struct store *st = open_store(STORE_CREATE);
        struct otp_record r, back;
        char p[800];
        struct stat sb;

        fill_record(&r);
        ck_assert_msg(store_record_save(st, "alice", &r, err, sizeof(err)) == MAILOTP_OK, "%s",
                      err);
        store_close(st);
        st = open_store(0); /* as the module would */
        ck_assert_msg(store_record_load(st, "alice", &back, err, sizeof(err)) == MAILOTP_OK, "%s",
                      err);
        ck_assert_int_eq(back.status, OTP_STATUS_ENABLED);
        ck_assert_str_eq(back.secret, SECRET);
        ck_assert_uint_eq(back.digits, 6);
        ck_assert_uint_eq(back.period, 30);
        ck_assert_int_eq(back.created, 1700000000);
        ck_assert_int_eq(back.enabled, 1700000060);
        sub_path(p, sizeof(p), "records", "alice");
        ck_assert_int_eq(lstat(p, &sb), 0);
        ck_assert_uint_eq(sb.st_mode & 07777, 0600);
        sub_path(p, sizeof(p), "records", NULL);
        ck_assert_int_eq(lstat(p, &sb), 0);
        ck_assert_uint_eq(sb.st_mode & 07777, 0700);
        ck_assert_uint_eq(tu_count_dot_entries(p), 0);
        store_close(st);
}
END_TEST

START_TEST(record_overwrite)
{
        struct store *st = open_store(STORE_CREATE);
        struct otp_record r, back;

        fill_record(&r);
        r.status = OTP_STATUS_PENDING;
        r.enabled = 0;
        ck_assert_int_eq(store_record_save(st, "alice", &r, err, sizeof(err)), MAILOTP_OK);
        fill_record(&r);
        ck_assert_int_eq(store_record_save(st, "alice", &r, err, sizeof(err)), MAILOTP_OK);
        ck_assert_int_eq(store_record_load(st, "alice", &back, err, sizeof(err)), MAILOTP_OK);
        ck_assert_int_eq(back.status, OTP_STATUS_ENABLED);
        store_close(st);
}
END_TEST

START_TEST(record_load_missing)
{
        struct store *st = open_store(STORE_CREATE);
        struct otp_record r, back;

        fill_record(&r);
        ck_assert_int_eq(store_record_save(st, "alice", &r, err, sizeof(err)), MAILOTP_OK);
        memset(&back, 0xA5, sizeof(back));
        ck_assert_int_eq(store_record_load(st, "bob", &back, err, sizeof(err)),
                         MAILOTP_ERR_NOT_FOUND);
        ck_assert_str_eq(back.secret, ""); /* wiped */
        store_close(st);
}
END_TEST

START_TEST(record_load_no_records_dir)
{
        struct store *st;
        struct otp_record r;
        char p[800];

        ck_assert_int_eq(mkdir(sdir, 0700), 0);
        st = open_store(0);
        ck_assert_int_eq(store_record_load(st, "alice", &r, err, sizeof(err)),
                         MAILOTP_ERR_NOT_FOUND);
        sub_path(p, sizeof(p), "records", NULL);
        ck_assert(!tu_exists(p)); /* not created by a module-like open */
        store_close(st);
}
END_TEST

START_TEST(record_save_without_create_needs_dir)
{
        struct store *st;
        struct otp_record r;
        enum mailotp_rc rc;
        char p[800];

        ck_assert_int_eq(mkdir(sdir, 0700), 0);
        st = open_store(0);
        fill_record(&r);
        /* a module-like open never creates records/: the save fails (not found or I/O) */
        rc = store_record_save(st, "alice", &r, err, sizeof(err));
        ck_assert_msg(rc == MAILOTP_ERR_NOT_FOUND || rc == MAILOTP_ERR_IO, "rc %d", (int)rc);
        sub_path(p, sizeof(p), "records", NULL);
        ck_assert(!tu_exists(p));
        store_close(st);
}
END_TEST

START_TEST(record_load_corrupt_and_unsafe)
{
        struct store *st = open_store(STORE_CREATE);
        struct otp_record r;
        char p[800];

        fill_record(&r);
        ck_assert_int_eq(store_record_save(st, "alice", &r, err, sizeof(err)), MAILOTP_OK);
        sub_path(p, sizeof(p), "records", "alice");
        tu_write_file(p, "version = 1\nstatus = enabled\nend\n", 34, 0600);
        ck_assert_int_eq(store_record_load(st, "alice", &r, err, sizeof(err)), MAILOTP_ERR_FORMAT);
        ck_assert_str_eq(r.secret, "");                             /* wiped */
        tu_write_file(p, PENDING_FILE, strlen(PENDING_FILE), 0600); /* the fixture is valid */
        ck_assert_msg(store_record_load(st, "alice", &r, err, sizeof(err)) == MAILOTP_OK, "%s",
                      err);
        ck_assert_int_eq(chmod(p, 0644), 0);
        ck_assert_int_eq(store_record_load(st, "alice", &r, err, sizeof(err)),
                         MAILOTP_ERR_UNSAFE_FILE);
        ck_assert_int_eq(unlink(p), 0);
        ck_assert_int_eq(symlink("/etc/passwd", p), 0);
        ck_assert_int_eq(store_record_load(st, "alice", &r, err, sizeof(err)),
                         MAILOTP_ERR_UNSAFE_FILE);
        store_close(st);
}
END_TEST

START_TEST(record_too_large)
{
        struct store *st = open_store(STORE_CREATE);
        struct otp_record r;
        char p[800];
        char *big = malloc(RECORD_MAX_SIZE + 2);

        ck_assert_ptr_nonnull(big);
        fill_record(&r);
        ck_assert_int_eq(store_record_save(st, "alice", &r, err, sizeof(err)), MAILOTP_OK);
        memset(big, '\n', RECORD_MAX_SIZE + 1);
        sub_path(p, sizeof(p), "records", "alice");
        tu_write_file(p, big, RECORD_MAX_SIZE + 1, 0600);
        ck_assert_int_eq(store_record_load(st, "alice", &r, err, sizeof(err)),
                         MAILOTP_ERR_UNSAFE_FILE);
        free(big);
        store_close(st);
}
END_TEST

START_TEST(record_save_inconsistent)
{
        struct store *st = open_store(STORE_CREATE);
        struct otp_record r;
        char p[800];

        fill_record(&r);
        r.digits = 9;
        ck_assert_int_eq(store_record_save(st, "alice", &r, err, sizeof(err)), MAILOTP_ERR_INVALID);
        sub_path(p, sizeof(p), "records", "alice");
        ck_assert(!tu_exists(p));
        store_close(st);
}
END_TEST

START_TEST(stale_temp_file_ignored)
{
        struct store *st = open_store(STORE_CREATE);
        struct otp_record r;
        char p[800], d[800];

        /* a crashed writer's temp file, with a valid record in it */
        sub_path(d, sizeof(d), "records", NULL);
        /* STORE_CREATE already made records/: tolerate it existing */
        ck_assert_msg(mkdir(d, 0700) == 0 || errno == EEXIST, "mkdir %s: %s", d, strerror(errno));
        sub_path(p, sizeof(p), "records", ".alice.0123456789ab");
        tu_write_file(p, PENDING_FILE, strlen(PENDING_FILE), 0600);
        ck_assert_int_eq(store_record_load(st, "alice", &r, err, sizeof(err)),
                         MAILOTP_ERR_NOT_FOUND);
        fill_record(&r);
        ck_assert_msg(store_record_save(st, "alice", &r, err, sizeof(err)) == MAILOTP_OK, "%s",
                      err);
        ck_assert_int_eq(store_record_load(st, "alice", &r, err, sizeof(err)), MAILOTP_OK);
        ck_assert_int_eq(r.status, OTP_STATUS_ENABLED);
        ck_assert_uint_eq(tu_count_dot_entries(d), 1); /* only the stale one */
        store_close(st);
}
END_TEST

/* ---- state ------------------------------------------------------------------------- */

START_TEST(state_round_trip)
{
        struct store *st = open_store(STORE_CREATE);
        struct otp_state s, back;

        state_init(&s);
        s.has_last_step = 1;
        s.last_step = 56666667;
        s.failures = 3;
        s.locked_until = 1700000500;
        s.last_failure = 1700000400;
        s.last_success = 1700000001;
        ck_assert_int_eq(store_state_save(st, "alice", &s, err, sizeof(err)), MAILOTP_OK);
        store_close(st);
        st = open_store(0);
        ck_assert_int_eq(store_state_load(st, "alice", &back, err, sizeof(err)), MAILOTP_OK);
        ck_assert_int_eq(back.has_last_step, 1);
        ck_assert_uint_eq(back.last_step, 56666667);
        ck_assert_uint_eq(back.failures, 3);
        ck_assert_int_eq(back.locked_until, 1700000500);
        ck_assert_int_eq(back.last_failure, 1700000400);
        ck_assert_int_eq(back.last_success, 1700000001);
        store_close(st);
}
END_TEST

START_TEST(state_load_missing)
{
        struct store *st = open_store(STORE_CREATE);
        struct otp_state s;

        ck_assert_int_eq(store_state_load(st, "alice", &s, err, sizeof(err)),
                         MAILOTP_ERR_NOT_FOUND);
        store_close(st);
        st = open_store(0);
        ck_assert_int_eq(store_state_load(st, "alice", &s, err, sizeof(err)),
                         MAILOTP_ERR_NOT_FOUND);
        ck_assert_int_eq(s.has_last_step, 0);
        store_close(st);
}
END_TEST

START_TEST(state_corrupt)
{
        struct store *st = open_store(STORE_CREATE);
        struct otp_state s;
        char p[800];

        state_init(&s);
        ck_assert_int_eq(store_state_save(st, "alice", &s, err, sizeof(err)), MAILOTP_OK);
        sub_path(p, sizeof(p), "state", "alice");
        tu_write_file(p, "garbage\nend\n", 12, 0600);
        ck_assert_int_eq(store_state_load(st, "alice", &s, err, sizeof(err)), MAILOTP_ERR_FORMAT);
        store_close(st);
}
END_TEST

/* The state file's two slots (slots.h), read back independently of slots.c. */
static uint64_t slot_seq(const unsigned char *image, int i)
{
        uint64_t v = 0;

        for (int b = 7; b >= 0; b--)
                v = (v << 8) | image[(size_t)i * SLOTS_SLOT_SIZE + 8 + (size_t)b];
        return v;
}

static unsigned char *read_state_image(const char *key, struct stat *sb)
{
        char p[800];
        size_t len = 0;
        unsigned char *image;

        sub_path(p, sizeof(p), "state", key);
        ck_assert_int_eq(lstat(p, sb), 0);
        image = (unsigned char *)tu_read_file(p, &len);
        ck_assert_ptr_nonnull(image);
        ck_assert_uint_eq(len, SLOTS_FILE_SIZE);
        return image;
}

static void save_failures(struct store *st, unsigned failures)
{
        struct otp_state s;

        state_init(&s);
        s.failures = failures;
        ck_assert_msg(store_state_save(st, "alice", &s, err, sizeof(err)) == MAILOTP_OK, "%s", err);
}

static unsigned load_failures(struct store *st)
{
        struct otp_state s;

        ck_assert_msg(store_state_load(st, "alice", &s, err, sizeof(err)) == MAILOTP_OK, "%s", err);
        return s.failures;
}

START_TEST(state_written_in_place_alternating_slots)
{
        struct store *st = open_store(STORE_CREATE);
        struct stat first, sb;
        unsigned char *image;

        save_failures(st, 1); /* a new file: slot 0, number 1 */
        image = read_state_image("alice", &first);
        ck_assert_uint_eq(slot_seq(image, 0), 1);
        ck_assert_uint_eq(slot_seq(image, 1), 0);
        ck_assert_mem_eq(image, "MOTPSLOT", 8);
        free(image);
        for (unsigned i = 2; i <= 5; i++) {
                save_failures(st, i);
                image = read_state_image("alice", &sb);
                /* the same file, its older slot overwritten with the next number */
                ck_assert_uint_eq(sb.st_ino, first.st_ino);
                ck_assert_uint_eq(sb.st_nlink, 1);
                ck_assert_uint_eq(sb.st_mode & 07777, 0600);
                ck_assert_uint_eq(slot_seq(image, (int)((i - 1) % 2)), i);
                ck_assert_uint_eq(slot_seq(image, (int)(i % 2)), i - 1);
                free(image);
                ck_assert_uint_eq(load_failures(st), i);
        }
        store_close(st);
}
END_TEST

START_TEST(state_torn_slot_falls_back)
{
        struct store *st = open_store(STORE_CREATE);
        struct stat sb;
        unsigned char *image;
        char p[800];
        struct otp_state s;

        save_failures(st, 1);
        save_failures(st, 2); /* slot 1 is the newest */
        image = read_state_image("alice", &sb);
        sub_path(p, sizeof(p), "state", "alice");
        /* Damage the newest slot anywhere in its header or payload: the older one counts. */
        for (size_t off = 0; off < SLOTS_HEADER_SIZE + 40; off++) {
                image[SLOTS_SLOT_SIZE + off] ^= 0x20;
                tu_write_file(p, (const char *)image, SLOTS_FILE_SIZE, 0600);
                ck_assert_msg(load_failures(st) == 1, "byte %zu flipped", off);
                image[SLOTS_SLOT_SIZE + off] ^= 0x20;
        }
        /* A write after a torn slot overwrites the torn one, not the good one. */
        image[SLOTS_SLOT_SIZE + 30] ^= 0x20;
        tu_write_file(p, (const char *)image, SLOTS_FILE_SIZE, 0600);
        save_failures(st, 3);
        free(image);
        image = read_state_image("alice", &sb);
        ck_assert_uint_eq(slot_seq(image, 0), 1);
        ck_assert_uint_eq(slot_seq(image, 1), 2);
        ck_assert_uint_eq(load_failures(st), 3);
        /* Both slots damaged: refused, never read as a fresh state. */
        image[30] ^= 0x20;
        image[SLOTS_SLOT_SIZE + 30] ^= 0x20;
        tu_write_file(p, (const char *)image, SLOTS_FILE_SIZE, 0600);
        ck_assert_int_eq(store_state_load(st, "alice", &s, err, sizeof(err)), MAILOTP_ERR_FORMAT);
        ck_assert_str_ne(err, "");
        /* Both slots valid with the same number: tampered, refused. */
        image[30] ^= 0x20;
        image[SLOTS_SLOT_SIZE + 30] ^= 0x20;
        memcpy(image + SLOTS_SLOT_SIZE, image, SLOTS_SLOT_SIZE);
        tu_write_file(p, (const char *)image, SLOTS_FILE_SIZE, 0600);
        ck_assert_int_eq(store_state_load(st, "alice", &s, err, sizeof(err)), MAILOTP_ERR_FORMAT);
        free(image);
        store_close(st);
}
END_TEST

START_TEST(state_cut_or_grown_refused)
{
        struct store *st = open_store(STORE_CREATE);
        struct stat sb;
        unsigned char *image;
        char p[800];
        struct otp_state s;
        static const size_t cuts[] = {0, 1, 8, 23, 24, 100, 4095, 4096, 4097, 8000, 8191};

        save_failures(st, 1);
        save_failures(st, 2);
        image = read_state_image("alice", &sb);
        sub_path(p, sizeof(p), "state", "alice");
        for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
                tu_write_file(p, (const char *)image, cuts[i], 0600);
                ck_assert_msg(store_state_load(st, "alice", &s, err, sizeof(err)) ==
                                  MAILOTP_ERR_FORMAT,
                              "cut at %zu accepted", cuts[i]);
        }
        {
                unsigned char *big = calloc(1, SLOTS_FILE_SIZE + 1);

                ck_assert_ptr_nonnull(big);
                memcpy(big, image, SLOTS_FILE_SIZE);
                tu_write_file(p, (const char *)big, SLOTS_FILE_SIZE + 1, 0600);
                ck_assert_int_eq(store_state_load(st, "alice", &s, err, sizeof(err)),
                                 MAILOTP_ERR_UNSAFE_FILE);
                free(big);
        }
        free(image);
        store_close(st);
}
END_TEST

START_TEST(state_text_of_0_1_0_read_then_converted)
{
        struct store *st = open_store(STORE_CREATE);
        static const char old[] = "# pam_mailotp user state: do not edit\nversion = 1\n"
                                  "last_step = 56666667\nfailures = 3\nlocked_until = 0\n"
                                  "last_failure = 1700000800\nlast_success = 1700000001\nend\n";
        struct otp_state s;
        struct stat sb;
        unsigned char *image;
        char p[800];

        save_failures(st, 9); /* makes state/ */
        sub_path(p, sizeof(p), "state", "alice");
        tu_write_file(p, old, sizeof(old) - 1, 0600);
        ck_assert_int_eq(store_state_load(st, "alice", &s, err, sizeof(err)), MAILOTP_OK);
        ck_assert_uint_eq(s.failures, 3);
        ck_assert_uint_eq(s.last_step, 56666667);
        s.failures = 4;
        ck_assert_int_eq(store_state_save(st, "alice", &s, err, sizeof(err)), MAILOTP_OK);
        image = read_state_image("alice", &sb);
        ck_assert_uint_eq(slot_seq(image, 0), 1);
        free(image);
        ck_assert_uint_eq(load_failures(st), 4);
        store_close(st);
}
END_TEST

START_TEST(state_in_place_write_refuses_unsafe_file)
{
        struct store *st = open_store(STORE_CREATE);
        char p[800], q[800];
        struct stat sb;
        unsigned char *image;

        save_failures(st, 1);
        sub_path(p, sizeof(p), "state", "alice");
        tu_join(q, sizeof(q), base, "elsewhere");
        ck_assert_int_eq(link(p, q), 0); /* a second name: writing would change it too */
        ck_assert_int_eq(store_state_save(st, "alice", &(struct otp_state){0}, err, sizeof(err)),
                         MAILOTP_ERR_UNSAFE_FILE);
        image = read_state_image("alice", &sb);
        ck_assert_uint_eq(slot_seq(image, 1), 0); /* not written */
        free(image);
        ck_assert_int_eq(unlink(q), 0);
        ck_assert_int_eq(chmod(p, 0640), 0);
        ck_assert_int_eq(store_state_save(st, "alice", &(struct otp_state){0}, err, sizeof(err)),
                         MAILOTP_ERR_UNSAFE_FILE);
        ck_assert_int_eq(chmod(p, 0600), 0);
        ck_assert_int_eq(unlink(p), 0);
        ck_assert_int_eq(symlink(q, p), 0);
        ck_assert_int_eq(store_state_save(st, "alice", &(struct otp_state){0}, err, sizeof(err)),
                         MAILOTP_ERR_UNSAFE_FILE);
        ck_assert(!tu_exists(q));
        store_close(st);
}
END_TEST

/* ---- delete --------------------------------------------------------------------------- */

START_TEST(user_delete)
{
        struct store *st = open_store(STORE_CREATE);
        struct otp_record r;
        struct otp_state s;
        char p[800];

        fill_record(&r);
        state_init(&s);
        ck_assert_int_eq(store_record_save(st, "alice", &r, err, sizeof(err)), MAILOTP_OK);
        ck_assert_int_eq(store_state_save(st, "alice", &s, err, sizeof(err)), MAILOTP_OK);
        ck_assert_int_eq(store_record_save(st, "bob", &r, err, sizeof(err)), MAILOTP_OK);
        ck_assert_int_eq(store_user_delete(st, "alice", err, sizeof(err)), MAILOTP_OK);
        ck_assert_int_eq(store_record_load(st, "alice", &r, err, sizeof(err)),
                         MAILOTP_ERR_NOT_FOUND);
        ck_assert_int_eq(store_state_load(st, "alice", &s, err, sizeof(err)),
                         MAILOTP_ERR_NOT_FOUND);
        sub_path(p, sizeof(p), "records", "alice");
        ck_assert(!tu_exists(p));
        sub_path(p, sizeof(p), "state", "alice");
        ck_assert(!tu_exists(p));
        /* others untouched */
        ck_assert_int_eq(store_record_load(st, "bob", &r, err, sizeof(err)), MAILOTP_OK);
        /* deleting again is fine */
        ck_assert_int_eq(store_user_delete(st, "alice", err, sizeof(err)), MAILOTP_OK);
        store_close(st);
}
END_TEST

START_TEST(user_delete_absent)
{
        struct store *st;

        ck_assert_int_eq(mkdir(sdir, 0700), 0);
        st = open_store(0); /* no records/ nor state/ */
        ck_assert_int_eq(store_user_delete(st, "nobody", err, sizeof(err)), MAILOTP_OK);
        store_close(st);
        st = open_store(STORE_CREATE);
        ck_assert_int_eq(store_user_delete(st, "nobody", err, sizeof(err)), MAILOTP_OK);
        store_close(st);
}
END_TEST

START_TEST(user_delete_record_only)
{
        struct store *st = open_store(STORE_CREATE);
        struct otp_record r;

        fill_record(&r);
        ck_assert_int_eq(store_record_save(st, "alice", &r, err, sizeof(err)), MAILOTP_OK);
        ck_assert_int_eq(store_user_delete(st, "alice", err, sizeof(err)), MAILOTP_OK);
        ck_assert_int_eq(store_record_load(st, "alice", &r, err, sizeof(err)),
                         MAILOTP_ERR_NOT_FOUND);
        store_close(st);
}
END_TEST

/* ---- locks ----------------------------------------------------------------------------- */

START_TEST(lock_unlock)
{
        struct store *st = open_store(STORE_CREATE);
        struct store_lock *lk = NULL, *lk2 = NULL;
        char p[800];

        ck_assert_int_eq(store_lock(st, "alice", 1000, &lk, err, sizeof(err)), MAILOTP_OK);
        ck_assert_ptr_nonnull(lk);
        sub_path(p, sizeof(p), "locks", "alice");
        ck_assert(tu_exists(p));
        /* a different user is independent */
        ck_assert_int_eq(store_lock(st, "bob", 100, &lk2, err, sizeof(err)), MAILOTP_OK);
        store_unlock(st, lk2);
        /* the same user from another open file description times out */
        ck_assert_int_eq(store_lock(st, "alice", 100, &lk2, err, sizeof(err)),
                         MAILOTP_ERR_LOCK_TIMEOUT);
        ck_assert_ptr_null(lk2);
        store_unlock(st, lk);
        ck_assert_int_eq(store_lock(st, "alice", 100, &lk2, err, sizeof(err)), MAILOTP_OK);
        store_unlock(st, lk2);
        ck_assert(tu_exists(p)); /* the lock file is never removed */
        store_close(st);
}
END_TEST

START_TEST(lock_across_processes)
{
        struct store *st = open_store(STORE_CREATE);
        struct store_lock *lk = NULL;
        pid_t pid;
        int status = 0;

        ck_assert_int_eq(store_lock(st, "alice", 1000, &lk, err, sizeof(err)), MAILOTP_OK);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                struct store *st2 = NULL;
                struct store_lock *l2 = NULL;
                char e[256];

                if (store_open_files(sdir, geteuid(), 0, &st2, e, sizeof(e)) != MAILOTP_OK)
                        _exit(1);
                if (store_lock(st2, "alice", 200, &l2, e, sizeof(e)) != MAILOTP_ERR_LOCK_TIMEOUT)
                        _exit(2);
                _exit(0);
        }
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFEXITED(status));
        ck_assert_int_eq(WEXITSTATUS(status), 0);
        store_unlock(st, lk);
        store_close(st);
}
END_TEST

START_TEST(lock_without_locks_dir)
{
        struct store *st;
        struct store_lock *lk = NULL;

        ck_assert_int_eq(mkdir(sdir, 0700), 0);
        st = open_store(0);
        /* the module never creates locks/: fail closed, not "not found" */
        ck_assert_int_eq(store_lock(st, "alice", 100, &lk, err, sizeof(err)), MAILOTP_ERR_IO);
        ck_assert_ptr_null(lk);
        store_close(st);
}
END_TEST

START_TEST(unsafe_subdir)
{
        struct store *st = open_store(STORE_CREATE);
        struct otp_record r;
        char p[800];

        fill_record(&r);
        ck_assert_int_eq(store_record_save(st, "alice", &r, err, sizeof(err)), MAILOTP_OK);
        store_close(st);
        sub_path(p, sizeof(p), "records", NULL);
        ck_assert_int_eq(chmod(p, 0750), 0); /* subdirectories must be 0700 */
        st = open_store(0);
        ck_assert_int_eq(store_record_load(st, "alice", &r, err, sizeof(err)),
                         MAILOTP_ERR_UNSAFE_FILE);
        store_close(st);
}
END_TEST

/* ---- layout ---------------------------------------------------------------------------- */

static const char *const subdirs[] = {"records", "state", "locks", "apppw", "recovery", "last"};

START_TEST(open_create_makes_every_subdir)
{
        struct store *st = open_store(STORE_CREATE);
        struct stat sb;
        char p[800];

        /* the CLI lays out the whole store up front: the module never creates anything */
        for (size_t i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
                sub_path(p, sizeof(p), subdirs[i], NULL);
                ck_assert_msg(lstat(p, &sb) == 0, "%s missing after STORE_CREATE", subdirs[i]);
                ck_assert(S_ISDIR(sb.st_mode));
                ck_assert_uint_eq(sb.st_mode & 07777, 0700);
                ck_assert_uint_eq(sb.st_uid, geteuid());
        }
        store_close(st);
        /* opening again with STORE_CREATE over an existing layout is fine */
        store_close(open_store(STORE_CREATE));
}
END_TEST

START_TEST(open_without_create_makes_nothing)
{
        struct store *st;
        char p[800];

        ck_assert_int_eq(mkdir(sdir, 0700), 0);
        st = open_store(0);
        store_close(st);
        for (size_t i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
                sub_path(p, sizeof(p), subdirs[i], NULL);
                ck_assert_msg(!tu_exists(p), "%s made by a module-like open", subdirs[i]);
        }
        tu_join(p, sizeof(p), sdir, "server.key");
        ck_assert(!tu_exists(p));
}
END_TEST

START_TEST(open_create_refuses_unsafe_subdir)
{
        struct store *st = NULL;
        char p[800];

        store_close(open_store(STORE_CREATE));
        sub_path(p, sizeof(p), "apppw", NULL);
        ck_assert_int_eq(chmod(p, 0755), 0);
        ck_assert_int_ne(store_open_files(sdir, geteuid(), STORE_CREATE, &st, err, sizeof(err)),
                         MAILOTP_OK);
        ck_assert_ptr_null(st);
        ck_assert_int_eq(rmdir(p), 0);
        ck_assert_int_eq(symlink("/tmp", p), 0);
        ck_assert_int_eq(store_open_files(sdir, geteuid(), STORE_CREATE, &st, err, sizeof(err)),
                         MAILOTP_ERR_UNSAFE_FILE);
        ck_assert_ptr_null(st);
}
END_TEST

/* ---- stored files end in "end" ----------------------------------------------------------- */

/* Check the file ends in "\nend\n", then cut it at every line boundary and in
 * the middle of its last content line: each cut must be refused by `load`. */
static void assert_file_ends_and_cuts_refused(const char *sub, const char *key,
                                              enum mailotp_rc (*load)(struct store *, const char *))
{
        char p[800];
        size_t len = 0;
        char *text;
        struct store *st;

        sub_path(p, sizeof(p), sub, key);
        text = tu_read_file(p, &len);
        ck_assert_ptr_nonnull(text);
        ck_assert_uint_ge(len, 5);
        ck_assert_msg(strcmp(text + len - 5, "\nend\n") == 0, "%s/%s does not end in end:\n%s", sub,
                      key, text);
        st = open_store(0);
        ck_assert_int_eq(load(st, key), MAILOTP_OK);
        for (size_t cut = 0; cut < len; cut++) {
                if (cut != 0 && text[cut - 1] != '\n' && cut != len - 7)
                        continue;
                tu_write_file(p, text, cut, 0600);
                ck_assert_msg(load(st, key) == MAILOTP_ERR_FORMAT, "%s/%s cut at %zu/%zu accepted",
                              sub, key, cut, len);
        }
        tu_write_file(p, text, len, 0600);
        ck_assert_int_eq(load(st, key), MAILOTP_OK);
        store_close(st);
        free(text);
}

static enum mailotp_rc load_record(struct store *st, const char *key)
{
        struct otp_record r;

        return store_record_load(st, key, &r, err, sizeof(err));
}

static enum mailotp_rc load_state(struct store *st, const char *key)
{
        struct otp_state s;

        return store_state_load(st, key, &s, err, sizeof(err));
}

static enum mailotp_rc load_apppw(struct store *st, const char *key)
{
        struct apppw_list *l = malloc(sizeof(*l));
        enum mailotp_rc rc;

        ck_assert_ptr_nonnull(l);
        rc = store_apppw_load(st, key, l, err, sizeof(err));
        free(l);
        return rc;
}

static enum mailotp_rc load_recovery(struct store *st, const char *key)
{
        struct recovery_list l;

        return store_recovery_load(st, key, &l, err, sizeof(err));
}

START_TEST(record_and_state_files_end_line)
{
        struct store *st = open_store(STORE_CREATE);
        struct otp_record r;
        struct otp_state s;

        fill_record(&r);
        state_init(&s);
        s.has_last_step = 1;
        s.last_step = 56666667;
        s.failures = 7;
        s.locked_until = 1700000900;
        s.last_failure = 1700000800;
        s.last_success = 1700000001;
        ck_assert_int_eq(store_record_save(st, "alice", &r, err, sizeof(err)), MAILOTP_OK);
        ck_assert_int_eq(store_state_save(st, "alice", &s, err, sizeof(err)), MAILOTP_OK);
        store_close(st);
        assert_file_ends_and_cuts_refused("records", "alice", load_record);
        /* the state's payload is the same text, "end" line included */
        {
                struct stat sb;
                unsigned char *image = read_state_image("alice", &sb);
                uint32_t plen = (uint32_t)image[16] | (uint32_t)image[17] << 8 |
                                (uint32_t)image[18] << 16 | (uint32_t)image[19] << 24;

                ck_assert_uint_ge(plen, 5);
                ck_assert_mem_eq(image + SLOTS_HEADER_SIZE + plen - 5, "\nend\n", 5);
                free(image);
                st = open_store(0);
                ck_assert_int_eq(load_state(st, "alice"), MAILOTP_OK);
                store_close(st);
        }
}
END_TEST

/* ---- application passwords, recovery codes, last logins ------------------------------------ */

static void fill_apppw(struct apppw_list *l, size_t n)
{
        memset(l, 0, sizeof(*l));
        for (size_t i = 0; i < n; i++) {
                struct apppw_entry *e = &l->e[i];

                snprintf(e->name, sizeof(e->name), "dev%zu", i);
                memset(e->hash, (int)(0x10 + i), MAC_LEN);
                e->created = 1700000000;
                memcpy(e->services, i % 2 ? "imap,smtp" : "*", i % 2 ? 10 : 2);
                memcpy(e->last_service, "-", 2);
                memcpy(e->last_rhost, "-", 2);
        }
        l->n = n;
}

START_TEST(apppw_round_trip)
{
        struct store *st = open_store(STORE_CREATE);
        struct apppw_list *l = malloc(sizeof(*l)), *back = malloc(sizeof(*back));
        char p[800];
        struct stat sb;

        ck_assert_ptr_nonnull(l);
        ck_assert_ptr_nonnull(back);
        ck_assert_int_eq(store_apppw_load(st, "alice", back, err, sizeof(err)),
                         MAILOTP_ERR_NOT_FOUND);
        fill_apppw(l, 3);
        ck_assert_msg(store_apppw_save(st, "alice", l, err, sizeof(err)) == MAILOTP_OK, "%s", err);
        store_close(st);
        st = open_store(0);
        ck_assert_msg(store_apppw_load(st, "alice", back, err, sizeof(err)) == MAILOTP_OK, "%s",
                      err);
        ck_assert_uint_eq(back->n, 3);
        ck_assert_str_eq(back->e[1].name, "dev1");
        ck_assert_str_eq(back->e[1].services, "imap,smtp");
        ck_assert_mem_eq(back->e[2].hash, l->e[2].hash, MAC_LEN);
        sub_path(p, sizeof(p), "apppw", "alice");
        ck_assert_int_eq(lstat(p, &sb), 0);
        ck_assert_uint_eq(sb.st_mode & 07777, 0600);
        store_close(st);
        assert_file_ends_and_cuts_refused("apppw", "alice", load_apppw);
        /* an empty list removes the file */
        st = open_store(STORE_CREATE);
        l->n = 0;
        ck_assert_int_eq(store_apppw_save(st, "alice", l, err, sizeof(err)), MAILOTP_OK);
        ck_assert(!tu_exists(p));
        ck_assert_int_eq(store_apppw_load(st, "alice", back, err, sizeof(err)),
                         MAILOTP_ERR_NOT_FOUND);
        store_close(st);
        free(l);
        free(back);
}
END_TEST

START_TEST(recovery_round_trip)
{
        struct store *st = open_store(STORE_CREATE);
        struct recovery_list l, back;
        char p[800];
        struct stat sb;

        ck_assert_int_eq(store_recovery_load(st, "alice", &back, err, sizeof(err)),
                         MAILOTP_ERR_NOT_FOUND);
        memset(&l, 0, sizeof(l));
        l.created = 1700000000;
        for (size_t i = 0; i < RECOVERY_COUNT; i++)
                memset(l.hash[i], (int)(0x30 + i), MAC_LEN);
        l.n = RECOVERY_COUNT;
        ck_assert_msg(store_recovery_save(st, "alice", &l, err, sizeof(err)) == MAILOTP_OK, "%s",
                      err);
        store_close(st);
        st = open_store(0);
        ck_assert_int_eq(store_recovery_load(st, "alice", &back, err, sizeof(err)), MAILOTP_OK);
        ck_assert_uint_eq(back.n, RECOVERY_COUNT);
        ck_assert_int_eq(back.created, 1700000000);
        ck_assert_mem_eq(back.hash[9], l.hash[9], MAC_LEN);
        sub_path(p, sizeof(p), "recovery", "alice");
        ck_assert_int_eq(lstat(p, &sb), 0);
        ck_assert_uint_eq(sb.st_mode & 07777, 0600);
        store_close(st);
        assert_file_ends_and_cuts_refused("recovery", "alice", load_recovery);
}
END_TEST

static void append_at(struct store *st, int64_t t, size_t keep)
{
        struct lastlog_event ev;

        lastlog_event_set(&ev, t, (int)(t % 2), "code", "imap", "192.0.2.1", NULL);
        ck_assert_msg(store_lastlog_append(st, "alice", &ev, keep, err, sizeof(err)) == MAILOTP_OK,
                      "%s", err);
}

static size_t count_lines(const char *text)
{
        size_t n = 0;

        for (const char *q = text; (q = strstr(q, "login = ")) != NULL; q++)
                n++;
        return n;
}

START_TEST(lastlog_append_and_keep)
{
        struct store *st = open_store(STORE_CREATE);
        struct lastlog *l = malloc(sizeof(*l));
        struct stat first, sb;
        char p[800], *text;
        size_t len = 0;

        ck_assert_ptr_nonnull(l);
        ck_assert_int_eq(store_lastlog_load(st, "alice", l, err, sizeof(err)),
                         MAILOTP_ERR_NOT_FOUND);
        sub_path(p, sizeof(p), "last", "alice");
        append_at(st, 1700000000, 5);
        ck_assert_int_eq(lstat(p, &first), 0);
        text = tu_read_file(p, &len);
        ck_assert_str_eq(text, "# pam_mailotp last logins\nversion = 2\nkeep = 5\n"
                               "login = 1700000000 failure code imap 192.0.2.1 -\n");
        free(text);
        /* appended in place up to 2 * keep entries ... */
        for (int i = 1; i < 10; i++) {
                append_at(st, 1700000000 + i, 5);
                ck_assert_int_eq(lstat(p, &sb), 0);
                ck_assert_uint_eq(sb.st_ino, first.st_ino);
                text = tu_read_file(p, &len);
                ck_assert_uint_eq(count_lines(text), (size_t)i + 1);
                free(text);
                ck_assert_int_eq(store_lastlog_load(st, "alice", l, err, sizeof(err)), MAILOTP_OK);
                ck_assert_uint_eq(l->n, i + 1 < 5 ? (size_t)i + 1 : 5);
                ck_assert_int_eq(l->ev[l->n - 1].time, 1700000000 + i);
                ck_assert_int_eq(l->ev[0].time, 1700000000 + (i + 1 < 5 ? 0 : i - 4));
        }
        /* ... then rewritten with the newest keep */
        append_at(st, 1700000010, 5);
        text = tu_read_file(p, &len);
        ck_assert_uint_eq(count_lines(text), 5);
        ck_assert_ptr_nonnull(strstr(text, "login = 1700000006 "));
        ck_assert_ptr_null(strstr(text, "login = 1700000005 "));
        free(text);
        ck_assert_int_eq(store_lastlog_load(st, "alice", l, err, sizeof(err)), MAILOTP_OK);
        ck_assert_uint_eq(l->n, 5);
        ck_assert_int_eq(l->ev[0].time, 1700000006);
        ck_assert_int_eq(l->ev[4].time, 1700000010);
        ck_assert_str_eq(l->ev[4].result, "failure");
        /* another keep: rewritten at once with the new one */
        append_at(st, 1700000011, 3);
        ck_assert_int_eq(store_lastlog_load(st, "alice", l, err, sizeof(err)), MAILOTP_OK);
        ck_assert_uint_eq(l->n, 3);
        ck_assert_uint_eq(l->keep, 3);
        ck_assert_int_eq(l->ev[0].time, 1700000009);
        store_close(st);
        free(l);
}
END_TEST

/* A crash in the middle of an append leaves part of a line: skipped, then repaired. */
START_TEST(lastlog_torn_line_skipped_then_repaired)
{
        struct store *st = open_store(STORE_CREATE);
        struct lastlog *l = malloc(sizeof(*l));
        char p[800], *text;
        size_t len = 0;
        static const char torn[] = "# pam_mailotp last logins\nversion = 2\nkeep = 20\n"
                                   "login = 1700000000 success code imap 192.0.2.1 -\n"
                                   "login = 17000\x01garbage\n"
                                   "login = 1700000002 success code imap 192.0.2.1 -\n"
                                   "login = 1700000003 succ";

        ck_assert_ptr_nonnull(l);
        append_at(st, 1, 20);
        sub_path(p, sizeof(p), "last", "alice");
        tu_write_file(p, torn, sizeof(torn) - 1, 0600);
        ck_assert_int_eq(store_lastlog_load(st, "alice", l, err, sizeof(err)), MAILOTP_OK);
        ck_assert_uint_eq(l->n, 2);
        ck_assert_uint_eq(l->skipped, 2);
        ck_assert_int_eq(l->ev[1].time, 1700000002);
        /* the next entry rewrites the log: nothing valid lost, the fragments gone */
        append_at(st, 1700000004, 20);
        text = tu_read_file(p, &len);
        ck_assert_str_eq(text, "# pam_mailotp last logins\nversion = 2\nkeep = 20\n"
                               "login = 1700000000 success code imap 192.0.2.1 -\n"
                               "login = 1700000002 success code imap 192.0.2.1 -\n"
                               "login = 1700000004 failure code imap 192.0.2.1 -\n");
        free(text);
        store_close(st);
        free(l);
}
END_TEST

START_TEST(lastlog_corrupt_started_afresh)
{
        struct store *st = open_store(STORE_CREATE);
        struct lastlog *l = malloc(sizeof(*l));
        struct lastlog_event ev;
        char p[800];
        static const char cut[] = "# pam_mailotp last logins\nversion = 1\n"
                                  "login = 1700000000 success code imap 192.0.2.1 -\n";

        ck_assert_ptr_nonnull(l);
        sub_path(p, sizeof(p), "last", "alice");
        tu_write_file(p, cut, sizeof(cut) - 1, 0600); /* cut short: no end line */
        ck_assert_int_eq(store_lastlog_load(st, "alice", l, err, sizeof(err)), MAILOTP_ERR_FORMAT);
        lastlog_event_set(&ev, 1700000100, 0, "code", "smtp", NULL, "wrong-code");
        ck_assert_int_eq(store_lastlog_append(st, "alice", &ev, 20, err, sizeof(err)), MAILOTP_OK);
        ck_assert_int_eq(store_lastlog_load(st, "alice", l, err, sizeof(err)), MAILOTP_OK);
        ck_assert_uint_eq(l->n, 1);
        ck_assert_int_eq(l->ev[0].time, 1700000100);
        store_close(st);
        free(l);
}
END_TEST

START_TEST(lastlog_unreadable_kept)
{
        struct store *st = open_store(STORE_CREATE);
        struct lastlog_event ev;
        char p[800], *before, *after;
        size_t blen = 0, alen = 0;
        struct stat sb;

        lastlog_event_set(&ev, 1700000000, 1, "code", "imap", NULL, NULL);
        ck_assert_int_eq(store_lastlog_append(st, "alice", &ev, 20, err, sizeof(err)), MAILOTP_OK);
        sub_path(p, sizeof(p), "last", "alice");
        ck_assert_int_eq(chmod(p, 0644), 0); /* unsafe now: not read, and not thrown away */
        before = tu_read_file(p, &blen);
        ck_assert_ptr_nonnull(before);
        lastlog_event_set(&ev, 1700000100, 0, "code", "imap", NULL, "wrong-code");
        ck_assert_int_ne(store_lastlog_append(st, "alice", &ev, 20, err, sizeof(err)), MAILOTP_OK);
        ck_assert_str_ne(err, "");
        after = tu_read_file(p, &alen);
        ck_assert_ptr_nonnull(after);
        ck_assert_uint_eq(alen, blen);
        ck_assert_str_eq(after, before);
        ck_assert_int_eq(lstat(p, &sb), 0);
        ck_assert_uint_eq(sb.st_mode & 07777, 0644);
        free(before);
        free(after);
        store_close(st);
}
END_TEST

START_TEST(user_delete_removes_recovery_keeps_apppw_and_log)
{
        struct store *st = open_store(STORE_CREATE);
        struct apppw_list *al = malloc(sizeof(*al));
        struct recovery_list rl;
        struct lastlog_event ev;
        struct otp_record r;
        char p[800];

        ck_assert_ptr_nonnull(al);
        fill_record(&r);
        ck_assert_int_eq(store_record_save(st, "alice", &r, err, sizeof(err)), MAILOTP_OK);
        fill_apppw(al, 1);
        ck_assert_int_eq(store_apppw_save(st, "alice", al, err, sizeof(err)), MAILOTP_OK);
        memset(&rl, 0, sizeof(rl));
        rl.created = 1;
        rl.n = 1;
        ck_assert_int_eq(store_recovery_save(st, "alice", &rl, err, sizeof(err)), MAILOTP_OK);
        lastlog_event_set(&ev, 1, 1, "code", "imap", NULL, NULL);
        ck_assert_int_eq(store_lastlog_append(st, "alice", &ev, 20, err, sizeof(err)), MAILOTP_OK);
        ck_assert_int_eq(store_user_delete(st, "alice", err, sizeof(err)), MAILOTP_OK);
        sub_path(p, sizeof(p), "recovery", "alice");
        ck_assert(!tu_exists(p));
        sub_path(p, sizeof(p), "apppw", "alice");
        ck_assert(tu_exists(p));
        sub_path(p, sizeof(p), "last", "alice");
        ck_assert(tu_exists(p));
        store_close(st);
        free(al);
}
END_TEST

/* ---- the server key ------------------------------------------------------------------------ */

/*
 * A reader that runs while the server key is being created.  This
 * executable's unlinkat() stands in for libc's (the core is linked
 * statically, so its calls land here): when the creator removes its
 * temporary ".server.key.*" file, which fio_create_new() does after linking
 * it to "server.key", a second process (a racing creator, as two CLI runs on
 * a fresh store) asks for the key right then.  It gets up to 3 s, with the
 * temporary name still in place, to answer; a reader that waits for the
 * window to close is then let through by the real unlink.  Nothing is armed
 * outside the test below; every other call goes straight to the kernel.
 */
static int probe_armed;
static pid_t probe_pid = -1;
static int probe_status = -1; /* child's wait status once collected */

static int probe_reap(int timeout_ms)
{
        for (int waited = 0;; waited += 10) {
                pid_t r = waitpid(probe_pid, &probe_status, WNOHANG);

                if (r == probe_pid)
                        return 1;
                if (r < 0 || waited >= timeout_ms)
                        return 0;
                usleep(10000);
        }
}

int unlinkat(int dirfd, const char *path, int flags)
{
        if (probe_armed && strncmp(path, ".server.key.", 12) == 0) {
                probe_armed = 0;
                probe_pid = fork();
                if (probe_pid == 0) {
                        struct store *s2 = NULL;
                        unsigned char k[MAC_KEY_LEN];
                        char e[256];
                        enum mailotp_rc rc;

                        rc = store_open_files(sdir, geteuid(), 0, &s2, e, sizeof(e));
                        if (rc == MAILOTP_OK)
                                rc = store_server_key(s2, 1, k, e, sizeof(e));
                        if (rc != MAILOTP_OK)
                                fprintf(stderr, "concurrent store_server_key: %s (%s)\n",
                                        mailotp_strerror(rc), e);
                        store_close(s2);
                        _exit(rc == MAILOTP_OK ? 0 : 10 + (int)rc);
                }
                if (probe_pid > 0)
                        (void)probe_reap(3000);
        }
        return (int)syscall(SYS_unlinkat, dirfd, path, flags);
}

/*
 * Creating the server key never shows a half-made "server.key" to another
 * process.  This was a bug: fio_create_new() published with linkat(tmp ->
 * name) and only then unlinkat(tmp), so for a moment the key had two hard
 * links and a racing creator or reader got MAILOTP_ERR_UNSAFE_FILE ("server.key
 * has 2 hard links") instead of the winner's key, against store.h.  It is
 * published with renameat2(RENAME_NOREPLACE) now; where a temporary file is
 * still unlinked after publishing (the link fallback), the probe above checks
 * that a concurrent caller still gets the key.
 */
START_TEST(server_key_reader_during_creation)
{
        struct store *st = open_store(STORE_CREATE);
        unsigned char k[MAC_KEY_LEN];

        probe_armed = 1;
        probe_pid = -1;
        probe_status = -1;
        ck_assert_msg(store_server_key(st, 1, k, err, sizeof(err)) == MAILOTP_OK, "%s", err);
        probe_armed = 0;
        if (probe_pid > 0 && probe_status == -1)
                ck_assert_msg(probe_reap(10000), "concurrent reader did not finish");
        store_close(st);
        /* no probe means no temporary file was unlinked after publishing: nothing to race */
        if (probe_pid < 0)
                return;
        ck_assert(WIFEXITED(probe_status));
        ck_assert_msg(WEXITSTATUS(probe_status) == 0,
                      "a concurrent store_server_key failed during creation: %s",
                      WEXITSTATUS(probe_status) >= 10
                          ? mailotp_strerror((enum mailotp_rc)(WEXITSTATUS(probe_status) - 10))
                          : "?");
}
END_TEST

static Suite *store_suite(void)
{
        Suite *s = suite_create("store");
        TCase *tc;

        tc = tcase_create("open");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, open_create_makes_dir);
        tcase_add_test(tc, open_missing_dir);
        tcase_add_test(tc, open_world_writable_dir);
        tcase_add_test(tc, open_symlinked_dir);
        tcase_add_test(tc, open_wrong_owner);
        tcase_add_test(tc, close_and_unlock_null_safe);
        tcase_add_test(tc, open_create_makes_every_subdir);
        tcase_add_test(tc, open_without_create_makes_nothing);
        tcase_add_test(tc, open_create_refuses_unsafe_subdir);
        suite_add_tcase(s, tc);

        tc = tcase_create("records");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, record_round_trip);
        tcase_add_test(tc, record_overwrite);
        tcase_add_test(tc, record_load_missing);
        tcase_add_test(tc, record_load_no_records_dir);
        tcase_add_test(tc, record_save_without_create_needs_dir);
        tcase_add_test(tc, record_load_corrupt_and_unsafe);
        tcase_add_test(tc, record_too_large);
        tcase_add_test(tc, record_save_inconsistent);
        tcase_add_test(tc, stale_temp_file_ignored);
        suite_add_tcase(s, tc);

        tc = tcase_create("state");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, state_round_trip);
        tcase_add_test(tc, state_load_missing);
        tcase_add_test(tc, state_corrupt);
        tcase_add_test(tc, state_written_in_place_alternating_slots);
        tcase_add_test(tc, state_torn_slot_falls_back);
        tcase_add_test(tc, state_cut_or_grown_refused);
        tcase_add_test(tc, state_text_of_0_1_0_read_then_converted);
        tcase_add_test(tc, state_in_place_write_refuses_unsafe_file);
        tcase_add_test(tc, user_delete);
        tcase_add_test(tc, user_delete_absent);
        tcase_add_test(tc, user_delete_record_only);
        suite_add_tcase(s, tc);

        tc = tcase_create("files");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, record_and_state_files_end_line);
        tcase_add_test(tc, apppw_round_trip);
        tcase_add_test(tc, recovery_round_trip);
        tcase_add_test(tc, lastlog_append_and_keep);
        tcase_add_test(tc, lastlog_torn_line_skipped_then_repaired);
        tcase_add_test(tc, lastlog_corrupt_started_afresh);
        tcase_add_test(tc, lastlog_unreadable_kept);
        tcase_add_test(tc, user_delete_removes_recovery_keeps_apppw_and_log);
        suite_add_tcase(s, tc);

        tc = tcase_create("locks");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 20);
        tcase_add_test(tc, lock_unlock);
        tcase_add_test(tc, lock_across_processes);
        tcase_add_test(tc, lock_without_locks_dir);
        tcase_add_test(tc, unsafe_subdir);
        suite_add_tcase(s, tc);

        tc = tcase_create("server_key");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, server_key_reader_during_creation);
        suite_add_tcase(s, tc);
        return s;
}

int main(void)
{
        return tu_main(store_suite());
}
