/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Reading a PAM service's auth stack and judging how pam_mailotp sits in it,
 * for `mailotp doctor`.  Pure: the caller reads files (and follows includes)
 * and passes text in; findings come back as data.
 */
#ifndef MAILOTP_PAMCONF_H
#define MAILOTP_PAMCONF_H

#include <stddef.h>

#define PAMCONF_MAX_ENTRIES  64U
#define PAMCONF_MAX_FINDINGS 32U

enum pamconf_role {
        ROLE_OTHER = 0,
        ROLE_MAILOTP_SIMPLE,
        ROLE_MAILOTP_SPLIT,
        ROLE_MAILOTP_VERIFY,
        ROLE_PASSWORD, /* pam_unix, pam_userdb, pam_ldap, pam_sss, pam_pwdfile, ... */
        ROLE_PERMIT,   /* pam_permit: succeeds for anyone */
};

struct pamconf_entry {
        char control[160]; /* "required" or "[success=done ...]" as written */
        char module[128];  /* module path or name as written */
        char args[512];    /* the remaining words */
        enum pamconf_role role;
        unsigned line; /* in the file it came from */
        char file[64]; /* that file's name (service or include) */
};

struct pamconf_stack {
        size_t n;
        struct pamconf_entry e[PAMCONF_MAX_ENTRIES];
};

enum pamconf_severity {
        SEV_NOTE = 0, /* worth knowing, nothing wrong */
        SEV_WARN,     /* works, but not as recommended */
        SEV_ERROR,    /* broken: logins that should work will fail */
        SEV_UNSAFE,   /* a failed or missing code can get through */
};

struct pamconf_finding {
        enum pamconf_severity sev;
        char id[40];    /* stable name, e.g. "split-without-verify" */
        char text[320]; /* what is wrong, with file:line */
        char fix[320];  /* the concrete fix */
};

struct pamconf_report {
        size_t n;
        struct pamconf_finding f[PAMCONF_MAX_FINDINGS];
};

/*
 * Append the auth lines of one file's text to the stack.  For every
 * "@include NAME" or "auth include|substack NAME" line, the callback is
 * asked for NAME's text (return 0 with text/len, or -1 when it cannot be
 * read, which becomes a finding); depth is bounded.  file names the text.
 */
typedef int (*pamconf_include_fn)(void *ctx, const char *name, char **text, size_t *len);

void pamconf_parse(struct pamconf_stack *st, const char *file, const char *text, size_t len,
                   pamconf_include_fn inc, void *ctx, struct pamconf_report *rep);

/* Judge the stack; findings are appended to rep. */
void pamconf_check(const struct pamconf_stack *st, const char *service, struct pamconf_report *rep);

/*
 * Judge `doveconf -n` output: a PAM passdb with cache_key (replays accepted
 * from Dovecot's cache) and a PAM passdb without %s in args (every protocol
 * shares one PAM service).
 */
void pamconf_check_dovecot(const char *text, size_t len, struct pamconf_report *rep);

/* Add a finding (silently dropped when the report is full). */
void pamconf_add(struct pamconf_report *rep, enum pamconf_severity sev, const char *id,
                 const char *fix, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

const char *pamconf_severity_name(enum pamconf_severity sev);

#endif
