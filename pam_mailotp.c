/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pam_mailotp: PAM glue only.  Everything that can be got wrong lives in the
 * core (src/, totp.c, password_split.c) and is unit-tested there; this file
 * gets items from PAM, calls the core, logs one line per outcome and maps
 * core results to PAM results in exactly one switch.
 *
 * Modes (module argument):
 *   (none)  simple: split the code off, verify it, forward the bare password
 *   split   hardened, first entry: split and stash the code, forward the password
 *   verify  hardened, after the password module: verify the stashed code
 */
#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "config.h"
#include "options.h"
#include "password_split.h"
#include "record.h"
#include "secure.h"
#include "store.h"
#include "username.h"

/* Hidden visibility is the default; only the PAM entry points are exported. */
#define MAILOTP_EXPORT __attribute__((visibility("default")))

#define AUTHTOK_MAX 1024U /* longest submitted string we look at */
#define STASH_NAME  "pam_mailotp_stash"

/* What split leaves for verify: the code and whose it is. */
struct stash {
        char key[USERNAME_MAX + 1];
        char code[PWSPLIT_MAX_DIGITS + 1];
};

/* Everything one authentication call knows; lives on the stack, never global. */
struct login {
        pam_handle_t *pamh;
        struct mailotp_opts opts;
        char key[USERNAME_MAX + 1];
        char user_log[128];
        char rhost_log[80];
        const char *service;
        struct store *st;
        struct otp_record rec;
        char err[256];
};

/* One log line per outcome; fixed field order so fail2ban can match it. */
static void log_outcome(const struct login *lg, int prio, const char *result, const char *reason,
                        const struct auth_outcome *ao)
{
        char extra[96] = "";
        char detail[300] = "";

        if (ao != NULL && ao->locked_until > 0)
                (void)snprintf(extra, sizeof(extra), " failures=%u locked_until=%lld", ao->failures,
                               (long long)ao->locked_until);
        else if (ao != NULL && ao->failures > 0)
                (void)snprintf(extra, sizeof(extra), " failures=%u", ao->failures);
        if (prio == LOG_DEBUG && !lg->opts.debug)
                return;
        /* The detail can hold a store key (from the network): escape it like the user. */
        if (lg->err[0] != '\0') {
                char esc[sizeof(detail) - 12];

                text_log_escape_text(lg->err, esc, sizeof(esc));
                (void)snprintf(detail, sizeof(detail), " detail=\"%s\"", esc);
        }
        pam_syslog(lg->pamh, prio, "result=%s reason=%s user=\"%s\" service=%s rhost=%s%s%s",
                   result, reason, lg->user_log, lg->service, lg->rhost_log, extra, detail);
}

/* The one mapping of a failed core result to a PAM result. */
static int pam_result_for(enum mailotp_rc rc)
{
        switch (rc) {
        case MAILOTP_ERR_NO_CODE:
        case MAILOTP_ERR_MISMATCH:
        case MAILOTP_ERR_REPLAY:
                return PAM_AUTH_ERR;
        case MAILOTP_ERR_LOCKED:
                return PAM_MAXTRIES;
        case MAILOTP_ERR_INVALID:
                return PAM_USER_UNKNOWN;
        case MAILOTP_ERR_NOMEM:
                return PAM_BUF_ERR;
        case MAILOTP_ERR_FORMAT:
        case MAILOTP_ERR_UNSAFE_FILE:
        case MAILOTP_ERR_NOT_FOUND:
        case MAILOTP_ERR_LOCK_TIMEOUT:
        case MAILOTP_ERR_IO:
        case MAILOTP_ERR_CRYPTO:
        case MAILOTP_ERR_STATE:
                return PAM_AUTHINFO_UNAVAIL;
        case MAILOTP_OK:
                break;
        }
        return PAM_AUTH_ERR; /* never success by accident */
}

/* Log a failure and return its PAM result. */
static int fail(struct login *lg, enum mailotp_rc rc, const struct auth_outcome *ao)
{
        int pr = pam_result_for(rc);
        int prio = pr == PAM_AUTH_ERR || pr == PAM_MAXTRIES ? LOG_NOTICE : LOG_ERR;

        log_outcome(lg, prio, pr == PAM_AUTH_ERR || pr == PAM_MAXTRIES ? "failure" : "error",
                    mailotp_strerror(rc), ao);
        return pr;
}

/* Options, user, store.  PAM_SUCCESS or the PAM error to return. */
static int login_begin(struct login *lg, pam_handle_t *pamh, int argc, const char **argv)
{
        const void *item = NULL;
        const char *user = NULL;
        enum mailotp_rc rc;

        lg->pamh = pamh;
        lg->service = "-";
        memcpy(lg->user_log, "-", 2);
        memcpy(lg->rhost_log, "-", 2);
        if (pam_get_item(pamh, PAM_SERVICE, &item) == PAM_SUCCESS && item != NULL)
                lg->service = item;
        if (pam_get_item(pamh, PAM_RHOST, &item) == PAM_SUCCESS && item != NULL)
                text_log_escape(item, lg->rhost_log, sizeof(lg->rhost_log));

        opts_init(&lg->opts);
        rc = config_load(&lg->opts, argc, argv, geteuid(), lg->err, sizeof(lg->err));
        if (rc != MAILOTP_OK) {
                pam_syslog(pamh, LOG_ERR, "configuration error: %s", lg->err);
                return PAM_SERVICE_ERR;
        }
        if (pam_get_user(pamh, &user, NULL) != PAM_SUCCESS || user == NULL) {
                pam_syslog(pamh, LOG_ERR, "cannot get the username");
                return PAM_USER_UNKNOWN;
        }
        text_log_escape(user, lg->user_log, sizeof(lg->user_log));
        rc = username_to_key(user, lg->key, sizeof(lg->key), lg->err, sizeof(lg->err));
        if (rc != MAILOTP_OK)
                return fail(lg, rc, NULL);
        lg->err[0] = '\0';
        rc = store_open_files(lg->opts.dir, geteuid(), 0, &lg->st, lg->err, sizeof(lg->err));
        if (rc != MAILOTP_OK)
                return fail(lg, rc == MAILOTP_ERR_NOT_FOUND ? MAILOTP_ERR_IO : rc, NULL);
        return PAM_SUCCESS;
}

/*
 * Does this user have 2FA in force?  1 yes (lg->rec loaded), 0 no (no record
 * or still pending), -1 error: *pr holds the PAM result (fail closed).
 */
static int load_record(struct login *lg, int *pr)
{
        enum mailotp_rc rc;

        rc = store_record_load(lg->st, lg->key, &lg->rec, lg->err, sizeof(lg->err));
        if (rc == MAILOTP_ERR_NOT_FOUND ||
            (rc == MAILOTP_OK && lg->rec.status != OTP_STATUS_ENABLED)) {
                lg->err[0] = '\0';
                return 0;
        }
        if (rc != MAILOTP_OK) {
                *pr = fail(lg, rc, NULL);
                return -1;
        }
        if (lg->rec.digits != lg->opts.digits) {
                mailotp_seterr(lg->err, sizeof(lg->err),
                               "record has %u-digit codes, configuration says digits=%u",
                               lg->rec.digits, lg->opts.digits);
                *pr = fail(lg, MAILOTP_ERR_FORMAT, NULL);
                return -1;
        }
        return 1;
}

/* A user without 2FA: pass through untouched, or refuse under `enforce`. */
static int no_2fa(struct login *lg)
{
        if (lg->opts.enforce) {
                log_outcome(lg, LOG_NOTICE, "failure", "not-enrolled-enforce", NULL);
                return PAM_AUTH_ERR;
        }
        log_outcome(lg, LOG_DEBUG, "ignore", "not-enrolled", NULL);
        return PAM_IGNORE;
}

/*
 * Get the submitted string and split it.  On PAM_SUCCESS, `pass` holds the
 * bare password (NUL-terminated, passsz bytes) and `code` the digits.
 */
static int get_and_split(struct login *lg, char *pass, size_t passsz, char *code, size_t codesz)
{
        const char *tok = NULL;
        size_t len, plen = 0;
        enum mailotp_rc rc;

        if (pam_get_authtok(lg->pamh, PAM_AUTHTOK, &tok, NULL) != PAM_SUCCESS || tok == NULL) {
                log_outcome(lg, LOG_NOTICE, "failure", "no-password", NULL);
                return PAM_AUTH_ERR;
        }
        len = strnlen(tok, AUTHTOK_MAX + 1);
        if (len > AUTHTOK_MAX) {
                log_outcome(lg, LOG_NOTICE, "failure", "password-too-long", NULL);
                return PAM_AUTH_ERR;
        }
        rc = pwsplit_split(tok, len, lg->rec.digits, &plen, code, codesz);
        if (rc != MAILOTP_OK || plen >= passsz)
                return fail(lg, rc != MAILOTP_OK ? rc : MAILOTP_ERR_NO_CODE, NULL);
        memcpy(pass, tok, plen);
        pass[plen] = '\0';
        return PAM_SUCCESS;
}

/* Replace PAM_AUTHTOK with the bare password (libpam copies it). */
static int forward_password(struct login *lg, const char *pass)
{
        if (pam_set_item(lg->pamh, PAM_AUTHTOK, pass) != PAM_SUCCESS) {
                log_outcome(lg, LOG_ERR, "error", "cannot-set-authtok", NULL);
                return PAM_AUTH_ERR;
        }
        return PAM_SUCCESS;
}

/* Verify a code for lg's enabled record; PAM_SUCCESS or the logged failure. */
static int check_code(struct login *lg, const char *code)
{
        struct auth_policy pol;
        struct auth_outcome ao;
        enum mailotp_rc rc;

        auth_policy_from_opts(&pol, &lg->opts);
        rc = auth_verify_code(lg->st, lg->key, &lg->rec, code, (int64_t)time(NULL), &pol, &ao,
                              lg->err, sizeof(lg->err));
        if (rc != MAILOTP_OK)
                return fail(lg, rc, &ao);
        log_outcome(lg, LOG_INFO, "success", "code-accepted", NULL);
        return PAM_SUCCESS;
}

static void stash_cleanup(pam_handle_t *pamh, void *data, int error_status)
{
        (void)pamh;
        (void)error_status;
        secure_freezero(data, sizeof(struct stash));
}

/* Simple mode and split mode share the front half. */
static int do_front(struct login *lg)
{
        char pass[AUTHTOK_MAX + 1];
        char code[PWSPLIT_MAX_DIGITS + 1];
        struct stash *sh = NULL;
        int pr = PAM_AUTH_ERR, has;

        has = load_record(lg, &pr);
        if (has < 0)
                return pr;
        if (has == 0) {
                /* Make sure PAM_AUTHTOK is set for the next module's use_first_pass. */
                const char *tok = NULL;

                if (pam_get_authtok(lg->pamh, PAM_AUTHTOK, &tok, NULL) != PAM_SUCCESS) {
                        log_outcome(lg, LOG_NOTICE, "failure", "no-password", NULL);
                        return PAM_AUTH_ERR;
                }
                return no_2fa(lg);
        }
        pr = get_and_split(lg, pass, sizeof(pass), code, sizeof(code));
        if (pr != PAM_SUCCESS)
                goto out;
        if (lg->opts.mode == MAILOTP_MODE_SIMPLE) {
                pr = check_code(lg, code);
        } else {
                sh = calloc(1, sizeof(*sh));
                if (sh == NULL) {
                        pr = fail(lg, MAILOTP_ERR_NOMEM, NULL);
                        goto out;
                }
                memcpy(sh->key, lg->key, sizeof(sh->key));
                memcpy(sh->code, code, sizeof(sh->code));
                if (pam_set_data(lg->pamh, STASH_NAME, sh, stash_cleanup) != PAM_SUCCESS) {
                        secure_freezero(sh, sizeof(*sh));
                        pr = fail(lg, MAILOTP_ERR_NOMEM, NULL);
                        goto out;
                }
                log_outcome(lg, LOG_DEBUG, "split", "code-stashed", NULL);
                pr = PAM_SUCCESS;
        }
        if (pr == PAM_SUCCESS)
                pr = forward_password(lg, pass);
        /* Never PAM_SUCCESS here: with success=done it would skip the password check. */
        if (pr == PAM_SUCCESS)
                pr = PAM_IGNORE;
out:
        secure_memzero(pass, sizeof(pass));
        secure_memzero(code, sizeof(code));
        return pr;
}

/* Hardened stack, after the password module: check the stashed code. */
static int do_verify(struct login *lg)
{
        const void *data = NULL;
        const struct stash *sh;
        char code[PWSPLIT_MAX_DIGITS + 1];
        int pr = PAM_AUTH_ERR, has;

        has = load_record(lg, &pr);
        if (has < 0)
                return pr;
        if (pam_get_data(lg->pamh, STASH_NAME, &data) != PAM_SUCCESS || data == NULL) {
                if (has == 0)
                        return no_2fa(lg);
                log_outcome(lg, LOG_NOTICE, "failure", "no-stashed-code", NULL);
                return PAM_AUTH_ERR;
        }
        sh = data;
        if (has == 0 || strcmp(sh->key, lg->key) != 0) {
                /* The user changed between split and verify, or lost 2FA meanwhile. */
                log_outcome(lg, LOG_NOTICE, "failure", "stash-mismatch", NULL);
                (void)pam_set_data(lg->pamh, STASH_NAME, NULL, NULL);
                return PAM_AUTH_ERR;
        }
        memcpy(code, sh->code, sizeof(code));
        /* Consume the stash: one split, one verify. */
        (void)pam_set_data(lg->pamh, STASH_NAME, NULL, NULL);
        pr = check_code(lg, code);
        secure_memzero(code, sizeof(code));
        return pr;
}

MAILOTP_EXPORT PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc,
                                                  const char **argv)
{
        struct login lg;
        int pr;

        (void)flags;
        memset(&lg, 0, sizeof(lg));
        pr = login_begin(&lg, pamh, argc, argv);
        if (pr != PAM_SUCCESS)
                goto out;
        if (lg.opts.mode == MAILOTP_MODE_VERIFY)
                pr = do_verify(&lg);
        else
                pr = do_front(&lg);
out:
        store_close(lg.st);
        record_wipe(&lg.rec);
        return pr;
}

MAILOTP_EXPORT PAM_EXTERN int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc,
                                             const char **argv)
{
        (void)pamh;
        (void)flags;
        (void)argc;
        (void)argv;
        return PAM_SUCCESS;
}
