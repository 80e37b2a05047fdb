/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * store.c / store_file.c: the file backend on a private temporary directory,
 * opened with STORE_CREATE for setup (as the CLI does) and with 0 for
 * module-like opens.  A user's record and state live in one two-slot file,
 * users/KEY (userfile.h); the 0.2.0 layout (records/KEY, state/KEY) is read,
 * and moved into users/KEY by the first write.
 */
/*
 * This executable defines its own openat() (see moved_concurrently_seen);
 * glibc's fortified inline openat() would clash with it.
 */
#undef _FORTIFY_SOURCE

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
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
#include "userfile.h"

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

static void user_path(char *out, size_t outsz, const char *key)
{
        sub_path(out, outsz, "users", key);
}

static int sub_exists(const char *sub, const char *key)
{
        char p[800];

        sub_path(p, sizeof(p), sub, key);
        return tu_exists(p);
}

static void make_sub(const char *sub)
{
        char d[800];

        sub_path(d, sizeof(d), sub, NULL);
        ck_assert_msg(mkdir(d, 0700) == 0 || errno == EEXIST, "mkdir %s: %s", d, strerror(errno));
}

/* The text the store writes for a record or a state (record.c's format, see test_record.c). */
static void fmt_record(const struct otp_record *r, char *buf, size_t bufsz)
{
        size_t len = 0;

        ck_assert_int_eq(record_format(r, buf, bufsz, &len), MAILOTP_OK);
        ck_assert_uint_eq(strlen(buf), len);
}

static void fmt_state(const struct otp_state *s, char *buf, size_t bufsz)
{
        size_t len = 0;

        ck_assert_int_eq(state_format(s, buf, bufsz, &len), MAILOTP_OK);
        ck_assert_uint_eq(strlen(buf), len);
}

/* users/KEY made by the test: slot 0 holds record then state (NULL: none), slot 1 nothing. */
static void write_user(const char *key, const char *record, const char *state)
{
        char p[800];

        make_sub("users");
        user_path(p, sizeof(p), key);
        tu_write_user_file(p, 1, record, state);
}

/* The current payload of users/KEY. */
static char *user_payload(const char *key, size_t *len)
{
        char p[800];

        user_path(p, sizeof(p), key);
        return tu_read_slot_payload(p, len);
}

/* users/KEY's current payload is exactly record then state (NULL: nothing after the record). */
static void assert_user_is(const char *key, const char *record, const char *state)
{
        size_t len = 0, rlen = strlen(record), slen = state != NULL ? strlen(state) : 0;
        char *payload = user_payload(key, &len);

        ck_assert_msg(len == rlen + slen && memcmp(payload, record, rlen) == 0 &&
                          (slen == 0 || memcmp(payload + rlen, state, slen) == 0),
                      "users/%s holds:\n%s\nexpected:\n%s%s", key, payload, record,
                      state != NULL ? state : "");
        free(payload);
}

/* The 0.2.0 layout: records/KEY (text) and state/KEY (two slots, or the text of 0.1.0). */
static void write_legacy_record(const char *key, const char *text)
{
        char p[800];

        make_sub("records");
        sub_path(p, sizeof(p), "records", key);
        tu_write_file(p, text, strlen(text), 0600);
}

static void write_legacy_state(const char *key, const char *text, int as_slots)
{
        char p[800];

        make_sub("state");
        sub_path(p, sizeof(p), "state", key);
        if (as_slots)
                tu_write_user_file(p, 1, text, NULL);
        else
                tu_write_file(p, text, strlen(text), 0600);
}

/* sub/KEY holds exactly text. */
static void assert_file_is(const char *sub, const char *key, const char *text)
{
        char p[800], *got;
        size_t len = 0;

        sub_path(p, sizeof(p), sub, key);
        got = tu_read_file(p, &len);
        ck_assert_msg(got != NULL, "%s/%s is missing", sub, key);
        ck_assert_msg(len == strlen(text) && memcmp(got, text, len) == 0,
                      "%s/%s holds:\n%s\nexpected:\n%s", sub, key, got, text);
        free(got);
}

/* A whole file with its inode and mtime, for "left exactly as it was" checks. */
struct fsnap {
        char *data;
        size_t len;
        ino_t ino;
        struct timespec mtime;
};

static void fsnap_take(struct fsnap *s, const char *path)
{
        struct stat sb;

        ck_assert_int_eq(lstat(path, &sb), 0);
        s->ino = sb.st_ino;
        s->mtime = sb.st_mtim;
        s->data = tu_read_file(path, &s->len);
        ck_assert_ptr_nonnull(s->data);
}

static void fsnap_same(struct fsnap *s, const char *path)
{
        struct stat sb;
        size_t len = 0;
        char *now;

        ck_assert_int_eq(lstat(path, &sb), 0);
        ck_assert_msg(sb.st_ino == s->ino, "%s was replaced", path);
        ck_assert_msg(sb.st_mtim.tv_sec == s->mtime.tv_sec &&
                          sb.st_mtim.tv_nsec == s->mtime.tv_nsec,
                      "%s was written", path);
        now = tu_read_file(path, &len);
        ck_assert_ptr_nonnull(now);
        ck_assert_uint_eq(len, s->len);
        ck_assert_msg(memcmp(now, s->data, len) == 0, "%s changed", path);
        free(now);
        free(s->data);
        s->data = NULL;
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

static enum mailotp_rc save_record(struct store *st, const char *key)
{
        struct otp_record r;

        fill_record(&r);
        return store_record_save(st, key, &r, err, sizeof(err));
}

static enum mailotp_rc save_state(struct store *st, const char *key)
{
        struct otp_state s;

        state_init(&s);
        return store_state_save(st, key, &s, err, sizeof(err));
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
        char p[800], text[RECORD_MAX_SIZE];
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
        user_path(p, sizeof(p), "alice");
        ck_assert_int_eq(lstat(p, &sb), 0);
        ck_assert(S_ISREG(sb.st_mode));
        ck_assert_uint_eq(sb.st_mode & 07777, 0600);
        ck_assert_int_eq(sb.st_size, SLOTS_FILE_SIZE);
        /* no state yet: the payload is the record alone */
        fmt_record(&r, text, sizeof(text));
        assert_user_is("alice", text, NULL);
        sub_path(p, sizeof(p), "users", NULL);
        ck_assert_int_eq(lstat(p, &sb), 0);
        ck_assert_uint_eq(sb.st_mode & 07777, 0700);
        ck_assert_uint_eq(tu_count_dot_entries(p), 0);
        /* nothing in the 0.2.0 layout */
        ck_assert(!sub_exists("records", NULL));
        ck_assert(!sub_exists("state", NULL));
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

START_TEST(record_load_no_user_dirs)
{
        struct store *st;
        struct otp_record r;

        ck_assert_int_eq(mkdir(sdir, 0700), 0);
        st = open_store(0);
        ck_assert_int_eq(store_record_load(st, "alice", &r, err, sizeof(err)),
                         MAILOTP_ERR_NOT_FOUND);
        ck_assert_int_eq(load_state(st, "alice"), MAILOTP_ERR_NOT_FOUND);
        /* not created by a module-like open */
        ck_assert(!sub_exists("users", NULL));
        ck_assert(!sub_exists("records", NULL));
        ck_assert(!sub_exists("state", NULL));
        store_close(st);
}
END_TEST

START_TEST(record_save_without_create_needs_dir)
{
        struct store *st;
        struct otp_record r;
        enum mailotp_rc rc;

        ck_assert_int_eq(mkdir(sdir, 0700), 0);
        st = open_store(0);
        fill_record(&r);
        /* a module-like open never creates users/ nor records/: the save fails */
        rc = store_record_save(st, "alice", &r, err, sizeof(err));
        ck_assert_msg(rc == MAILOTP_ERR_NOT_FOUND || rc == MAILOTP_ERR_IO, "rc %d", (int)rc);
        ck_assert(!sub_exists("users", NULL));
        ck_assert(!sub_exists("records", NULL));
        ck_assert(!sub_exists("state", NULL));
        store_close(st);
}
END_TEST

START_TEST(record_load_corrupt_and_unsafe)
{
        struct store *st = open_store(STORE_CREATE);
        struct otp_record r;
        char p[800];

        ck_assert_int_eq(save_record(st, "alice"), MAILOTP_OK);
        user_path(p, sizeof(p), "alice");
        write_user("alice", "version = 1\nstatus = enabled\nend\n", NULL);
        ck_assert_int_eq(store_record_load(st, "alice", &r, err, sizeof(err)), MAILOTP_ERR_FORMAT);
        ck_assert_str_eq(r.secret, "");          /* wiped */
        write_user("alice", PENDING_FILE, NULL); /* the fixture is valid */
        ck_assert_msg(store_record_load(st, "alice", &r, err, sizeof(err)) == MAILOTP_OK, "%s",
                      err);
        ck_assert_int_eq(r.status, OTP_STATUS_PENDING);
        /* the record part ends at its end line: a bad state after it is the state's business */
        write_user("alice", PENDING_FILE, "garbage\nend\n");
        ck_assert_int_eq(store_record_load(st, "alice", &r, err, sizeof(err)), MAILOTP_OK);
        ck_assert_int_eq(load_state(st, "alice"), MAILOTP_ERR_FORMAT);
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
        char *big = calloc(1, SLOTS_FILE_SIZE + 1);

        ck_assert_ptr_nonnull(big);
        ck_assert_int_eq(save_record(st, "alice"), MAILOTP_OK);
        user_path(p, sizeof(p), "alice");
        tu_write_file(p, big, SLOTS_FILE_SIZE + 1, 0600);
        ck_assert_int_eq(store_record_load(st, "alice", &r, err, sizeof(err)),
                         MAILOTP_ERR_UNSAFE_FILE);
        ck_assert_int_eq(load_state(st, "alice"), MAILOTP_ERR_UNSAFE_FILE);
        free(big);
        store_close(st);
}
END_TEST

START_TEST(record_save_inconsistent)
{
        struct store *st = open_store(STORE_CREATE);
        struct otp_record r;

        fill_record(&r);
        r.digits = 9;
        ck_assert_int_eq(store_record_save(st, "alice", &r, err, sizeof(err)), MAILOTP_ERR_INVALID);
        ck_assert(!sub_exists("users", "alice"));
        store_close(st);
}
END_TEST

START_TEST(stale_temp_file_ignored)
{
        struct store *st = open_store(STORE_CREATE);
        struct otp_record r;
        char p[800], d[800];

        /* a crashed writer's temp file, with a valid user file in it */
        sub_path(d, sizeof(d), "users", NULL);
        sub_path(p, sizeof(p), "users", ".alice.0123456789ab");
        tu_write_user_file(p, 1, PENDING_FILE, NULL);
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

        ck_assert_int_eq(save_record(st, "alice"), MAILOTP_OK);
        state_init(&s);
        s.has_last_step = 1;
        s.last_step = 56666667;
        s.failures = 3;
        s.locked_until = 1700000500;
        s.last_failure = 1700000400;
        s.last_success = 1700000001;
        ck_assert_msg(store_state_save(st, "alice", &s, err, sizeof(err)) == MAILOTP_OK, "%s", err);
        store_close(st);
        st = open_store(0);
        ck_assert_int_eq(store_state_load(st, "alice", &back, err, sizeof(err)), MAILOTP_OK);
        ck_assert_int_eq(back.has_last_step, 1);
        ck_assert_uint_eq(back.last_step, 56666667);
        ck_assert_uint_eq(back.failures, 3);
        ck_assert_int_eq(back.locked_until, 1700000500);
        ck_assert_int_eq(back.last_failure, 1700000400);
        ck_assert_int_eq(back.last_success, 1700000001);
        ck_assert_int_eq(load_record(st, "alice"), MAILOTP_OK);
        ck_assert(!sub_exists("state", NULL));
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
        /* a record without a state (a pending enrollment): no state */
        write_user("alice", PENDING_FILE, NULL);
        s.failures = 7;
        ck_assert_int_eq(store_state_load(st, "alice", &s, err, sizeof(err)),
                         MAILOTP_ERR_NOT_FOUND);
        ck_assert_uint_eq(s.failures, 0);
        store_close(st);
}
END_TEST

START_TEST(state_corrupt)
{
        struct store *st = open_store(STORE_CREATE);
        struct otp_state s;

        write_user("alice", PENDING_FILE, "garbage\nend\n");
        ck_assert_int_eq(store_state_load(st, "alice", &s, err, sizeof(err)), MAILOTP_ERR_FORMAT);
        ck_assert_str_ne(err, "");
        /* the same file with a good state */
        write_user("alice", PENDING_FILE, "version = 1\nfailures = 2\nlocked_until = 0\nend\n");
        ck_assert_msg(store_state_load(st, "alice", &s, err, sizeof(err)) == MAILOTP_OK, "%s", err);
        ck_assert_uint_eq(s.failures, 2);
        store_close(st);
}
END_TEST

/* A state needs a record to live with: without one it is refused and nothing is made. */
START_TEST(state_save_needs_a_record)
{
        struct store *st = open_store(STORE_CREATE);
        struct fsnap before;
        char p[800];

        ck_assert_int_eq(save_state(st, "alice"), MAILOTP_ERR_NOT_FOUND);
        ck_assert_str_ne(err, "");
        ck_assert(!sub_exists("users", "alice"));
        ck_assert(!sub_exists("records", NULL));
        ck_assert(!sub_exists("state", NULL));
        /* the same with the 0.2.0 directories present, and a 0.2.0 state without its record */
        make_sub("records");
        write_legacy_state("alice", "version = 1\nfailures = 4\nlocked_until = 0\nend\n", 1);
        sub_path(p, sizeof(p), "state", "alice");
        fsnap_take(&before, p);
        ck_assert_int_eq(save_state(st, "alice"), MAILOTP_ERR_NOT_FOUND);
        ck_assert(!sub_exists("users", "alice"));
        ck_assert(!sub_exists("records", "alice"));
        fsnap_same(&before, p);
        sub_path(p, sizeof(p), "users", NULL);
        ck_assert_uint_eq(tu_count_dot_entries(p), 0);
        store_close(st);
}
END_TEST

/* The user file's two slots (slots.h), read back independently of slots.c. */
static uint64_t slot_seq(const unsigned char *image, int i)
{
        uint64_t v = 0;

        for (int b = 7; b >= 0; b--)
                v = (v << 8) | image[(size_t)i * SLOTS_SLOT_SIZE + 8 + (size_t)b];
        return v;
}

static unsigned char *read_image(const char *sub, const char *key, struct stat *sb)
{
        char p[800];
        size_t len = 0;
        unsigned char *image;

        sub_path(p, sizeof(p), sub, key);
        ck_assert_int_eq(lstat(p, sb), 0);
        image = (unsigned char *)tu_read_file(p, &len);
        ck_assert_ptr_nonnull(image);
        ck_assert_uint_eq(len, SLOTS_FILE_SIZE);
        return image;
}

static unsigned char *read_user_image(const char *key, struct stat *sb)
{
        return read_image("users", key, sb);
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
        struct otp_record r;
        struct stat first, sb;
        unsigned char *image;
        char rtext[RECORD_MAX_SIZE], r2text[RECORD_MAX_SIZE], *payload, *state_part;
        size_t len = 0, rlen;

        fill_record(&r);
        ck_assert_int_eq(store_record_save(st, "alice", &r, err, sizeof(err)), MAILOTP_OK);
        fmt_record(&r, rtext, sizeof(rtext));
        rlen = strlen(rtext);
        image = read_user_image("alice", &first); /* a new file: slot 0, number 1 */
        ck_assert_uint_eq(slot_seq(image, 0), 1);
        ck_assert_uint_eq(slot_seq(image, 1), 0);
        ck_assert_mem_eq(image, "MOTPSLOT", 8);
        free(image);
        for (unsigned i = 1; i <= 5; i++) {
                save_failures(st, i);
                image = read_user_image("alice", &sb);
                /* the same file, its older slot overwritten with the next number */
                ck_assert_uint_eq(sb.st_ino, first.st_ino);
                ck_assert_uint_eq(sb.st_nlink, 1);
                ck_assert_uint_eq(sb.st_mode & 07777, 0600);
                ck_assert_uint_eq(slot_seq(image, (int)(i % 2)), i + 1);
                ck_assert_uint_eq(slot_seq(image, (int)((i + 1) % 2)), i);
                free(image);
                ck_assert_uint_eq(load_failures(st), i);
                /* the record part, byte for byte as the record write left it */
                payload = user_payload("alice", &len);
                ck_assert_uint_gt(len, rlen);
                ck_assert_mem_eq(payload, rtext, rlen);
                free(payload);
                ck_assert_int_eq(load_record(st, "alice"), MAILOTP_OK);
        }
        /* a record write goes in place too, and keeps the state part byte for byte */
        payload = user_payload("alice", &len);
        state_part = strdup(payload + rlen);
        ck_assert_ptr_nonnull(state_part);
        free(payload);
        r.status = OTP_STATUS_PENDING;
        r.enabled = 0;
        r.created = 1700000999;
        ck_assert_int_eq(store_record_save(st, "alice", &r, err, sizeof(err)), MAILOTP_OK);
        fmt_record(&r, r2text, sizeof(r2text));
        image = read_user_image("alice", &sb);
        ck_assert_uint_eq(sb.st_ino, first.st_ino);
        ck_assert_uint_eq(slot_seq(image, 0), 7);
        ck_assert_uint_eq(slot_seq(image, 1), 6);
        free(image);
        assert_user_is("alice", r2text, state_part);
        ck_assert_uint_eq(load_failures(st), 5);
        free(state_part);
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

        ck_assert_int_eq(save_record(st, "alice"), MAILOTP_OK); /* slot 0, number 1 */
        save_failures(st, 1);                                   /* slot 1, number 2 */
        save_failures(st, 2);                                   /* slot 0, number 3 */
        save_failures(st, 3);                                   /* slot 1, number 4: newest */
        image = read_user_image("alice", &sb);
        ck_assert_uint_eq(slot_seq(image, 1), 4);
        user_path(p, sizeof(p), "alice");
        /* Damage the newest slot anywhere in its header or payload: the older one counts. */
        for (size_t off = 0; off < SLOTS_HEADER_SIZE + 40; off++) {
                image[SLOTS_SLOT_SIZE + off] ^= 0x20;
                tu_write_file(p, (const char *)image, SLOTS_FILE_SIZE, 0600);
                ck_assert_msg(load_failures(st) == 2, "byte %zu flipped", off);
                ck_assert_int_eq(load_record(st, "alice"), MAILOTP_OK);
                image[SLOTS_SLOT_SIZE + off] ^= 0x20;
        }
        /* A write after a torn slot overwrites the torn one, not the good one. */
        image[SLOTS_SLOT_SIZE + 30] ^= 0x20;
        tu_write_file(p, (const char *)image, SLOTS_FILE_SIZE, 0600);
        save_failures(st, 4);
        free(image);
        image = read_user_image("alice", &sb);
        ck_assert_uint_eq(slot_seq(image, 0), 3);
        ck_assert_uint_eq(slot_seq(image, 1), 4);
        ck_assert_uint_eq(load_failures(st), 4);
        ck_assert_int_eq(load_record(st, "alice"), MAILOTP_OK);
        /* Both slots damaged: refused, never read as a fresh state or as no record. */
        image[30] ^= 0x20;
        image[SLOTS_SLOT_SIZE + 30] ^= 0x20;
        tu_write_file(p, (const char *)image, SLOTS_FILE_SIZE, 0600);
        ck_assert_int_eq(store_state_load(st, "alice", &s, err, sizeof(err)), MAILOTP_ERR_FORMAT);
        ck_assert_str_ne(err, "");
        ck_assert_int_eq(load_record(st, "alice"), MAILOTP_ERR_FORMAT);
        /* Both slots valid with the same number: tampered, refused. */
        image[30] ^= 0x20;
        image[SLOTS_SLOT_SIZE + 30] ^= 0x20;
        memcpy(image + SLOTS_SLOT_SIZE, image, SLOTS_SLOT_SIZE);
        tu_write_file(p, (const char *)image, SLOTS_FILE_SIZE, 0600);
        ck_assert_int_eq(store_state_load(st, "alice", &s, err, sizeof(err)), MAILOTP_ERR_FORMAT);
        ck_assert_int_eq(load_record(st, "alice"), MAILOTP_ERR_FORMAT);
        free(image);
        store_close(st);
}
END_TEST

START_TEST(state_cut_or_grown_refused)
{
        struct store *st = open_store(STORE_CREATE);
        struct fsnap before;
        struct stat sb;
        unsigned char *image;
        char p[800];
        struct otp_state s;
        static const size_t cuts[] = {0, 1, 8, 23, 24, 100, 4095, 4096, 4097, 8000, 8191};

        ck_assert_int_eq(save_record(st, "alice"), MAILOTP_OK);
        save_failures(st, 1);
        save_failures(st, 2);
        image = read_user_image("alice", &sb);
        user_path(p, sizeof(p), "alice");
        for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
                tu_write_file(p, (const char *)image, cuts[i], 0600);
                ck_assert_msg(store_state_load(st, "alice", &s, err, sizeof(err)) ==
                                  MAILOTP_ERR_FORMAT,
                              "cut at %zu accepted", cuts[i]);
                ck_assert_msg(load_record(st, "alice") == MAILOTP_ERR_FORMAT,
                              "record of a file cut at %zu accepted", cuts[i]);
                /* and not overwritten by a state write: it may hold the only record */
                fsnap_take(&before, p);
                ck_assert_int_eq(save_state(st, "alice"), MAILOTP_ERR_FORMAT);
                fsnap_same(&before, p);
        }
        {
                unsigned char *big = calloc(1, SLOTS_FILE_SIZE + 1);

                ck_assert_ptr_nonnull(big);
                memcpy(big, image, SLOTS_FILE_SIZE);
                tu_write_file(p, (const char *)big, SLOTS_FILE_SIZE + 1, 0600);
                ck_assert_int_eq(store_state_load(st, "alice", &s, err, sizeof(err)),
                                 MAILOTP_ERR_UNSAFE_FILE);
                ck_assert_int_eq(load_record(st, "alice"), MAILOTP_ERR_UNSAFE_FILE);
                fsnap_take(&before, p);
                ck_assert_int_eq(save_state(st, "alice"), MAILOTP_ERR_FORMAT);
                fsnap_same(&before, p);
                free(big);
        }
        free(image);
        store_close(st);
}
END_TEST

/*
 * users/KEY without a usable record (no valid slot, no end line, cut, grown):
 * a state write refuses it and leaves every byte; a record write (enroll
 * --force) replaces it by the record alone.
 */
START_TEST(invalid_user_file_record_replaces_state_refuses)
{
        struct store *st = open_store(STORE_CREATE);
        unsigned char *image = calloc(1, SLOTS_FILE_SIZE + 1);
        char p[800], rtext[RECORD_MAX_SIZE];
        struct otp_record r;
        struct fsnap before;
        struct stat sb;

        ck_assert_ptr_nonnull(image);
        fill_record(&r);
        fmt_record(&r, rtext, sizeof(rtext));
        user_path(p, sizeof(p), "alice");
        for (int kind = 0; kind < 5; kind++) {
                switch (kind) {
                case 0: /* two empty slots */
                        memset(image, 0, SLOTS_FILE_SIZE);
                        tu_write_file(p, (const char *)image, SLOTS_FILE_SIZE, 0600);
                        break;
                case 1: /* a valid slot whose payload has no end line */
                        write_user("alice", "version = 1\nstatus = enabled\n", NULL);
                        break;
                case 2: /* a valid slot whose payload has a NUL byte */
                        tu_slot_image(1, "version = 1\n\0end\n", 17, NULL, 0, image);
                        tu_write_file(p, (const char *)image, SLOTS_FILE_SIZE, 0600);
                        break;
                case 3: /* cut */
                        tu_slot_image(1, PENDING_FILE, strlen(PENDING_FILE), NULL, 0, image);
                        tu_write_file(p, (const char *)image, 100, 0600);
                        break;
                default: /* grown */
                        tu_slot_image(1, PENDING_FILE, strlen(PENDING_FILE), NULL, 0, image);
                        tu_write_file(p, (const char *)image, SLOTS_FILE_SIZE + 1, 0600);
                        break;
                }
                ck_assert_msg(load_record(st, "alice") != MAILOTP_OK, "kind %d read", kind);
                ck_assert_msg(load_record(st, "alice") != MAILOTP_ERR_NOT_FOUND, "kind %d", kind);
                fsnap_take(&before, p);
                ck_assert_msg(save_state(st, "alice") == MAILOTP_ERR_FORMAT, "kind %d", kind);
                ck_assert_str_ne(err, "");
                fsnap_same(&before, p);
                ck_assert_msg(store_record_save(st, "alice", &r, err, sizeof(err)) == MAILOTP_OK,
                              "kind %d: %s", kind, err);
                ck_assert_int_eq(lstat(p, &sb), 0);
                ck_assert_int_eq(sb.st_size, SLOTS_FILE_SIZE);
                assert_user_is("alice", rtext, NULL);
                ck_assert_int_eq(load_record(st, "alice"), MAILOTP_OK);
                ck_assert_int_eq(load_state(st, "alice"), MAILOTP_ERR_NOT_FOUND);
                ck_assert_int_eq(save_state(st, "alice"), MAILOTP_OK);
        }
        free(image);
        store_close(st);
}
END_TEST

/*
 * Record and state share one slot of SLOTS_PAYLOAD_MAX bytes: a write that
 * would not fit is refused and changes nothing; one that fits exactly is
 * taken.  The parts are padded with a comment line, which both parsers skip.
 */
static char *padded(const char *text, size_t total)
{
        size_t len = strlen(text);
        char *out;

        ck_assert_uint_ge(total, len + 3);
        out = malloc(total + 1);
        ck_assert_ptr_nonnull(out);
        out[0] = '#';
        memset(out + 1, 'x', total - len - 2);
        out[total - len - 1] = '\n';
        memcpy(out + total - len, text, len + 1);
        ck_assert_uint_eq(strlen(out), total);
        return out;
}

START_TEST(payload_too_big_refused)
{
        struct store *st = open_store(STORE_CREATE);
        char p[800], rtext[RECORD_MAX_SIZE], stext[SLOTS_PAYLOAD_MAX], *big, *small;
        struct otp_record r;
        struct otp_state s;
        struct fsnap before;
        size_t rlen, slen;

        fill_record(&r);
        fmt_record(&r, rtext, sizeof(rtext));
        state_init(&s);
        s.failures = 1;
        fmt_state(&s, stext, sizeof(stext));
        rlen = strlen(rtext);
        slen = strlen(stext);
        user_path(p, sizeof(p), "alice");
        /* a state write next to a big record part */
        big = padded(rtext, SLOTS_PAYLOAD_MAX - slen + 1);
        write_user("alice", big, NULL);
        ck_assert_int_eq(load_record(st, "alice"), MAILOTP_OK);
        fsnap_take(&before, p);
        ck_assert_int_eq(store_state_save(st, "alice", &s, err, sizeof(err)), MAILOTP_ERR_INVALID);
        ck_assert_str_ne(err, "");
        fsnap_same(&before, p);
        free(big);
        big = padded(rtext, SLOTS_PAYLOAD_MAX - slen);
        write_user("alice", big, NULL);
        ck_assert_msg(store_state_save(st, "alice", &s, err, sizeof(err)) == MAILOTP_OK, "%s", err);
        assert_user_is("alice", big, stext);
        ck_assert_uint_eq(load_failures(st), 1);
        free(big);
        /* a record write next to a big state part: one byte too many, then a full slot */
        small = padded("end\n", rlen - 1);
        big = padded(stext, SLOTS_PAYLOAD_MAX - (rlen - 1));
        write_user("alice", small, big);
        ck_assert_uint_eq(load_failures(st), 1);
        fsnap_take(&before, p);
        ck_assert_int_eq(store_record_save(st, "alice", &r, err, sizeof(err)), MAILOTP_ERR_INVALID);
        ck_assert_str_ne(err, "");
        fsnap_same(&before, p);
        free(big);
        big = padded(stext, SLOTS_PAYLOAD_MAX - rlen);
        write_user("alice", small, big);
        ck_assert_msg(store_record_save(st, "alice", &r, err, sizeof(err)) == MAILOTP_OK, "%s",
                      err);
        assert_user_is("alice", rtext, big);
        ck_assert_uint_eq(load_failures(st), 1);
        free(big);
        free(small);
        store_close(st);
}
END_TEST

/* users/KEY that is not safe to trust is refused by every read and every write. */
START_TEST(user_file_unsafe_refused_by_reads_and_writes)
{
        struct store *st = open_store(STORE_CREATE);
        struct fsnap before;
        struct stat sb;
        unsigned char *image;
        char p[800], q[800];

        ck_assert_int_eq(save_record(st, "alice"), MAILOTP_OK);
        save_failures(st, 1);
        user_path(p, sizeof(p), "alice");
        tu_join(q, sizeof(q), base, "elsewhere");
        for (int kind = 0; kind < 3; kind++) {
                switch (kind) {
                case 0: /* a second name: writing would change it too */
                        ck_assert_int_eq(link(p, q), 0);
                        break;
                case 1:
                        ck_assert_int_eq(chmod(p, 0640), 0);
                        break;
                default: /* another owner (needs root) */
                        if (geteuid() != 0)
                                continue;
                        ck_assert_int_eq(chown(p, geteuid() + 1, (gid_t)-1), 0);
                        break;
                }
                fsnap_take(&before, p);
                ck_assert_msg(load_record(st, "alice") == MAILOTP_ERR_UNSAFE_FILE, "kind %d", kind);
                ck_assert_msg(load_state(st, "alice") == MAILOTP_ERR_UNSAFE_FILE, "kind %d", kind);
                ck_assert_msg(save_state(st, "alice") == MAILOTP_ERR_UNSAFE_FILE, "kind %d", kind);
                ck_assert_msg(save_record(st, "alice") == MAILOTP_ERR_UNSAFE_FILE, "kind %d", kind);
                fsnap_same(&before, p);
                image = read_user_image("alice", &sb);
                ck_assert_uint_eq(slot_seq(image, 1), 2); /* not written */
                ck_assert_uint_eq(slot_seq(image, 0), 1);
                free(image);
                switch (kind) {
                case 0:
                        ck_assert_int_eq(unlink(q), 0);
                        break;
                case 1:
                        ck_assert_int_eq(chmod(p, 0600), 0);
                        break;
                default:
                        ck_assert_int_eq(chown(p, geteuid(), (gid_t)-1), 0);
                        break;
                }
                ck_assert_uint_eq(load_failures(st), 1); /* the same file is fine again */
        }
        /* a symbolic link, even to where a user file could be made */
        ck_assert_int_eq(unlink(p), 0);
        ck_assert_int_eq(symlink(q, p), 0);
        ck_assert_int_eq(load_record(st, "alice"), MAILOTP_ERR_UNSAFE_FILE);
        ck_assert_int_eq(load_state(st, "alice"), MAILOTP_ERR_UNSAFE_FILE);
        ck_assert_int_eq(save_state(st, "alice"), MAILOTP_ERR_UNSAFE_FILE);
        ck_assert_int_eq(save_record(st, "alice"), MAILOTP_ERR_UNSAFE_FILE);
        ck_assert(!tu_exists(q));
        ck_assert_int_eq(lstat(p, &sb), 0);
        ck_assert(S_ISLNK(sb.st_mode));
        store_close(st);
}
END_TEST

/* ---- the 0.2.0 layout: read as before, moved into users/ by the first write ------------- */

/* alice's record and state as 0.2.0 stored them (texts as the store writes them). */
struct legacy_fixture {
        struct otp_record rec;
        struct otp_state state;
        char rtext[RECORD_MAX_SIZE];
        char stext[SLOTS_PAYLOAD_MAX];
};

static void legacy_fixture(struct legacy_fixture *f, int with_state, int state_as_slots)
{
        fill_record(&f->rec);
        state_init(&f->state);
        f->state.has_last_step = 1;
        f->state.last_step = 56666667;
        f->state.failures = 3;
        f->state.last_failure = 1700000400;
        f->state.last_success = 1700000001;
        fmt_record(&f->rec, f->rtext, sizeof(f->rtext));
        fmt_state(&f->state, f->stext, sizeof(f->stext));
        write_legacy_record("alice", f->rtext);
        if (with_state)
                write_legacy_state("alice", f->stext, state_as_slots);
}

/* After a move: users/alice holds record then state, records/alice the note, state/alice gone. */
static void assert_moved(const char *rtext, const char *stext)
{
        char p[800];
        struct stat sb;

        assert_user_is("alice", rtext, stext);
        user_path(p, sizeof(p), "alice");
        ck_assert_int_eq(lstat(p, &sb), 0);
        ck_assert_uint_eq(sb.st_mode & 07777, 0600);
        ck_assert_uint_eq(sb.st_nlink, 1);
        assert_file_is("records", "alice", USERFILE_MOVED);
        ck_assert(!sub_exists("state", "alice"));
        for (size_t i = 0; i < 3; i++) {
                static const char *const subs[] = {"users", "records", "state"};

                if (!sub_exists(subs[i], NULL))
                        continue;
                sub_path(p, sizeof(p), subs[i], NULL);
                ck_assert_msg(tu_count_dot_entries(p) == 0, "temporary file left in %s", subs[i]);
        }
}

START_TEST(legacy_user_read)
{
        struct legacy_fixture f;
        struct otp_record r;
        struct otp_state s;
        struct fsnap rb, sb;
        struct store *st;
        char rp[800], sp[800];

        store_close(open_store(STORE_CREATE)); /* users/ exists, alice is not in it */
        legacy_fixture(&f, 1, 1);
        sub_path(rp, sizeof(rp), "records", "alice");
        sub_path(sp, sizeof(sp), "state", "alice");
        fsnap_take(&rb, rp);
        fsnap_take(&sb, sp);
        st = open_store(0);
        ck_assert_msg(store_record_load(st, "alice", &r, err, sizeof(err)) == MAILOTP_OK, "%s",
                      err);
        ck_assert_mem_eq(&r, &f.rec, sizeof(r));
        ck_assert_msg(store_state_load(st, "alice", &s, err, sizeof(err)) == MAILOTP_OK, "%s", err);
        ck_assert_uint_eq(s.failures, 3);
        ck_assert_uint_eq(s.last_step, 56666667);
        /* reading moves nothing */
        ck_assert(!sub_exists("users", "alice"));
        fsnap_same(&rb, rp);
        fsnap_same(&sb, sp);
        /* the state of 0.1.0 (text) is read too */
        write_legacy_state("alice", f.stext, 0);
        ck_assert_msg(store_state_load(st, "alice", &s, err, sizeof(err)) == MAILOTP_OK, "%s", err);
        ck_assert_uint_eq(s.failures, 3);
        /* a record without a state */
        ck_assert_int_eq(unlink(sp), 0);
        ck_assert_int_eq(load_state(st, "alice"), MAILOTP_ERR_NOT_FOUND);
        ck_assert_int_eq(load_record(st, "alice"), MAILOTP_OK);
        store_close(st);
}
END_TEST

/* A store of 0.2.0 that no 0.3.0 CLI has opened yet: no users/ directory. */
START_TEST(legacy_user_read_without_users_dir)
{
        struct legacy_fixture f;
        struct otp_record r;
        struct store *st;

        ck_assert_int_eq(mkdir(sdir, 0700), 0);
        legacy_fixture(&f, 1, 1);
        st = open_store(0);
        ck_assert_msg(store_record_load(st, "alice", &r, err, sizeof(err)) == MAILOTP_OK, "%s",
                      err);
        ck_assert_int_eq(r.status, OTP_STATUS_ENABLED);
        ck_assert_uint_eq(load_failures(st), 3);
        ck_assert(!sub_exists("users", NULL));
        store_close(st);
}
END_TEST

START_TEST(legacy_record_corrupt_and_unsafe)
{
        struct store *st = open_store(STORE_CREATE);
        struct otp_record r;
        char p[800], *big = malloc(RECORD_MAX_SIZE + 2);

        ck_assert_ptr_nonnull(big);
        sub_path(p, sizeof(p), "records", "alice");
        write_legacy_record("alice", "version = 1\nstatus = enabled\nend\n");
        ck_assert_int_eq(store_record_load(st, "alice", &r, err, sizeof(err)), MAILOTP_ERR_FORMAT);
        ck_assert_str_eq(r.secret, ""); /* wiped */
        write_legacy_record("alice", PENDING_FILE);
        ck_assert_msg(store_record_load(st, "alice", &r, err, sizeof(err)) == MAILOTP_OK, "%s",
                      err);
        ck_assert_int_eq(chmod(p, 0644), 0);
        ck_assert_int_eq(store_record_load(st, "alice", &r, err, sizeof(err)),
                         MAILOTP_ERR_UNSAFE_FILE);
        /* a state write needs a record it can read: refused, nothing made */
        ck_assert_int_eq(save_state(st, "alice"), MAILOTP_ERR_UNSAFE_FILE);
        ck_assert(!sub_exists("users", "alice"));
        ck_assert_int_eq(unlink(p), 0);
        ck_assert_int_eq(symlink("/etc/passwd", p), 0);
        ck_assert_int_eq(store_record_load(st, "alice", &r, err, sizeof(err)),
                         MAILOTP_ERR_UNSAFE_FILE);
        ck_assert_int_eq(save_state(st, "alice"), MAILOTP_ERR_UNSAFE_FILE);
        ck_assert(!sub_exists("users", "alice"));
        ck_assert_int_eq(unlink(p), 0);
        memset(big, '\n', RECORD_MAX_SIZE + 1);
        tu_write_file(p, big, RECORD_MAX_SIZE + 1, 0600);
        ck_assert_int_eq(store_record_load(st, "alice", &r, err, sizeof(err)),
                         MAILOTP_ERR_UNSAFE_FILE);
        free(big);
        store_close(st);
}
END_TEST

START_TEST(move_by_record_save)
{
        struct legacy_fixture f;
        struct otp_record r;
        struct store *st;
        char rtext[RECORD_MAX_SIZE];

        store_close(open_store(STORE_CREATE));
        legacy_fixture(&f, 1, 1);
        st = open_store(0);
        /* re-enrolled: a pending record; the state goes along as it was */
        fill_record(&r);
        r.status = OTP_STATUS_PENDING;
        r.enabled = 0;
        r.created = 1700001000;
        ck_assert_msg(store_record_save(st, "alice", &r, err, sizeof(err)) == MAILOTP_OK, "%s",
                      err);
        fmt_record(&r, rtext, sizeof(rtext));
        assert_moved(rtext, f.stext);
        ck_assert_int_eq(load_record(st, "alice"), MAILOTP_OK);
        ck_assert_uint_eq(load_failures(st), 3);
        store_close(st);
}
END_TEST

START_TEST(move_by_state_save)
{
        struct legacy_fixture f;
        struct store *st;
        struct otp_state s;
        struct otp_record r;
        char stext[SLOTS_PAYLOAD_MAX];

        store_close(open_store(STORE_CREATE));
        legacy_fixture(&f, 1, 1);
        st = open_store(0);
        s = f.state;
        s.failures = 4;
        s.locked_until = 1700000900;
        ck_assert_msg(store_state_save(st, "alice", &s, err, sizeof(err)) == MAILOTP_OK, "%s", err);
        fmt_state(&s, stext, sizeof(stext));
        assert_moved(f.rtext, stext);
        ck_assert_int_eq(store_record_load(st, "alice", &r, err, sizeof(err)), MAILOTP_OK);
        ck_assert_mem_eq(&r, &f.rec, sizeof(r));
        ck_assert_uint_eq(load_failures(st), 4);
        /* from now on in place in users/alice */
        save_failures(st, 5);
        ck_assert_uint_eq(load_failures(st), 5);
        assert_file_is("records", "alice", USERFILE_MOVED);
        store_close(st);
}
END_TEST

START_TEST(move_record_without_state_by_state_save)
{
        struct legacy_fixture f;
        struct store *st;
        char stext[SLOTS_PAYLOAD_MAX];
        struct otp_state s;

        store_close(open_store(STORE_CREATE));
        legacy_fixture(&f, 0, 0);
        st = open_store(0);
        ck_assert_int_eq(load_state(st, "alice"), MAILOTP_ERR_NOT_FOUND);
        state_init(&s);
        s.failures = 1;
        ck_assert_msg(store_state_save(st, "alice", &s, err, sizeof(err)) == MAILOTP_OK, "%s", err);
        fmt_state(&s, stext, sizeof(stext));
        assert_moved(f.rtext, stext);
        store_close(st);
}
END_TEST

START_TEST(move_record_without_state_by_record_save)
{
        struct legacy_fixture f;
        struct store *st;

        store_close(open_store(STORE_CREATE));
        legacy_fixture(&f, 0, 0);
        st = open_store(0);
        ck_assert_msg(store_record_save(st, "alice", &f.rec, err, sizeof(err)) == MAILOTP_OK, "%s",
                      err);
        assert_moved(f.rtext, NULL);
        ck_assert_int_eq(load_state(st, "alice"), MAILOTP_ERR_NOT_FOUND);
        store_close(st);
}
END_TEST

/* The text state of 0.1.0 is moved like the two-slot one of 0.2.0, by either write. */
START_TEST(move_text_state_of_0_1_0)
{
        struct legacy_fixture f;
        struct store *st;
        char stext[SLOTS_PAYLOAD_MAX];

        store_close(open_store(STORE_CREATE));
        legacy_fixture(&f, 1, 0);
        st = open_store(0);
        ck_assert_uint_eq(load_failures(st), 3);
        ck_assert_msg(store_record_save(st, "alice", &f.rec, err, sizeof(err)) == MAILOTP_OK, "%s",
                      err);
        assert_moved(f.rtext, f.stext);
        store_close(st);

        /* and by a state write */
        tu_rm_rf(sdir);
        store_close(open_store(STORE_CREATE));
        legacy_fixture(&f, 1, 0);
        st = open_store(0);
        save_failures(st, 8);
        {
                struct otp_state s;

                state_init(&s);
                s.failures = 8;
                fmt_state(&s, stext, sizeof(stext));
        }
        assert_moved(f.rtext, stext);
        ck_assert_uint_eq(load_failures(st), 8);
        store_close(st);
}
END_TEST

/* A record write drops a 0.2.0 state it cannot read (and a state write replaces it). */
START_TEST(move_drops_unreadable_legacy_state)
{
        struct legacy_fixture f;
        struct store *st;
        char p[800], q[800], stext[SLOTS_PAYLOAD_MAX];
        unsigned char *zeros = calloc(1, SLOTS_FILE_SIZE);
        struct otp_state s;

        ck_assert_ptr_nonnull(zeros);
        sub_path(p, sizeof(p), "state", "alice");
        tu_join(q, sizeof(q), base, "second-name");
        for (int kind = 0; kind < 5; kind++) {
                tu_rm_rf(sdir);
                store_close(open_store(STORE_CREATE));
                legacy_fixture(&f, 1, 1);
                switch (kind) {
                case 0: /* corrupt text */
                        write_legacy_state("alice", "garbage\nend\n", 0);
                        break;
                case 1: /* a slot file without a valid slot */
                        tu_write_file(p, (const char *)zeros, SLOTS_FILE_SIZE, 0600);
                        break;
                case 2: /* unsafe mode */
                        ck_assert_int_eq(chmod(p, 0644), 0);
                        break;
                case 3: /* a second name */
                        ck_assert_int_eq(link(p, q), 0);
                        break;
                default: /* cut short */
                        write_legacy_state("alice", "version = 1\nfailures = 9\n", 0);
                        break;
                }
                st = open_store(0);
                ck_assert_msg(load_state(st, "alice") != MAILOTP_OK, "kind %d read", kind);
                ck_assert_msg(store_record_save(st, "alice", &f.rec, err, sizeof(err)) ==
                                  MAILOTP_OK,
                              "kind %d: %s", kind, err);
                assert_moved(f.rtext, NULL);
                ck_assert_int_eq(load_state(st, "alice"), MAILOTP_ERR_NOT_FOUND);
                store_close(st);
                if (kind == 3) {
                        ck_assert(tu_exists(q)); /* only the store's name is removed */
                        ck_assert_int_eq(unlink(q), 0);
                }
        }
        /* a state write does not need the old state: it replaces it */
        tu_rm_rf(sdir);
        store_close(open_store(STORE_CREATE));
        legacy_fixture(&f, 1, 1);
        write_legacy_state("alice", "garbage\nend\n", 0);
        st = open_store(0);
        state_init(&s);
        ck_assert_msg(store_state_save(st, "alice", &s, err, sizeof(err)) == MAILOTP_OK, "%s", err);
        fmt_state(&s, stext, sizeof(stext));
        assert_moved(f.rtext, stext);
        store_close(st);
        free(zeros);
}
END_TEST

/*
 * records/KEY says the user moved but users/KEY is missing (lost, or
 * restored from an old backup): fail closed, never "no record".
 */
START_TEST(moved_without_user_file_fails_closed)
{
        struct store *st;
        struct fsnap before;
        struct otp_record r;
        char p[800], rtext[RECORD_MAX_SIZE];

        for (int with_users_dir = 1; with_users_dir >= 0; with_users_dir--) {
                tu_rm_rf(sdir);
                if (with_users_dir)
                        store_close(open_store(STORE_CREATE));
                else
                        ck_assert_int_eq(mkdir(sdir, 0700), 0);
                write_legacy_record("alice", USERFILE_MOVED);
                sub_path(p, sizeof(p), "records", "alice");
                st = open_store(0);
                err[0] = '\0';
                ck_assert_int_eq(store_record_load(st, "alice", &r, err, sizeof(err)),
                                 MAILOTP_ERR_FORMAT);
                ck_assert_str_ne(err, "");
                ck_assert_str_eq(r.secret, "");
                if (with_users_dir) {
                        fsnap_take(&before, p);
                        err[0] = '\0';
                        ck_assert_int_eq(save_state(st, "alice"), MAILOTP_ERR_FORMAT);
                        ck_assert_str_ne(err, "");
                        fsnap_same(&before, p);
                        ck_assert(!sub_exists("users", "alice"));
                        ck_assert(!sub_exists("state", NULL));
                }
                store_close(st);
        }
        /* enrolling again (a record write) makes a new user file; the note stays */
        tu_rm_rf(sdir);
        store_close(open_store(STORE_CREATE));
        write_legacy_record("alice", USERFILE_MOVED);
        st = open_store(0);
        fill_record(&r);
        ck_assert_msg(store_record_save(st, "alice", &r, err, sizeof(err)) == MAILOTP_OK, "%s",
                      err);
        fmt_record(&r, rtext, sizeof(rtext));
        assert_user_is("alice", rtext, NULL);
        assert_file_is("records", "alice", USERFILE_MOVED);
        ck_assert_int_eq(load_record(st, "alice"), MAILOTP_OK);
        store_close(st);
}
END_TEST

/*
 * A reader without the lock sees users/alice missing, then records/alice
 * saying it moved: a writer moved alice in between.  This executable's
 * openat() stands in for libc's (the core is linked statically): while
 * move_armed is set, opening the records/ directory first makes
 * users/alice, as that writer would.  Every other call goes straight to the
 * kernel.
 */
static int move_armed;
static char move_rtext[RECORD_MAX_SIZE];

int openat(int dirfd, const char *path, int flags, ...)
{
        mode_t mode = 0;

        if ((flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE) {
                va_list ap;

                va_start(ap, flags);
                mode = va_arg(ap, mode_t);
                va_end(ap);
        }
        if (move_armed && strcmp(path, "records") == 0) {
                move_armed = 0;
                write_user("alice", move_rtext, NULL);
        }
        return (int)syscall(SYS_openat, dirfd, path, flags, mode);
}

START_TEST(moved_concurrently_seen)
{
        struct store *st;
        struct otp_record r, back;

        store_close(open_store(STORE_CREATE));
        write_legacy_record("alice", USERFILE_MOVED);
        fill_record(&r);
        r.created = 1700000777;
        fmt_record(&r, move_rtext, sizeof(move_rtext));
        st = open_store(0); /* records/ not opened yet */
        move_armed = 1;
        ck_assert_msg(store_record_load(st, "alice", &back, err, sizeof(err)) == MAILOTP_OK, "%s",
                      err);
        ck_assert_int_eq(move_armed, 0); /* the move happened where it should */
        ck_assert_int_eq(back.created, 1700000777);
        store_close(st);
}
END_TEST

/* A crash after users/KEY was made but before the rest: users/KEY wins. */
START_TEST(user_file_wins_over_leftovers)
{
        struct store *st = open_store(STORE_CREATE);
        struct legacy_fixture f;
        struct otp_record r;
        char rtext[RECORD_MAX_SIZE];

        legacy_fixture(&f, 1, 1); /* failures = 3 */
        fill_record(&r);
        r.created = 1700000555;
        fmt_record(&r, rtext, sizeof(rtext));
        write_user("alice", rtext, "version = 1\nfailures = 6\nlocked_until = 0\nend\n");
        ck_assert_int_eq(store_record_load(st, "alice", &r, err, sizeof(err)), MAILOTP_OK);
        ck_assert_int_eq(r.created, 1700000555);
        ck_assert_uint_eq(load_failures(st), 6);
        save_failures(st, 7);
        ck_assert_uint_eq(load_failures(st), 7);
        ck_assert_int_eq(store_record_load(st, "alice", &r, err, sizeof(err)), MAILOTP_OK);
        ck_assert_int_eq(r.created, 1700000555);
        store_close(st);
}
END_TEST

/*
 * A store without users/ (0.2.0, opened by the module without STORE_CREATE)
 * is written as 0.2.0 wrote it: the record replaced in records/, the state
 * in place in state/; users/ is not made.  The CLI's first open makes users/
 * and the next write moves the user.
 */
START_TEST(store_without_users_dir_written_as_0_2_0)
{
        static const char old[] = "# pam_mailotp user state: do not edit\nversion = 1\n"
                                  "last_step = 56666667\nfailures = 3\nlocked_until = 0\n"
                                  "last_failure = 1700000800\nlast_success = 1700000001\nend\n";
        struct legacy_fixture f;
        struct otp_record r;
        struct otp_state s;
        struct store *st;
        struct stat first, sb;
        unsigned char *image;
        char rtext[RECORD_MAX_SIZE], stext[SLOTS_PAYLOAD_MAX], p[800];

        ck_assert_int_eq(mkdir(sdir, 0700), 0);
        make_sub("locks");
        legacy_fixture(&f, 1, 1);
        st = open_store(0);
        /* the state in place, in the older slot of state/alice */
        image = read_image("state", "alice", &first);
        ck_assert_uint_eq(slot_seq(image, 0), 1);
        free(image);
        for (unsigned i = 4; i <= 6; i++) {
                save_failures(st, i);
                image = read_image("state", "alice", &sb);
                ck_assert_uint_eq(sb.st_ino, first.st_ino);
                ck_assert_uint_eq(slot_seq(image, (int)((i - 3) % 2)), i - 2);
                free(image);
                ck_assert_uint_eq(load_failures(st), i);
        }
        /* the record replaced in records/alice, exactly as the store formats it */
        fill_record(&r);
        r.created = 1700002000;
        ck_assert_msg(store_record_save(st, "alice", &r, err, sizeof(err)) == MAILOTP_OK, "%s",
                      err);
        fmt_record(&r, rtext, sizeof(rtext));
        assert_file_is("records", "alice", rtext);
        ck_assert_int_eq(load_record(st, "alice"), MAILOTP_OK);
        ck_assert(!sub_exists("users", NULL));
        /* the text state of 0.1.0: read, then written as two slots */
        write_legacy_state("alice", old, 0);
        ck_assert_uint_eq(load_failures(st), 3);
        save_failures(st, 4);
        image = read_image("state", "alice", &sb);
        ck_assert_uint_eq(slot_seq(image, 0), 1);
        ck_assert_uint_eq(slot_seq(image, 1), 0);
        free(image);
        ck_assert_uint_eq(load_failures(st), 4);
        ck_assert(!sub_exists("users", NULL));
        sub_path(p, sizeof(p), "state", NULL);
        ck_assert_uint_eq(tu_count_dot_entries(p), 0);
        store_close(st);
        /* the CLI opens it: users/ is made, and the next write moves alice */
        store_close(open_store(STORE_CREATE));
        ck_assert(sub_exists("users", NULL));
        ck_assert(!sub_exists("users", "alice"));
        st = open_store(0);
        ck_assert_uint_eq(load_failures(st), 4);
        state_init(&s);
        s.failures = 5;
        ck_assert_int_eq(store_state_save(st, "alice", &s, err, sizeof(err)), MAILOTP_OK);
        fmt_state(&s, stext, sizeof(stext));
        assert_moved(rtext, stext);
        store_close(st);
}
END_TEST

/* ---- delete --------------------------------------------------------------------------- */

START_TEST(user_delete)
{
        struct store *st = open_store(STORE_CREATE);
        struct otp_record r;
        struct otp_state s;

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
        ck_assert(!sub_exists("users", "alice"));
        ck_assert(!sub_exists("records", "alice"));
        ck_assert(!sub_exists("state", "alice"));
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
        st = open_store(0); /* no users/, records/ nor state/ */
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
        ck_assert(!sub_exists("users", "alice"));
        store_close(st);
}
END_TEST

static void save_recovery(struct store *st, const char *key)
{
        struct recovery_list rl;

        memset(&rl, 0, sizeof(rl));
        rl.created = 1;
        rl.n = 1;
        ck_assert_int_eq(store_recovery_save(st, key, &rl, err, sizeof(err)), MAILOTP_OK);
}

static void assert_user_gone(struct store *st)
{
        static const char *const subs[] = {"users", "records", "state", "recovery"};

        ck_assert_int_eq(load_record(st, "alice"), MAILOTP_ERR_NOT_FOUND);
        ck_assert_int_eq(load_state(st, "alice"), MAILOTP_ERR_NOT_FOUND);
        for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
                ck_assert_msg(!sub_exists(subs[i], "alice"), "%s/alice left", subs[i]);
}

START_TEST(user_delete_legacy)
{
        struct legacy_fixture f;
        struct store *st;

        store_close(open_store(STORE_CREATE));
        legacy_fixture(&f, 1, 1);
        st = open_store(0);
        save_recovery(st, "alice");
        ck_assert_int_eq(load_record(st, "alice"), MAILOTP_OK);
        ck_assert_int_eq(store_user_delete(st, "alice", err, sizeof(err)), MAILOTP_OK);
        assert_user_gone(st);
        store_close(st);
        /* and in a store without users/ */
        tu_rm_rf(sdir);
        ck_assert_int_eq(mkdir(sdir, 0700), 0);
        legacy_fixture(&f, 1, 0);
        st = open_store(0);
        ck_assert_int_eq(store_user_delete(st, "alice", err, sizeof(err)), MAILOTP_OK);
        assert_user_gone(st);
        ck_assert(!sub_exists("users", NULL));
        store_close(st);
}
END_TEST

START_TEST(user_delete_moved)
{
        struct legacy_fixture f;
        struct store *st;

        store_close(open_store(STORE_CREATE));
        legacy_fixture(&f, 1, 1);
        st = open_store(0);
        save_failures(st, 4); /* moves alice: users/alice, and the note in records/alice */
        ck_assert(sub_exists("users", "alice"));
        assert_file_is("records", "alice", USERFILE_MOVED);
        write_legacy_state("alice", f.stext, 1); /* as a crash during the move leaves it */
        save_recovery(st, "alice");
        ck_assert_int_eq(store_user_delete(st, "alice", err, sizeof(err)), MAILOTP_OK);
        assert_user_gone(st);
        store_close(st);
}
END_TEST

/*
 * The order of removal is records/KEY, state/KEY, users/KEY, recovery/KEY:
 * this executable's unlinkat() (below, with the server key's probe) fails
 * for "alice" in the directory whose inode is fail_unlink_in.  What comes
 * before that directory is gone, the rest is still there, and while
 * users/KEY is there the user keeps the 2FA.
 */
static ino_t fail_unlink_in;

START_TEST(user_delete_order)
{
        static const char *const order[] = {"records", "state", "users", "recovery"};
        struct legacy_fixture f;
        struct store *st;
        struct stat sb;
        char d[800];

        for (size_t k = 0; k < 4; k++) {
                tu_rm_rf(sdir);
                store_close(open_store(STORE_CREATE));
                legacy_fixture(&f, 1, 1);
                write_legacy_record("alice", USERFILE_MOVED);
                write_user("alice", f.rtext, f.stext);
                st = open_store(0);
                save_recovery(st, "alice");
                sub_path(d, sizeof(d), order[k], NULL);
                ck_assert_int_eq(stat(d, &sb), 0);
                fail_unlink_in = sb.st_ino;
                err[0] = '\0';
                ck_assert_int_eq(store_user_delete(st, "alice", err, sizeof(err)), MAILOTP_ERR_IO);
                fail_unlink_in = 0;
                ck_assert_str_ne(err, "");
                for (size_t j = 0; j < 4; j++)
                        ck_assert_msg(sub_exists(order[j], "alice") == (j >= k),
                                      "unlink failing in %s/: %s/alice %s", order[k], order[j],
                                      j >= k ? "removed" : "left");
                ck_assert_int_eq(load_record(st, "alice"),
                                 k <= 2 ? MAILOTP_OK : MAILOTP_ERR_NOT_FOUND);
                /* the next try removes the rest */
                ck_assert_int_eq(store_user_delete(st, "alice", err, sizeof(err)), MAILOTP_OK);
                assert_user_gone(st);
                store_close(st);
        }
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
        struct legacy_fixture f;
        char p[800];

        ck_assert_int_eq(save_record(st, "alice"), MAILOTP_OK);
        save_failures(st, 1);
        store_close(st);
        sub_path(p, sizeof(p), "users", NULL);
        ck_assert_int_eq(chmod(p, 0750), 0); /* subdirectories must be 0700 */
        st = open_store(0);
        ck_assert_int_eq(load_record(st, "alice"), MAILOTP_ERR_UNSAFE_FILE);
        ck_assert_int_eq(load_state(st, "alice"), MAILOTP_ERR_UNSAFE_FILE);
        ck_assert_int_eq(save_state(st, "alice"), MAILOTP_ERR_UNSAFE_FILE);
        store_close(st);
        ck_assert_int_eq(chmod(p, 0700), 0);
        /* a user still in the 0.2.0 layout: records/ is checked the same way */
        user_path(p, sizeof(p), "alice");
        ck_assert_int_eq(unlink(p), 0);
        legacy_fixture(&f, 0, 0);
        sub_path(p, sizeof(p), "records", NULL);
        ck_assert_int_eq(chmod(p, 0750), 0);
        st = open_store(0);
        ck_assert_int_eq(load_record(st, "alice"), MAILOTP_ERR_UNSAFE_FILE);
        ck_assert_int_eq(save_state(st, "alice"), MAILOTP_ERR_UNSAFE_FILE);
        ck_assert(!sub_exists("users", "alice"));
        store_close(st);
}
END_TEST

/* ---- layout ---------------------------------------------------------------------------- */

static const char *const subdirs[] = {"locks", "apppw", "recovery", "last", "users"};
/* The 0.2.0 layout's: read when present, never made. */
static const char *const legacy_subdirs[] = {"records", "state"};

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
        for (size_t i = 0; i < sizeof(legacy_subdirs) / sizeof(legacy_subdirs[0]); i++)
                ck_assert_msg(!sub_exists(legacy_subdirs[i], NULL), "%s made by STORE_CREATE",
                              legacy_subdirs[i]);
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
        for (size_t i = 0; i < sizeof(legacy_subdirs) / sizeof(legacy_subdirs[0]); i++)
                ck_assert_msg(!sub_exists(legacy_subdirs[i], NULL), "%s made by a module-like open",
                              legacy_subdirs[i]);
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
        char rtext[RECORD_MAX_SIZE], p[800], *payload;
        unsigned char *zeros = calloc(1, SLOTS_FILE_SIZE);
        size_t len = 0, rlen;

        ck_assert_ptr_nonnull(zeros);
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
        /* both parts of the payload end in an end line */
        fmt_record(&r, rtext, sizeof(rtext));
        rlen = strlen(rtext);
        payload = user_payload("alice", &len);
        ck_assert_uint_gt(len, rlen);
        ck_assert_mem_eq(payload, rtext, rlen);
        ck_assert_mem_eq(payload + rlen - 5, "\nend\n", 5);
        ck_assert_mem_eq(payload + len - 5, "\nend\n", 5);
        /*
         * Cut the payload (in a valid slot) at every line boundary and in the
         * middle of each part's last content line: a record cut short is no
         * record, a state cut short no state; cut right after the record it
         * is a record without a state.
         */
        user_path(p, sizeof(p), "alice");
        st = open_store(0);
        ck_assert_int_eq(load_record(st, "alice"), MAILOTP_OK);
        ck_assert_int_eq(load_state(st, "alice"), MAILOTP_OK);
        for (size_t cut = 0; cut < len; cut++) {
                char keep = payload[cut];

                if (cut != 0 && payload[cut - 1] != '\n' && cut != rlen - 7 && cut != len - 7)
                        continue;
                if (cut == 0) {
                        tu_write_file(p, (const char *)zeros, SLOTS_FILE_SIZE, 0600);
                } else {
                        payload[cut] = '\0';
                        tu_write_user_file(p, 3, payload, NULL);
                        payload[cut] = keep;
                }
                if (cut < rlen) {
                        ck_assert_msg(load_record(st, "alice") == MAILOTP_ERR_FORMAT,
                                      "record cut at %zu/%zu accepted", cut, rlen);
                        ck_assert_msg(load_state(st, "alice") == MAILOTP_ERR_FORMAT,
                                      "state of a record cut at %zu/%zu accepted", cut, rlen);
                } else {
                        ck_assert_msg(load_record(st, "alice") == MAILOTP_OK,
                                      "record with its state cut at %zu/%zu refused", cut, len);
                        ck_assert_msg(
                            load_state(st, "alice") ==
                                (cut == rlen ? MAILOTP_ERR_NOT_FOUND : MAILOTP_ERR_FORMAT),
                            "state cut at %zu/%zu: %s", cut, len, err);
                }
        }
        tu_write_user_file(p, 3, payload, NULL);
        ck_assert_int_eq(load_record(st, "alice"), MAILOTP_OK);
        ck_assert_int_eq(load_state(st, "alice"), MAILOTP_OK);
        store_close(st);
        free(payload);
        free(zeros);
        /* a record of 0.2.0 in records/ is checked the same way */
        write_legacy_record("bob", rtext);
        assert_file_ends_and_cuts_refused("records", "bob", load_record);
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
        char p[800], needle[64], *text;
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
        /* appended in place up to lastlog_rewrite_at(keep) entries ... */
        const int at = (int)lastlog_rewrite_at(5);

        for (int i = 1; i < at; i++) {
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
        ck_assert_int_eq(lstat(p, &sb), 0);
        ck_assert_uint_eq(sb.st_ino, first.st_ino);
        append_at(st, 1700000000 + at, 5);
        ck_assert_int_eq(lstat(p, &sb), 0);
        ck_assert_uint_ne(sb.st_ino, first.st_ino);
        text = tu_read_file(p, &len);
        ck_assert_uint_eq(count_lines(text), 5);
        (void)snprintf(needle, sizeof(needle), "login = %d ", 1700000000 + at - 4);
        ck_assert_ptr_nonnull(strstr(text, needle));
        (void)snprintf(needle, sizeof(needle), "login = %d ", 1700000000 + at - 5);
        ck_assert_ptr_null(strstr(text, needle));
        free(text);
        ck_assert_int_eq(store_lastlog_load(st, "alice", l, err, sizeof(err)), MAILOTP_OK);
        ck_assert_uint_eq(l->n, 5);
        ck_assert_int_eq(l->ev[0].time, 1700000000 + at - 4);
        ck_assert_int_eq(l->ev[4].time, 1700000000 + at);
        ck_assert_str_eq(l->ev[4].result, at % 2 ? "success" : "failure"); /* as append_at */
        /* another keep: rewritten at once with the new one */
        append_at(st, 1700000001 + at, 3);
        ck_assert_int_eq(store_lastlog_load(st, "alice", l, err, sizeof(err)), MAILOTP_OK);
        ck_assert_uint_eq(l->n, 3);
        ck_assert_uint_eq(l->keep, 3);
        ck_assert_int_eq(l->ev[0].time, 1700000000 + at - 1);
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

/* ---- last-logins entries kept with the state (0.3.2) ----------------------------------------- */

/*
 * A login's noted state write at time t: the state carries t as its
 * last_success, the entry t as its time and `tag` as its reason.  warn gets
 * the warning (empty when none).
 */
static void noted_at(struct store *st, int64_t t, const char *tag, size_t keep, char *warn,
                     size_t warnlen)
{
        struct lastlog_event ev;
        struct otp_state s;

        state_init(&s);
        s.last_success = t;
        lastlog_event_set(&ev, t, 1, "code", "imap", "192.0.2.1", tag);
        memset(warn, 'W', warnlen); /* whatever was in it */
        warn[warnlen - 1] = '\0';
        ck_assert_msg(store_state_save_noted(st, "alice", &s, &ev, keep, warn, warnlen, err,
                                             sizeof(err)) == MAILOTP_OK,
                      "%s", err);
}

/* noted_at() that must not warn. */
static void noted_ok(struct store *st, int64_t t, const char *tag, size_t keep)
{
        char warn[192];

        noted_at(st, t, tag, keep, warn, sizeof(warn));
        ck_assert_msg(warn[0] == '\0', "warned: %s", warn);
}

static int64_t load_last_success(struct store *st)
{
        struct otp_state s;

        ck_assert_msg(store_state_load(st, "alice", &s, err, sizeof(err)) == MAILOTP_OK, "%s", err);
        return s.last_success;
}

/* The extension of users/alice's current slot (the pending entries) as text, or NULL. */
static char *user_ext(size_t *len)
{
        char p[800];

        user_path(p, sizeof(p), "alice");
        return tu_read_slot_ext(p, len);
}

/* The pending entries are exactly n, with these times (oldest first). */
static void assert_pending(const int64_t *times, size_t n)
{
        struct lastlog *l = malloc(sizeof(*l));
        size_t len = 0;
        char *x = user_ext(&len);

        ck_assert_ptr_nonnull(l);
        if (n == 0) {
                ck_assert_msg(x == NULL, "pending entries: %s", x);
                free(l);
                return;
        }
        ck_assert_msg(x != NULL, "no pending entries");
        ck_assert_int_eq(lastlog_parse(x, len, l, err, sizeof(err)), MAILOTP_OK);
        ck_assert_uint_eq(l->skipped, 0);
        ck_assert_uint_eq(l->n, n);
        for (size_t i = 0; i < n; i++)
                ck_assert_int_eq(l->ev[i].time, times[i]);
        free(x);
        free(l);
}

/* What store_lastlog_load shows: exactly these times (oldest first) and keep. */
static void assert_shown(struct store *st, const int64_t *times, size_t n, size_t keep)
{
        struct lastlog *l = malloc(sizeof(*l));

        ck_assert_ptr_nonnull(l);
        ck_assert_msg(store_lastlog_load(st, "alice", l, err, sizeof(err)) == MAILOTP_OK, "%s",
                      err);
        ck_assert_uint_eq(l->n, n);
        ck_assert_uint_eq(l->keep, keep);
        for (size_t i = 0; i < n; i++)
                ck_assert_msg(l->ev[i].time == times[i], "entry %zu: %lld, not %lld", i,
                              (long long)l->ev[i].time, (long long)times[i]);
        free(l);
}

/* last/alice as text; NULL when missing. */
static char *last_text(void)
{
        char p[800];
        size_t len = 0;

        sub_path(p, sizeof(p), "last", "alice");
        return tu_read_file(p, &len);
}

START_TEST(noted_entries_pending)
{
        struct store *st = open_store(STORE_CREATE);
        static const int64_t t[] = {1700000001, 1700000002, 1700000003, 1700000004};
        char rtext[RECORD_MAX_SIZE], stext[SLOTS_PAYLOAD_MAX];
        struct otp_record r;
        struct otp_state s;

        ck_assert_int_eq(save_record(st, "alice"), MAILOTP_OK);
        for (size_t i = 0; i < 4; i++) {
                noted_ok(st, t[i], "n", 20);
                ck_assert_int_eq(load_last_success(st), t[i]);
                assert_pending(t, i + 1);
                ck_assert(!sub_exists("last", "alice"));
                assert_shown(st, t, i + 1, 20);
        }
        /* the payload (what 0.3.0 and 0.3.1 read) is the record and the state, as before */
        fill_record(&r);
        fmt_record(&r, rtext, sizeof(rtext));
        state_init(&s);
        s.last_success = t[3];
        fmt_state(&s, stext, sizeof(stext));
        assert_user_is("alice", rtext, stext);
        ck_assert_int_eq(load_record(st, "alice"), MAILOTP_OK);
        store_close(st);
        /* a module-like open reads them too */
        st = open_store(0);
        assert_shown(st, t, 4, 20);
        store_close(st);
}
END_TEST

/* A full batch (keep, at most LASTLOG_PENDING_MAX) moves to last/KEY in one append. */
START_TEST(noted_full_batch_moved)
{
        struct store *st = open_store(STORE_CREATE);
        int64_t t[80];
        struct stat first, sb;
        char p[800], *text;

        for (size_t i = 0; i < 80; i++)
                t[i] = 1700000000 + (int64_t)i;
        sub_path(p, sizeof(p), "last", "alice");
        ck_assert_int_eq(save_record(st, "alice"), MAILOTP_OK);
        for (size_t i = 0; i < 5; i++)
                noted_ok(st, t[i], "n", 5);
        ck_assert(!sub_exists("last", "alice"));
        assert_pending(t, 5);
        /* the 6th: the 5 pending ones moved, the 6th pending */
        noted_ok(st, t[5], "n", 5);
        text = last_text();
        ck_assert_ptr_nonnull(text);
        ck_assert_uint_eq(count_lines(text), 5);
        ck_assert_ptr_nonnull(strstr(text, "keep = 5\n"));
        ck_assert_ptr_nonnull(strstr(text, "login = 1700000000 "));
        ck_assert_ptr_nonnull(strstr(text, "login = 1700000004 "));
        ck_assert_ptr_null(strstr(text, "login = 1700000005 "));
        free(text);
        assert_pending(t + 5, 1);
        assert_shown(st, t + 1, 5, 5);
        ck_assert_int_eq(lstat(p, &first), 0);
        /* the next batch is appended to the same file */
        for (size_t i = 6; i < 11; i++)
                noted_ok(st, t[i], "n", 5);
        ck_assert_int_eq(lstat(p, &sb), 0);
        ck_assert_uint_eq(sb.st_ino, first.st_ino);
        text = last_text();
        ck_assert_uint_eq(count_lines(text), 10);
        free(text);
        assert_pending(t + 10, 1);
        assert_shown(st, t + 6, 5, 5);
        /* a big keep: batches of LASTLOG_PENDING_MAX */
        store_close(st);
        tu_rm_rf(sdir);
        st = open_store(STORE_CREATE);
        ck_assert_int_eq(save_record(st, "alice"), MAILOTP_OK);
        for (size_t i = 0; i < LASTLOG_PENDING_MAX; i++)
                noted_ok(st, t[i], "n", 40);
        ck_assert(!sub_exists("last", "alice"));
        assert_pending(t, LASTLOG_PENDING_MAX);
        noted_ok(st, t[LASTLOG_PENDING_MAX], "n", 40);
        text = last_text();
        ck_assert_ptr_nonnull(text);
        ck_assert_uint_eq(count_lines(text), LASTLOG_PENDING_MAX);
        free(text);
        assert_pending(t + LASTLOG_PENDING_MAX, 1);
        assert_shown(st, t, LASTLOG_PENDING_MAX + 1, 40);
        store_close(st);
}
END_TEST

/* The lock file's size: the order mark of the newest entry written to last/KEY under it. */
static off_t lock_size(void)
{
        char p[800];
        struct stat sb;

        sub_path(p, sizeof(p), "locks", "alice");
        ck_assert_int_eq(stat(p, &sb), 0);
        return sb.st_size;
}

static void direct_at(struct store *st, int64_t t, const char *tag)
{
        struct lastlog_event ev;

        lastlog_event_set(&ev, t, 0, "-", "imap", "192.0.2.1", tag);
        ck_assert_msg(store_lastlog_append(st, "alice", &ev, 20, err, sizeof(err)) == MAILOTP_OK,
                      "%s", err);
}

/*
 * Within one second the merged view lists pending entries first: an entry
 * written straight to last/KEY (no code, a replay) leaves its second as the
 * order mark, and a state-writing login of that second (or one that waited
 * for the lock a little) appends its entry after it instead of keeping it
 * pending.  Without the user's lock held, nothing is marked.
 */
START_TEST(noted_order_mark)
{
        struct store *st = open_store(STORE_CREATE);
        const int64_t t = 1700000100;
        struct store_lock *lk = NULL;
        struct lastlog *l = malloc(sizeof(*l));
        char *text;

        ck_assert_ptr_nonnull(l);
        ck_assert_int_eq(save_record(st, "alice"), MAILOTP_OK);
        ck_assert_int_eq(store_lock(st, "alice", 200, &lk, err, sizeof(err)), MAILOTP_OK);
        ck_assert_int_eq(lock_size(), 0);
        /* a pending entry, then a replay in the same second, then a wrong code in it */
        noted_ok(st, t, "first", 20);
        assert_pending(&t, 1);
        ck_assert_int_eq(lock_size(), 0);
        direct_at(st, t, "replay");
        ck_assert_int_eq(lock_size(), (off_t)(1 + (uint64_t)t % 4093));
        noted_ok(st, t, "after-replay", 20);
        assert_pending(&t, 1); /* still only the first */
        text = last_text();
        ck_assert_ptr_nonnull(text);
        ck_assert_ptr_nonnull(strstr(text, " replay\nlogin = 1700000100 success code imap "
                                           "192.0.2.1 after-replay\n"));
        free(text);
        /* the merged view: the order they happened in */
        ck_assert_int_eq(store_lastlog_load(st, "alice", l, err, sizeof(err)), MAILOTP_OK);
        ck_assert_uint_eq(l->n, 3);
        ck_assert_str_eq(l->ev[0].reason, "first");
        ck_assert_str_eq(l->ev[1].reason, "replay");
        ck_assert_str_eq(l->ev[2].reason, "after-replay");
        /* the next second: pending again */
        noted_ok(st, t + 1, "next-second", 20);
        {
                const int64_t want[] = {t, t + 1};

                assert_pending(want, 2);
        }
        /* a login of second t - 5 that waited for the lock while t's entries were written */
        noted_ok(st, t - 5, "waited", 20);
        text = last_text();
        ck_assert_ptr_nonnull(strstr(text, " waited\n"));
        free(text);
        /* ...but not one whose second is long before the mark */
        noted_ok(st, t - 100, "old", 20);
        {
                const int64_t want[] = {t - 100, t, t + 1}; /* kept in time order */

                assert_pending(want, 3);
        }
        store_unlock(st, lk);
        /* no lock held: no mark is read or set */
        direct_at(st, t + 2, "unlocked");
        ck_assert_int_eq(lock_size(), (off_t)(1 + (uint64_t)(t - 5) % 4093));
        noted_ok(st, t + 2, "unlocked-noted", 20);
        {
                const int64_t want[] = {t - 100, t, t + 1, t + 2};

                assert_pending(want, 4);
        }
        free(l);
        store_close(st);
}
END_TEST

/* Another keep: the pending entries move first, the new one starts a batch under it. */
START_TEST(noted_keep_changed)
{
        struct store *st = open_store(STORE_CREATE);
        static const int64_t t[] = {1700000001, 1700000002, 1700000003, 1700000004};
        char *text;

        ck_assert_int_eq(save_record(st, "alice"), MAILOTP_OK);
        for (size_t i = 0; i < 3; i++)
                noted_ok(st, t[i], "n", 20);
        noted_ok(st, t[3], "n", 2);
        /* moved under the new keep: the log keeps their newest 2 */
        text = last_text();
        ck_assert_ptr_nonnull(text);
        ck_assert_ptr_nonnull(strstr(text, "keep = 2\n"));
        ck_assert_uint_eq(count_lines(text), 2);
        ck_assert_ptr_nonnull(strstr(text, "login = 1700000002 "));
        ck_assert_ptr_nonnull(strstr(text, "login = 1700000003 "));
        free(text);
        assert_pending(t + 3, 1);
        assert_shown(st, t + 2, 2, 2);
        store_close(st);
}
END_TEST

/* Writes without an entry keep the pending ones as they are. */
START_TEST(noted_kept_by_other_writes)
{
        struct store *st = open_store(STORE_CREATE);
        static const int64_t t[] = {1700000001, 1700000002, 1700000003};
        size_t len = 0, len2 = 0;
        char *before, *after;
        struct otp_record r;

        ck_assert_int_eq(save_record(st, "alice"), MAILOTP_OK);
        for (size_t i = 0; i < 3; i++)
                noted_ok(st, t[i], "n", 20);
        before = user_ext(&len);
        ck_assert_ptr_nonnull(before);
        save_failures(st, 2);
        after = user_ext(&len2);
        ck_assert_ptr_nonnull(after);
        ck_assert_uint_eq(len2, len);
        ck_assert_str_eq(after, before);
        free(after);
        ck_assert_uint_eq(load_failures(st), 2);
        fill_record(&r);
        r.created = 1700000999;
        ck_assert_int_eq(store_record_save(st, "alice", &r, err, sizeof(err)), MAILOTP_OK);
        after = user_ext(&len2);
        ck_assert_ptr_nonnull(after);
        ck_assert_str_eq(after, before);
        free(after);
        free(before);
        ck_assert_uint_eq(load_failures(st), 2);
        ck_assert(!sub_exists("last", "alice"));
        assert_shown(st, t, 3, 20);
        store_close(st);
}
END_TEST

/* Deleting a user moves its pending entries into the log, which stays. */
START_TEST(noted_moved_by_user_delete)
{
        struct store *st = open_store(STORE_CREATE);
        static const int64_t t[] = {1700000001, 1700000002, 1700000003, 1700000004};
        struct lastlog_event ev;
        char *text;

        ck_assert_int_eq(save_record(st, "alice"), MAILOTP_OK);
        lastlog_event_set(&ev, t[0], 0, "code", "imap", NULL, "wrong-code");
        ck_assert_int_eq(store_lastlog_append(st, "alice", &ev, 20, err, sizeof(err)), MAILOTP_OK);
        for (size_t i = 1; i < 4; i++)
                noted_ok(st, t[i], "n", 20);
        ck_assert_int_eq(store_user_delete(st, "alice", err, sizeof(err)), MAILOTP_OK);
        ck_assert(!sub_exists("users", "alice"));
        text = last_text();
        ck_assert_ptr_nonnull(text);
        ck_assert_uint_eq(count_lines(text), 4);
        free(text);
        assert_shown(st, t, 4, 20);
        store_close(st);
}
END_TEST

/*
 * A move that fails loses the pending entries, says so in warn, and never
 * fails the state write; the new entry is pending.
 */
START_TEST(noted_move_failure_warns)
{
        struct store *st = open_store(STORE_CREATE);
        static const int64_t t[] = {1700000001, 1700000002, 1700000003, 1700000004};
        static const char lost[] = "pending last-logins entries lost";
        char p[800], warn[192];
        struct lastlog *l = malloc(sizeof(*l));

        ck_assert_ptr_nonnull(l);
        ck_assert_int_eq(save_record(st, "alice"), MAILOTP_OK);
        for (size_t i = 0; i < 3; i++)
                noted_ok(st, t[i], "n", 3);
        sub_path(p, sizeof(p), "last", "alice");
        ck_assert_int_eq(mkdir(p, 0700), 0); /* in the way of last/alice */
        noted_at(st, t[3], "n", 3, warn, sizeof(warn));
        ck_assert_msg(strncmp(warn, lost, sizeof(lost) - 1) == 0, "warn: %s", warn);
        ck_assert_uint_gt(strlen(warn), sizeof(lost));
        ck_assert_int_eq(load_last_success(st), t[3]);
        assert_pending(t + 3, 1);
        /* the directory is not a log: the reader says so */
        ck_assert_int_ne(store_lastlog_load(st, "alice", l, err, sizeof(err)), MAILOTP_OK);
        ck_assert_int_eq(rmdir(p), 0);
        assert_shown(st, t + 3, 1, 3);
        free(l);
        store_close(st);
}
END_TEST

/* A user file of 0.3.1 (no extension) takes entries from its next noted write on. */
START_TEST(noted_on_old_user_file)
{
        struct store *st = open_store(STORE_CREATE);
        static const int64_t t[] = {1700000001, 1700000002};
        char rtext[RECORD_MAX_SIZE];
        struct lastlog *l = malloc(sizeof(*l));
        struct otp_record r;

        ck_assert_ptr_nonnull(l);
        fill_record(&r);
        fmt_record(&r, rtext, sizeof(rtext));
        write_user("alice", rtext, "version = 1\nfailures = 2\nlocked_until = 0\nend\n");
        assert_pending(NULL, 0);
        ck_assert_int_eq(load_failures(st), 2);
        ck_assert_int_eq(store_lastlog_load(st, "alice", l, err, sizeof(err)),
                         MAILOTP_ERR_NOT_FOUND);
        free(l);
        noted_ok(st, t[0], "n", 20);
        assert_pending(t, 1);
        ck_assert_int_eq(load_last_success(st), t[0]);
        ck_assert_int_eq(load_record(st, "alice"), MAILOTP_OK);
        noted_ok(st, t[1], "n", 20);
        assert_pending(t, 2);
        assert_shown(st, t, 2, 20);
        store_close(st);
}
END_TEST

/* Entries written straight to the log and pending ones show in time order. */
START_TEST(noted_and_direct_merge_by_time)
{
        struct store *st = open_store(STORE_CREATE);
        static const int64_t shown[] = {100, 120, 150, 200, 300, 300};
        struct lastlog *l = malloc(sizeof(*l));
        struct lastlog_event ev;

        ck_assert_ptr_nonnull(l);
        ck_assert_int_eq(save_record(st, "alice"), MAILOTP_OK);
        noted_ok(st, 100, "pending", 20);
        lastlog_event_set(&ev, 150, 0, "code", "imap", NULL, "direct");
        ck_assert_int_eq(store_lastlog_append(st, "alice", &ev, 20, err, sizeof(err)), MAILOTP_OK);
        noted_ok(st, 200, "pending", 20);
        lastlog_event_set(&ev, 120, 0, "code", "imap", NULL, "direct");
        ck_assert_int_eq(store_lastlog_append(st, "alice", &ev, 20, err, sizeof(err)), MAILOTP_OK);
        /* within one second: the pending entry first, though it was written later */
        lastlog_event_set(&ev, 300, 0, "code", "imap", NULL, "direct");
        ck_assert_int_eq(store_lastlog_append(st, "alice", &ev, 20, err, sizeof(err)), MAILOTP_OK);
        noted_ok(st, 300, "pending", 20);
        assert_shown(st, shown, 6, 20);
        ck_assert_int_eq(store_lastlog_load(st, "alice", l, err, sizeof(err)), MAILOTP_OK);
        ck_assert_str_eq(l->ev[0].reason, "pending");
        ck_assert_str_eq(l->ev[1].reason, "direct");
        ck_assert_str_eq(l->ev[2].reason, "direct");
        ck_assert_str_eq(l->ev[3].reason, "pending");
        ck_assert_str_eq(l->ev[4].reason, "pending");
        ck_assert_str_eq(l->ev[5].reason, "direct");
        free(l);
        store_close(st);
}
END_TEST

/* users/alice with record, state and an extension ext (pending entries) in slot 0, number 1. */
static void write_user_ext(const char *record, const char *state, const char *ext)
{
        size_t rlen = strlen(record), slen = strlen(state);
        unsigned char *image = calloc(1, SLOTS_FILE_SIZE);
        char *payload = malloc(rlen + slen), p[800];

        ck_assert_ptr_nonnull(image);
        ck_assert_ptr_nonnull(payload);
        memcpy(payload, record, rlen);
        memcpy(payload + rlen, state, slen);
        ck_assert_int_eq(slots_encode_ext(1, payload, rlen + slen, ext, strlen(ext), image), 0);
        make_sub("users");
        user_path(p, sizeof(p), "alice");
        tu_write_file(p, (const char *)image, SLOTS_FILE_SIZE, 0600);
        free(payload);
        free(image);
}

/* No room for the entry next to a big record: it goes straight to last/KEY. */
START_TEST(noted_without_room_appended)
{
        struct store *st = open_store(STORE_CREATE);
        static const int64_t t[] = {1700000001};
        char rtext[RECORD_MAX_SIZE], stext[SLOTS_PAYLOAD_MAX], *big, *text;
        struct otp_record r;
        struct otp_state s;

        fill_record(&r);
        fmt_record(&r, rtext, sizeof(rtext));
        state_init(&s);
        s.last_success = t[0];
        fmt_state(&s, stext, sizeof(stext));
        /* room for 50 bytes of extension data: less than a header and a line */
        big = padded(rtext, SLOTS_PAYLOAD_MAX - SLOTS_EXT_HEADER - strlen(stext) - 50);
        write_user("alice", big, NULL);
        noted_ok(st, t[0], "n", 20);
        ck_assert_uint_eq(slots_ext_room(strlen(big) + strlen(stext)), 50);
        assert_user_is("alice", big, stext);
        assert_pending(NULL, 0);
        text = last_text();
        ck_assert_ptr_nonnull(text);
        ck_assert_uint_eq(count_lines(text), 1);
        free(text);
        assert_shown(st, t, 1, 20);
        free(big);
        store_close(st);
}
END_TEST

/* Pending entries that no longer fit next to a grown state move to last/KEY. */
START_TEST(pending_moved_when_state_grows)
{
        struct store *st = open_store(STORE_CREATE);
        static const int64_t t[] = {1700000001, 1700000002, 1700000003};
        static const char pending[] = "# pam_mailotp last logins\nversion = 2\nkeep = 20\n"
                                      "login = 1700000001 success code imap 192.0.2.1 -\n"
                                      "login = 1700000002 success code imap 192.0.2.1 -\n"
                                      "login = 1700000003 failure code imap - wrong-code\n";
        char rtext[RECORD_MAX_SIZE], small[SLOTS_PAYLOAD_MAX], grown[SLOTS_PAYLOAD_MAX], *big,
            *text;
        struct otp_record r;
        struct otp_state s;

        fill_record(&r);
        fmt_record(&r, rtext, sizeof(rtext));
        state_init(&s);
        fmt_state(&s, small, sizeof(small));
        s.failures = 3;
        s.locked_until = 1700000500;
        s.last_failure = 1700000400;
        fmt_state(&s, grown, sizeof(grown));
        ck_assert_uint_gt(strlen(grown), strlen(small));
        /* the extension fills the slot exactly */
        big = padded(rtext,
                     SLOTS_PAYLOAD_MAX - SLOTS_EXT_HEADER - (sizeof(pending) - 1) - strlen(small));
        write_user_ext(big, small, pending);
        assert_pending(t, 3);
        assert_shown(st, t, 3, 20);
        ck_assert(!sub_exists("last", "alice"));
        /* a state write without an entry, one that leaves no room for them */
        ck_assert_msg(store_state_save(st, "alice", &s, err, sizeof(err)) == MAILOTP_OK, "%s", err);
        assert_user_is("alice", big, grown);
        assert_pending(NULL, 0);
        text = last_text();
        ck_assert_ptr_nonnull(text);
        ck_assert_uint_eq(count_lines(text), 3);
        ck_assert_ptr_nonnull(strstr(text, "login = 1700000003 failure code imap - wrong-code\n"));
        free(text);
        assert_shown(st, t, 3, 20);
        free(big);
        store_close(st);
}
END_TEST

/*
 * A damaged extension makes its slot invalid, as a write torn after the
 * payload would: the previous slot is read, its state and its pending
 * entries, and the next write goes over the damaged slot.
 */
START_TEST(pending_damaged_read_as_none)
{
        struct store *st = open_store(STORE_CREATE);
        static const int64_t t[] = {1700000001, 1700000002, 1700000003};
        struct lastlog *l = malloc(sizeof(*l));
        const unsigned char *payload;
        unsigned char *image;
        struct stat sb;
        size_t plen = 0;
        uint64_t seq;
        char p[800];
        int idx;

        ck_assert_ptr_nonnull(l);
        ck_assert_int_eq(save_record(st, "alice"), MAILOTP_OK);
        noted_ok(st, t[0], "n", 20);
        noted_ok(st, t[1], "n", 20);
        image = read_user_image("alice", &sb);
        idx = slots_pick(image, SLOTS_FILE_SIZE, &seq, &payload, &plen);
        ck_assert_int_ge(idx, 0);
        /* one bit of the first entry's line */
        image[(size_t)idx * SLOTS_SLOT_SIZE + SLOTS_HEADER_SIZE + plen + SLOTS_EXT_HEADER + 60] ^=
            4;
        user_path(p, sizeof(p), "alice");
        tu_write_file(p, (const char *)image, SLOTS_FILE_SIZE, 0600);
        free(image);
        assert_pending(t, 1);
        ck_assert_int_eq(load_last_success(st), t[0]);
        assert_shown(st, t, 1, 20);
        noted_ok(st, t[2], "n", 20);
        {
                static const int64_t want[] = {1700000001, 1700000003};

                assert_pending(want, 2);
                assert_shown(st, want, 2, 20);
        }
        image = read_user_image("alice", &sb);
        ck_assert_int_eq(slots_pick(image, SLOTS_FILE_SIZE, &seq, &payload, &plen), idx);
        free(image);
        free(l);
        store_close(st);
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
        if (fail_unlink_in != 0 && strcmp(path, "alice") == 0) {
                struct stat sb;

                if (fstat(dirfd, &sb) == 0 && sb.st_ino == fail_unlink_in) {
                        errno = EIO;
                        return -1;
                }
        }
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
        tcase_add_test(tc, record_load_no_user_dirs);
        tcase_add_test(tc, record_save_without_create_needs_dir);
        tcase_add_test(tc, record_load_corrupt_and_unsafe);
        tcase_add_test(tc, record_too_large);
        tcase_add_test(tc, record_save_inconsistent);
        tcase_add_test(tc, stale_temp_file_ignored);
        suite_add_tcase(s, tc);

        tc = tcase_create("state");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, state_round_trip);
        tcase_add_test(tc, state_load_missing);
        tcase_add_test(tc, state_corrupt);
        tcase_add_test(tc, state_save_needs_a_record);
        tcase_add_test(tc, state_written_in_place_alternating_slots);
        tcase_add_test(tc, state_torn_slot_falls_back);
        tcase_add_test(tc, state_cut_or_grown_refused);
        tcase_add_test(tc, invalid_user_file_record_replaces_state_refuses);
        tcase_add_test(tc, payload_too_big_refused);
        tcase_add_test(tc, user_file_unsafe_refused_by_reads_and_writes);
        suite_add_tcase(s, tc);

        tc = tcase_create("legacy");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, legacy_user_read);
        tcase_add_test(tc, legacy_user_read_without_users_dir);
        tcase_add_test(tc, legacy_record_corrupt_and_unsafe);
        tcase_add_test(tc, move_by_record_save);
        tcase_add_test(tc, move_by_state_save);
        tcase_add_test(tc, move_record_without_state_by_state_save);
        tcase_add_test(tc, move_record_without_state_by_record_save);
        tcase_add_test(tc, move_text_state_of_0_1_0);
        tcase_add_test(tc, move_drops_unreadable_legacy_state);
        tcase_add_test(tc, moved_without_user_file_fails_closed);
        tcase_add_test(tc, moved_concurrently_seen);
        tcase_add_test(tc, user_file_wins_over_leftovers);
        tcase_add_test(tc, store_without_users_dir_written_as_0_2_0);
        suite_add_tcase(s, tc);

        tc = tcase_create("delete");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, user_delete);
        tcase_add_test(tc, user_delete_absent);
        tcase_add_test(tc, user_delete_record_only);
        tcase_add_test(tc, user_delete_legacy);
        tcase_add_test(tc, user_delete_moved);
        tcase_add_test(tc, user_delete_order);
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

        tc = tcase_create("noted");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, noted_entries_pending);
        tcase_add_test(tc, noted_full_batch_moved);
        tcase_add_test(tc, noted_keep_changed);
        tcase_add_test(tc, noted_order_mark);
        tcase_add_test(tc, noted_kept_by_other_writes);
        tcase_add_test(tc, noted_moved_by_user_delete);
        tcase_add_test(tc, noted_move_failure_warns);
        tcase_add_test(tc, noted_on_old_user_file);
        tcase_add_test(tc, noted_and_direct_merge_by_time);
        tcase_add_test(tc, noted_without_room_appended);
        tcase_add_test(tc, pending_moved_when_state_grows);
        tcase_add_test(tc, pending_damaged_read_as_none);
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
