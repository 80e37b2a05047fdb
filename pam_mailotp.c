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
 * In the simple and split modes an application password ends the stack with
 * PAM_SUCCESS (the documented control is success=done).
 */
#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "apppw.h"
#include "auth.h"
#include "config.h"
#include "options.h"
#include "password_split.h"
#include "record.h"
#include "recovery.h"
#include "secure.h"
#include "store.h"
#include "username.h"
#include "words.h"

/* Hidden visibility is the default; only the PAM entry points are exported. */
#define MAILOTP_EXPORT __attribute__((visibility("default")))

#define AUTHTOK_MAX       1024U /* longest submitted string we look at */
#define STASH_NAME        "pam_mailotp_stash"
#define PROMPT_ANSWER_MAX 63U  /* longest answer to the code prompt we look at */
#define CONTINUE          (-1) /* not an application password: go on with 2FA */

/* What split leaves for verify: the code, whose it is, and its grace fingerprint. */
struct stash {
        char key[USERNAME_MAX + 1];
        struct auth_code code;
};

/* Everything one authentication call knows; lives on the stack, never global. */
struct login {
        pam_handle_t *pamh;
        struct mailotp_opts opts;
        char key[USERNAME_MAX + 1];
        char user_log[128];
        char rhost_log[80];
        const char *service;
        const char *rhost; /* raw, for fingerprints; NULL when unset */
        struct store *st;
        struct otp_record rec;
        int known; /* enrolled (or app password matched): outcomes go to the last-logins log */
        int noted; /* the outcome's entry was written with the state (check_code) */
        struct store_lock *held; /* the user's lock while check_code holds it */
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

/* Keep the outcome in the user's last-logins log.  Best effort: never fails a login. */
static void note_last(struct login *lg, int success, const char *method, const char *reason)
{
        struct lastlog_event ev;
        struct store_lock *lk = NULL;
        enum mailotp_rc rc = MAILOTP_OK;
        char err[160] = "";

        if (!lg->known || lg->noted)
                return;
        lastlog_event_set(&ev, (int64_t)time(NULL), success, method, lg->service, lg->rhost,
                          reason);
        /*
         * The append reads, adds and rewrites the log: it needs the user's
         * lock, or concurrent logins lose each other's events.  After a lock
         * timeout, do not wait a second time: say the entry is lost.
         */
        if (lg->held == NULL && strcmp(reason, "lock-timeout") == 0) {
                mailotp_seterr(err, sizeof(err), "the user's lock is busy");
                rc = MAILOTP_ERR_LOCK_TIMEOUT;
        } else if (lg->held == NULL) {
                rc = store_lock(lg->st, lg->key, lg->opts.lock_timeout * 1000U, &lk, err,
                                sizeof(err));
        }
        if (rc == MAILOTP_OK)
                rc = store_lastlog_append(lg->st, lg->key, &ev, lg->opts.last_logins, err,
                                          sizeof(err));
        store_unlock(lg->st, lk);
        if (rc != MAILOTP_OK) {
                char esc[200];

                text_log_escape_text(err, esc, sizeof(esc));
                pam_syslog(lg->pamh, LOG_WARNING, "last-logins log not written: %s", esc);
        }
}

/* The one mapping of a failed core result to a PAM result. */
static int pam_result_for(enum mailotp_rc rc)
{
        switch (rc) {
        case MAILOTP_ERR_NO_CODE:
        case MAILOTP_ERR_MISMATCH:
        case MAILOTP_ERR_REPLAY:
        case MAILOTP_ERR_EXPIRED:
        case MAILOTP_ERR_NOT_ALLOWED:
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

/* Log (and note) a failure and return its PAM result. */
static int fail_with(struct login *lg, enum mailotp_rc rc, const struct auth_outcome *ao,
                     const char *method)
{
        int pr = pam_result_for(rc);
        int refused = pr == PAM_AUTH_ERR || pr == PAM_MAXTRIES;

        log_outcome(lg, refused ? LOG_NOTICE : LOG_ERR, refused ? "failure" : "error",
                    mailotp_strerror(rc), ao);
        note_last(lg, 0, method, mailotp_strerror(rc));
        return pr;
}

static int fail(struct login *lg, enum mailotp_rc rc, const struct auth_outcome *ao)
{
        return fail_with(lg, rc, ao, NULL);
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
        if (pam_get_item(pamh, PAM_RHOST, &item) == PAM_SUCCESS && item != NULL) {
                lg->rhost = item;
                text_log_escape(item, lg->rhost_log, sizeof(lg->rhost_log));
        }

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
        lg->known = 1;
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

/* The submitted string (hidden prompt).  Sets PAM_AUTHTOK for the modules after us. */
static int get_token(struct login *lg, const char **tok, size_t *len)
{
        *tok = NULL;
        if (pam_get_authtok(lg->pamh, PAM_AUTHTOK, tok, NULL) != PAM_SUCCESS || *tok == NULL) {
                log_outcome(lg, LOG_NOTICE, "failure", "no-password", NULL);
                return PAM_AUTH_ERR;
        }
        *len = strnlen(*tok, AUTHTOK_MAX + 1);
        return PAM_SUCCESS;
}

/* 1 when the service is listed in no_app_passwords. */
static int app_passwords_barred(const struct login *lg)
{
        const char *list = lg->opts.no_app_passwords;
        size_t slen = strlen(lg->service), k = 0;

        while (list[k] != '\0') {
                size_t end = k;

                while (list[end] != '\0' && list[end] != ',')
                        end++;
                if (end - k == slen && strncasecmp(list + k, lg->service, slen) == 0)
                        return 1;
                k = list[end] == ',' ? end + 1 : end;
        }
        return 0;
}

/*
 * The whole string as an application password of this user: PAM_SUCCESS,
 * a logged refusal, or CONTINUE when it is not one of theirs.
 */
static int try_app_password(struct login *lg, const char *tok, size_t len)
{
        char letters[APPPW_LETTERS + 1], name[APPPW_NAME_MAX + 1], method[APPPW_NAME_MAX + 16];
        enum mailotp_rc rc;

        if (len > APPPW_TYPED_MAX + 8 || app_passwords_barred(lg) ||
            words_normalise(tok, len, APPPW_LETTERS, letters, sizeof(letters)) != 0)
                return CONTINUE;
        rc = auth_app_password(lg->st, lg->key, letters, lg->service, lg->rhost,
                               (int64_t)time(NULL), lg->opts.lock_timeout * 1000U, name,
                               sizeof(name), lg->err, sizeof(lg->err));
        secure_memzero(letters, sizeof(letters));
        if (rc == MAILOTP_ERR_NOT_FOUND || rc == MAILOTP_ERR_MISMATCH) {
                lg->err[0] = '\0';
                return CONTINUE;
        }
        lg->known = 1;
        (void)snprintf(method, sizeof(method), "app-password:%s", name);
        if (rc != MAILOTP_OK)
                return fail_with(lg, rc, NULL, method);
        if (lg->err[0] != '\0') {
                /* Accepted, but its "last used" note could not be stored. */
                char esc[200];

                text_log_escape_text(lg->err, esc, sizeof(esc));
                pam_syslog(lg->pamh, LOG_WARNING, "app password last use not written: %s", esc);
        }
        lg->err[0] = '\0';
        mailotp_seterr(lg->err, sizeof(lg->err), "app password %s", name);
        log_outcome(lg, LOG_INFO, "success", "app-password", NULL);
        lg->err[0] = '\0';
        note_last(lg, 1, method, "app-password");
        return PAM_SUCCESS;
}

/* Ask for the code in a second hidden prompt (option `prompt`). */
static int prompt_code(struct login *lg, struct auth_code *ac)
{
        char *resp = NULL;
        size_t rlen, plen;
        int pr = PAM_AUTH_ERR;

        if (pam_prompt(lg->pamh, PAM_PROMPT_ECHO_OFF, &resp, "%s", lg->opts.prompt_text) !=
                PAM_SUCCESS ||
            resp == NULL) {
                log_outcome(lg, LOG_NOTICE, "failure", "no-code-answer", NULL);
                note_last(lg, 0, NULL, "no-code-answer");
                goto out;
        }
        rlen = strnlen(resp, PROMPT_ANSWER_MAX + 1);
        if (rlen > PROMPT_ANSWER_MAX) {
                /* Refuse, never read a prefix: nothing after byte 63 may be ignored. */
                pr = fail(lg, MAILOTP_ERR_NO_CODE, NULL);
                goto out;
        }
        /* The answer is a TOTP code (spaces allowed) or a recovery code. */
        {
                char digits[PWSPLIT_MAX_DIGITS + 2];
                size_t i, o = 0;

                for (i = 0; i < rlen && o < sizeof(digits) - 1; i++) {
                        if (resp[i] != ' ')
                                digits[o++] = resp[i];
                }
                digits[o] = '\0';
                if (pwsplit_is_code(digits, lg->rec.digits)) {
                        ac->kind = AUTH_TOTP;
                        memcpy(ac->code, digits, o + 1);
                        pr = PAM_SUCCESS;
                }
                secure_memzero(digits, sizeof(digits));
        }
        if (pr != PAM_SUCCESS && rlen == RECOVERY_TYPED) {
                /* recovery_split wants a non-empty prefix: give it one. */
                char tmp[RECOVERY_TYPED + 2];

                tmp[0] = 'x';
                memcpy(tmp + 1, resp, RECOVERY_TYPED);
                if (recovery_split(tmp, RECOVERY_TYPED + 1, &plen, ac->code, sizeof(ac->code)) ==
                    0) {
                        ac->kind = AUTH_RECOVERY;
                        pr = PAM_SUCCESS;
                }
                secure_memzero(tmp, sizeof(tmp));
        }
        if (pr != PAM_SUCCESS)
                pr = fail(lg, MAILOTP_ERR_NO_CODE, NULL);
out:
        if (resp != NULL)
                secure_strfree(resp);
        return pr;
}

/*
 * Split the submitted string into the bare password (into pass) and what
 * stands for the second factor (into ac): trailing TOTP digits, a trailing
 * recovery code, or with `prompt` an answer to a second prompt.
 */
static int split_code(struct login *lg, const char *tok, size_t len, char *pass, size_t passsz,
                      struct auth_code *ac)
{
        size_t plen = 0;

        if (len > AUTHTOK_MAX) {
                log_outcome(lg, LOG_NOTICE, "failure", "password-too-long", NULL);
                return PAM_AUTH_ERR;
        }
        memset(ac, 0, sizeof(*ac));
        if (pwsplit_split(tok, len, lg->rec.digits, &plen, ac->code, sizeof(ac->code)) ==
            MAILOTP_OK) {
                ac->kind = AUTH_TOTP;
        } else if (recovery_split(tok, len, &plen, ac->code, sizeof(ac->code)) == 0) {
                ac->kind = AUTH_RECOVERY;
        } else if (lg->opts.prompt && len > 0) {
                int pr = prompt_code(lg, ac);

                if (pr != PAM_SUCCESS)
                        return pr;
                plen = len;
        } else {
                return fail(lg, MAILOTP_ERR_NO_CODE, NULL);
        }
        if (plen >= passsz)
                return fail(lg, MAILOTP_ERR_NO_CODE, NULL);
        memcpy(pass, tok, plen);
        pass[plen] = '\0';
        return PAM_SUCCESS;
}

/* reuse_grace: fingerprint of (user, service, rhost, password + code). */
static void add_grace(struct login *lg, const char *pass, struct auth_code *ac)
{
        unsigned char skey[MAC_KEY_LEN];
        char both[AUTHTOK_MAX + RECOVERY_LETTERS + 2];
        size_t plen = strlen(pass), clen = strlen(ac->code);

        if (lg->opts.reuse_grace == 0 || ac->kind != AUTH_TOTP || plen + clen >= sizeof(both))
                return;
        if (store_server_key(lg->st, 0, skey, lg->err, sizeof(lg->err)) != MAILOTP_OK) {
                log_outcome(lg, LOG_WARNING, "warning", "no-server-key-for-reuse-grace", NULL);
                lg->err[0] = '\0';
                return;
        }
        memcpy(both, pass, plen);
        memcpy(both + plen, ac->code, clen);
        lg->err[0] = '\0';
        if (auth_grace_fingerprint(skey, lg->key, lg->service, lg->rhost, both, plen + clen,
                                   ac->grace, lg->err, sizeof(lg->err)) == MAILOTP_OK) {
                ac->has_grace = 1;
        } else {
                /* Without a fingerprint this login grants no reuse; the code is still checked. */
                log_outcome(lg, LOG_WARNING, "warning", "no-reuse-grace-fingerprint", NULL);
                lg->err[0] = '\0';
        }
        secure_memzero(skey, sizeof(skey));
        secure_memzero(both, sizeof(both));
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

/* The last-logins entries of both outcomes that write the state, to go with that write. */
static void note_with_state(struct login *lg, struct auth_code *ac, const char *method,
                            const char *ok_reason, int64_t now)
{
        ac->note_keep = lg->opts.last_logins;
        lastlog_event_set(&ac->note_ok, now, 1, method, lg->service, lg->rhost, ok_reason);
        lastlog_event_set(&ac->note_fail, now, 0, method, lg->service, lg->rhost,
                          mailotp_strerror(MAILOTP_ERR_MISMATCH));
}

/* After the outcome's own line: the log's part of the state write failed. */
static void warn_note(struct login *lg, const struct auth_outcome *ao)
{
        char esc[200];

        if (ao->note_warn[0] == '\0')
                return;
        text_log_escape_text(ao->note_warn, esc, sizeof(esc));
        pam_syslog(lg->pamh, LOG_WARNING, "last-logins log not written: %s", esc);
}

/* Verify a code for lg's enabled record; PAM_SUCCESS or the logged failure. */
static int check_code(struct login *lg, struct auth_code *ac)
{
        struct auth_policy pol;
        struct auth_outcome ao;
        const char *method = ac->kind == AUTH_RECOVERY ? "recovery-code" : "code";
        const char *accepted =
            ac->kind == AUTH_RECOVERY ? "recovery-code-accepted" : "code-accepted";
        const char *reason;
        int64_t now = (int64_t)time(NULL);
        enum mailotp_rc rc;
        char left[48] = "";

        auth_policy_from_opts(&pol, &lg->opts);
        memset(&ao, 0, sizeof(ao));
        note_with_state(lg, ac, method, accepted, now);
        /* One lock hold for the check and its last-logins entry. */
        rc = store_lock(lg->st, lg->key, pol.lock_timeout_ms, &lg->held, lg->err, sizeof(lg->err));
        if (rc == MAILOTP_OK)
                rc = auth_check_locked(lg->st, lg->key, &lg->rec, ac, now, &pol, &ao, lg->err,
                                       sizeof(lg->err));
        lg->noted = ao.noted;
        if (rc != MAILOTP_OK) {
                int pr = fail_with(lg, rc, &ao, method);

                warn_note(lg, &ao);
                store_unlock(lg->st, lg->held);
                lg->held = NULL;
                return pr;
        }
        if (ac->kind == AUTH_RECOVERY) {
                (void)snprintf(left, sizeof(left), "%zu recovery codes left", ao.recovery_left);
                mailotp_seterr(lg->err, sizeof(lg->err), "%s", left);
        }
        reason = ao.reused ? "code-reused-within-grace" : accepted;
        log_outcome(lg, ac->kind == AUTH_RECOVERY ? LOG_NOTICE : LOG_INFO, "success", reason, NULL);
        lg->err[0] = '\0';
        warn_note(lg, &ao);
        note_last(lg, 1, ao.reused ? "code-reuse" : method, reason);
        store_unlock(lg->st, lg->held);
        lg->held = NULL;
        return PAM_SUCCESS;
}

static void stash_cleanup(pam_handle_t *pamh, void *data, int error_status)
{
        (void)pamh;
        (void)error_status;
        secure_freezero(data, sizeof(struct stash));
}

/* Keep the code for `verify` in the PAM handle. */
static int stash_code(struct login *lg, const struct auth_code *ac)
{
        struct stash *sh = calloc(1, sizeof(*sh));

        if (sh == NULL)
                return fail(lg, MAILOTP_ERR_NOMEM, NULL);
        memcpy(sh->key, lg->key, sizeof(sh->key));
        sh->code = *ac;
        if (pam_set_data(lg->pamh, STASH_NAME, sh, stash_cleanup) != PAM_SUCCESS) {
                secure_freezero(sh, sizeof(*sh));
                return fail(lg, MAILOTP_ERR_NOMEM, NULL);
        }
        log_outcome(lg, LOG_DEBUG, "split", "code-stashed", NULL);
        return PAM_SUCCESS;
}

/* Simple mode and split mode share the front half. */
static int do_front(struct login *lg)
{
        char pass[AUTHTOK_MAX + 1];
        struct auth_code ac;
        const char *tok = NULL;
        size_t len = 0;
        int pr, has;

        memset(&ac, 0, sizeof(ac));
        pr = get_token(lg, &tok, &len);
        if (pr != PAM_SUCCESS)
                return pr;
        pr = try_app_password(lg, tok, len);
        if (pr != CONTINUE)
                return pr;
        has = load_record(lg, &pr);
        if (has < 0)
                return pr;
        if (has == 0)
                return no_2fa(lg);
        pr = split_code(lg, tok, len, pass, sizeof(pass), &ac);
        if (pr != PAM_SUCCESS)
                goto out;
        add_grace(lg, pass, &ac);
        if (lg->opts.mode == MAILOTP_MODE_SIMPLE)
                pr = check_code(lg, &ac);
        else
                pr = stash_code(lg, &ac);
        if (pr == PAM_SUCCESS)
                pr = forward_password(lg, pass);
        /* Never PAM_SUCCESS for a code: with success=done it would skip the password check. */
        if (pr == PAM_SUCCESS)
                pr = PAM_IGNORE;
out:
        secure_memzero(pass, sizeof(pass));
        secure_memzero(&ac, sizeof(ac));
        return pr;
}

/* Hardened stack, after the password module: check the stashed code. */
static int do_verify(struct login *lg)
{
        const void *data = NULL;
        const struct stash *sh;
        struct auth_code ac;
        int pr = PAM_AUTH_ERR, has;

        has = load_record(lg, &pr);
        if (has < 0)
                return pr;
        if (pam_get_data(lg->pamh, STASH_NAME, &data) != PAM_SUCCESS || data == NULL) {
                if (has == 0)
                        return no_2fa(lg);
                log_outcome(lg, LOG_NOTICE, "failure", "no-stashed-code", NULL);
                note_last(lg, 0, NULL, "no-stashed-code");
                return PAM_AUTH_ERR;
        }
        sh = data;
        if (has == 0 || strcmp(sh->key, lg->key) != 0) {
                /* The user changed between split and verify, or lost 2FA meanwhile. */
                log_outcome(lg, LOG_NOTICE, "failure", "stash-mismatch", NULL);
                (void)pam_set_data(lg->pamh, STASH_NAME, NULL, NULL);
                return PAM_AUTH_ERR;
        }
        ac = sh->code;
        /* Consume the stash: one split, one verify. */
        (void)pam_set_data(lg->pamh, STASH_NAME, NULL, NULL);
        pr = check_code(lg, &ac);
        secure_memzero(&ac, sizeof(ac));
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
