/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "options.h"

#include <stdint.h>
#include <string.h>

#include "apppw.h"
#include "kv.h"
#include "lastlog.h"
#include "password_split.h"
#include "totp.h"

enum opt_id {
        OPT_DIR,
        OPT_CONF,
        OPT_ISSUER,
        OPT_WINDOW,
        OPT_DIGITS,
        OPT_LOCKOUT_AFTER,
        OPT_LOCKOUT_DELAY,
        OPT_LOCKOUT_MAX,
        OPT_LOCK_TIMEOUT,
        OPT_ENFORCE,
        OPT_DEBUG,
        OPT_SPLIT,
        OPT_VERIFY,
        OPT_REUSE_GRACE,
        OPT_LAST_LOGINS,
        OPT_NO_APP_PASSWORDS,
        OPT_PROMPT,
        OPT_PROMPT_TEXT,
        OPT_PAM_OWN, /* read by pam_get_authtok itself */
};

enum opt_type { T_PATH, T_TEXT, T_UINT, T_BOOL, T_WORD };

#define IN_ARGV 1U
#define IN_FILE 2U

struct opt_desc {
        const char *name;
        enum opt_id id;
        enum opt_type type;
        unsigned where;
        uint64_t min, max;
};

static const struct opt_desc opt_table[] = {
    {"dir", OPT_DIR, T_PATH, IN_ARGV | IN_FILE, 0, 0},
    {"conf", OPT_CONF, T_PATH, IN_ARGV, 0, 0},
    {"issuer", OPT_ISSUER, T_TEXT, IN_FILE, 0, 0},
    {"window", OPT_WINDOW, T_UINT, IN_ARGV | IN_FILE, 0, TOTP_MAX_WINDOW},
    {"digits", OPT_DIGITS, T_UINT, IN_ARGV | IN_FILE, PWSPLIT_MIN_DIGITS, PWSPLIT_MAX_DIGITS},
    {"lockout_after", OPT_LOCKOUT_AFTER, T_UINT, IN_ARGV | IN_FILE, 0, 100},
    {"lockout_delay", OPT_LOCKOUT_DELAY, T_UINT, IN_ARGV | IN_FILE, 1, 86400},
    {"lockout_max", OPT_LOCKOUT_MAX, T_UINT, IN_ARGV | IN_FILE, 1, 7 * 86400},
    {"lock_timeout", OPT_LOCK_TIMEOUT, T_UINT, IN_ARGV | IN_FILE, 1, 120},
    {"enforce", OPT_ENFORCE, T_BOOL, IN_ARGV | IN_FILE, 0, 0},
    {"debug", OPT_DEBUG, T_BOOL, IN_ARGV | IN_FILE, 0, 0},
    {"reuse_grace", OPT_REUSE_GRACE, T_UINT, IN_ARGV | IN_FILE, 0, 3600},
    {"last_logins", OPT_LAST_LOGINS, T_UINT, IN_ARGV | IN_FILE, 1, LASTLOG_MAX},
    {"no_app_passwords", OPT_NO_APP_PASSWORDS, T_TEXT, IN_ARGV | IN_FILE, 0, 0},
    {"prompt", OPT_PROMPT, T_BOOL, IN_ARGV | IN_FILE, 0, 0},
    {"prompt_text", OPT_PROMPT_TEXT, T_TEXT, IN_ARGV | IN_FILE, 0, 0},
    {"split", OPT_SPLIT, T_WORD, IN_ARGV, 0, 0},
    {"verify", OPT_VERIFY, T_WORD, IN_ARGV, 0, 0},
    {"use_first_pass", OPT_PAM_OWN, T_WORD, IN_ARGV, 0, 0},
    {"try_first_pass", OPT_PAM_OWN, T_WORD, IN_ARGV, 0, 0},
    {"authtok_type", OPT_PAM_OWN, T_TEXT, IN_ARGV, 0, 0},
};

#define OPT_COUNT (sizeof(opt_table) / sizeof(opt_table[0]))

void opts_init(struct mailotp_opts *o)
{
        memset(o, 0, sizeof(*o));
        memcpy(o->dir, MAILOTP_DEFAULT_DIR, sizeof(MAILOTP_DEFAULT_DIR));
        memcpy(o->conf, MAILOTP_DEFAULT_CONF, sizeof(MAILOTP_DEFAULT_CONF));
        o->conf_explicit = false;
        o->issuer[0] = '\0';
        o->mode = MAILOTP_MODE_SIMPLE;
        o->window = 1;
        o->digits = 6;
        /*
         * Lockout defaults, see pam_mailotp(8) "LOCKOUT ARITHMETIC": 5 free
         * wrong codes, then 60 s doubling up to 4 h.  An attacker who has the
         * password gets at most ~2,200 guesses a year, each right with
         * probability 3/10^6 (window 1): under 0.7 % a year.
         */
        o->lockout_after = 5;
        o->lockout_delay = 60;
        o->lockout_max = 4 * 3600;
        o->lock_timeout = 5;
        o->reuse_grace = 0;
        o->last_logins = LASTLOG_DEFAULT;
        o->no_app_passwords[0] = '\0';
        memcpy(o->prompt_text, MAILOTP_DEFAULT_PROMPT, sizeof(MAILOTP_DEFAULT_PROMPT));
        o->prompt = false;
        o->enforce = false;
        o->debug = false;
}

static const struct opt_desc *opt_lookup(const char *k, size_t klen)
{
        size_t i;

        for (i = 0; i < OPT_COUNT; i++) {
                if (kv_key_is(k, klen, opt_table[i].name))
                        return &opt_table[i];
        }
        return NULL;
}

static enum mailotp_rc set_path(char *dst, const char *v, size_t vlen, const char *name, char *err,
                                size_t errlen)
{
        size_t i;

        if (v == NULL || vlen == 0 || v[0] != '/') {
                mailotp_seterr(err, errlen, "%s must be an absolute path", name);
                return MAILOTP_ERR_INVALID;
        }
        if (vlen >= MAILOTP_PATH_MAX) {
                mailotp_seterr(err, errlen, "%s is too long", name);
                return MAILOTP_ERR_INVALID;
        }
        for (i = 0; i < vlen; i++) {
                unsigned char c = (unsigned char)v[i];

                if (c <= 0x20 || c == 0x7F) {
                        mailotp_seterr(err, errlen, "%s contains a space or control byte", name);
                        return MAILOTP_ERR_INVALID;
                }
        }
        /* Reject ".." components: the path is trusted, but it must say what it means. */
        for (i = 0; i < vlen; i++) {
                size_t end = i + 1;

                if (v[i] != '/')
                        continue;
                while (end < vlen && v[end] != '/')
                        end++;
                if (end - i == 3 && v[i + 1] == '.' && v[i + 2] == '.') {
                        mailotp_seterr(err, errlen, "%s must not contain '..'", name);
                        return MAILOTP_ERR_INVALID;
                }
        }
        memcpy(dst, v, vlen);
        dst[vlen] = '\0';
        return MAILOTP_OK;
}

static enum mailotp_rc apply_one(struct mailotp_opts *o, const char *k, size_t klen, const char *v,
                                 size_t vlen, enum opts_source src, unsigned *seen_lo,
                                 unsigned *seen_hi, char *err, size_t errlen)
{
        const struct opt_desc *d = opt_lookup(k, klen);
        unsigned where = src == OPTS_SRC_ARGV ? IN_ARGV : IN_FILE;
        uint64_t num = 0;
        int flag = 0;
        size_t idx;
        unsigned bit;
        enum mailotp_rc rc;

        if (d == NULL || (d->where & where) == 0) {
                mailotp_seterr(err, errlen, "unknown %s \"%.*s\"",
                               src == OPTS_SRC_ARGV ? "option" : "key",
                               (int)(klen > 40 ? 40 : klen), k);
                return MAILOTP_ERR_INVALID;
        }
        idx = (size_t)(d - opt_table);
        bit = 1U << (idx % 32U);
        if (d->id != OPT_PAM_OWN && ((idx < 32U ? *seen_lo : *seen_hi) & bit)) {
                mailotp_seterr(err, errlen, "%s given twice", d->name);
                return MAILOTP_ERR_INVALID;
        }
        if (idx < 32U)
                *seen_lo |= bit;
        else
                *seen_hi |= bit;

        switch (d->type) {
        case T_WORD:
                if (v != NULL) {
                        mailotp_seterr(err, errlen, "%s takes no value", d->name);
                        return MAILOTP_ERR_INVALID;
                }
                break;
        case T_BOOL:
                if (kv_parse_bool(v, vlen, &flag) != MAILOTP_OK) {
                        mailotp_seterr(err, errlen, "%s: expected yes or no", d->name);
                        return MAILOTP_ERR_INVALID;
                }
                break;
        case T_UINT:
                if (kv_parse_u64(v, vlen, d->min, d->max, &num) != MAILOTP_OK) {
                        mailotp_seterr(err, errlen, "%s: expected a whole number from %llu to %llu",
                                       d->name, (unsigned long long)d->min,
                                       (unsigned long long)d->max);
                        return MAILOTP_ERR_INVALID;
                }
                break;
        case T_PATH:
        case T_TEXT:
                if (v == NULL) {
                        mailotp_seterr(err, errlen, "%s needs a value", d->name);
                        return MAILOTP_ERR_INVALID;
                }
                break;
        }

        switch (d->id) {
        case OPT_DIR:
                return set_path(o->dir, v, vlen, d->name, err, errlen);
        case OPT_CONF:
                rc = set_path(o->conf, v, vlen, d->name, err, errlen);
                if (rc == MAILOTP_OK)
                        o->conf_explicit = true;
                return rc;
        case OPT_ISSUER: {
                size_t i;

                if (vlen == 0 || vlen >= MAILOTP_ISSUER_MAX) {
                        mailotp_seterr(err, errlen, "issuer must be 1 to %u bytes",
                                       MAILOTP_ISSUER_MAX - 1);
                        return MAILOTP_ERR_INVALID;
                }
                for (i = 0; i < vlen; i++) {
                        unsigned char c = (unsigned char)v[i];

                        if (c < 0x20 || c == 0x7F || c == ':') {
                                mailotp_seterr(err, errlen,
                                               "issuer must not contain ':' or control bytes");
                                return MAILOTP_ERR_INVALID;
                        }
                }
                memcpy(o->issuer, v, vlen);
                o->issuer[vlen] = '\0';
                return MAILOTP_OK;
        }
        case OPT_WINDOW:
                o->window = (unsigned)num;
                return MAILOTP_OK;
        case OPT_DIGITS:
                o->digits = (unsigned)num;
                return MAILOTP_OK;
        case OPT_LOCKOUT_AFTER:
                o->lockout_after = (unsigned)num;
                return MAILOTP_OK;
        case OPT_LOCKOUT_DELAY:
                o->lockout_delay = (unsigned)num;
                return MAILOTP_OK;
        case OPT_LOCKOUT_MAX:
                o->lockout_max = (unsigned)num;
                return MAILOTP_OK;
        case OPT_LOCK_TIMEOUT:
                o->lock_timeout = (unsigned)num;
                return MAILOTP_OK;
        case OPT_ENFORCE:
                o->enforce = flag != 0;
                return MAILOTP_OK;
        case OPT_DEBUG:
                o->debug = flag != 0;
                return MAILOTP_OK;
        case OPT_SPLIT:
        case OPT_VERIFY:
                if (o->mode != MAILOTP_MODE_SIMPLE) {
                        mailotp_seterr(err, errlen, "split and verify exclude each other");
                        return MAILOTP_ERR_INVALID;
                }
                o->mode = d->id == OPT_SPLIT ? MAILOTP_MODE_SPLIT : MAILOTP_MODE_VERIFY;
                return MAILOTP_OK;
        case OPT_REUSE_GRACE:
                o->reuse_grace = (unsigned)num;
                return MAILOTP_OK;
        case OPT_LAST_LOGINS:
                o->last_logins = (unsigned)num;
                return MAILOTP_OK;
        case OPT_NO_APP_PASSWORDS: {
                char tmp[MAILOTP_NOAPP_MAX], why[80];

                if (vlen == 0 || vlen >= sizeof(tmp)) {
                        mailotp_seterr(err, errlen, "no_app_passwords: 1 to %u bytes",
                                       MAILOTP_NOAPP_MAX - 1);
                        return MAILOTP_ERR_INVALID;
                }
                memcpy(tmp, v, vlen);
                tmp[vlen] = '\0';
                if (strcmp(tmp, "*") == 0 ||
                    apppw_services_parse(tmp, o->no_app_passwords, sizeof(o->no_app_passwords), why,
                                         sizeof(why)) != 0) {
                        mailotp_seterr(err, errlen, "no_app_passwords: %s",
                                       strcmp(tmp, "*") == 0 ? "list the services" : why);
                        return MAILOTP_ERR_INVALID;
                }
                return MAILOTP_OK;
        }
        case OPT_PROMPT:
                o->prompt = flag != 0;
                return MAILOTP_OK;
        case OPT_PROMPT_TEXT: {
                size_t i;

                if (vlen == 0 || vlen >= MAILOTP_PROMPT_MAX) {
                        mailotp_seterr(err, errlen, "prompt_text must be 1 to %u bytes",
                                       MAILOTP_PROMPT_MAX - 1);
                        return MAILOTP_ERR_INVALID;
                }
                for (i = 0; i < vlen; i++) {
                        unsigned char c = (unsigned char)v[i];

                        if (c < 0x20 || c == 0x7F) {
                                mailotp_seterr(err, errlen, "prompt_text has a control byte");
                                return MAILOTP_ERR_INVALID;
                        }
                }
                memcpy(o->prompt_text, v, vlen);
                o->prompt_text[vlen] = '\0';
                return MAILOTP_OK;
        }
        case OPT_PAM_OWN:
                return MAILOTP_OK;
        }
        return MAILOTP_ERR_INVALID;
}

/* Split one module argument "name=value" or "name" into its parts. */
static void split_arg(const char *arg, const char **k, size_t *klen, const char **v, size_t *vlen)
{
        const char *eq = strchr(arg, '=');

        *k = arg;
        if (eq == NULL) {
                *klen = strlen(arg);
                *v = NULL;
                *vlen = 0;
        } else {
                *klen = (size_t)(eq - arg);
                *v = eq + 1;
                *vlen = strlen(eq + 1);
        }
}

enum mailotp_rc opts_find_conf(struct mailotp_opts *o, int argc, const char **argv, char *err,
                               size_t errlen)
{
        int i, found = 0;

        for (i = 0; i < argc; i++) {
                const char *k, *v;
                size_t klen, vlen;

                if (argv[i] == NULL)
                        continue;
                split_arg(argv[i], &k, &klen, &v, &vlen);
                if (!kv_key_is(k, klen, "conf"))
                        continue;
                if (found++) {
                        mailotp_seterr(err, errlen, "conf given twice");
                        return MAILOTP_ERR_INVALID;
                }
                if (set_path(o->conf, v, vlen, "conf", err, errlen) != MAILOTP_OK)
                        return MAILOTP_ERR_INVALID;
                o->conf_explicit = true;
        }
        return MAILOTP_OK;
}

enum mailotp_rc opts_apply_file(struct mailotp_opts *o, const char *buf, size_t len, char *err,
                                size_t errlen)
{
        struct kv_iter it;
        const char *k, *v;
        size_t klen, vlen;
        unsigned seen_lo = 0, seen_hi = 0;
        char why[160];
        int r;

        kv_iter_init(&it, buf, len);
        while ((r = kv_next(&it, &k, &klen, &v, &vlen)) == 1) {
                if (apply_one(o, k, klen, v, vlen, OPTS_SRC_FILE, &seen_lo, &seen_hi, why,
                              sizeof(why)) != MAILOTP_OK) {
                        mailotp_seterr(err, errlen, "line %u: %s", it.line, why);
                        return MAILOTP_ERR_INVALID;
                }
        }
        if (r < 0) {
                mailotp_seterr(err, errlen, "line %u: expected \"key = value\"", it.line);
                return MAILOTP_ERR_INVALID;
        }
        return MAILOTP_OK;
}

enum mailotp_rc opts_apply_argv(struct mailotp_opts *o, int argc, const char **argv, char *err,
                                size_t errlen)
{
        unsigned seen_lo = 0, seen_hi = 0;
        int i;

        for (i = 0; i < argc; i++) {
                const char *k, *v;
                size_t klen, vlen;

                if (argv[i] == NULL)
                        continue;
                split_arg(argv[i], &k, &klen, &v, &vlen);
                if (apply_one(o, k, klen, v, vlen, OPTS_SRC_ARGV, &seen_lo, &seen_hi, err,
                              errlen) != MAILOTP_OK)
                        return MAILOTP_ERR_INVALID;
        }
        return MAILOTP_OK;
}

enum mailotp_rc opts_check(const struct mailotp_opts *o, char *err, size_t errlen)
{
        if (o->lockout_max < o->lockout_delay) {
                mailotp_seterr(err, errlen, "lockout_max (%u) is below lockout_delay (%u)",
                               o->lockout_max, o->lockout_delay);
                return MAILOTP_ERR_INVALID;
        }
        return MAILOTP_OK;
}
