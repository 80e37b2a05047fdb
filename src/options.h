/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Options for the module and the CLI.  One struct, one init function that
 * sets every default, one table of names, one parser for both module
 * arguments (argv) and /etc/mailotp/mailotp.conf lines.  Unknown names, bad
 * values and a name given twice in one source are errors; module arguments
 * override the file.
 */
#ifndef MAILOTP_OPTIONS_H
#define MAILOTP_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>

#include "mailotp_rc.h"

#define MAILOTP_DEFAULT_CONF   "/etc/mailotp/mailotp.conf"
#define MAILOTP_DEFAULT_DIR    "/var/lib/mailotp"
#define MAILOTP_PATH_MAX       1024U
#define MAILOTP_ISSUER_MAX     64U
#define MAILOTP_NOAPP_MAX      256U
#define MAILOTP_PROMPT_MAX     128U
#define MAILOTP_DEFAULT_PROMPT "Verification code: "

enum mailotp_mode {
        MAILOTP_MODE_SIMPLE = 0, /* split + verify in one entry */
        MAILOTP_MODE_SPLIT,      /* strip and stash the code, forward the password */
        MAILOTP_MODE_VERIFY,     /* verify the stashed code after the password module */
};

enum opts_source {
        OPTS_SRC_ARGV, /* module arguments: mode words and conf= allowed */
        OPTS_SRC_FILE, /* the configuration file: issuer allowed */
};

struct mailotp_opts {
        char dir[MAILOTP_PATH_MAX];      /* store directory, absolute */
        char conf[MAILOTP_PATH_MAX];     /* configuration file, absolute */
        bool conf_explicit;              /* conf= was given: the file must exist */
        char issuer[MAILOTP_ISSUER_MAX]; /* otpauth issuer (CLI); "" = host name */
        enum mailotp_mode mode;
        unsigned window;        /* accepted steps either side of now */
        unsigned digits;        /* code length */
        unsigned lockout_after; /* wrong codes allowed before the back-off starts */
        unsigned lockout_delay; /* first back-off, seconds */
        unsigned lockout_max;   /* longest back-off, seconds */
        unsigned lock_timeout;  /* seconds to wait for the per-user lock */
        unsigned reuse_grace;   /* seconds a just-used password+code may be reused; 0 off */
        unsigned last_logins;   /* entries kept in the last-logins log */
        char no_app_passwords[MAILOTP_NOAPP_MAX]; /* services never accepting them */
        char prompt_text[MAILOTP_PROMPT_MAX];     /* second prompt's text */
        bool prompt;                              /* ask for a missing code in a second prompt */
        bool enforce;                             /* refuse users without 2FA */
        bool debug;                               /* LOG_DEBUG lines (never secrets) */
};

/* Set every field to its documented default. */
void opts_init(struct mailotp_opts *o);

/*
 * Find conf=PATH among module arguments (without applying anything else) and
 * store it in o->conf / o->conf_explicit.  Returns MAILOTP_ERR_INVALID (reason
 * in err) for a relative, overlong or repeated conf=.
 */
enum mailotp_rc opts_find_conf(struct mailotp_opts *o, int argc, const char **argv, char *err,
                               size_t errlen);

/*
 * Apply the configuration file's text (len bytes).  Returns MAILOTP_OK,
 * or MAILOTP_ERR_INVALID with "line N: reason" in err.
 */
enum mailotp_rc opts_apply_file(struct mailotp_opts *o, const char *buf, size_t len, char *err,
                                size_t errlen);

/*
 * Apply module arguments.  use_first_pass, try_first_pass and authtok_type=
 * are accepted and left to pam_get_authtok.  Returns MAILOTP_ERR_INVALID with
 * the offending argument named in err.
 */
enum mailotp_rc opts_apply_argv(struct mailotp_opts *o, int argc, const char **argv, char *err,
                                size_t errlen);

/* Cross-field checks after all sources are applied. */
enum mailotp_rc opts_check(const struct mailotp_opts *o, char *err, size_t errlen);

#endif
