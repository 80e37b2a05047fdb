/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * mailotp: the administrator's and the User Panel's command line for
 * pam_mailotp.  Links the core, never libpam.  Every write goes through the
 * store with the same lock, permission and atomicity rules as the module.
 *
 * Exit codes (stable, documented in mailotp(1)):
 *   0 done   1 code refused   2 usage or configuration error
 *   3 wrong state for this verb (not enrolled, already enabled, ...)
 *   4 store error (unreadable, unsafe, corrupt, I/O, lock timeout)
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "config.h"
#include "options.h"
#include "password_split.h"
#include "qr.h"
#include "record.h"
#include "secure.h"
#include "store.h"
#include "totp.h"
#include "username.h"

#ifndef MAILOTP_VERSION
#define MAILOTP_VERSION "0"
#endif

enum exit_code {
        EX_DONE = 0,
        EX_REFUSED = 1,
        EX_USAGE = 2,
        EX_STATE = 3,
        EX_STORE = 4,
};

struct cli {
        struct mailotp_opts opts;
        struct store *st;
        bool force;
        bool no_qr;
        const char *user;
        char key[USERNAME_MAX + 1];
        char err[256];
};

static void die_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void die_msg(const char *fmt, ...)
{
        va_list ap;

        fputs("mailotp: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}

/* The one mapping of a core result to an exit code. */
static int exit_for(enum mailotp_rc rc)
{
        switch (rc) {
        case MAILOTP_OK:
                return EX_DONE;
        case MAILOTP_ERR_NO_CODE:
        case MAILOTP_ERR_MISMATCH:
        case MAILOTP_ERR_REPLAY:
        case MAILOTP_ERR_LOCKED:
                return EX_REFUSED;
        case MAILOTP_ERR_INVALID:
                return EX_USAGE;
        case MAILOTP_ERR_NOT_FOUND:
        case MAILOTP_ERR_STATE:
                return EX_STATE;
        case MAILOTP_ERR_NOMEM:
        case MAILOTP_ERR_FORMAT:
        case MAILOTP_ERR_UNSAFE_FILE:
        case MAILOTP_ERR_LOCK_TIMEOUT:
        case MAILOTP_ERR_IO:
        case MAILOTP_ERR_CRYPTO:
                return EX_STORE;
        }
        return EX_STORE;
}

/* Report a store failure with its reason and return the exit code. */
static int store_fail(struct cli *c, enum mailotp_rc rc, const char *what)
{
        die_msg("%s: %s%s%s", what, mailotp_strerror(rc), c->err[0] ? ": " : "", c->err);
        return exit_for(rc);
}

static void format_time(int64_t t, char *buf, size_t bufsz)
{
        time_t tt = (time_t)t;
        struct tm tm;

        if (t <= 0 || gmtime_r(&tt, &tm) == NULL ||
            strftime(buf, bufsz, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
                (void)snprintf(buf, bufsz, "never");
}

/* Percent-encode everything but RFC 3986 unreserved characters. */
static void uri_escape(const char *in, char *out, size_t outsz)
{
        static const char hex[] = "0123456789ABCDEF";
        size_t o = 0;

        for (; *in != '\0' && o + 4 < outsz; in++) {
                unsigned char ch = (unsigned char)*in;

                if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                    (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
                        out[o++] = (char)ch;
                } else {
                        out[o++] = '%';
                        out[o++] = hex[ch >> 4];
                        out[o++] = hex[ch & 15];
                }
        }
        out[o] = '\0';
}

/* A code as typed in a panel: "189 145" -> "189145"; must then be exactly `digits` digits. */
static int normalise_code(const char *in, unsigned digits, char *out, size_t outsz)
{
        size_t o = 0;

        for (; *in != '\0'; in++) {
                if (*in == ' ')
                        continue;
                if (o + 1 >= outsz)
                        return -1;
                out[o++] = *in;
        }
        out[o] = '\0';
        return pwsplit_is_code(out, digits) ? 0 : -1;
}

static int open_store(struct cli *c)
{
        enum mailotp_rc rc;

        rc = store_open_files(c->opts.dir, geteuid(), STORE_CREATE, &c->st, c->err, sizeof(c->err));
        if (rc != MAILOTP_OK)
                return store_fail(c, rc, c->opts.dir);
        return EX_DONE;
}

static int cmd_enroll(struct cli *c)
{
        struct otp_record rec, old;
        struct store_lock *lk = NULL;
        char issuer[MAILOTP_ISSUER_MAX], e_issuer[3 * MAILOTP_ISSUER_MAX + 1];
        char e_user[3 * USERNAME_MAX + 1], uri[2048];
        enum mailotp_rc rc;
        int ex, was_enabled;

        record_wipe(&rec);
        rc = store_lock(c->st, c->key, c->opts.lock_timeout * 1000U, &lk, c->err, sizeof(c->err));
        if (rc != MAILOTP_OK)
                return store_fail(c, rc, "lock");
        rc = store_record_load(c->st, c->key, &old, c->err, sizeof(c->err));
        was_enabled = rc == MAILOTP_OK && old.status == OTP_STATUS_ENABLED;
        if (was_enabled && !c->force) {
                die_msg("%s already has 2FA enabled; disable it first (mailotp disable), "
                        "or re-enroll with --force",
                        c->user);
                ex = EX_STATE;
                goto out;
        }
        if (rc != MAILOTP_OK && rc != MAILOTP_ERR_NOT_FOUND && !c->force) {
                ex = store_fail(c, rc, "existing record (use --force to replace it)");
                goto out;
        }
        record_wipe(&old);
        rec.status = OTP_STATUS_PENDING;
        rec.digits = c->opts.digits;
        rec.period = TOTP_PERIOD;
        rec.created = (int64_t)time(NULL);
        rc = totp_secret_generate(rec.secret, sizeof(rec.secret));
        if (rc == MAILOTP_OK)
                rc = store_record_save(c->st, c->key, &rec, c->err, sizeof(c->err));
        if (rc != MAILOTP_OK) {
                ex = store_fail(c, rc, "saving the record");
                goto out;
        }
        if (c->opts.issuer[0] != '\0') {
                (void)snprintf(issuer, sizeof(issuer), "%s", c->opts.issuer);
        } else if (gethostname(issuer, sizeof(issuer)) != 0 || issuer[0] == '\0') {
                (void)snprintf(issuer, sizeof(issuer), "mailotp");
        }
        issuer[sizeof(issuer) - 1] = '\0';
        uri_escape(issuer, e_issuer, sizeof(e_issuer));
        uri_escape(c->user, e_user, sizeof(e_user));
        (void)snprintf(
            uri, sizeof(uri),
            "otpauth://totp/%s:%s?secret=%s&issuer=%s&algorithm=SHA1&digits=%u&period=%u", e_issuer,
            e_user, rec.secret, e_issuer, rec.digits, rec.period);
        printf("Enrolling %s (2FA stays off until the challenge code is confirmed).\n", c->user);
        if (was_enabled)
                printf("WARNING: 2FA was enabled for %s; it is OFF until the new secret is "
                       "confirmed.\n",
                       c->user);
        putchar('\n');
        if (!c->no_qr && qr_print_utf8(stdout, uri) != 0)
                fputs("(the QR code could not be drawn; use the URI below)\n", stdout);
        printf("\n%s with Authy, Google Authenticator or any TOTP app:\n",
               c->no_qr ? "Enter this URI (or a QR code made from it)"
                        : "Scan the QR code, or enter this URI,");
        printf("%s\n\n", uri);
        printf("Then confirm with the code the app shows:  mailotp confirm %s CODE\n", c->user);
        ex = EX_DONE;
out:
        secure_memzero(uri, sizeof(uri));
        record_wipe(&rec);
        store_unlock(c->st, lk);
        return ex;
}

static int cmd_confirm(struct cli *c, const char *code_arg)
{
        struct otp_record rec;
        struct otp_state s;
        struct store_lock *lk = NULL;
        unsigned char *secret = NULL;
        size_t secret_len = 0;
        char code[PWSPLIT_MAX_DIGITS + 2];
        uint64_t step = 0;
        enum mailotp_rc rc;
        int ex;

        record_wipe(&rec);
        rc = store_lock(c->st, c->key, c->opts.lock_timeout * 1000U, &lk, c->err, sizeof(c->err));
        if (rc != MAILOTP_OK)
                return store_fail(c, rc, "lock");
        rc = store_record_load(c->st, c->key, &rec, c->err, sizeof(c->err));
        if (rc == MAILOTP_ERR_NOT_FOUND) {
                die_msg("%s is not enrolled; run: mailotp enroll %s", c->user, c->user);
                ex = EX_STATE;
                goto out;
        }
        if (rc != MAILOTP_OK) {
                ex = store_fail(c, rc, "record");
                goto out;
        }
        if (rec.status == OTP_STATUS_ENABLED) {
                die_msg("2FA is already enabled for %s", c->user);
                ex = EX_STATE;
                goto out;
        }
        if (normalise_code(code_arg, rec.digits, code, sizeof(code)) != 0) {
                die_msg("the code must be %u digits", rec.digits);
                ex = EX_USAGE;
                goto out;
        }
        rc = totp_secret_decode(rec.secret, &secret, &secret_len);
        if (rc == MAILOTP_OK)
                rc = totp_verify(secret, secret_len, code, rec.digits, (int64_t)time(NULL),
                                 rec.period, c->opts.window, 0, 0, &step);
        secure_freezero(secret, secret_len);
        if (rc == MAILOTP_ERR_MISMATCH) {
                die_msg("that code is not valid now; 2FA stays pending for %s. Wait for a fresh "
                        "code in the app and try again.",
                        c->user);
                ex = EX_REFUSED;
                goto out;
        }
        if (rc != MAILOTP_OK) {
                ex = store_fail(c, rc, "checking the code");
                goto out;
        }
        /* State first: an enabled record must never exist without its replay state. */
        state_init(&s);
        s.has_last_step = 1;
        s.last_step = step;
        s.last_success = (int64_t)time(NULL);
        rc = store_state_save(c->st, c->key, &s, c->err, sizeof(c->err));
        if (rc == MAILOTP_OK) {
                rec.status = OTP_STATUS_ENABLED;
                rec.enabled = (int64_t)time(NULL);
                rc = store_record_save(c->st, c->key, &rec, c->err, sizeof(c->err));
        }
        if (rc != MAILOTP_OK) {
                ex = store_fail(c, rc, "enabling 2FA");
                goto out;
        }
        printf("2FA is now enabled for %s: log in with the password followed by the code.\n",
               c->user);
        ex = EX_DONE;
out:
        secure_memzero(code, sizeof(code));
        record_wipe(&rec);
        store_unlock(c->st, lk);
        return ex;
}

static int cmd_disable(struct cli *c, const char *code_arg)
{
        struct otp_record rec;
        struct store_lock *lk = NULL;
        struct auth_policy pol;
        struct auth_outcome ao;
        char code[PWSPLIT_MAX_DIGITS + 2];
        enum mailotp_rc rc;
        int ex;

        record_wipe(&rec);
        code[0] = '\0';
        rc = store_lock(c->st, c->key, c->opts.lock_timeout * 1000U, &lk, c->err, sizeof(c->err));
        if (rc != MAILOTP_OK)
                return store_fail(c, rc, "lock");
        rc = store_record_load(c->st, c->key, &rec, c->err, sizeof(c->err));
        if (rc == MAILOTP_ERR_NOT_FOUND) {
                die_msg("2FA is not enabled for %s", c->user);
                ex = EX_STATE;
                goto out;
        }
        if (rc != MAILOTP_OK && !c->force) {
                ex = store_fail(c, rc, "record (an administrator can use --force)");
                goto out;
        }
        if (rc == MAILOTP_OK && rec.status == OTP_STATUS_ENABLED && !c->force) {
                if (code_arg == NULL) {
                        die_msg("disabling 2FA needs a current code: mailotp disable %s CODE",
                                c->user);
                        ex = EX_USAGE;
                        goto out;
                }
                if (normalise_code(code_arg, rec.digits, code, sizeof(code)) != 0) {
                        die_msg("the code must be %u digits", rec.digits);
                        ex = EX_USAGE;
                        goto out;
                }
                auth_policy_from_opts(&pol, &c->opts);
                rc = auth_verify_code_locked(c->st, c->key, &rec, code, (int64_t)time(NULL), &pol,
                                             &ao, c->err, sizeof(c->err));
                if (rc != MAILOTP_OK) {
                        if (rc == MAILOTP_ERR_LOCKED) {
                                die_msg("too many wrong codes for %s; try again after the back-off",
                                        c->user);
                                ex = exit_for(rc);
                        } else if (rc == MAILOTP_ERR_MISMATCH || rc == MAILOTP_ERR_REPLAY) {
                                die_msg("that code is not valid (%s); 2FA stays enabled for %s",
                                        mailotp_strerror(rc), c->user);
                                ex = exit_for(rc);
                        } else {
                                ex = store_fail(c, rc, "checking the code");
                        }
                        goto out;
                }
        }
        rc = store_user_delete(c->st, c->key, c->err, sizeof(c->err));
        if (rc != MAILOTP_OK) {
                ex = store_fail(c, rc, "removing the record");
                goto out;
        }
        printf("2FA is now disabled for %s: log in with the password alone.\n", c->user);
        ex = EX_DONE;
out:
        secure_memzero(code, sizeof(code));
        record_wipe(&rec);
        store_unlock(c->st, lk);
        return ex;
}

static int cmd_status(struct cli *c)
{
        struct otp_record rec;
        struct otp_state s;
        char t1[64], t2[64];
        enum mailotp_rc rc;
        enum otp_status status;
        int64_t now = (int64_t)time(NULL);

        rc = store_record_load(c->st, c->key, &rec, c->err, sizeof(c->err));
        if (rc == MAILOTP_ERR_NOT_FOUND) {
                printf("user: %s\nstatus: disabled\n", c->user);
                return EX_DONE;
        }
        if (rc != MAILOTP_OK)
                return store_fail(c, rc, "record");
        status = rec.status;
        format_time(rec.created, t1, sizeof(t1));
        printf("user: %s\nstatus: %s\nenrolled: %s\n", c->user, record_status_name(status), t1);
        if (status == OTP_STATUS_ENABLED) {
                format_time(rec.enabled, t1, sizeof(t1));
                printf("enabled: %s\n", t1);
        }
        record_wipe(&rec);
        if (status != OTP_STATUS_ENABLED)
                return EX_DONE;
        rc = store_state_load(c->st, c->key, &s, c->err, sizeof(c->err));
        if (rc == MAILOTP_ERR_NOT_FOUND) {
                printf("state: missing (logins fail closed; run: mailotp unlock %s)\n", c->user);
                return EX_DONE;
        }
        if (rc != MAILOTP_OK)
                return store_fail(c, rc, "state");
        printf("failures: %u\n", s.failures);
        if (s.locked_until > now) {
                format_time(s.locked_until, t1, sizeof(t1));
                printf("locked: until %s\n", t1);
        } else {
                printf("locked: no\n");
        }
        format_time(s.last_success, t1, sizeof(t1));
        format_time(s.last_failure, t2, sizeof(t2));
        printf("last success: %s\nlast failure: %s\n", t1, t2);
        return EX_DONE;
}

static int cmd_unlock(struct cli *c)
{
        struct otp_record rec;
        struct otp_state s;
        struct store_lock *lk = NULL;
        enum mailotp_rc rc;
        int ex, fresh = 0;

        rc = store_lock(c->st, c->key, c->opts.lock_timeout * 1000U, &lk, c->err, sizeof(c->err));
        if (rc != MAILOTP_OK)
                return store_fail(c, rc, "lock");
        rc = store_record_load(c->st, c->key, &rec, c->err, sizeof(c->err));
        record_wipe(&rec);
        if (rc != MAILOTP_OK) {
                ex = rc == MAILOTP_ERR_NOT_FOUND
                         ? (die_msg("%s is not enrolled", c->user), EX_STATE)
                         : store_fail(c, rc, "record");
                goto out;
        }
        rc = store_state_load(c->st, c->key, &s, c->err, sizeof(c->err));
        if (rc == MAILOTP_ERR_NOT_FOUND) {
                /* Lost state: no code of this step or earlier may be used again. */
                state_init(&s);
                s.has_last_step = 1;
                s.last_step = totp_step((int64_t)time(NULL), TOTP_PERIOD);
                fresh = 1;
        } else if (rc != MAILOTP_OK) {
                ex = store_fail(c, rc, "state (remove the file to rebuild it)");
                goto out;
        }
        s.failures = 0;
        s.locked_until = 0;
        rc = store_state_save(c->st, c->key, &s, c->err, sizeof(c->err));
        if (rc != MAILOTP_OK) {
                ex = store_fail(c, rc, "saving the state");
                goto out;
        }
        printf("%s: failure count cleared%s\n", c->user,
               fresh ? "; state rebuilt (codes up to now cannot be reused)" : "");
        ex = EX_DONE;
out:
        store_unlock(c->st, lk);
        return ex;
}

static void usage(FILE *out)
{
        fputs("usage: mailotp [--dir DIR] [--conf FILE] VERB ARGS\n"
              "  enroll USER [--force] [--no-qr]  make a secret, show QR code and URI (pending)\n"
              "  confirm USER CODE                 enable 2FA with the app's current code\n"
              "  disable USER CODE                 disable 2FA (needs a current code)\n"
              "  disable --force USER              disable 2FA without a code (administrator)\n"
              "  status USER                       disabled, pending or enabled; lockout state\n"
              "  unlock USER                       clear the wrong-code count and back-off\n"
              "exit: 0 done, 1 code refused, 2 usage, 3 wrong state, 4 store error\n",
              out);
}

int main(int argc, char **argv)
{
        static const struct option longopts[] = {
            {"dir", required_argument, NULL, 'd'},
            {"conf", required_argument, NULL, 'c'},
            {"force", no_argument, NULL, 'f'},
            {"no-qr", no_argument, NULL, 'n'},
            {"help", no_argument, NULL, 'h'},
            {"version", no_argument, NULL, 'V'},
            {NULL, 0, NULL, 0},
        };
        struct cli c;
        char dir_arg[MAILOTP_PATH_MAX + 8], conf_arg[MAILOTP_PATH_MAX + 8];
        const char *words[2];
        int nwords = 0, opt, ex;
        const char *verb, *arg2;
        enum mailotp_rc rc;

        memset(&c, 0, sizeof(c));
        while ((opt = getopt_long(argc, argv, "d:c:fnhV", longopts, NULL)) != -1) {
                switch (opt) {
                case 'd':
                        if (nwords >= 2) {
                                die_msg("--dir and --conf may be given once each");
                                return EX_USAGE;
                        }
                        if (snprintf(dir_arg, sizeof(dir_arg), "dir=%s", optarg) >=
                            (int)sizeof(dir_arg)) {
                                die_msg("--dir is too long");
                                return EX_USAGE;
                        }
                        words[nwords++] = dir_arg;
                        break;
                case 'c':
                        if (nwords >= 2) {
                                die_msg("--dir and --conf may be given once each");
                                return EX_USAGE;
                        }
                        if (snprintf(conf_arg, sizeof(conf_arg), "conf=%s", optarg) >=
                            (int)sizeof(conf_arg)) {
                                die_msg("--conf is too long");
                                return EX_USAGE;
                        }
                        words[nwords++] = conf_arg;
                        break;
                case 'f':
                        c.force = true;
                        break;
                case 'n':
                        c.no_qr = true;
                        break;
                case 'h':
                        usage(stdout);
                        return EX_DONE;
                case 'V':
                        printf("mailotp %s\n", MAILOTP_VERSION);
                        return EX_DONE;
                default:
                        usage(stderr);
                        return EX_USAGE;
                }
        }
        if (optind + 2 > argc) {
                usage(stderr);
                return EX_USAGE;
        }
        verb = argv[optind];
        c.user = argv[optind + 1];
        arg2 = optind + 2 < argc ? argv[optind + 2] : NULL;
        if (optind + 3 < argc) {
                die_msg("too many arguments");
                return EX_USAGE;
        }

        opts_init(&c.opts);
        rc = config_load(&c.opts, nwords, words, geteuid(), c.err, sizeof(c.err));
        if (rc != MAILOTP_OK) {
                die_msg("configuration: %s", c.err);
                return EX_USAGE;
        }
        c.err[0] = '\0';
        if (username_to_key(c.user, c.key, sizeof(c.key), c.err, sizeof(c.err)) != MAILOTP_OK) {
                die_msg("invalid username: %s", c.err);
                return EX_USAGE;
        }
        c.err[0] = '\0';

        if (strcmp(verb, "enroll") != 0 && strcmp(verb, "confirm") != 0 &&
            strcmp(verb, "disable") != 0 && strcmp(verb, "status") != 0 &&
            strcmp(verb, "unlock") != 0) {
                die_msg("unknown verb \"%s\"", verb);
                usage(stderr);
                return EX_USAGE;
        }
        if ((strcmp(verb, "confirm") == 0) != (arg2 != NULL) && strcmp(verb, "disable") != 0) {
                die_msg(arg2 == NULL ? "%s needs a CODE" : "%s takes no further argument", verb);
                return EX_USAGE;
        }
        ex = open_store(&c);
        if (ex != EX_DONE)
                return ex;
        if (strcmp(verb, "enroll") == 0)
                ex = cmd_enroll(&c);
        else if (strcmp(verb, "confirm") == 0)
                ex = cmd_confirm(&c, arg2);
        else if (strcmp(verb, "disable") == 0)
                ex = cmd_disable(&c, arg2);
        else if (strcmp(verb, "status") == 0)
                ex = cmd_status(&c);
        else
                ex = cmd_unlock(&c);
        store_close(c.st);
        fflush(stdout);
        return ex;
}
