/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * auth.c: lockout arithmetic, and the full code check against a real store
 * in a temporary directory with codes from oathtool at fixed times.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "auth.h"
#include "options.h"
#include "store.h"
#include "testutil.h"
#include "userfile.h"

#define SECRET "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
#define T0     1700000000LL /* 20 s into step 56666666 */

static struct auth_policy defaults;

static void load_defaults(struct auth_policy *p)
{
        struct mailotp_opts o;

        opts_init(&o);
        auth_policy_from_opts(p, &o);
}

/* ---- auth_policy_from_opts / auth_lockout_until ------------------------------------ */

START_TEST(policy_from_opts)
{
        struct mailotp_opts o;
        struct auth_policy p;

        opts_init(&o);
        auth_policy_from_opts(&p, &o);
        ck_assert_uint_eq(p.window, 1);
        ck_assert_uint_eq(p.lockout_after, 5);
        ck_assert_uint_eq(p.lockout_delay, 60);
        ck_assert_uint_eq(p.lockout_max, 14400);
        ck_assert_uint_eq(p.lock_timeout_ms, 5000);
        ck_assert_uint_eq(p.reuse_grace, 0);
        o.reuse_grace = 45;
        auth_policy_from_opts(&p, &o);
        ck_assert_uint_eq(p.reuse_grace, 45);
        o.window = 3;
        o.lock_timeout = 120;
        auth_policy_from_opts(&p, &o);
        ck_assert_uint_eq(p.window, 3);
        ck_assert_uint_eq(p.lock_timeout_ms, 120000);
}
END_TEST

struct lockout_case {
        unsigned failures;
        int64_t delta; /* expected locked_until - now, or -1 for 0 */
};

static const struct lockout_case lockout_defaults[] = {
    {0, -1},
    {1, -1},
    {2, -1},
    {3, -1},
    {4, -1},
    {5, -1},
    {6, 60},
    {7, 120},
    {8, 240},
    {9, 480},
    {10, 960},
    {11, 1920},
    {12, 3840},
    {13, 7680},
    {14, 14400},
    {15, 14400},
    {100, 14400},
    {1000000, 14400},
    {4294967295U, 14400},
};

START_TEST(lockout_table_defaults)
{
        const struct lockout_case *c = &lockout_defaults[_i];
        const int64_t now = T0;
        int64_t got = auth_lockout_until(c->failures, now, &defaults);

        if (c->delta < 0)
                ck_assert_msg(got == 0, "failures %u: got %lld, want 0", c->failures,
                              (long long)got);
        else
                ck_assert_msg(got == now + c->delta, "failures %u: got now%+lld, want now+%lld",
                              c->failures, (long long)(got - now), (long long)c->delta);
}
END_TEST

START_TEST(lockout_after_zero)
{
        struct auth_policy p = defaults;

        p.lockout_after = 0;
        ck_assert_int_eq(auth_lockout_until(0, T0, &p), 0);
        ck_assert_int_eq(auth_lockout_until(1, T0, &p), T0 + 60);
        ck_assert_int_eq(auth_lockout_until(2, T0, &p), T0 + 120);
        ck_assert_int_eq(auth_lockout_until(9, T0, &p), T0 + 14400);
}
END_TEST

START_TEST(lockout_max_not_multiple)
{
        struct auth_policy p = defaults;

        p.lockout_delay = 7;
        p.lockout_max = 100;
        ck_assert_int_eq(auth_lockout_until(6, T0, &p), T0 + 7);
        ck_assert_int_eq(auth_lockout_until(9, T0, &p), T0 + 56);
        ck_assert_int_eq(auth_lockout_until(10, T0, &p), T0 + 100); /* 112 capped */
        p.lockout_delay = 604800;
        p.lockout_max = 604800;
        ck_assert_int_eq(auth_lockout_until(4294967295U, T0, &p), T0 + 604800);
}
END_TEST

START_TEST(lockout_delay_equals_max)
{
        struct auth_policy p = defaults;

        p.lockout_delay = 300;
        p.lockout_max = 300;
        ck_assert_int_eq(auth_lockout_until(6, T0, &p), T0 + 300);
        ck_assert_int_eq(auth_lockout_until(50, T0, &p), T0 + 300);
}
END_TEST

/* ---- auth_verify_code with a real store --------------------------------------------------- */

static char base[512], sdir[600];
static char err[256];
static struct store *st;
static struct otp_record rec;
static struct auth_policy pol;

static void setup(void)
{
        struct otp_state s;

        tu_mkdtemp(base, sizeof(base));
        tu_join(sdir, sizeof(sdir), base, "store");
        ck_assert_int_eq(store_open_files(sdir, geteuid(), STORE_CREATE, &st, err, sizeof(err)),
                         MAILOTP_OK);
        memset(&rec, 0, sizeof(rec));
        rec.status = OTP_STATUS_ENABLED;
        memcpy(rec.secret, SECRET, sizeof(SECRET));
        rec.digits = 6;
        rec.period = 30;
        rec.created = T0 - 3600;
        rec.enabled = T0 - 3500;
        ck_assert_int_eq(store_record_save(st, "alice", &rec, err, sizeof(err)), MAILOTP_OK);
        state_init(&s);
        ck_assert_int_eq(store_state_save(st, "alice", &s, err, sizeof(err)), MAILOTP_OK);
        /* alice's lock file exists from here on; then reopen as the module does */
        {
                struct store_lock *lk = NULL;

                ck_assert_int_eq(store_lock(st, "alice", 100, &lk, err, sizeof(err)), MAILOTP_OK);
                store_unlock(st, lk);
        }
        store_close(st);
        ck_assert_int_eq(store_open_files(sdir, geteuid(), 0, &st, err, sizeof(err)), MAILOTP_OK);
        load_defaults(&pol);
        err[0] = '\0';
}

static void teardown(void)
{
        store_close(st);
        st = NULL;
        tu_rm_rf(base);
}

/* The right code at time t, from the oracle. */
static void code_at(int64_t t, char out[16])
{
        tu_oathtool_totp(SECRET, t, 6, out, 16);
}

/* A wrong code at time t: the right one with its last digit changed. */
static void wrong_code_at(int64_t t, char out[16])
{
        code_at(t, out);
        out[5] = (char)('0' + (out[5] - '0' + 5) % 10);
}

static enum mailotp_rc check(const char *code, int64_t now, struct auth_outcome *out)
{
        err[0] = '\0';
        return auth_verify_code(st, "alice", &rec, code, now, &pol, out, err, sizeof(err));
}

static struct otp_state stored(void)
{
        struct otp_state s;

        ck_assert_int_eq(store_state_load(st, "alice", &s, err, sizeof(err)), MAILOTP_OK);
        return s;
}

START_TEST(verify_success)
{
        char code[16];
        struct auth_outcome out;
        struct otp_state s;

        code_at(T0, code);
        ck_assert_msg(check(code, T0, &out) == MAILOTP_OK, "%s", err);
        ck_assert_uint_eq(out.step, (uint64_t)T0 / 30);
        ck_assert_uint_eq(out.failures, 0);
        ck_assert_int_eq(out.locked_until, 0);
        s = stored();
        ck_assert_int_eq(s.has_last_step, 1);
        ck_assert_uint_eq(s.last_step, (uint64_t)T0 / 30);
        ck_assert_uint_eq(s.failures, 0);
        ck_assert_int_eq(s.locked_until, 0);
        ck_assert_int_eq(s.last_success, T0);
}
END_TEST

START_TEST(verify_success_resets_failures)
{
        char code[16], bad[16];
        struct auth_outcome out;
        struct otp_state s;

        wrong_code_at(T0, bad);
        ck_assert_int_eq(check(bad, T0, &out), MAILOTP_ERR_MISMATCH);
        ck_assert_int_eq(check(bad, T0, &out), MAILOTP_ERR_MISMATCH);
        ck_assert_uint_eq(stored().failures, 2);
        code_at(T0 + 30, code);
        ck_assert_int_eq(check(code, T0 + 30, &out), MAILOTP_OK);
        ck_assert_uint_eq(out.failures, 0);
        s = stored();
        ck_assert_uint_eq(s.failures, 0);
        ck_assert_int_eq(s.last_failure, T0); /* kept for the record */
        ck_assert_uint_eq(s.last_step, (uint64_t)(T0 + 30) / 30);
}
END_TEST

START_TEST(verify_replay_not_counted)
{
        char code[16];
        struct auth_outcome out;
        struct otp_state s;

        code_at(T0, code);
        ck_assert_int_eq(check(code, T0, &out), MAILOTP_OK);
        ck_assert_int_eq(check(code, T0, &out), MAILOTP_ERR_REPLAY);
        ck_assert_int_eq(check(code, T0 + 5, &out), MAILOTP_ERR_REPLAY);
        ck_assert_int_eq(check(code, T0 + 30, &out), MAILOTP_ERR_REPLAY); /* still in window */
        s = stored();
        ck_assert_uint_eq(s.failures, 0);
        ck_assert_int_eq(s.last_failure, 0);
        ck_assert_uint_eq(s.last_step, (uint64_t)T0 / 30);
}
END_TEST

START_TEST(verify_older_code_after_newer_is_replay)
{
        char now_code[16], prev_code[16];
        struct auth_outcome out;

        code_at(T0, now_code);
        code_at(T0 - 30, prev_code);
        ck_assert_int_eq(check(now_code, T0, &out), MAILOTP_OK);
        /* the previous step's code is in the window but older than the used step */
        ck_assert_int_eq(check(prev_code, T0, &out), MAILOTP_ERR_REPLAY);
        ck_assert_uint_eq(stored().failures, 0);
}
END_TEST

START_TEST(verify_next_step_after_success)
{
        char c1[16], c2[16];
        struct auth_outcome out;

        code_at(T0, c1);
        code_at(T0 + 30, c2);
        ck_assert_int_eq(check(c1, T0, &out), MAILOTP_OK);
        ck_assert_int_eq(check(c2, T0 + 30, &out), MAILOTP_OK);
        ck_assert_uint_eq(out.step, (uint64_t)(T0 + 30) / 30);
        ck_assert_uint_eq(stored().last_step, (uint64_t)(T0 + 30) / 30);
}
END_TEST

START_TEST(verify_wrong_codes_count)
{
        char bad[16];
        struct auth_outcome out;
        struct otp_state s;

        wrong_code_at(T0, bad);
        for (unsigned i = 1; i <= 5; i++) {
                ck_assert_int_eq(check(bad, T0 + i, &out), MAILOTP_ERR_MISMATCH);
                ck_assert_uint_eq(out.failures, i);
                ck_assert_int_eq(out.locked_until, 0);
                s = stored();
                ck_assert_uint_eq(s.failures, i);
                ck_assert_int_eq(s.last_failure, T0 + i);
                ck_assert_int_eq(s.locked_until, 0);
        }
}
END_TEST

START_TEST(verify_lockout)
{
        char bad[16], good[16], later[16];
        struct auth_outcome out;
        struct otp_state s;

        wrong_code_at(T0, bad);
        for (unsigned i = 1; i <= 5; i++)
                ck_assert_int_eq(check(bad, T0, &out), MAILOTP_ERR_MISMATCH);
        /* the 6th wrong code starts the back-off */
        ck_assert_int_eq(check(bad, T0, &out), MAILOTP_ERR_MISMATCH);
        ck_assert_uint_eq(out.failures, 6);
        ck_assert_int_eq(out.locked_until, T0 + 60);
        ck_assert_int_eq(stored().locked_until, T0 + 60);
        /* while locked even the right code is refused, and nothing is counted */
        code_at(T0, good);
        ck_assert_int_eq(check(good, T0, &out), MAILOTP_ERR_LOCKED);
        ck_assert_uint_eq(out.failures, 6);
        ck_assert_int_eq(out.locked_until, T0 + 60);
        code_at(T0 + 59, good);
        ck_assert_int_eq(check(good, T0 + 59, &out), MAILOTP_ERR_LOCKED);
        ck_assert_int_eq(check(bad, T0 + 59, &out), MAILOTP_ERR_LOCKED);
        s = stored();
        ck_assert_uint_eq(s.failures, 6);
        ck_assert_int_eq(s.has_last_step, 0); /* the right code was not used up */
        /* at locked_until the right code works and resets everything */
        code_at(T0 + 60, later);
        ck_assert_msg(check(later, T0 + 60, &out) == MAILOTP_OK, "%s", err);
        ck_assert_uint_eq(out.failures, 0);
        s = stored();
        ck_assert_uint_eq(s.failures, 0);
        ck_assert_int_eq(s.locked_until, 0);
        ck_assert_uint_eq(s.last_step, (uint64_t)(T0 + 60) / 30);
}
END_TEST

START_TEST(verify_lockout_doubles)
{
        char bad[16];
        struct auth_outcome out;

        wrong_code_at(T0, bad);
        for (unsigned i = 1; i <= 6; i++)
                ck_assert_int_eq(check(bad, T0, &out), MAILOTP_ERR_MISMATCH);
        ck_assert_int_eq(out.locked_until, T0 + 60);
        /* after the back-off, another wrong code doubles it */
        wrong_code_at(T0 + 60, bad);
        ck_assert_int_eq(check(bad, T0 + 60, &out), MAILOTP_ERR_MISMATCH);
        ck_assert_uint_eq(out.failures, 7);
        ck_assert_int_eq(out.locked_until, T0 + 60 + 120);
        ck_assert_int_eq(stored().locked_until, T0 + 180);
}
END_TEST

START_TEST(verify_lockout_after_zero)
{
        char bad[16], good[16];
        struct auth_outcome out;

        pol.lockout_after = 0;
        wrong_code_at(T0, bad);
        code_at(T0, good);
        ck_assert_int_eq(check(bad, T0, &out), MAILOTP_ERR_MISMATCH);
        ck_assert_int_eq(out.locked_until, T0 + 60);
        ck_assert_int_eq(check(good, T0, &out), MAILOTP_ERR_LOCKED);
}
END_TEST

START_TEST(verify_window_zero)
{
        char prev[16], cur[16];
        struct auth_outcome out;

        pol.window = 0;
        code_at(T0 - 30, prev);
        code_at(T0, cur);
        ck_assert_int_eq(check(prev, T0, &out), MAILOTP_ERR_MISMATCH);
        ck_assert_int_eq(check(cur, T0, &out), MAILOTP_OK);
}
END_TEST

/*
 * users/alice with alice's record as stored (up to its first end line,
 * found here without userfile.c) followed by `state` (NULL: none).
 */
static void put_state_text(const char *state)
{
        char p[800], *payload, *end;
        size_t len = 0;

        tu_join(p, sizeof(p), sdir, "users/alice");
        payload = tu_read_slot_payload(p, &len);
        end = strstr(payload, "\nend\n");
        ck_assert_ptr_nonnull(end);
        end[5] = '\0';
        tu_write_user_file(p, 9, payload, state);
        free(payload);
}

/* The bytes and mtime of a file, to show that a check wrote nothing. */
static char *whole_file(const char *rel, size_t *len, struct timespec *mtime)
{
        char p[800];
        struct stat sb;

        tu_join(p, sizeof(p), sdir, rel);
        ck_assert_int_eq(lstat(p, &sb), 0);
        *mtime = sb.st_mtim;
        return tu_read_file(p, len);
}

START_TEST(verify_missing_state)
{
        char code[16], p[800], *before, *after;
        struct timespec t0, t1;
        size_t blen = 0, alen = 0;
        struct auth_outcome out;
        struct otp_state s;

        /* the record without its state (lost): refused, and no fresh state is made */
        put_state_text(NULL);
        before = whole_file("users/alice", &blen, &t0);
        code_at(T0, code);
        ck_assert_int_eq(check(code, T0, &out), MAILOTP_ERR_STATE);
        ck_assert_str_ne(err, "");
        after = whole_file("users/alice", &alen, &t1);
        ck_assert_uint_eq(alen, blen);
        ck_assert_mem_eq(after, before, alen);
        ck_assert(t1.tv_sec == t0.tv_sec && t1.tv_nsec == t0.tv_nsec);
        free(before);
        free(after);
        ck_assert_int_eq(store_state_load(st, "alice", &s, err, sizeof(err)),
                         MAILOTP_ERR_NOT_FOUND);
        /* the whole user file gone (the caller still holds the record): the same */
        tu_join(p, sizeof(p), sdir, "users/alice");
        ck_assert_int_eq(unlink(p), 0);
        ck_assert_int_eq(check(code, T0, &out), MAILOTP_ERR_STATE);
        ck_assert(!tu_exists(p)); /* not silently recreated */
}
END_TEST

START_TEST(verify_corrupt_state)
{
        /* a complete state (with its end line) whose content is wrong */
        static const char bad[] = "version = 1\nfailures = lots\nlocked_until = 0\nend\n";
        char code[16];
        struct auth_outcome out;

        put_state_text(bad);
        code_at(T0, code);
        ck_assert_int_eq(check(code, T0, &out), MAILOTP_ERR_FORMAT);
}
END_TEST

START_TEST(verify_truncated_state_fails_closed)
{
        /* a state cut at a line boundary (end line lost) is refused, not read as no lockout */
        static const char cut[] = "# pam_mailotp user state: do not edit\nversion = 1\n"
                                  "failures = 9\nlocked_until = 1700009999\n";
        char code[16];
        struct auth_outcome out;

        put_state_text(cut);
        code_at(T0, code);
        ck_assert_int_eq(check(code, T0, &out), MAILOTP_ERR_FORMAT);
}
END_TEST

START_TEST(verify_unsafe_state)
{
        char code[16], p[800];
        struct auth_outcome out;

        tu_join(p, sizeof(p), sdir, "users/alice");
        ck_assert_int_eq(chmod(p, 0644), 0);
        code_at(T0, code);
        ck_assert_int_eq(check(code, T0, &out), MAILOTP_ERR_UNSAFE_FILE);
}
END_TEST

/*
 * alice as a 0.2.0 store left her (records/alice, state/alice): her first
 * login reads her there and moves her into users/alice.
 */
START_TEST(verify_legacy_user_moved_by_first_login)
{
        char code[16], p[800], *payload, *end;
        struct auth_outcome out;
        size_t len = 0, rlen;

        tu_join(p, sizeof(p), sdir, "users/alice");
        payload = tu_read_slot_payload(p, &len);
        ck_assert_int_eq(unlink(p), 0);
        end = strstr(payload, "\nend\n");
        ck_assert_ptr_nonnull(end);
        rlen = (size_t)(end - payload) + 5;
        tu_join(p, sizeof(p), sdir, "records");
        ck_assert_int_eq(mkdir(p, 0700), 0);
        tu_join(p, sizeof(p), sdir, "records/alice");
        tu_write_file(p, payload, rlen, 0600);
        tu_join(p, sizeof(p), sdir, "state");
        ck_assert_int_eq(mkdir(p, 0700), 0);
        tu_join(p, sizeof(p), sdir, "state/alice");
        tu_write_user_file(p, 1, payload + rlen, NULL);
        code_at(T0, code);
        ck_assert_msg(check(code, T0, &out) == MAILOTP_OK, "%s", err);
        ck_assert(!tu_exists(p));
        tu_join(p, sizeof(p), sdir, "records/alice");
        {
                size_t mlen = 0;
                char *moved = tu_read_file(p, &mlen);

                ck_assert_ptr_nonnull(moved);
                ck_assert_str_eq(moved, USERFILE_MOVED);
                free(moved);
        }
        free(payload);
        tu_join(p, sizeof(p), sdir, "users/alice");
        payload = tu_read_slot_payload(p, &len);
        ck_assert_uint_gt(len, rlen);
        ck_assert_ptr_nonnull(strstr(payload, "\nlast_step = 56666666\n"));
        free(payload);
        ck_assert_uint_eq(stored().last_step, (uint64_t)T0 / 30);
        ck_assert_int_eq(check(code, T0, &out), MAILOTP_ERR_REPLAY);
}
END_TEST

START_TEST(verify_bad_secret_in_record)
{
        char code[16];
        struct auth_outcome out;

        code_at(T0, code);
        memcpy(rec.secret, "AAAAAAAA", 9); /* 5 bytes: too short */
        ck_assert_int_eq(check(code, T0, &out), MAILOTP_ERR_FORMAT);
        ck_assert_uint_eq(stored().failures, 0);
}
END_TEST

START_TEST(verify_malformed_code_not_counted)
{
        struct auth_outcome out;

        ck_assert_int_eq(check("12345", T0, &out), MAILOTP_ERR_INVALID);
        ck_assert_int_eq(check("abcdef", T0, &out), MAILOTP_ERR_INVALID);
        ck_assert_uint_eq(stored().failures, 0);
}
END_TEST

START_TEST(verify_lock_held_elsewhere)
{
        struct store_lock *lk = NULL;
        struct store *other = NULL;
        char code[16];
        struct auth_outcome out;

        ck_assert_int_eq(store_open_files(sdir, geteuid(), 0, &other, err, sizeof(err)),
                         MAILOTP_OK);
        ck_assert_int_eq(store_lock(other, "alice", 100, &lk, err, sizeof(err)), MAILOTP_OK);
        pol.lock_timeout_ms = 100;
        code_at(T0, code);
        ck_assert_int_eq(check(code, T0, &out), MAILOTP_ERR_LOCK_TIMEOUT);
        store_unlock(other, lk);
        store_close(other);
        ck_assert_int_eq(check(code, T0, &out), MAILOTP_OK);
}
END_TEST

START_TEST(verify_locked_variant)
{
        struct store_lock *lk = NULL;
        char code[16];
        struct auth_outcome out;

        /* the caller already holds the lock: no second lock is taken */
        ck_assert_int_eq(store_lock(st, "alice", 100, &lk, err, sizeof(err)), MAILOTP_OK);
        code_at(T0, code);
        ck_assert_int_eq(
            auth_verify_code_locked(st, "alice", &rec, code, T0, &pol, &out, err, sizeof(err)),
            MAILOTP_OK);
        store_unlock(st, lk);
        ck_assert_uint_eq(stored().last_step, (uint64_t)T0 / 30);
}
END_TEST

START_TEST(verify_eight_digit_record)
{
        char code[16];
        struct auth_outcome out;

        rec.digits = 8;
        tu_oathtool_totp(SECRET, T0, 8, code, sizeof(code));
        ck_assert_int_eq(check(code, T0, &out), MAILOTP_OK);
        ck_assert_int_eq(check(code + 2, T0 + 30, &out), MAILOTP_ERR_INVALID);
}
END_TEST

/* ---- fixtures for the self-service checks ------------------------------------------------ */

static unsigned char skey[MAC_KEY_LEN];

/* The auth fixture plus a server key, made as the CLI makes it. */
static void setup_sk(void)
{
        static const unsigned char zero[MAC_KEY_LEN];

        setup();
        ck_assert_msg(store_server_key(st, 1, skey, err, sizeof(err)) == MAILOTP_OK, "%s", err);
        ck_assert(memcmp(skey, zero, MAC_KEY_LEN) != 0);
}

static void path_of(char *out, size_t outsz, const char *rel)
{
        tu_join(out, outsz, sdir, rel);
}

/* Whole file, and its inode, for "nothing changed on disk" checks. */
struct snapshot {
        char *text;
        size_t len;
        ino_t ino;
        struct timespec mtime;
        int exists;
};

static void snap(struct snapshot *s, const char *rel)
{
        char p[800];
        struct stat sb;

        path_of(p, sizeof(p), rel);
        s->text = tu_read_file(p, &s->len);
        memset(&sb, 0, sizeof(sb));
        s->exists = lstat(p, &sb) == 0;
        s->ino = sb.st_ino;
        s->mtime = sb.st_mtim;
}

static void assert_unchanged(struct snapshot *before, const char *rel)
{
        struct snapshot now;

        snap(&now, rel);
        ck_assert_int_eq(now.exists, before->exists);
        /* a replacement is an atomic rename: a new inode (compare right after one call,
         * as the old number may be reused by a second rewrite); an in-place write
         * (the user file's slots) changes the mtime */
        ck_assert_msg(now.ino == before->ino, "%s was rewritten (new inode)", rel);
        ck_assert_msg(now.mtime.tv_sec == before->mtime.tv_sec &&
                          now.mtime.tv_nsec == before->mtime.tv_nsec,
                      "%s was rewritten (new mtime)", rel);
        ck_assert_uint_eq(now.len, before->len);
        if (now.len > 0)
                ck_assert_msg(memcmp(now.text, before->text, now.len) == 0, "%s changed", rel);
        free(now.text);
        free(before->text);
        before->text = NULL;
}

/* Run one check and assert that it left file `rel` exactly as it was. */
#define LEAVES(rel, check_stmt)                                                                    \
        do {                                                                                       \
                struct snapshot snap_;                                                             \
                snap(&snap_, rel);                                                                 \
                ck_assert_msg(snap_.exists, "%s is missing", rel);                                 \
                check_stmt;                                                                        \
                assert_unchanged(&snap_, rel);                                                     \
        } while (0)

/* ---- recovery codes through auth_check ----------------------------------------------------- */

static const char *const rcodes[3] = {"abcdefghij", "kmnpqrstuv", "wxyzabcdef"};
static unsigned char rhash[3][MAC_LEN];

static void setup_recovery(void)
{
        struct recovery_list l;

        setup_sk();
        memset(&l, 0, sizeof(l));
        l.created = T0 - 100;
        for (size_t i = 0; i < 3; i++) {
                ck_assert_int_eq(recovery_hash(skey, "alice", rcodes[i], rhash[i], NULL, 0),
                                 MAILOTP_OK);
                memcpy(l.hash[i], rhash[i], MAC_LEN);
        }
        l.n = 3;
        ck_assert_int_eq(store_recovery_save(st, "alice", &l, err, sizeof(err)), MAILOTP_OK);
}

static enum mailotp_rc check_recovery_code(const char *letters, int64_t now,
                                           struct auth_outcome *out)
{
        struct auth_code c;

        memset(&c, 0, sizeof(c));
        c.kind = AUTH_RECOVERY;
        snprintf(c.code, sizeof(c.code), "%s", letters);
        err[0] = '\0';
        return auth_check(st, "alice", &rec, &c, now, &pol, out, err, sizeof(err));
}

/* 1 when the recovery file on disk holds the hex of h. */
static int recovery_file_has(const unsigned char h[MAC_LEN])
{
        char p[800], hex[2 * MAC_LEN + 1];
        size_t len = 0;
        char *text;
        int found;

        path_of(p, sizeof(p), "recovery/alice");
        text = tu_read_file(p, &len);
        ck_assert_ptr_nonnull(text);
        ck_assert_msg(len >= 5 && strcmp(text + len - 5, "\nend\n") == 0, "no end line");
        tu_hex(h, MAC_LEN, hex);
        found = strstr(text, hex) != NULL;
        free(text);
        return found;
}

START_TEST(recovery_success_consumes_durably)
{
        struct auth_outcome out;
        struct recovery_list l;
        struct otp_state s;

        ck_assert_msg(check_recovery_code(rcodes[1], T0, &out) == MAILOTP_OK, "%s", err);
        ck_assert_uint_eq(out.recovery_left, 2);
        ck_assert_uint_eq(out.failures, 0);
        ck_assert_int_eq(out.locked_until, 0);
        /* gone from the file itself, the others kept */
        ck_assert(!recovery_file_has(rhash[1]));
        ck_assert(recovery_file_has(rhash[0]));
        ck_assert(recovery_file_has(rhash[2]));
        ck_assert_int_eq(store_recovery_load(st, "alice", &l, err, sizeof(err)), MAILOTP_OK);
        ck_assert_uint_eq(l.n, 2);
        ck_assert_int_eq(l.created, T0 - 100);
        s = stored();
        ck_assert_uint_eq(s.failures, 0);
        ck_assert_int_eq(s.last_success, T0);
        ck_assert_int_eq(s.has_last_step, 0); /* no TOTP step was used */
        /* single use: the same code again is a wrong code, and counted */
        ck_assert_int_eq(check_recovery_code(rcodes[1], T0 + 1, &out), MAILOTP_ERR_MISMATCH);
        ck_assert_uint_eq(out.failures, 1);
        ck_assert_uint_eq(stored().failures, 1);
        /* the others still work, down to none */
        ck_assert_int_eq(check_recovery_code(rcodes[0], T0 + 2, &out), MAILOTP_OK);
        ck_assert_uint_eq(out.recovery_left, 1);
        ck_assert_int_eq(check_recovery_code(rcodes[2], T0 + 3, &out), MAILOTP_OK);
        ck_assert_uint_eq(out.recovery_left, 0);
        ck_assert_int_eq(check_recovery_code(rcodes[2], T0 + 4, &out), MAILOTP_ERR_MISMATCH);
}
END_TEST

START_TEST(recovery_wrong_counts_failure)
{
        struct auth_outcome out;
        struct snapshot before;
        struct otp_state s;

        snap(&before, "recovery/alice");
        ck_assert_int_eq(check_recovery_code("bbbbbbbbbb", T0, &out), MAILOTP_ERR_MISMATCH);
        ck_assert_uint_eq(out.failures, 1);
        s = stored();
        ck_assert_uint_eq(s.failures, 1);
        ck_assert_int_eq(s.last_failure, T0);
        assert_unchanged(&before, "recovery/alice");
        /* wrong recovery codes lock out like wrong TOTP codes */
        for (unsigned i = 2; i <= 6; i++)
                ck_assert_int_eq(check_recovery_code("bbbbbbbbbb", T0, &out), MAILOTP_ERR_MISMATCH);
        ck_assert_uint_eq(out.failures, 6);
        ck_assert_int_eq(out.locked_until, T0 + 60);
        ck_assert_int_eq(stored().locked_until, T0 + 60);
}
END_TEST

START_TEST(recovery_locked_refuses_without_consuming)
{
        struct auth_outcome out;
        struct snapshot before;
        struct otp_state s;

        state_init(&s);
        s.failures = 6;
        s.locked_until = T0 + 60;
        s.last_failure = T0;
        ck_assert_int_eq(store_state_save(st, "alice", &s, err, sizeof(err)), MAILOTP_OK);
        snap(&before, "recovery/alice");
        ck_assert_int_eq(check_recovery_code(rcodes[0], T0 + 59, &out), MAILOTP_ERR_LOCKED);
        ck_assert_uint_eq(out.failures, 6);
        ck_assert_int_eq(out.locked_until, T0 + 60);
        assert_unchanged(&before, "recovery/alice");
        ck_assert(recovery_file_has(rhash[0]));
        ck_assert_uint_eq(stored().failures, 6);
        /* once the back-off ends it works and clears the lockout */
        ck_assert_msg(check_recovery_code(rcodes[0], T0 + 60, &out) == MAILOTP_OK, "%s", err);
        ck_assert_uint_eq(out.recovery_left, 2);
        s = stored();
        ck_assert_uint_eq(s.failures, 0);
        ck_assert_int_eq(s.locked_until, 0);
        ck_assert(!recovery_file_has(rhash[0]));
}
END_TEST

START_TEST(recovery_for_other_user_does_not_match)
{
        /* the store key is part of the hash: bob's code is not alice's */
        struct auth_outcome out;
        struct recovery_list l;

        memset(&l, 0, sizeof(l));
        l.created = 1;
        ck_assert_int_eq(recovery_hash(skey, "bob", "pppppppppp", l.hash[0], NULL, 0), MAILOTP_OK);
        l.n = 1;
        ck_assert_int_eq(store_recovery_save(st, "alice", &l, err, sizeof(err)), MAILOTP_OK);
        ck_assert_int_eq(check_recovery_code("pppppppppp", T0, &out), MAILOTP_ERR_MISMATCH);
}
END_TEST

START_TEST(recovery_without_codes_is_wrong)
{
        struct auth_outcome out;
        char p[800];

        path_of(p, sizeof(p), "recovery/alice");
        ck_assert_int_eq(unlink(p), 0);
        ck_assert_int_eq(check_recovery_code(rcodes[0], T0, &out), MAILOTP_ERR_MISMATCH);
        ck_assert_uint_eq(stored().failures, 1);
        ck_assert(!tu_exists(p));
}
END_TEST

START_TEST(recovery_without_server_key_fails_closed)
{
        struct auth_outcome out;
        struct snapshot before;
        char p[800];

        path_of(p, sizeof(p), "server.key");
        ck_assert_int_eq(unlink(p), 0);
        snap(&before, "recovery/alice");
        ck_assert_int_ne(check_recovery_code(rcodes[0], T0, &out), MAILOTP_OK);
        assert_unchanged(&before, "recovery/alice");
}
END_TEST

START_TEST(recovery_corrupt_list_fails_closed)
{
        struct auth_outcome out;
        char p[800], hex[2 * MAC_LEN + 1], text[256];
        int n;

        /* the list cut short (end line lost): FORMAT, nothing consumed or counted */
        tu_hex(rhash[0], MAC_LEN, hex);
        n = snprintf(text, sizeof(text), "version = 1\ncreated = 1\ncode = %s\n", hex);
        path_of(p, sizeof(p), "recovery/alice");
        tu_write_file(p, text, (size_t)n, 0600);
        ck_assert_int_eq(check_recovery_code(rcodes[0], T0, &out), MAILOTP_ERR_FORMAT);
        ck_assert_uint_eq(stored().failures, 0);
}
END_TEST

/* ---- reuse grace ---------------------------------------------------------------------- */

static void fingerprint(const char *service, const char *rhost, const char *submitted,
                        unsigned char out[MAC_LEN])
{
        ck_assert_int_eq(auth_grace_fingerprint(skey, "alice", service, rhost, submitted,
                                                strlen(submitted), out, NULL, 0),
                         MAILOTP_OK);
}

static enum mailotp_rc check_grace(const char *code, const unsigned char *fp, int64_t now,
                                   struct auth_outcome *out)
{
        struct auth_code c;

        memset(&c, 0, sizeof(c));
        c.kind = AUTH_TOTP;
        snprintf(c.code, sizeof(c.code), "%s", code);
        if (fp != NULL) {
                c.has_grace = 1;
                memcpy(c.grace, fp, MAC_LEN);
        }
        err[0] = '\0';
        return auth_check(st, "alice", &rec, &c, now, &pol, out, err, sizeof(err));
}

/* Log in at T0 with the right code and fingerprint fp (grace policy set by the caller). */
static void first_login(char code[16], const unsigned char *fp)
{
        struct auth_outcome out;

        code_at(T0, code);
        ck_assert_msg(check_grace(code, fp, T0, &out) == MAILOTP_OK, "%s", err);
        ck_assert_int_eq(out.reused, 0);
}

START_TEST(grace_replay_same_fingerprint_succeeds)
{
        unsigned char fp[MAC_LEN];
        char code[16], sub[64];
        struct auth_outcome out;
        struct snapshot before;
        struct otp_state s;

        pol.reuse_grace = 20;
        code_at(T0, code);
        snprintf(sub, sizeof(sub), "hunter2%s", code);
        fingerprint("imap", "192.0.2.1", sub, fp);
        first_login(code, fp);
        s = stored();
        ck_assert_int_eq(s.grace_until, T0 + 20);
        ck_assert_mem_eq(s.grace, fp, MAC_LEN);
        /* the mail client logs in again with the same string: accepted, nothing written */
        snap(&before, "users/alice");
        ck_assert(before.exists);
        ck_assert_msg(check_grace(code, fp, T0 + 5, &out) == MAILOTP_OK, "%s", err);
        ck_assert_int_eq(out.reused, 1);
        ck_assert_uint_eq(out.failures, 0);
        assert_unchanged(&before, "users/alice");
        snap(&before, "users/alice");
        ck_assert(before.exists);
        ck_assert_msg(check_grace(code, fp, T0 + 20, &out) == MAILOTP_OK, "%s", err); /* edge */
        ck_assert_int_eq(out.reused, 1);
        assert_unchanged(&before, "users/alice");
}
END_TEST

START_TEST(grace_other_fingerprint_is_replay)
{
        unsigned char fp[MAC_LEN], other[MAC_LEN];
        char code[16], sub[64];
        struct auth_outcome out;

        pol.reuse_grace = 20;
        code_at(T0, code);
        snprintf(sub, sizeof(sub), "hunter2%s", code);
        fingerprint("imap", "192.0.2.1", sub, fp);
        first_login(code, fp);
        /* a replay is refused and not counted: the state stays as it was */
        fingerprint("imap", "198.51.100.9", sub, other); /* another host */
        LEAVES("users/alice",
               ck_assert_int_eq(check_grace(code, other, T0 + 5, &out), MAILOTP_ERR_REPLAY));
        ck_assert_int_eq(out.reused, 0);
        fingerprint("smtp", "192.0.2.1", sub, other); /* another service */
        LEAVES("users/alice",
               ck_assert_int_eq(check_grace(code, other, T0 + 5, &out), MAILOTP_ERR_REPLAY));
        LEAVES("users/alice",
               ck_assert_int_eq(check_grace(code, NULL, T0 + 5, &out), MAILOTP_ERR_REPLAY));
        ck_assert_uint_eq(stored().failures, 0);
}
END_TEST

START_TEST(grace_expired_is_replay)
{
        unsigned char fp[MAC_LEN];
        char code[16];
        struct auth_outcome out;

        pol.reuse_grace = 20;
        fingerprint("imap", "192.0.2.1", "hunter2-first", fp);
        first_login(code, fp);
        /* T0 + 21 is still within the TOTP window of the used step: a replay, grace over */
        ck_assert_int_eq(check_grace(code, fp, T0 + 21, &out), MAILOTP_ERR_REPLAY);
        ck_assert_int_eq(out.reused, 0);
}
END_TEST

START_TEST(grace_off_in_policy)
{
        unsigned char fp[MAC_LEN];
        char code[16];
        struct auth_outcome out;
        struct otp_state s;

        pol.reuse_grace = 0;
        fingerprint("imap", "192.0.2.1", "x", fp);
        first_login(code, fp);
        s = stored();
        ck_assert_int_eq(s.grace_until, 0); /* nothing stored to reuse */
        ck_assert_int_eq(check_grace(code, fp, T0 + 1, &out), MAILOTP_ERR_REPLAY);
        /* switching it on later does not revive a login made without it */
        pol.reuse_grace = 60;
        ck_assert_int_eq(check_grace(code, fp, T0 + 2, &out), MAILOTP_ERR_REPLAY);
}
END_TEST

START_TEST(grace_shortened_policy_applies)
{
        unsigned char fp[MAC_LEN];
        char code[16];
        struct auth_outcome out;

        pol.reuse_grace = 60;
        fingerprint("imap", "192.0.2.1", "x", fp);
        first_login(code, fp);
        /* the stored grace runs to T0 + 60, but the policy now allows 10 s */
        pol.reuse_grace = 10;
        ck_assert_int_eq(check_grace(code, fp, T0 + 5, &out), MAILOTP_ERR_REPLAY);
}
END_TEST

START_TEST(grace_never_excuses_a_wrong_code)
{
        unsigned char fp[MAC_LEN];
        char code[16], bad[16];
        struct auth_outcome out;

        pol.reuse_grace = 20;
        fingerprint("imap", "192.0.2.1", "x", fp);
        first_login(code, fp);
        wrong_code_at(T0, bad);
        ck_assert_int_eq(check_grace(bad, fp, T0 + 1, &out), MAILOTP_ERR_MISMATCH);
        ck_assert_uint_eq(out.failures, 1);
}
END_TEST

START_TEST(grace_not_while_locked)
{
        unsigned char fp[MAC_LEN];
        char code[16];
        struct auth_outcome out;
        struct otp_state s;

        pol.reuse_grace = 20;
        fingerprint("imap", "192.0.2.1", "x", fp);
        first_login(code, fp);
        s = stored();
        s.failures = 6;
        s.locked_until = T0 + 60;
        ck_assert_int_eq(store_state_save(st, "alice", &s, err, sizeof(err)), MAILOTP_OK);
        ck_assert_int_eq(check_grace(code, fp, T0 + 5, &out), MAILOTP_ERR_LOCKED);
}
END_TEST

START_TEST(grace_new_login_replaces_fingerprint)
{
        unsigned char fp1[MAC_LEN], fp2[MAC_LEN];
        char c1[16], c2[16];
        struct auth_outcome out;

        pol.reuse_grace = 20;
        fingerprint("imap", "192.0.2.1", "one", fp1);
        fingerprint("imap", "192.0.2.1", "two", fp2);
        first_login(c1, fp1);
        code_at(T0 + 30, c2);
        ck_assert_int_eq(check_grace(c2, fp2, T0 + 30, &out), MAILOTP_OK);
        ck_assert_int_eq(out.reused, 0);
        ck_assert_mem_eq(stored().grace, fp2, MAC_LEN);
        ck_assert_int_eq(stored().grace_until, T0 + 50);
        ck_assert_int_eq(check_grace(c2, fp2, T0 + 31, &out), MAILOTP_OK);
        ck_assert_int_eq(out.reused, 1);
        ck_assert_int_eq(check_grace(c1, fp1, T0 + 31, &out), MAILOTP_ERR_REPLAY);
}
END_TEST

/* ---- auth_grace_fingerprint ------------------------------------------------------------ */

START_TEST(fingerprint_matches_oracle)
{
        unsigned char got[MAC_LEN], want[MAC_LEN];
        struct tu_part p[5] = {tu_str("grace"), tu_str("alice"), tu_str("imap"),
                               tu_str("192.0.2.1"), tu_str("hunter2123456")};

        fingerprint("imap", "192.0.2.1", "hunter2123456", got);
        tu_mac_oracle(skey, p, 5, want);
        ck_assert_mem_eq(got, want, MAC_LEN);
}
END_TEST

START_TEST(fingerprint_differs)
{
        unsigned char a[MAC_LEN], b[MAC_LEN];

        fingerprint("imap", "192.0.2.1", "hunter2123456", a);
        fingerprint("imap", "192.0.2.1", "hunter2123456", b);
        ck_assert_mem_eq(a, b, MAC_LEN);
        fingerprint("smtp", "192.0.2.1", "hunter2123456", b);
        ck_assert(memcmp(a, b, MAC_LEN) != 0);
        fingerprint("imap", "192.0.2.2", "hunter2123456", b);
        ck_assert(memcmp(a, b, MAC_LEN) != 0);
        fingerprint("imap", "192.0.2.1", "hunter2123457", b);
        ck_assert(memcmp(a, b, MAC_LEN) != 0);
        /* part boundaries: service "imapx" + rhost "y" is not "imap" + "xy" */
        fingerprint("imapx", "y", "s", a);
        fingerprint("imap", "xy", "s", b);
        ck_assert(memcmp(a, b, MAC_LEN) != 0);
        /* the user and the server key are in it */
        fingerprint("imap", "h", "s", a);
        ck_assert_int_eq(auth_grace_fingerprint(skey, "bob", "imap", "h", "s", 1, b, NULL, 0),
                         MAILOTP_OK);
        ck_assert(memcmp(a, b, MAC_LEN) != 0);
        skey[0] ^= 1;
        fingerprint("imap", "h", "s", b);
        ck_assert(memcmp(a, b, MAC_LEN) != 0);
        skey[0] ^= 1;
        /* the counted length decides */
        ck_assert_int_eq(
            auth_grace_fingerprint(skey, "alice", "imap", "h", "secret", 1, b, NULL, 0),
            MAILOTP_OK);
        ck_assert_mem_eq(a, b, MAC_LEN);
}
END_TEST

/* ---- application passwords --------------------------------------------------------------- */

#define PW_PHONE  "abcdefghijkmnpqrstuv"
#define PW_OLD    "bbbbccccddddeeeeffff"
#define PW_MAIL   "ggggkkkkmmmmnnnnpppp"
#define PW_FUTURE "qqqqrrrrsssstttuuuuv"

static void add_entry(struct apppw_list *l, const char *name, const char *letters, int64_t expires,
                      const char *services)
{
        struct apppw_entry *e = &l->e[l->n++];

        memset(e, 0, sizeof(*e));
        snprintf(e->name, sizeof(e->name), "%s", name);
        ck_assert_int_eq(apppw_hash(skey, "alice", letters, e->hash, NULL, 0), MAILOTP_OK);
        e->created = T0 - 1000;
        e->expires = expires;
        snprintf(e->services, sizeof(e->services), "%s", services);
        memcpy(e->last_service, "-", 2);
        memcpy(e->last_rhost, "-", 2);
}

static void setup_apppw(void)
{
        struct apppw_list *l;

        setup_sk();
        l = calloc(1, sizeof(*l));
        ck_assert_ptr_nonnull(l);
        add_entry(l, "phone", PW_PHONE, 0, "*");
        add_entry(l, "old", PW_OLD, T0 - 1, "*");
        add_entry(l, "mailonly", PW_MAIL, 0, "imap");
        add_entry(l, "future", PW_FUTURE, T0 + 1, "*");
        ck_assert_int_eq(store_apppw_save(st, "alice", l, err, sizeof(err)), MAILOTP_OK);
        free(l);
}

static enum mailotp_rc app(const char *user, const char *letters, const char *service,
                           const char *rhost, int64_t now, char name[APPPW_NAME_MAX + 1])
{
        memset(name, 'X', APPPW_NAME_MAX + 1);
        err[0] = '\0';
        return auth_app_password(st, user, letters, service, rhost, now, 200, name,
                                 APPPW_NAME_MAX + 1, err, sizeof(err));
}

static struct apppw_entry entry_named(const char *name)
{
        struct apppw_list *l = malloc(sizeof(*l));
        struct apppw_entry e;
        int i;

        ck_assert_ptr_nonnull(l);
        ck_assert_int_eq(store_apppw_load(st, "alice", l, err, sizeof(err)), MAILOTP_OK);
        i = apppw_find_name(l, name);
        ck_assert_int_ge(i, 0);
        e = l->e[i];
        free(l);
        return e;
}

START_TEST(app_ok_records_last_use)
{
        char name[APPPW_NAME_MAX + 1];
        struct apppw_entry e;

        ck_assert_msg(app("alice", PW_PHONE, "imap", "192.0.2.1", T0, name) == MAILOTP_OK, "%s",
                      err);
        ck_assert_str_eq(name, "phone");
        e = entry_named("phone");
        ck_assert_int_eq(e.last_used, T0);
        ck_assert_str_eq(e.last_service, "imap");
        ck_assert_str_eq(e.last_rhost, "192.0.2.1");
        /* the others are untouched */
        e = entry_named("mailonly");
        ck_assert_int_eq(e.last_used, 0);
        ck_assert_str_eq(e.last_service, "-");
        /* a later use overwrites it */
        ck_assert_int_eq(app("alice", PW_PHONE, "smtp", "2001:db8::5", T0 + 50, name), MAILOTP_OK);
        e = entry_named("phone");
        ck_assert_int_eq(e.last_used, T0 + 50);
        ck_assert_str_eq(e.last_service, "smtp");
        ck_assert_str_eq(e.last_rhost, "2001:db8::5");
}
END_TEST

/* The file's inode: every store of the list is a new file renamed over the old one. */
static ino_t apppw_ino(void)
{
        char p[4096];
        struct stat sb;

        path_of(p, sizeof(p), "apppw/alice");
        ck_assert_int_eq(stat(p, &sb), 0);
        return sb.st_ino;
}

START_TEST(app_last_use_stored_once_a_minute_per_place)
{
        char name[APPPW_NAME_MAX + 1];
        ino_t ino;

        ck_assert_int_eq(app("alice", PW_PHONE, "imap", "192.0.2.1", T0, name), MAILOTP_OK);
        ck_assert_int_eq(entry_named("phone").last_used, T0);
        ino = apppw_ino();
        /* Again from the same place within the minute: accepted, the file is not rewritten. */
        ck_assert_int_eq(app("alice", PW_PHONE, "imap", "192.0.2.1", T0 + 1, name), MAILOTP_OK);
        ck_assert_int_eq(
            app("alice", PW_PHONE, "imap", "192.0.2.1", T0 + APPPW_LAST_USE_EVERY - 1, name),
            MAILOTP_OK);
        ck_assert_str_eq(name, "phone");
        ck_assert_str_eq(err, "");
        ck_assert_int_eq(entry_named("phone").last_used, T0);
        ck_assert(apppw_ino() == ino);
        /* Another host, then another service, are stored at once. */
        ck_assert_int_eq(app("alice", PW_PHONE, "imap", "192.0.2.2", T0 + 2, name), MAILOTP_OK);
        ck_assert_int_eq(entry_named("phone").last_used, T0 + 2);
        ck_assert_str_eq(entry_named("phone").last_rhost, "192.0.2.2");
        ck_assert(apppw_ino() != ino);
        ck_assert_int_eq(app("alice", PW_PHONE, "smtp", "192.0.2.2", T0 + 3, name), MAILOTP_OK);
        ck_assert_int_eq(entry_named("phone").last_used, T0 + 3);
        ck_assert_str_eq(entry_named("phone").last_service, "smtp");
        /* A minute after the stored use: stored again. */
        ino = apppw_ino();
        ck_assert_int_eq(
            app("alice", PW_PHONE, "smtp", "192.0.2.2", T0 + 3 + APPPW_LAST_USE_EVERY - 1, name),
            MAILOTP_OK);
        ck_assert(apppw_ino() == ino);
        ck_assert_int_eq(
            app("alice", PW_PHONE, "smtp", "192.0.2.2", T0 + 3 + APPPW_LAST_USE_EVERY, name),
            MAILOTP_OK);
        ck_assert_int_eq(entry_named("phone").last_used, T0 + 3 + APPPW_LAST_USE_EVERY);
        /* The clock went back: stored, so the list never shows a use from the future. */
        ck_assert_int_eq(app("alice", PW_PHONE, "smtp", "192.0.2.2", T0 + 10, name), MAILOTP_OK);
        ck_assert_int_eq(entry_named("phone").last_used, T0 + 10);
        /* Another password of the same user is its own: its first use is stored. */
        ck_assert_int_eq(app("alice", PW_MAIL, "imap", "192.0.2.2", T0 + 11, name), MAILOTP_OK);
        ck_assert_int_eq(entry_named("mailonly").last_used, T0 + 11);
        ck_assert_int_eq(entry_named("phone").last_used, T0 + 10);
}
END_TEST

START_TEST(app_ok_restricted_service_and_expiry_edges)
{
        char name[APPPW_NAME_MAX + 1];

        ck_assert_int_eq(app("alice", PW_MAIL, "imap", "h", T0, name), MAILOTP_OK);
        ck_assert_str_eq(name, "mailonly");
        ck_assert_int_eq(app("alice", PW_FUTURE, "imap", "h", T0, name), MAILOTP_OK);
        ck_assert_str_eq(name, "future");
        /* expires = 0 means never */
        ck_assert_int_eq(app("alice", PW_PHONE, "imap", "h", 253402300799, name), MAILOTP_OK);
}
END_TEST

START_TEST(app_mismatch)
{
        char name[APPPW_NAME_MAX + 1];
        struct apppw_list *l = calloc(1, sizeof(*l));

        ck_assert_ptr_nonnull(l);
        /* no last use recorded */
        LEAVES("apppw/alice",
               ck_assert_int_eq(app("alice", "abcdefghijkmnpqrstuw", "imap", "h", T0, name),
                                MAILOTP_ERR_MISMATCH));
        ck_assert_str_eq(name, "");
        LEAVES("apppw/alice",
               ck_assert_int_eq(app("alice", "", "imap", "h", T0, name), MAILOTP_ERR_MISMATCH));
        /* the store key is in the hash: alice's entry copied into bob's file opens nothing */
        add_entry(l, "copied", PW_PHONE, 0, "*"); /* hashed for "alice" */
        ck_assert_int_eq(store_apppw_save(st, "bob", l, err, sizeof(err)), MAILOTP_OK);
        ck_assert_int_eq(app("bob", PW_PHONE, "imap", "h", T0, name), MAILOTP_ERR_MISMATCH);
        ck_assert_int_eq(apppw_hash(skey, "bob", PW_PHONE, l->e[0].hash, NULL, 0), MAILOTP_OK);
        ck_assert_int_eq(store_apppw_save(st, "bob", l, err, sizeof(err)), MAILOTP_OK);
        ck_assert_int_eq(app("bob", PW_PHONE, "imap", "h", T0, name), MAILOTP_OK);
        ck_assert_str_eq(name, "copied");
        free(l);
}
END_TEST

START_TEST(app_expired)
{
        char name[APPPW_NAME_MAX + 1];

        /* no last use recorded */
        LEAVES("apppw/alice",
               ck_assert_int_eq(app("alice", PW_OLD, "imap", "h", T0, name), MAILOTP_ERR_EXPIRED));
        LEAVES("apppw/alice", ck_assert_int_eq(app("alice", PW_FUTURE, "imap", "h", T0 + 2, name),
                                               MAILOTP_ERR_EXPIRED));
}
END_TEST

START_TEST(app_not_allowed)
{
        char name[APPPW_NAME_MAX + 1];

        LEAVES("apppw/alice", ck_assert_int_eq(app("alice", PW_MAIL, "smtp", "h", T0, name),
                                               MAILOTP_ERR_NOT_ALLOWED));
        LEAVES("apppw/alice", ck_assert_int_eq(app("alice", PW_MAIL, NULL, "h", T0, name),
                                               MAILOTP_ERR_NOT_ALLOWED));
        LEAVES("apppw/alice", ck_assert_int_eq(app("alice", PW_MAIL, "imaps", "h", T0, name),
                                               MAILOTP_ERR_NOT_ALLOWED));
}
END_TEST

START_TEST(app_not_found_without_list_takes_no_lock)
{
        char name[APPPW_NAME_MAX + 1], p[800];

        path_of(p, sizeof(p), "locks/bob");
        ck_assert(!tu_exists(p));
        ck_assert_int_eq(app("bob", PW_PHONE, "imap", "h", T0, name), MAILOTP_ERR_NOT_FOUND);
        ck_assert_str_eq(name, "");
        ck_assert_msg(!tu_exists(p), "a lock file was made for a user without app passwords");
        path_of(p, sizeof(p), "apppw/bob");
        ck_assert(!tu_exists(p));
}
END_TEST

START_TEST(app_not_found_without_server_key)
{
        char name[APPPW_NAME_MAX + 1], p[800];

        path_of(p, sizeof(p), "server.key");
        ck_assert_int_eq(unlink(p), 0);
        ck_assert_int_eq(app("alice", PW_PHONE, "imap", "h", T0, name), MAILOTP_ERR_NOT_FOUND);
        ck_assert(!tu_exists(p)); /* never created by a check */
}
END_TEST

START_TEST(app_revocation_takes_effect)
{
        char name[APPPW_NAME_MAX + 1];
        struct apppw_list *l = malloc(sizeof(*l));
        int i;

        ck_assert_ptr_nonnull(l);
        ck_assert_int_eq(app("alice", PW_PHONE, "imap", "h", T0, name), MAILOTP_OK);
        ck_assert_int_eq(store_apppw_load(st, "alice", l, err, sizeof(err)), MAILOTP_OK);
        i = apppw_find_name(l, "phone");
        ck_assert_int_ge(i, 0);
        memmove(&l->e[i], &l->e[i + 1], (l->n - (size_t)i - 1) * sizeof(l->e[0]));
        l->n--;
        ck_assert_int_eq(store_apppw_save(st, "alice", l, err, sizeof(err)), MAILOTP_OK);
        ck_assert_int_eq(app("alice", PW_PHONE, "imap", "h", T0 + 1, name), MAILOTP_ERR_MISMATCH);
        ck_assert_int_eq(app("alice", PW_MAIL, "imap", "h", T0 + 1, name), MAILOTP_OK);
        free(l);
}
END_TEST

START_TEST(app_under_the_lock)
{
        struct store_lock *lk = NULL;
        struct store *other = NULL;
        char name[APPPW_NAME_MAX + 1];

        ck_assert_int_eq(store_open_files(sdir, geteuid(), 0, &other, err, sizeof(err)),
                         MAILOTP_OK);
        ck_assert_int_eq(store_lock(other, "alice", 100, &lk, err, sizeof(err)), MAILOTP_OK);
        ck_assert_int_eq(app("alice", PW_PHONE, "imap", "h", T0, name), MAILOTP_ERR_LOCK_TIMEOUT);
        store_unlock(other, lk);
        store_close(other);
        ck_assert_int_eq(app("alice", PW_PHONE, "imap", "h", T0, name), MAILOTP_OK);
}
END_TEST

START_TEST(app_corrupt_list_fails_closed)
{
        char name[APPPW_NAME_MAX + 1], p[800];
        static const char cut[] = "version = 1\n"; /* end line lost */

        path_of(p, sizeof(p), "apppw/alice");
        tu_write_file(p, cut, sizeof(cut) - 1, 0600);
        ck_assert_int_eq(app("alice", PW_PHONE, "imap", "h", T0, name), MAILOTP_ERR_FORMAT);
}
END_TEST

/* ---- store_server_key ------------------------------------------------------------------------ */

START_TEST(server_key_missing_not_created)
{
        unsigned char k[MAC_KEY_LEN];
        char p[800];

        path_of(p, sizeof(p), "server.key");
        ck_assert_int_eq(store_server_key(st, 0, k, err, sizeof(err)), MAILOTP_ERR_NOT_FOUND);
        ck_assert(!tu_exists(p));
}
END_TEST

START_TEST(server_key_create_and_reuse)
{
        unsigned char k1[MAC_KEY_LEN], k2[MAC_KEY_LEN], zero[MAC_KEY_LEN];
        struct stat sb;
        struct store *again = NULL;
        char p[800];

        memset(zero, 0, sizeof(zero));
        ck_assert_msg(store_server_key(st, 1, k1, err, sizeof(err)) == MAILOTP_OK, "%s", err);
        ck_assert(memcmp(k1, zero, MAC_KEY_LEN) != 0);
        path_of(p, sizeof(p), "server.key");
        ck_assert_int_eq(lstat(p, &sb), 0);
        ck_assert(S_ISREG(sb.st_mode));
        ck_assert_uint_eq(sb.st_mode & 07777, 0600);
        ck_assert_uint_eq(sb.st_uid, geteuid());
        /* a second call, with or without create, returns the same key */
        ck_assert_int_eq(store_server_key(st, 1, k2, err, sizeof(err)), MAILOTP_OK);
        ck_assert_mem_eq(k1, k2, MAC_KEY_LEN);
        memset(k2, 0, sizeof(k2));
        ck_assert_int_eq(store_server_key(st, 0, k2, err, sizeof(err)), MAILOTP_OK);
        ck_assert_mem_eq(k1, k2, MAC_KEY_LEN);
        /* and so does another handle on the same store */
        ck_assert_int_eq(store_open_files(sdir, geteuid(), 0, &again, err, sizeof(err)),
                         MAILOTP_OK);
        memset(k2, 0, sizeof(k2));
        ck_assert_int_eq(store_server_key(again, 0, k2, err, sizeof(err)), MAILOTP_OK);
        ck_assert_mem_eq(k1, k2, MAC_KEY_LEN);
        store_close(again);
}
END_TEST

START_TEST(server_key_differs_between_stores)
{
        unsigned char k1[MAC_KEY_LEN], k2[MAC_KEY_LEN];
        struct store *other = NULL;
        char odir[700];

        tu_join(odir, sizeof(odir), base, "other");
        ck_assert_int_eq(store_open_files(odir, geteuid(), STORE_CREATE, &other, err, sizeof(err)),
                         MAILOTP_OK);
        ck_assert_int_eq(store_server_key(st, 1, k1, err, sizeof(err)), MAILOTP_OK);
        ck_assert_int_eq(store_server_key(other, 1, k2, err, sizeof(err)), MAILOTP_OK);
        ck_assert(memcmp(k1, k2, MAC_KEY_LEN) != 0);
        store_close(other);
}
END_TEST

#define KEYHEX       "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define KEYHEX_UPPER "000102030405060708090A0B0C0D0E0F101112131415161718191a1b1c1d1e1f"

START_TEST(server_key_corrupt_is_format)
{
        static const char *const bad[] = {
            "garbage\n",
            "version = 1\nkey = 00\n",
            "version = 1\nkey = " KEYHEX_UPPER "\n",
            "version = 2\nkey = " KEYHEX "\n",
            "key = " KEYHEX "\n",
            "version = 1\nkey = " KEYHEX "\nkey = " KEYHEX "\n",
            "",
        };
        unsigned char k[MAC_KEY_LEN];
        char p[800];

        path_of(p, sizeof(p), "server.key");
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                tu_write_file(p, bad[i], strlen(bad[i]), 0600);
                ck_assert_msg(store_server_key(st, 0, k, err, sizeof(err)) == MAILOTP_ERR_FORMAT,
                              "corrupt key %zu accepted", i);
                /* create never replaces a corrupt key */
                LEAVES("server.key", ck_assert_msg(store_server_key(st, 1, k, err, sizeof(err)) ==
                                                       MAILOTP_ERR_FORMAT,
                                                   "corrupt key %zu accepted with create", i));
        }
        /* the good form of the same file, to show the refusals are about content */
        tu_write_file(p, "version = 1\nkey = " KEYHEX "\n",
                      strlen("version = 1\nkey = " KEYHEX "\n"), 0600);
        ck_assert_msg(store_server_key(st, 0, k, err, sizeof(err)) == MAILOTP_OK, "%s", err);
        ck_assert_int_eq(k[0], 0x00);
        ck_assert_int_eq(k[31], 0x1f);
}
END_TEST

START_TEST(server_key_unsafe_file)
{
        unsigned char k[MAC_KEY_LEN];
        char p[800];

        ck_assert_int_eq(store_server_key(st, 1, k, err, sizeof(err)), MAILOTP_OK);
        path_of(p, sizeof(p), "server.key");
        ck_assert_int_eq(chmod(p, 0640), 0);
        ck_assert_int_eq(store_server_key(st, 0, k, err, sizeof(err)), MAILOTP_ERR_UNSAFE_FILE);
        ck_assert_int_eq(chmod(p, 0600), 0);
        ck_assert_int_eq(unlink(p), 0);
        ck_assert_int_eq(symlink("/etc/hostname", p), 0);
        ck_assert_int_eq(store_server_key(st, 1, k, err, sizeof(err)), MAILOTP_ERR_UNSAFE_FILE);
}
END_TEST

/* ---- writes that fail: fail closed ------------------------------------------------------- */

/*
 * This executable's renameat(), pwrite() and fdatasync() stand in for libc's
 * (the core is linked statically, so the store's writes land here): while
 * fail_writes is set, every replacement and every in-place write fails with
 * EIO before anything reaches the file, as on a failing disk; with
 * fail_flushes only the flush after an in-place write fails (the data may
 * or may not have reached the disk).  Otherwise they are the plain calls.
 */
static int fail_writes, fail_flushes;

int renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath)
{
        if (fail_writes) {
                errno = EIO;
                return -1;
        }
        return (int)syscall(SYS_renameat2, olddirfd, oldpath, newdirfd, newpath, 0);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
        if (fail_writes) {
                errno = EIO;
                return -1;
        }
        return (ssize_t)syscall(SYS_pwrite64, fd, buf, n, off);
}

int fdatasync(int fd)
{
        if (fail_writes || fail_flushes) {
                errno = EIO;
                return -1;
        }
        return (int)syscall(SYS_fdatasync, fd);
}

START_TEST(io_wrong_code_not_stored_is_an_error)
{
        char bad[16];
        struct auth_outcome out;
        enum mailotp_rc rc;
        char d[800];

        wrong_code_at(T0, bad);
        fail_writes = 1;
        LEAVES("users/alice", rc = check(bad, T0, &out));
        fail_writes = 0;
        /* not a plain "wrong code": the guess was not counted */
        ck_assert_msg(rc == MAILOTP_ERR_IO, "rc %s", mailotp_strerror(rc));
        ck_assert_str_ne(err, "");
        ck_assert_uint_eq(stored().failures, 0);
        path_of(d, sizeof(d), "users");
        ck_assert_uint_eq(tu_count_dot_entries(d), 0); /* no temporary file left */
        /* with a working disk it is counted */
        ck_assert_int_eq(check(bad, T0, &out), MAILOTP_ERR_MISMATCH);
        ck_assert_uint_eq(stored().failures, 1);
}
END_TEST

START_TEST(io_right_code_not_stored_is_not_accepted)
{
        char code[16];
        struct auth_outcome out;
        enum mailotp_rc rc;

        code_at(T0, code);
        fail_writes = 1;
        LEAVES("users/alice", rc = check(code, T0, &out));
        fail_writes = 0;
        /* the step could not be stored, so the code could be replayed: no */
        ck_assert_msg(rc != MAILOTP_OK, "accepted a code whose step was not stored");
        ck_assert_int_eq(stored().has_last_step, 0);
        ck_assert_int_eq(check(code, T0, &out), MAILOTP_OK);
        ck_assert_int_eq(check(code, T0, &out), MAILOTP_ERR_REPLAY);
}
END_TEST

/*
 * The in-place write went out but its flush failed: the login must not
 * succeed, and whatever the file now holds (the old or the new state) is
 * safe: a step marked used that was never accepted, or a counted guess.
 */
START_TEST(io_right_code_flush_failed_is_not_accepted)
{
        char code[16];
        struct auth_outcome out;
        enum mailotp_rc rc;

        code_at(T0, code);
        fail_flushes = 1;
        rc = check(code, T0, &out);
        fail_flushes = 0;
        ck_assert_msg(rc == MAILOTP_ERR_IO, "rc %s", mailotp_strerror(rc));
        ck_assert_str_ne(err, "");
        /* never accepted afterwards with the same code either */
        ck_assert_int_ne(check(code, T0, &out), MAILOTP_OK);
}
END_TEST

START_TEST(io_wrong_code_flush_failed_is_an_error)
{
        char bad[16];
        struct auth_outcome out;
        enum mailotp_rc rc;

        wrong_code_at(T0, bad);
        fail_flushes = 1;
        rc = check(bad, T0, &out);
        fail_flushes = 0;
        ck_assert_msg(rc == MAILOTP_ERR_IO, "rc %s", mailotp_strerror(rc));
        ck_assert_uint_le(stored().failures, 1);
        ck_assert_int_eq(check(bad, T0, &out), MAILOTP_ERR_MISMATCH);
        ck_assert_uint_ge(stored().failures, 1);
}
END_TEST

START_TEST(io_recovery_not_consumed_is_not_accepted)
{
        struct auth_outcome out;
        enum mailotp_rc rc;

        fail_writes = 1;
        LEAVES("recovery/alice", rc = check_recovery_code(rcodes[0], T0, &out));
        fail_writes = 0;
        ck_assert_msg(rc != MAILOTP_OK, "accepted a recovery code that was not consumed");
        ck_assert(recovery_file_has(rhash[0]));
        ck_assert_int_eq(check_recovery_code(rcodes[0], T0, &out), MAILOTP_OK);
        ck_assert(!recovery_file_has(rhash[0]));
}
END_TEST

START_TEST(io_app_password_last_use_not_recorded)
{
        char name[APPPW_NAME_MAX + 1];
        enum mailotp_rc rc;

        /* last use is information: the login stands, err says why it was not recorded */
        fail_writes = 1;
        LEAVES("apppw/alice", rc = app("alice", PW_PHONE, "imap", "h", T0, name));
        fail_writes = 0;
        ck_assert_int_eq(rc, MAILOTP_OK);
        ck_assert_str_eq(name, "phone");
        ck_assert_str_ne(err, "");
        ck_assert_int_eq(entry_named("phone").last_used, 0);
        /* and on success with a working disk err is empty */
        ck_assert_int_eq(app("alice", PW_PHONE, "imap", "h", T0, name), MAILOTP_OK);
        ck_assert_str_eq(err, "");
        ck_assert_int_eq(entry_named("phone").last_used, T0);
}
END_TEST

static Suite *auth_suite(void)
{
        Suite *s = suite_create("auth");
        TCase *tc;

        load_defaults(&defaults);

        tc = tcase_create("lockout");
        tcase_add_test(tc, policy_from_opts);
        tcase_add_loop_test(tc, lockout_table_defaults, 0,
                            (int)(sizeof(lockout_defaults) / sizeof(lockout_defaults[0])));
        tcase_add_test(tc, lockout_after_zero);
        tcase_add_test(tc, lockout_max_not_multiple);
        tcase_add_test(tc, lockout_delay_equals_max);
        suite_add_tcase(s, tc);

        tc = tcase_create("verify");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, verify_success);
        tcase_add_test(tc, verify_success_resets_failures);
        tcase_add_test(tc, verify_replay_not_counted);
        tcase_add_test(tc, verify_older_code_after_newer_is_replay);
        tcase_add_test(tc, verify_next_step_after_success);
        tcase_add_test(tc, verify_wrong_codes_count);
        tcase_add_test(tc, verify_lockout);
        tcase_add_test(tc, verify_lockout_doubles);
        tcase_add_test(tc, verify_lockout_after_zero);
        tcase_add_test(tc, verify_window_zero);
        tcase_add_test(tc, verify_missing_state);
        tcase_add_test(tc, verify_corrupt_state);
        tcase_add_test(tc, verify_truncated_state_fails_closed);
        tcase_add_test(tc, verify_unsafe_state);
        tcase_add_test(tc, verify_legacy_user_moved_by_first_login);
        tcase_add_test(tc, verify_bad_secret_in_record);
        tcase_add_test(tc, verify_malformed_code_not_counted);
        tcase_add_test(tc, verify_lock_held_elsewhere);
        tcase_add_test(tc, verify_locked_variant);
        tcase_add_test(tc, verify_eight_digit_record);
        suite_add_tcase(s, tc);

        tc = tcase_create("recovery");
        tcase_add_checked_fixture(tc, setup_recovery, teardown);
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, recovery_success_consumes_durably);
        tcase_add_test(tc, recovery_wrong_counts_failure);
        tcase_add_test(tc, recovery_locked_refuses_without_consuming);
        tcase_add_test(tc, recovery_for_other_user_does_not_match);
        tcase_add_test(tc, recovery_without_codes_is_wrong);
        tcase_add_test(tc, recovery_without_server_key_fails_closed);
        tcase_add_test(tc, recovery_corrupt_list_fails_closed);
        suite_add_tcase(s, tc);

        tc = tcase_create("grace");
        tcase_add_checked_fixture(tc, setup_sk, teardown);
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, grace_replay_same_fingerprint_succeeds);
        tcase_add_test(tc, grace_other_fingerprint_is_replay);
        tcase_add_test(tc, grace_expired_is_replay);
        tcase_add_test(tc, grace_off_in_policy);
        tcase_add_test(tc, grace_shortened_policy_applies);
        tcase_add_test(tc, grace_never_excuses_a_wrong_code);
        tcase_add_test(tc, grace_not_while_locked);
        tcase_add_test(tc, grace_new_login_replaces_fingerprint);
        tcase_add_test(tc, fingerprint_matches_oracle);
        tcase_add_test(tc, fingerprint_differs);
        suite_add_tcase(s, tc);

        tc = tcase_create("app_password");
        tcase_add_checked_fixture(tc, setup_apppw, teardown);
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, app_ok_records_last_use);
        tcase_add_test(tc, app_last_use_stored_once_a_minute_per_place);
        tcase_add_test(tc, app_ok_restricted_service_and_expiry_edges);
        tcase_add_test(tc, app_mismatch);
        tcase_add_test(tc, app_expired);
        tcase_add_test(tc, app_not_allowed);
        tcase_add_test(tc, app_not_found_without_list_takes_no_lock);
        tcase_add_test(tc, app_not_found_without_server_key);
        tcase_add_test(tc, app_revocation_takes_effect);
        tcase_add_test(tc, app_under_the_lock);
        tcase_add_test(tc, app_corrupt_list_fails_closed);
        suite_add_tcase(s, tc);

        tc = tcase_create("io_errors");
        tcase_add_checked_fixture(tc, setup_recovery, teardown);
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, io_wrong_code_not_stored_is_an_error);
        tcase_add_test(tc, io_right_code_not_stored_is_not_accepted);
        tcase_add_test(tc, io_right_code_flush_failed_is_not_accepted);
        tcase_add_test(tc, io_wrong_code_flush_failed_is_an_error);
        tcase_add_test(tc, io_recovery_not_consumed_is_not_accepted);
        suite_add_tcase(s, tc);

        tc = tcase_create("io_errors_apppw");
        tcase_add_checked_fixture(tc, setup_apppw, teardown);
        tcase_add_test(tc, io_app_password_last_use_not_recorded);
        suite_add_tcase(s, tc);

        tc = tcase_create("server_key");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, server_key_missing_not_created);
        tcase_add_test(tc, server_key_create_and_reuse);
        tcase_add_test(tc, server_key_differs_between_stores);
        tcase_add_test(tc, server_key_corrupt_is_format);
        tcase_add_test(tc, server_key_unsafe_file);
        suite_add_tcase(s, tc);
        return s;
}

int main(void)
{
        return tu_main(auth_suite());
}
