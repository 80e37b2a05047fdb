/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * mailotp: the administrator's and the User Panel's command line for
 * pam_mailotp.  Links the core, never libpam.  Every write goes through the
 * store with the same lock, permission and atomicity rules as the module.
 *
 * Exit codes (stable, documented in mailotp(1)):
 *   0 done   1 code refused   2 usage or configuration error
 *   3 wrong state for this verb (not enrolled, already enabled, no such name, ...)
 *   4 store error (unreadable, unsafe, corrupt, I/O, lock timeout)
 * With --json every outcome is one JSON object on stdout; errors are
 * {"error": MESSAGE, "code": CODE} with the same exit codes.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "apppw.h"
#include "auth.h"
#include "config.h"
#include "doctor.h"
#include "json.h"
#include "kv.h"
#include "lastlog.h"
#include "mac.h"
#include "options.h"
#include "password_split.h"
#include "qr.h"
#include "record.h"
#include "recovery.h"
#include "secure.h"
#include "store.h"
#include "totp.h"
#include "username.h"
#include "words.h"

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
        struct json j;
        bool json;
        bool force;
        bool no_qr;
        const char *qr_spec;  /* --qr FORMAT[:FILE] */
        const char *services; /* --services */
        const char *expires;  /* --expires DAYS */
        int qr_fd;            /* --qr FORMAT:FILE, opened before anything is stored */
        bool qr_created;      /* we created that file (remove it if enrollment fails) */
        const char *pamdir;   /* doctor --pamdir */
        const char *doveconf; /* doctor --doveconf */
        const char *user;
        char key[USERNAME_MAX + 1];
        char err[256];
};

/*
 * Report an error: "mailotp: MESSAGE" on stderr, or with --json
 * {"error": MESSAGE, "code": CODE} on stdout.  Returns `ex`.
 */
static int fail(struct cli *c, int ex, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(struct cli *c, int ex, const char *code, const char *fmt, ...)
{
        char msg[512];
        va_list ap;

        va_start(ap, fmt);
        (void)vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        if (c->json) {
                json_init(&c->j, stdout);
                json_obj_begin(&c->j);
                json_key(&c->j, "error");
                json_str(&c->j, msg);
                json_key(&c->j, "code");
                json_str(&c->j, code);
                json_obj_end(&c->j);
                json_end(&c->j);
        } else {
                fprintf(stderr, "mailotp: %s\n", msg);
        }
        return ex;
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
        case MAILOTP_ERR_EXPIRED:
        case MAILOTP_ERR_NOT_ALLOWED:
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

/* Report a core failure with its reason. */
static int store_fail(struct cli *c, enum mailotp_rc rc, const char *what)
{
        return fail(c, exit_for(rc), mailotp_strerror(rc), "%s: %s%s%s", what, mailotp_strerror(rc),
                    c->err[0] ? ": " : "", c->err);
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

        if (in == NULL)
                return -1;
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

static int lock_user(struct cli *c, struct store_lock **lk)
{
        enum mailotp_rc rc;

        rc = store_lock(c->st, c->key, c->opts.lock_timeout * 1000U, lk, c->err, sizeof(c->err));
        return rc == MAILOTP_OK ? EX_DONE : store_fail(c, rc, "lock");
}

/* JSON: start the result object with the user. */
static void json_result(struct cli *c)
{
        json_init(&c->j, stdout);
        json_obj_begin(&c->j);
        json_key(&c->j, "user");
        json_str(&c->j, c->user);
}

/* ---- enroll ------------------------------------------------------------ */

/*
 * Open the QR image file before anything is stored, so a bad path changes
 * nothing.  It holds the secret: a new file is made 0600; an existing one
 * must be a regular file of ours and is made 0600 (never followed if a link).
 */
static int open_qr_file(struct cli *c, const char *path)
{
        struct stat st;
        int fd;

        c->qr_created = true;
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0 && errno == EEXIST) {
                c->qr_created = false;
                fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        }
        if (fd < 0)
                return fail(c, EX_USAGE, "qr-file", "cannot write %s: %s", path, strerror(errno));
        if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
            fchmod(fd, 0600) != 0) {
                (void)close(fd);
                return fail(c, EX_USAGE, "qr-file",
                            "%s must be a regular file owned by the caller (it will hold the "
                            "secret)",
                            path);
        }
        c->qr_fd = fd;
        return EX_DONE;
}

/* Undo open_qr_file() after a failed enrollment. */
static void drop_qr_file(struct cli *c, const char *path)
{
        if (c->qr_fd < 0)
                return;
        (void)close(c->qr_fd);
        c->qr_fd = -1;
        if (c->qr_created && path != NULL)
                (void)unlink(path);
}

/* Write the QR image into the file opened by open_qr_file(). */
static int write_qr_file(struct cli *c, const char *path, const char *uri, enum qr_format fmt)
{
        FILE *f = NULL;
        int ok;

        ok = ftruncate(c->qr_fd, 0) == 0 && (f = fdopen(c->qr_fd, "w")) != NULL;
        if (!ok) {
                (void)close(c->qr_fd);
                c->qr_fd = -1;
                return fail(c, EX_STORE, "qr-file", "cannot write the QR code to %s", path);
        }
        c->qr_fd = -1; /* owned by f now */
        ok = qr_render(f, uri, fmt) == 0;
        if (fclose(f) != 0)
                ok = 0;
        return ok ? EX_DONE : fail(c, EX_STORE, "qr-file", "cannot write the QR code to %s", path);
}

/* Show the new enrollment: URI, QR in the chosen format, next step. */
static int show_enrollment(struct cli *c, const struct otp_record *rec, int was_enabled)
{
        char issuer[MAILOTP_ISSUER_MAX], e_issuer[3 * MAILOTP_ISSUER_MAX + 1];
        char e_user[3 * USERNAME_MAX + 1], uri[2048], fmtname[16];
        const char *spec = c->qr_spec, *file = NULL, *colon;
        enum qr_format fmt = QR_FORMAT_TERMINAL;
        int want_qr = !c->no_qr && !(c->json && spec == NULL);
        unsigned char *img = NULL;
        size_t imglen = 0;
        int ex = EX_DONE;

        if (c->opts.issuer[0] != '\0')
                (void)snprintf(issuer, sizeof(issuer), "%s", c->opts.issuer);
        else if (gethostname(issuer, sizeof(issuer)) != 0 || issuer[0] == '\0')
                (void)snprintf(issuer, sizeof(issuer), "mailotp");
        issuer[sizeof(issuer) - 1] = '\0';
        uri_escape(issuer, e_issuer, sizeof(e_issuer));
        uri_escape(c->user, e_user, sizeof(e_user));
        (void)snprintf(
            uri, sizeof(uri),
            "otpauth://totp/%s:%s?secret=%s&issuer=%s&algorithm=SHA1&digits=%u&period=%u", e_issuer,
            e_user, rec->secret, e_issuer, rec->digits, rec->period);
        if (spec != NULL) {
                colon = strchr(spec, ':');
                (void)snprintf(fmtname, sizeof(fmtname), "%.*s",
                               (int)(colon != NULL ? (size_t)(colon - spec) : strlen(spec)), spec);
                file = colon != NULL && colon[1] != '\0' ? colon + 1 : NULL;
                if (qr_format_parse(fmtname, &fmt) != 0) /* checked before enrolling */
                        fmt = QR_FORMAT_TERMINAL;
        } else {
                (void)snprintf(fmtname, sizeof(fmtname), "terminal");
        }
        if (want_qr && file != NULL) {
                ex = write_qr_file(c, file, uri, fmt);
                if (ex != EX_DONE)
                        goto out;
        }

        if (c->json) {
                json_result(c);
                json_key(&c->j, "status");
                json_str(&c->j, "pending");
                json_key(&c->j, "was_enabled");
                json_bool(&c->j, was_enabled);
                json_key(&c->j, "issuer");
                json_str(&c->j, issuer);
                json_key(&c->j, "secret");
                json_str(&c->j, rec->secret);
                json_key(&c->j, "digits");
                json_int(&c->j, rec->digits);
                json_key(&c->j, "period");
                json_int(&c->j, rec->period);
                json_key(&c->j, "uri");
                json_str(&c->j, uri);
                json_key(&c->j, "qr");
                if (!want_qr) {
                        json_null(&c->j);
                } else {
                        json_obj_begin(&c->j);
                        json_key(&c->j, "format");
                        json_str(&c->j, fmtname);
                        if (file != NULL) {
                                json_key(&c->j, "file");
                                json_str(&c->j, file);
                        } else if (qr_render_mem(uri, fmt, &img, &imglen) == 0) {
                                static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn"
                                                          "opqrstuvwxyz0123456789+/";
                                size_t i, o = 0;
                                char *enc;

                                json_key(&c->j, fmt == QR_FORMAT_PNG ? "base64" : "data");
                                if (fmt != QR_FORMAT_PNG) {
                                        enc = malloc(imglen + 1);
                                        if (enc != NULL) {
                                                memcpy(enc, img, imglen);
                                                enc[imglen] = '\0';
                                        }
                                } else {
                                        enc = malloc(4 * ((imglen + 2) / 3) + 1);
                                        for (i = 0; enc != NULL && i < imglen; i += 3) {
                                                unsigned v = (unsigned)img[i] << 16;

                                                if (i + 1 < imglen)
                                                        v |= (unsigned)img[i + 1] << 8;
                                                if (i + 2 < imglen)
                                                        v |= img[i + 2];
                                                enc[o++] = b64[(v >> 18) & 63];
                                                enc[o++] = b64[(v >> 12) & 63];
                                                enc[o++] =
                                                    i + 1 < imglen ? b64[(v >> 6) & 63] : '=';
                                                enc[o++] = i + 2 < imglen ? b64[v & 63] : '=';
                                        }
                                        if (enc != NULL)
                                                enc[o] = '\0';
                                }
                                json_str(&c->j, enc);
                                free(enc);
                        } else {
                                json_key(&c->j, fmt == QR_FORMAT_PNG ? "base64" : "data");
                                json_null(&c->j);
                        }
                        json_obj_end(&c->j);
                }
                json_obj_end(&c->j);
                json_end(&c->j);
                goto out;
        }

        /* Text: an image without a file goes alone to stdout, the words to stderr. */
        if (want_qr && file == NULL && fmt != QR_FORMAT_TERMINAL) {
                if (qr_render(stdout, uri, fmt) != 0)
                        ex = fail(c, EX_STORE, "qr", "cannot draw the QR code");
                fprintf(stderr, "%s\n", uri);
                goto out;
        }
        printf("Enrolling %s (2FA stays off until the challenge code is confirmed).\n", c->user);
        if (was_enabled)
                printf("WARNING: 2FA was enabled for %s; it is OFF until the new secret is "
                       "confirmed.\n",
                       c->user);
        putchar('\n');
        if (want_qr && file == NULL && qr_render(stdout, uri, QR_FORMAT_TERMINAL) != 0)
                fputs("(the QR code could not be drawn; use the URI below)\n", stdout);
        if (want_qr && file != NULL)
                printf("QR code written to %s\n", file);
        printf("\n%s with Authy, Google Authenticator or any TOTP app:\n",
               want_qr ? "Scan the QR code, or enter this URI,"
                       : "Enter this URI (or a QR code made from it)");
        printf("%s\n\n", uri);
        printf("Then confirm with the code the app shows:  mailotp confirm %s CODE\n", c->user);
out:
        if (img != NULL)
                secure_freezero(img, imglen + 1);
        secure_memzero(uri, sizeof(uri));
        return ex;
}

static int cmd_enroll(struct cli *c)
{
        struct otp_record rec, old;
        struct store_lock *lk = NULL;
        unsigned char skey[MAC_KEY_LEN];
        enum mailotp_rc rc;
        int ex, was_enabled;
        const char *qr_path = NULL;

        record_wipe(&rec);
        if (c->qr_spec != NULL && c->no_qr)
                return fail(c, EX_USAGE, "usage", "--qr and --no-qr exclude each other");
        if (c->qr_spec != NULL) {
                enum qr_format f;
                char name[16];
                const char *colon = strchr(c->qr_spec, ':');
                size_t n = colon != NULL ? (size_t)(colon - c->qr_spec) : strlen(c->qr_spec);

                (void)snprintf(name, sizeof(name), "%.*s", (int)(n < 15 ? n : 15), c->qr_spec);
                if (strcmp(name, "none") == 0) {
                        c->no_qr = true;
                        c->qr_spec = NULL;
                        if (colon != NULL)
                                return fail(c, EX_USAGE, "usage", "--qr none takes no FILE");
                } else if (n >= sizeof(name) || qr_format_parse(name, &f) != 0) {
                        return fail(c, EX_USAGE, "usage",
                                    "--qr takes terminal, svg, png or none, optionally :FILE");
                } else if (colon != NULL && colon[1] != '\0') {
                        qr_path = colon + 1;
                        ex = open_qr_file(c, qr_path);
                        if (ex != EX_DONE)
                                return ex;
                }
        }
        ex = lock_user(c, &lk);
        if (ex != EX_DONE) {
                drop_qr_file(c, qr_path);
                return ex;
        }
        rc = store_record_load(c->st, c->key, &old, c->err, sizeof(c->err));
        was_enabled = rc == MAILOTP_OK && old.status == OTP_STATUS_ENABLED;
        record_wipe(&old);
        if (was_enabled && !c->force) {
                ex = fail(c, EX_STATE, "already-enabled",
                          "%s already has 2FA enabled; disable it first (mailotp disable), or "
                          "re-enroll with --force",
                          c->user);
                goto out;
        }
        if (rc != MAILOTP_OK && rc != MAILOTP_ERR_NOT_FOUND && !c->force) {
                ex = store_fail(c, rc, "existing record (use --force to replace it)");
                goto out;
        }
        c->err[0] = '\0';
        /* The server key (for recovery codes, app passwords, reuse grace) exists from now on. */
        rc = store_server_key(c->st, 1, skey, c->err, sizeof(c->err));
        secure_memzero(skey, sizeof(skey));
        if (rc != MAILOTP_OK) {
                ex = store_fail(c, rc, "server key");
                goto out;
        }
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
        ex = show_enrollment(c, &rec, was_enabled);
out:
        if (ex != EX_DONE)
                drop_qr_file(c, qr_path);
        record_wipe(&rec);
        store_unlock(c->st, lk);
        return ex;
}

/* ---- confirm, disable, status, unlock --------------------------------- */

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
        code[0] = '\0';
        ex = lock_user(c, &lk);
        if (ex != EX_DONE)
                return ex;
        rc = store_record_load(c->st, c->key, &rec, c->err, sizeof(c->err));
        if (rc == MAILOTP_ERR_NOT_FOUND) {
                ex = fail(c, EX_STATE, "not-enrolled", "%s is not enrolled; run: mailotp enroll %s",
                          c->user, c->user);
                goto out;
        }
        if (rc != MAILOTP_OK) {
                ex = store_fail(c, rc, "record");
                goto out;
        }
        if (rec.status == OTP_STATUS_ENABLED) {
                ex = fail(c, EX_STATE, "already-enabled", "2FA is already enabled for %s", c->user);
                goto out;
        }
        if (normalise_code(code_arg, rec.digits, code, sizeof(code)) != 0) {
                ex = fail(c, EX_USAGE, "bad-code-format", "the code must be %u digits", rec.digits);
                goto out;
        }
        rc = totp_secret_decode(rec.secret, &secret, &secret_len);
        if (rc == MAILOTP_OK)
                rc = totp_verify(secret, secret_len, code, rec.digits, (int64_t)time(NULL),
                                 rec.period, c->opts.window, 0, 0, &step);
        secure_freezero(secret, secret_len);
        if (rc == MAILOTP_ERR_MISMATCH) {
                ex = fail(c, EX_REFUSED, "wrong-code",
                          "that code is not valid now; 2FA stays pending for %s. Wait for a "
                          "fresh code in the app and try again.",
                          c->user);
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
        if (c->json) {
                json_result(c);
                json_key(&c->j, "status");
                json_str(&c->j, "enabled");
                json_key(&c->j, "enabled");
                json_time(&c->j, rec.enabled);
                json_obj_end(&c->j);
                json_end(&c->j);
        } else {
                printf("2FA is now enabled for %s: log in with the password followed by the "
                       "code.\n",
                       c->user);
        }
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
        ex = lock_user(c, &lk);
        if (ex != EX_DONE)
                return ex;
        rc = store_record_load(c->st, c->key, &rec, c->err, sizeof(c->err));
        if (rc == MAILOTP_ERR_NOT_FOUND) {
                ex = fail(c, EX_STATE, "not-enrolled", "2FA is not enabled for %s", c->user);
                goto out;
        }
        if (rc != MAILOTP_OK && !c->force) {
                ex = store_fail(c, rc, "record (an administrator can use --force)");
                goto out;
        }
        if (rc == MAILOTP_OK && rec.status == OTP_STATUS_ENABLED && !c->force) {
                if (code_arg == NULL) {
                        ex = fail(c, EX_USAGE, "code-required",
                                  "disabling 2FA needs a current code: mailotp disable %s CODE",
                                  c->user);
                        goto out;
                }
                if (normalise_code(code_arg, rec.digits, code, sizeof(code)) != 0) {
                        ex = fail(c, EX_USAGE, "bad-code-format", "the code must be %u digits",
                                  rec.digits);
                        goto out;
                }
                auth_policy_from_opts(&pol, &c->opts);
                rc = auth_verify_code_locked(c->st, c->key, &rec, code, (int64_t)time(NULL), &pol,
                                             &ao, c->err, sizeof(c->err));
                if (rc == MAILOTP_ERR_LOCKED) {
                        ex = fail(c, EX_REFUSED, "locked-out",
                                  "too many wrong codes for %s; try again after the back-off",
                                  c->user);
                        goto out;
                }
                if (rc == MAILOTP_ERR_MISMATCH || rc == MAILOTP_ERR_REPLAY) {
                        ex = fail(c, EX_REFUSED, mailotp_strerror(rc),
                                  "that code is not valid (%s); 2FA stays enabled for %s",
                                  mailotp_strerror(rc), c->user);
                        goto out;
                }
                if (rc != MAILOTP_OK) {
                        ex = store_fail(c, rc, "checking the code");
                        goto out;
                }
        }
        rc = store_user_delete(c->st, c->key, c->err, sizeof(c->err));
        if (rc != MAILOTP_OK) {
                ex = store_fail(c, rc, "removing the record");
                goto out;
        }
        if (c->json) {
                json_result(c);
                json_key(&c->j, "status");
                json_str(&c->j, "disabled");
                json_obj_end(&c->j);
                json_end(&c->j);
        } else {
                printf("2FA is now disabled for %s: log in with the password alone.\n", c->user);
        }
        ex = EX_DONE;
out:
        secure_memzero(code, sizeof(code));
        record_wipe(&rec);
        store_unlock(c->st, lk);
        return ex;
}

/* What status reports, gathered before printing in either form. */
struct status_info {
        int enrolled, enabled, state_ok, state_missing;
        int64_t created, enabled_at;
        struct otp_state s;
        long app_passwords;
        long recovery_left; /* -1: none generated */
};

static int cmd_status(struct cli *c)
{
        struct status_info si;
        struct otp_record rec;
        struct apppw_list *al;
        struct recovery_list rl;
        char t1[64], t2[64];
        enum mailotp_rc rc;
        int64_t now = (int64_t)time(NULL);

        memset(&si, 0, sizeof(si));
        si.recovery_left = -1;
        rc = store_record_load(c->st, c->key, &rec, c->err, sizeof(c->err));
        if (rc != MAILOTP_OK && rc != MAILOTP_ERR_NOT_FOUND)
                return store_fail(c, rc, "record");
        if (rc == MAILOTP_OK) {
                si.enrolled = 1;
                si.enabled = rec.status == OTP_STATUS_ENABLED;
                si.created = rec.created;
                si.enabled_at = rec.enabled;
        }
        record_wipe(&rec);
        if (si.enabled) {
                rc = store_state_load(c->st, c->key, &si.s, c->err, sizeof(c->err));
                if (rc == MAILOTP_ERR_NOT_FOUND)
                        si.state_missing = 1;
                else if (rc != MAILOTP_OK)
                        return store_fail(c, rc, "state");
                else
                        si.state_ok = 1;
        }
        al = malloc(sizeof(*al));
        if (al == NULL)
                return store_fail(c, MAILOTP_ERR_NOMEM, "app passwords");
        rc = store_apppw_load(c->st, c->key, al, c->err, sizeof(c->err));
        si.app_passwords = rc == MAILOTP_OK ? (long)al->n : 0;
        free(al);
        if (rc != MAILOTP_OK && rc != MAILOTP_ERR_NOT_FOUND)
                return store_fail(c, rc, "app passwords");
        rc = store_recovery_load(c->st, c->key, &rl, c->err, sizeof(c->err));
        if (rc == MAILOTP_OK)
                si.recovery_left = (long)rl.n;
        else if (rc != MAILOTP_ERR_NOT_FOUND)
                return store_fail(c, rc, "recovery codes");

        if (c->json) {
                json_result(c);
                json_key(&c->j, "status");
                json_str(&c->j, si.enabled ? "enabled" : si.enrolled ? "pending" : "disabled");
                json_key(&c->j, "created");
                json_time(&c->j, si.enrolled ? si.created : 0);
                json_key(&c->j, "enabled");
                json_time(&c->j, si.enabled ? si.enabled_at : 0);
                json_key(&c->j, "state");
                json_str(&c->j, si.state_ok ? "ok" : si.state_missing ? "missing" : NULL);
                json_key(&c->j, "failures");
                json_int(&c->j, si.state_ok ? si.s.failures : 0);
                json_key(&c->j, "locked");
                json_bool(&c->j, si.state_ok && si.s.locked_until > now);
                json_key(&c->j, "locked_until");
                json_time(&c->j, si.state_ok && si.s.locked_until > now ? si.s.locked_until : 0);
                json_key(&c->j, "last_success");
                json_time(&c->j, si.state_ok ? si.s.last_success : 0);
                json_key(&c->j, "last_failure");
                json_time(&c->j, si.state_ok ? si.s.last_failure : 0);
                json_key(&c->j, "app_passwords");
                json_int(&c->j, si.app_passwords);
                json_key(&c->j, "recovery_codes_left");
                if (si.recovery_left < 0)
                        json_null(&c->j);
                else
                        json_int(&c->j, si.recovery_left);
                json_obj_end(&c->j);
                json_end(&c->j);
                return EX_DONE;
        }
        printf("user: %s\nstatus: %s\n", c->user,
               si.enabled    ? "enabled"
               : si.enrolled ? "pending"
                             : "disabled");
        if (si.enrolled) {
                format_time(si.created, t1, sizeof(t1));
                printf("enrolled: %s\n", t1);
        }
        if (si.enabled) {
                format_time(si.enabled_at, t1, sizeof(t1));
                printf("enabled: %s\n", t1);
        }
        if (si.state_missing)
                printf("state: missing (logins fail closed; run: mailotp unlock %s)\n", c->user);
        if (si.state_ok) {
                printf("failures: %u\n", si.s.failures);
                if (si.s.locked_until > now) {
                        format_time(si.s.locked_until, t1, sizeof(t1));
                        printf("locked: until %s\n", t1);
                } else {
                        printf("locked: no\n");
                }
                format_time(si.s.last_success, t1, sizeof(t1));
                format_time(si.s.last_failure, t2, sizeof(t2));
                printf("last success: %s\nlast failure: %s\n", t1, t2);
        }
        printf("app passwords: %ld\n", si.app_passwords);
        if (si.recovery_left >= 0)
                printf("recovery codes left: %ld\n", si.recovery_left);
        return EX_DONE;
}

static int cmd_unlock(struct cli *c)
{
        struct otp_record rec;
        struct otp_state s;
        struct store_lock *lk = NULL;
        enum mailotp_rc rc;
        int ex, fresh = 0;

        ex = lock_user(c, &lk);
        if (ex != EX_DONE)
                return ex;
        rc = store_record_load(c->st, c->key, &rec, c->err, sizeof(c->err));
        record_wipe(&rec);
        if (rc != MAILOTP_OK) {
                ex = rc == MAILOTP_ERR_NOT_FOUND
                         ? fail(c, EX_STATE, "not-enrolled", "%s is not enrolled", c->user)
                         : store_fail(c, rc, "record");
                goto out;
        }
        rc = store_state_load(c->st, c->key, &s, c->err, sizeof(c->err));
        if (rc == MAILOTP_ERR_NOT_FOUND || (rc == MAILOTP_ERR_FORMAT && c->force)) {
                /*
                 * Lost state, or (--force) an unreadable one: no code of this
                 * step or earlier may be used again.
                 */
                state_init(&s);
                s.has_last_step = 1;
                s.last_step = totp_step((int64_t)time(NULL), TOTP_PERIOD);
                fresh = 1;
        } else if (rc != MAILOTP_OK) {
                ex = store_fail(c, rc,
                                rc == MAILOTP_ERR_FORMAT
                                    ? "state (rebuild it with: mailotp unlock --force USER)"
                                    : "state");
                goto out;
        }
        s.failures = 0;
        s.locked_until = 0;
        rc = store_state_save(c->st, c->key, &s, c->err, sizeof(c->err));
        if (rc != MAILOTP_OK) {
                ex = store_fail(c, rc, "saving the state");
                goto out;
        }
        if (c->json) {
                json_result(c);
                json_key(&c->j, "failures");
                json_int(&c->j, 0);
                json_key(&c->j, "state_rebuilt");
                json_bool(&c->j, fresh);
                json_obj_end(&c->j);
                json_end(&c->j);
        } else {
                printf("%s: failure count cleared%s\n", c->user,
                       fresh ? "; state rebuilt (codes up to now cannot be reused)" : "");
        }
        ex = EX_DONE;
out:
        store_unlock(c->st, lk);
        return ex;
}

/* ---- application passwords -------------------------------------------- */

static void json_services(struct json *j, const char *services)
{
        char buf[APPPW_SERVICES_MAX + 1], *save = NULL, *tok;

        json_arr_begin(j);
        (void)snprintf(buf, sizeof(buf), "%s", services);
        for (tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save))
                json_str(j, tok);
        json_arr_end(j);
}

static int cmd_app_add(struct cli *c, const char *name)
{
        struct apppw_list *l = NULL;
        struct apppw_entry *e;
        struct store_lock *lk = NULL;
        unsigned char skey[MAC_KEY_LEN];
        char pw[APPPW_TYPED_MAX + 1], letters[APPPW_LETTERS + 1], services[APPPW_SERVICES_MAX + 1];
        uint64_t days = 0;
        enum mailotp_rc rc;
        int64_t now = (int64_t)time(NULL);
        int ex;

        pw[0] = letters[0] = '\0';
        if (!apppw_name_valid(name))
                return fail(c, EX_USAGE, "bad-name",
                            "the name must be 1 to %u characters of A-Z a-z 0-9 . _ - "
                            "(not starting with -)",
                            APPPW_NAME_MAX);
        if (apppw_services_parse(c->services != NULL ? c->services : "*", services,
                                 sizeof(services), c->err, sizeof(c->err)) != 0)
                return fail(c, EX_USAGE, "bad-services", "--services: %s", c->err);
        if (c->expires != NULL &&
            kv_parse_u64(c->expires, strlen(c->expires), 1, 3650, &days) != MAILOTP_OK)
                return fail(c, EX_USAGE, "bad-expires", "--expires takes 1 to 3650 days");
        l = malloc(sizeof(*l));
        if (l == NULL)
                return store_fail(c, MAILOTP_ERR_NOMEM, "app passwords");
        ex = lock_user(c, &lk);
        if (ex != EX_DONE)
                goto out;
        rc = store_apppw_load(c->st, c->key, l, c->err, sizeof(c->err));
        if (rc == MAILOTP_ERR_NOT_FOUND) {
                memset(l, 0, sizeof(*l));
        } else if (rc != MAILOTP_OK) {
                ex = store_fail(c, rc, "app passwords");
                goto out;
        }
        if (apppw_find_name(l, name) >= 0) {
                ex = fail(c, EX_STATE, "name-exists",
                          "%s already has an app password called %s (revoke it first)", c->user,
                          name);
                goto out;
        }
        if (l->n >= APPPW_MAX) {
                ex = fail(c, EX_STATE, "too-many", "%s already has %u app passwords", c->user,
                          APPPW_MAX);
                goto out;
        }
        c->err[0] = '\0';
        rc = store_server_key(c->st, 1, skey, c->err, sizeof(c->err));
        if (rc == MAILOTP_OK)
                rc = words_generate(5, 4, pw, sizeof(pw));
        if (rc == MAILOTP_OK &&
            words_normalise(pw, strlen(pw), APPPW_LETTERS, letters, sizeof(letters)) != 0)
                rc = MAILOTP_ERR_CRYPTO;
        e = &l->e[l->n];
        memset(e, 0, sizeof(*e));
        if (rc == MAILOTP_OK)
                rc = apppw_hash(skey, c->key, letters, e->hash, c->err, sizeof(c->err));
        secure_memzero(skey, sizeof(skey));
        if (rc != MAILOTP_OK) {
                ex = store_fail(c, rc, "making the password");
                goto out;
        }
        (void)snprintf(e->name, sizeof(e->name), "%s", name);
        (void)snprintf(e->services, sizeof(e->services), "%s", services);
        e->created = now;
        e->expires = days > 0 ? now + (int64_t)days * 86400 : 0;
        l->n++;
        rc = store_apppw_save(c->st, c->key, l, c->err, sizeof(c->err));
        if (rc != MAILOTP_OK) {
                ex = store_fail(c, rc, "saving the app password");
                goto out;
        }
        if (c->json) {
                json_result(c);
                json_key(&c->j, "name");
                json_str(&c->j, e->name);
                json_key(&c->j, "services");
                json_services(&c->j, e->services);
                json_key(&c->j, "created");
                json_time(&c->j, e->created);
                json_key(&c->j, "expires");
                json_time(&c->j, e->expires);
                json_key(&c->j, "password");
                json_str(&c->j, pw);
                json_obj_end(&c->j);
                json_end(&c->j);
        } else {
                char t[64];

                format_time(e->expires, t, sizeof(t));
                printf("App password \"%s\" for %s (services: %s, expires: %s).\n"
                       "It is shown this once; type it instead of the password (and code) in "
                       "the mail client:\n%s\n",
                       e->name, c->user, strcmp(e->services, "*") == 0 ? "all" : e->services,
                       e->expires > 0 ? t : "never", pw);
        }
        ex = EX_DONE;
out:
        secure_memzero(pw, sizeof(pw));
        secure_memzero(letters, sizeof(letters));
        store_unlock(c->st, lk);
        if (l != NULL)
                secure_freezero(l, sizeof(*l));
        return ex;
}

static int cmd_app_list(struct cli *c)
{
        struct apppw_list *l = malloc(sizeof(*l));
        enum mailotp_rc rc;
        int64_t now = (int64_t)time(NULL);
        size_t i;

        if (l == NULL)
                return store_fail(c, MAILOTP_ERR_NOMEM, "app passwords");
        rc = store_apppw_load(c->st, c->key, l, c->err, sizeof(c->err));
        if (rc == MAILOTP_ERR_NOT_FOUND) {
                memset(l, 0, sizeof(*l));
        } else if (rc != MAILOTP_OK) {
                free(l);
                return store_fail(c, rc, "app passwords");
        }
        if (c->json) {
                json_result(c);
                json_key(&c->j, "app_passwords");
                json_arr_begin(&c->j);
                for (i = 0; i < l->n; i++) {
                        const struct apppw_entry *e = &l->e[i];

                        json_obj_begin(&c->j);
                        json_key(&c->j, "name");
                        json_str(&c->j, e->name);
                        json_key(&c->j, "services");
                        json_services(&c->j, e->services);
                        json_key(&c->j, "created");
                        json_time(&c->j, e->created);
                        json_key(&c->j, "expires");
                        json_time(&c->j, e->expires);
                        json_key(&c->j, "expired");
                        json_bool(&c->j, e->expires != 0 && e->expires <= now);
                        json_key(&c->j, "last_used");
                        json_time(&c->j, e->last_used);
                        json_key(&c->j, "last_service");
                        json_str(&c->j, e->last_used > 0 && strcmp(e->last_service, "-") != 0
                                            ? e->last_service
                                            : NULL);
                        json_key(&c->j, "last_rhost");
                        json_str(&c->j, e->last_used > 0 && strcmp(e->last_rhost, "-") != 0
                                            ? e->last_rhost
                                            : NULL);
                        json_obj_end(&c->j);
                }
                json_arr_end(&c->j);
                json_obj_end(&c->j);
                json_end(&c->j);
        } else {
                if (l->n == 0)
                        printf("%s has no app passwords\n", c->user);
                for (i = 0; i < l->n; i++) {
                        const struct apppw_entry *e = &l->e[i];
                        char t1[64], t2[64], t3[64];

                        format_time(e->created, t1, sizeof(t1));
                        format_time(e->expires, t2, sizeof(t2));
                        format_time(e->last_used, t3, sizeof(t3));
                        printf("%s\n  services: %s\n  created: %s\n  expires: %s%s\n"
                               "  last used: %s",
                               e->name, strcmp(e->services, "*") == 0 ? "all" : e->services, t1,
                               e->expires > 0 ? t2 : "never",
                               e->expires != 0 && e->expires <= now ? " (expired)" : "", t3);
                        if (e->last_used > 0)
                                printf(" (%s from %s)", e->last_service, e->last_rhost);
                        putchar('\n');
                }
        }
        free(l);
        return EX_DONE;
}

static int cmd_app_revoke(struct cli *c, const char *name)
{
        struct apppw_list *l = malloc(sizeof(*l));
        struct store_lock *lk = NULL;
        enum mailotp_rc rc;
        int ex, idx;

        if (l == NULL)
                return store_fail(c, MAILOTP_ERR_NOMEM, "app passwords");
        ex = lock_user(c, &lk);
        if (ex != EX_DONE)
                goto out;
        rc = store_apppw_load(c->st, c->key, l, c->err, sizeof(c->err));
        if (rc != MAILOTP_OK && rc != MAILOTP_ERR_NOT_FOUND) {
                ex = store_fail(c, rc, "app passwords");
                goto out;
        }
        idx = rc == MAILOTP_OK ? apppw_find_name(l, name) : -1;
        if (idx < 0) {
                ex = fail(c, EX_STATE, "no-such-name", "%s has no app password called %s", c->user,
                          name);
                goto out;
        }
        memmove(&l->e[idx], &l->e[idx + 1], (l->n - (size_t)idx - 1) * sizeof(l->e[0]));
        l->n--;
        rc = store_apppw_save(c->st, c->key, l, c->err, sizeof(c->err));
        if (rc != MAILOTP_OK) {
                ex = store_fail(c, rc, "saving the app passwords");
                goto out;
        }
        if (c->json) {
                json_result(c);
                json_key(&c->j, "name");
                json_str(&c->j, name);
                json_key(&c->j, "revoked");
                json_bool(&c->j, 1);
                json_obj_end(&c->j);
                json_end(&c->j);
        } else {
                printf("App password \"%s\" of %s revoked: it no longer logs in.\n", name, c->user);
        }
        ex = EX_DONE;
out:
        store_unlock(c->st, lk);
        secure_freezero(l, sizeof(*l));
        return ex;
}

/* ---- recovery codes, last logins --------------------------------------- */

static int cmd_recovery(struct cli *c)
{
        struct recovery_list rl;
        struct otp_record rec;
        struct store_lock *lk = NULL;
        unsigned char skey[MAC_KEY_LEN];
        char codes[RECOVERY_COUNT][RECOVERY_TYPED + 1], letters[RECOVERY_LETTERS + 1];
        enum mailotp_rc rc;
        size_t i;
        int ex;

        memset(&rl, 0, sizeof(rl));
        memset(codes, 0, sizeof(codes));
        ex = lock_user(c, &lk);
        if (ex != EX_DONE)
                return ex;
        rc = store_record_load(c->st, c->key, &rec, c->err, sizeof(c->err));
        record_wipe(&rec);
        if (rc == MAILOTP_ERR_NOT_FOUND) {
                ex = fail(c, EX_STATE, "not-enrolled",
                          "%s has no 2FA; recovery codes stand in for its codes", c->user);
                goto out;
        }
        if (rc != MAILOTP_OK) {
                ex = store_fail(c, rc, "record");
                goto out;
        }
        c->err[0] = '\0';
        rc = store_server_key(c->st, 1, skey, c->err, sizeof(c->err));
        for (i = 0; rc == MAILOTP_OK && i < RECOVERY_COUNT; i++) {
                rc = words_generate(2, 5, codes[i], sizeof(codes[i]));
                if (rc == MAILOTP_OK &&
                    words_normalise(codes[i], strlen(codes[i]), RECOVERY_LETTERS, letters,
                                    sizeof(letters)) != 0)
                        rc = MAILOTP_ERR_CRYPTO;
                if (rc == MAILOTP_OK)
                        rc = recovery_hash(skey, c->key, letters, rl.hash[i], c->err,
                                           sizeof(c->err));
        }
        secure_memzero(skey, sizeof(skey));
        secure_memzero(letters, sizeof(letters));
        if (rc != MAILOTP_OK) {
                ex = store_fail(c, rc, "making recovery codes");
                goto out;
        }
        rl.n = RECOVERY_COUNT;
        rl.created = (int64_t)time(NULL);
        /* Replaces every earlier code at once. */
        rc = store_recovery_save(c->st, c->key, &rl, c->err, sizeof(c->err));
        if (rc != MAILOTP_OK) {
                ex = store_fail(c, rc, "saving recovery codes");
                goto out;
        }
        if (c->json) {
                json_result(c);
                json_key(&c->j, "created");
                json_time(&c->j, rl.created);
                json_key(&c->j, "codes");
                json_arr_begin(&c->j);
                for (i = 0; i < RECOVERY_COUNT; i++)
                        json_str(&c->j, codes[i]);
                json_arr_end(&c->j);
                json_obj_end(&c->j);
                json_end(&c->j);
        } else {
                printf("Recovery codes for %s (each works once, in place of the 6-digit code; "
                       "earlier codes no longer work).\nThey are shown this once:\n",
                       c->user);
                for (i = 0; i < RECOVERY_COUNT; i++)
                        printf("  %s\n", codes[i]);
        }
        ex = EX_DONE;
out:
        secure_memzero(codes, sizeof(codes));
        store_unlock(c->st, lk);
        return ex;
}

static int cmd_last(struct cli *c)
{
        struct lastlog *l = malloc(sizeof(*l));
        struct store_lock *lk = NULL;
        enum mailotp_rc rc;
        size_t i;

        if (l == NULL)
                return store_fail(c, MAILOTP_ERR_NOMEM, "last logins");
        /*
         * Under the lock no entry is seen while it moves from the user file
         * to the log; when the lock is busy, read anyway (such an entry can
         * then show twice).
         */
        (void)store_lock(c->st, c->key, c->opts.lock_timeout * 1000U, &lk, c->err, sizeof(c->err));
        c->err[0] = '\0';
        rc = store_lastlog_load(c->st, c->key, l, c->err, sizeof(c->err));
        store_unlock(c->st, lk);
        if (rc == MAILOTP_ERR_NOT_FOUND) {
                l->n = 0;
        } else if (rc != MAILOTP_OK) {
                free(l);
                return store_fail(c, rc, "last logins");
        }
        if (c->json) {
                json_result(c);
                json_key(&c->j, "logins");
                json_arr_begin(&c->j);
        } else if (l->n == 0) {
                printf("no logins recorded for %s\n", c->user);
        }
        for (i = l->n; i-- > 0;) { /* newest first */
                const struct lastlog_event *ev = &l->ev[i];
                const char *m = strcmp(ev->method, "-") == 0 ? NULL : ev->method;

                if (c->json) {
                        json_obj_begin(&c->j);
                        json_key(&c->j, "time");
                        json_time(&c->j, ev->time);
                        json_key(&c->j, "result");
                        json_str(&c->j, ev->result);
                        json_key(&c->j, "method");
                        json_str(&c->j, m);
                        json_key(&c->j, "service");
                        json_str(&c->j, strcmp(ev->service, "-") == 0 ? NULL : ev->service);
                        json_key(&c->j, "rhost");
                        json_str(&c->j, strcmp(ev->rhost, "-") == 0 ? NULL : ev->rhost);
                        json_key(&c->j, "reason");
                        json_str(&c->j, ev->reason);
                        json_obj_end(&c->j);
                } else {
                        char t[64];

                        format_time(ev->time, t, sizeof(t));
                        printf("%s  %-7s  %-8s %-15s %-24s %s\n", t, ev->result, ev->service,
                               ev->rhost, ev->method, ev->reason);
                }
        }
        if (c->json) {
                json_arr_end(&c->j);
                json_key(&c->j, "skipped");
                json_int(&c->j, (int64_t)l->skipped);
                json_obj_end(&c->j);
                json_end(&c->j);
        } else if (l->skipped > 0) {
                /* Lines cut short by a crash or damaged: said, not silently dropped. */
                fprintf(stderr, "mailotp: %zu damaged entr%s of the log skipped\n", l->skipped,
                        l->skipped == 1 ? "y" : "ies");
        }
        free(l);
        return EX_DONE;
}

/* ---- main -------------------------------------------------------------- */

static void usage(FILE *out)
{
        fputs("usage: mailotp [--dir DIR] [--conf FILE] [--json] VERB ARGS\n"
              "  enroll USER [--force] [--qr FORMAT[:FILE]] [--no-qr]\n"
              "                       make a secret; show QR (terminal, svg, png) and URI\n"
              "  confirm USER CODE    enable 2FA with the app's current code (the challenge)\n"
              "  disable USER CODE    disable 2FA (needs a current code)\n"
              "  disable --force USER disable 2FA without a code (administrator)\n"
              "  status USER          disabled, pending or enabled; lockout; counts\n"
              "  unlock USER [--force] clear the wrong-code count and back-off (--force:\n"
              "                       also rebuild an unreadable state)\n"
              "  app-password add USER NAME [--services LIST] [--expires DAYS]\n"
              "  app-password list USER\n"
              "  app-password revoke USER NAME\n"
              "  recovery-codes USER  make 10 single-use recovery codes (replaces old ones)\n"
              "  last USER            the newest login outcomes\n"
              "  doctor [--pamdir DIR] [--doveconf FILE] [SERVICE...]\n"
              "                       check PAM stacks, Dovecot, the store and the clock\n"
              "exit: 0 done, 1 code refused, 2 usage, 3 wrong state, 4 store error\n",
              out);
}

struct verb {
        const char *name;
        const char *sub;          /* app-password's second word, or NULL */
        int nargs_min, nargs_max; /* after USER */
        unsigned flags;
};

#define V_FORCE   1U
#define V_QR      2U
#define V_APPOPTS 4U
#define V_DOCTOR  8U

static const struct verb verbs[] = {
    {"enroll", NULL, 0, 0, V_FORCE | V_QR}, {"confirm", NULL, 1, 1, 0},
    {"disable", NULL, 0, 1, V_FORCE},       {"status", NULL, 0, 0, 0},
    {"unlock", NULL, 0, 0, V_FORCE},        {"app-password", "add", 1, 1, V_APPOPTS},
    {"app-password", "list", 0, 0, 0},      {"app-password", "revoke", 1, 1, 0},
    {"recovery-codes", NULL, 0, 0, 0},      {"last", NULL, 0, 0, 0},
};

int main(int argc, char **argv)
{
        static const struct option longopts[] = {
            {"dir", required_argument, NULL, 'd'},
            {"conf", required_argument, NULL, 'c'},
            {"json", no_argument, NULL, 'j'},
            {"force", no_argument, NULL, 'f'},
            {"no-qr", no_argument, NULL, 'n'},
            {"qr", required_argument, NULL, 'q'},
            {"services", required_argument, NULL, 's'},
            {"expires", required_argument, NULL, 'e'},
            {"pamdir", required_argument, NULL, 'p'},
            {"doveconf", required_argument, NULL, 'D'},
            {"help", no_argument, NULL, 'h'},
            {"version", no_argument, NULL, 'V'},
            {NULL, 0, NULL, 0},
        };
        struct cli c;
        char dir_arg[MAILOTP_PATH_MAX + 8], conf_arg[MAILOTP_PATH_MAX + 8];
        const char *words[2];
        const struct verb *v = NULL;
        int nwords = 0, opt, ex, pos, npos;
        unsigned used = 0;
        const char *arg1;
        enum mailotp_rc rc;
        size_t i;

        memset(&c, 0, sizeof(c));
        c.qr_fd = -1;
        for (i = 1; i < (size_t)argc; i++) { /* errors before getopt must know --json */
                if (strcmp(argv[i], "--json") == 0)
                        c.json = true;
        }
        opterr = 0;
        while ((opt = getopt_long(argc, argv, "d:c:jfnq:s:e:p:D:hV", longopts, NULL)) != -1) {
                switch (opt) {
                case 'd':
                case 'c':
                        if (nwords >= 2 ||
                            snprintf(opt == 'd' ? dir_arg : conf_arg, sizeof(dir_arg), "%s=%s",
                                     opt == 'd' ? "dir" : "conf", optarg) >= (int)sizeof(dir_arg))
                                return fail(&c, EX_USAGE, "usage",
                                            "--dir and --conf may be given once each, and "
                                            "must be shorter than %u bytes",
                                            MAILOTP_PATH_MAX);
                        words[nwords++] = opt == 'd' ? dir_arg : conf_arg;
                        break;
                case 'j':
                        c.json = true;
                        break;
                case 'f':
                        c.force = true;
                        used |= V_FORCE;
                        break;
                case 'n':
                        c.no_qr = true;
                        used |= V_QR;
                        break;
                case 'q':
                        c.qr_spec = optarg;
                        used |= V_QR;
                        break;
                case 's':
                        c.services = optarg;
                        used |= V_APPOPTS;
                        break;
                case 'e':
                        c.expires = optarg;
                        used |= V_APPOPTS;
                        break;
                case 'p':
                        c.pamdir = optarg;
                        used |= V_DOCTOR;
                        break;
                case 'D':
                        c.doveconf = optarg;
                        used |= V_DOCTOR;
                        break;
                case 'h':
                        usage(stdout);
                        return EX_DONE;
                case 'V':
                        printf("mailotp %s\n", MAILOTP_VERSION);
                        return EX_DONE;
                default:
                        if (!c.json)
                                usage(stderr);
                        return fail(&c, EX_USAGE, "usage", "unknown option or missing value");
                }
        }
        npos = argc - optind;
        if (npos >= 1 && strcmp(argv[optind], "doctor") == 0) {
                struct doctor_args da;

                if ((used & ~V_DOCTOR) != 0)
                        return fail(&c, EX_USAGE, "usage", "option not valid for doctor");
                opts_init(&c.opts);
                rc = config_load(&c.opts, nwords, words, geteuid(), c.err, sizeof(c.err));
                if (rc != MAILOTP_OK)
                        return fail(&c, EX_USAGE, "config", "configuration: %s", c.err);
                memset(&da, 0, sizeof(da));
                da.pamdir = c.pamdir != NULL ? c.pamdir : "/etc/pam.d";
                da.doveconf = c.doveconf;
                da.services = (const char *const *)(argv + optind + 1);
                da.nservices = npos - 1;
                da.json = c.json;
                return doctor_run(&c.opts, &da);
        }
        if ((used & V_DOCTOR) != 0)
                return fail(&c, EX_USAGE, "usage", "--pamdir and --doveconf go with doctor");
        for (i = 0; npos >= 1 && i < sizeof(verbs) / sizeof(verbs[0]); i++) {
                if (strcmp(argv[optind], verbs[i].name) != 0)
                        continue;
                if (verbs[i].sub == NULL ||
                    (npos >= 2 && strcmp(argv[optind + 1], verbs[i].sub) == 0)) {
                        v = &verbs[i];
                        break;
                }
        }
        if (v == NULL) {
                if (!c.json)
                        usage(stderr);
                return fail(&c, EX_USAGE, "usage",
                            npos == 0 ? "no verb given" : "unknown verb \"%s\"",
                            npos == 0 ? "" : argv[optind]);
        }
        pos = optind + (v->sub != NULL ? 2 : 1);
        npos = argc - pos - 1; /* arguments after USER */
        if (pos >= argc || npos < v->nargs_min || npos > v->nargs_max)
                return fail(&c, EX_USAGE, "usage", "wrong number of arguments for %s%s%s", v->name,
                            v->sub != NULL ? " " : "", v->sub != NULL ? v->sub : "");
        if ((used & ~v->flags) != 0)
                return fail(&c, EX_USAGE, "usage", "option not valid for %s", v->name);
        c.user = argv[pos];
        arg1 = npos >= 1 ? argv[pos + 1] : NULL;

        opts_init(&c.opts);
        rc = config_load(&c.opts, nwords, words, geteuid(), c.err, sizeof(c.err));
        if (rc != MAILOTP_OK)
                return fail(&c, EX_USAGE, "config", "configuration: %s", c.err);
        c.err[0] = '\0';
        if (username_to_key(c.user, c.key, sizeof(c.key), c.err, sizeof(c.err)) != MAILOTP_OK)
                return fail(&c, EX_USAGE, "invalid-username", "invalid username: %s", c.err);
        c.err[0] = '\0';
        rc = store_open_files(c.opts.dir, geteuid(), STORE_CREATE, &c.st, c.err, sizeof(c.err));
        if (rc != MAILOTP_OK)
                return store_fail(&c, rc, c.opts.dir);

        if (strcmp(v->name, "enroll") == 0)
                ex = cmd_enroll(&c);
        else if (strcmp(v->name, "confirm") == 0)
                ex = cmd_confirm(&c, arg1);
        else if (strcmp(v->name, "disable") == 0)
                ex = cmd_disable(&c, arg1);
        else if (strcmp(v->name, "status") == 0)
                ex = cmd_status(&c);
        else if (strcmp(v->name, "unlock") == 0)
                ex = cmd_unlock(&c);
        else if (strcmp(v->name, "recovery-codes") == 0)
                ex = cmd_recovery(&c);
        else if (strcmp(v->name, "last") == 0)
                ex = cmd_last(&c);
        else if (strcmp(v->sub, "add") == 0)
                ex = cmd_app_add(&c, arg1);
        else if (strcmp(v->sub, "list") == 0)
                ex = cmd_app_list(&c);
        else
                ex = cmd_app_revoke(&c, arg1);
        store_close(c.st);
        fflush(stdout);
        return ex;
}
