/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "pamconf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_INCLUDE_DEPTH 4

void pamconf_add(struct pamconf_report *rep, enum pamconf_severity sev, const char *id,
                 const char *fix, const char *fmt, ...)
{
        struct pamconf_finding *f;
        va_list ap;

        if (rep->n >= PAMCONF_MAX_FINDINGS)
                return;
        f = &rep->f[rep->n++];
        memset(f, 0, sizeof(*f));
        f->sev = sev;
        (void)snprintf(f->id, sizeof(f->id), "%s", id);
        (void)snprintf(f->fix, sizeof(f->fix), "%s", fix);
        va_start(ap, fmt);
        (void)vsnprintf(f->text, sizeof(f->text), fmt, ap);
        va_end(ap);
}

const char *pamconf_severity_name(enum pamconf_severity sev)
{
        switch (sev) {
        case SEV_NOTE:
                return "note";
        case SEV_WARN:
                return "warning";
        case SEV_ERROR:
                return "error";
        case SEV_UNSAFE:
                return "unsafe";
        }
        return "unknown";
}

/* The module's file name without directories. */
static const char *base(const char *path)
{
        const char *s = strrchr(path, '/');

        return s != NULL ? s + 1 : path;
}

/* 1 when the space-separated word list `args` contains `word` (or "word=..."). */
static int has_word(const char *args, const char *word)
{
        size_t wl = strlen(word);
        const char *p = args;

        while (*p != '\0') {
                const char *e;

                while (*p == ' ' || *p == '\t')
                        p++;
                e = p;
                while (*e != '\0' && *e != ' ' && *e != '\t')
                        e++;
                if ((size_t)(e - p) >= wl && strncmp(p, word, wl) == 0 &&
                    ((size_t)(e - p) == wl || p[wl] == '='))
                        return 1;
                p = e;
        }
        return 0;
}

static enum pamconf_role role_of(const char *module, const char *args)
{
        static const char *const password_modules[] = {
            "pam_unix.so", "pam_userdb.so",  "pam_ldap.so",  "pam_sss.so",   "pam_pwdfile.so",
            "pam_krb5.so", "pam_winbind.so", "pam_mysql.so", "pam_pgsql.so", "pam_radius_auth.so",
        };
        const char *b = base(module);
        size_t i;

        if (strcmp(b, "pam_mailotp.so") == 0) {
                if (has_word(args, "split"))
                        return ROLE_MAILOTP_SPLIT;
                if (has_word(args, "verify"))
                        return ROLE_MAILOTP_VERIFY;
                return ROLE_MAILOTP_SIMPLE;
        }
        if (strcmp(b, "pam_permit.so") == 0)
                return ROLE_PERMIT;
        for (i = 0; i < sizeof(password_modules) / sizeof(password_modules[0]); i++) {
                if (strcmp(b, password_modules[i]) == 0)
                        return ROLE_PASSWORD;
        }
        return ROLE_OTHER;
}

/* Next word of a line; a '[' word runs to the matching ']' (spaces allowed). */
static const char *next_word(const char **p, size_t *len)
{
        const char *s = *p, *e;

        while (*s == ' ' || *s == '\t')
                s++;
        if (*s == '\0')
                return NULL;
        e = s;
        if (*s == '[') {
                while (*e != '\0' && *e != ']')
                        e++;
                if (*e == ']')
                        e++;
        } else {
                while (*e != '\0' && *e != ' ' && *e != '\t')
                        e++;
        }
        *len = (size_t)(e - s);
        *p = e;
        return s;
}

static void copy_word(char *dst, size_t dstsz, const char *w, size_t len)
{
        if (len >= dstsz)
                len = dstsz - 1;
        memcpy(dst, w, len);
        dst[len] = '\0';
}

static void parse_depth(struct pamconf_stack *st, const char *file, const char *text, size_t len,
                        pamconf_include_fn inc, void *ctx, struct pamconf_report *rep, int depth);

static void include(struct pamconf_stack *st, const char *name, pamconf_include_fn inc, void *ctx,
                    struct pamconf_report *rep, int depth, const char *from, unsigned line)
{
        char *text = NULL;
        size_t len = 0;

        if (depth >= MAX_INCLUDE_DEPTH) {
                pamconf_add(rep, SEV_ERROR, "include-too-deep", "simplify the includes",
                            "%s:%u: includes nested deeper than %d", from, line, MAX_INCLUDE_DEPTH);
                return;
        }
        if (inc == NULL || inc(ctx, name, &text, &len) != 0) {
                pamconf_add(rep, SEV_ERROR, "include-unreadable", "check the included file",
                            "%s:%u: cannot read included file %s", from, line, name);
                return;
        }
        parse_depth(st, name, text, len, inc, ctx, rep, depth + 1);
        free(text);
}

static void parse_depth(struct pamconf_stack *st, const char *file, const char *text, size_t len,
                        pamconf_include_fn inc, void *ctx, struct pamconf_report *rep, int depth)
{
        size_t pos = 0;
        unsigned lineno = 0;

        while (pos < len) {
                char line[1024];
                const char *nl = memchr(text + pos, '\n', len - pos);
                size_t n = nl != NULL ? (size_t)(nl - (text + pos)) : len - pos;
                const char *p, *w;
                size_t wl;
                char type[32], control[160], module[128];
                char *hash;

                lineno++;
                copy_word(line, sizeof(line), text + pos, n);
                pos += n + (nl != NULL ? 1 : 0);
                hash = strchr(line, '#');
                if (hash != NULL)
                        *hash = '\0';
                p = line;
                w = next_word(&p, &wl);
                if (w == NULL)
                        continue;
                copy_word(type, sizeof(type), w, wl);
                if (strcmp(type, "@include") == 0) {
                        w = next_word(&p, &wl);
                        if (w != NULL) {
                                copy_word(module, sizeof(module), w, wl);
                                include(st, module, inc, ctx, rep, depth, file, lineno);
                        }
                        continue;
                }
                if (strcmp(type, "auth") != 0 && strcmp(type, "-auth") != 0)
                        continue;
                w = next_word(&p, &wl);
                if (w == NULL)
                        continue;
                copy_word(control, sizeof(control), w, wl);
                w = next_word(&p, &wl);
                if (w == NULL)
                        continue;
                copy_word(module, sizeof(module), w, wl);
                if (strcmp(control, "include") == 0 || strcmp(control, "substack") == 0) {
                        include(st, module, inc, ctx, rep, depth, file, lineno);
                        continue;
                }
                if (st->n >= PAMCONF_MAX_ENTRIES)
                        continue;
                {
                        struct pamconf_entry *e = &st->e[st->n++];

                        memset(e, 0, sizeof(*e));
                        (void)snprintf(e->control, sizeof(e->control), "%.159s", control);
                        (void)snprintf(e->module, sizeof(e->module), "%.127s", module);
                        while (*p == ' ' || *p == '\t')
                                p++;
                        (void)snprintf(e->args, sizeof(e->args), "%.511s", p);
                        e->role = role_of(e->module, e->args);
                        e->line = lineno;
                        (void)snprintf(e->file, sizeof(e->file), "%.63s", file);
                }
        }
}

void pamconf_parse(struct pamconf_stack *st, const char *file, const char *text, size_t len,
                   pamconf_include_fn inc, void *ctx, struct pamconf_report *rep)
{
        parse_depth(st, file, text, len, inc, ctx, rep, 0);
}

/*
 * What the control does with a module result, as Linux-PAM reads it:
 * "ok", "done", "die", "bad", "ignore", "reset" or a jump count.
 */
static void action(const char *control, const char *result, char *out, size_t outsz)
{
        int failure = strcmp(result, "success") != 0 && strcmp(result, "ignore") != 0;

        if (strcmp(control, "required") == 0) {
                (void)snprintf(out, outsz, "%s",
                               strcmp(result, "success") == 0  ? "ok"
                               : strcmp(result, "ignore") == 0 ? "ignore"
                                                               : "bad");
        } else if (strcmp(control, "requisite") == 0) {
                (void)snprintf(out, outsz, "%s",
                               strcmp(result, "success") == 0  ? "ok"
                               : strcmp(result, "ignore") == 0 ? "ignore"
                                                               : "die");
        } else if (strcmp(control, "sufficient") == 0) {
                (void)snprintf(out, outsz, "%s",
                               strcmp(result, "success") == 0 ? "done" : "ignore");
        } else if (strcmp(control, "optional") == 0) {
                (void)snprintf(out, outsz, "%s", strcmp(result, "success") == 0 ? "ok" : "ignore");
        } else if (control[0] == '[') {
                char buf[160], *tok, *save = NULL, def[16] = "";
                size_t rl = strlen(result);

                (void)snprintf(buf, sizeof(buf), "%s", control + 1);
                buf[strcspn(buf, "]")] = '\0';
                out[0] = '\0';
                for (tok = strtok_r(buf, " \t", &save); tok != NULL;
                     tok = strtok_r(NULL, " \t", &save)) {
                        char *eq = strchr(tok, '=');

                        if (eq == NULL)
                                continue;
                        if ((size_t)(eq - tok) == rl && strncmp(tok, result, rl) == 0)
                                (void)snprintf(out, outsz, "%s", eq + 1);
                        else if (strncmp(tok, "default=", 8) == 0)
                                (void)snprintf(def, sizeof(def), "%s", eq + 1);
                }
                if (out[0] == '\0')
                        (void)snprintf(out, outsz, "%s", def[0] != '\0' ? def : "ignore");
        } else {
                (void)snprintf(out, outsz, "%s", failure ? "bad" : "ok");
        }
}

/* The module results that mean "no": each must stop the stack (die) or fail it (bad). */
static const char *const failures[] = {"auth_err",     "maxtries",    "authinfo_unavail",
                                       "user_unknown", "service_err", "buf_err",
                                       "system_err",   "conv_err",    "cred_insufficient"};

static int failure_ignored(const char *control, char *which, size_t whichsz)
{
        size_t i;
        char a[16];

        for (i = 0; i < sizeof(failures) / sizeof(failures[0]); i++) {
                action(control, failures[i], a, sizeof(a));
                if (strcmp(a, "die") != 0 && strcmp(a, "bad") != 0) {
                        (void)snprintf(which, whichsz, "%s=%s", failures[i], a);
                        return 1;
                }
        }
        return 0;
}

void pamconf_check(const struct pamconf_stack *st, const char *service, struct pamconf_report *rep)
{
        long front = -1, verify = -1, pass = -1;
        size_t i, fronts = 0;
        char which[48], a[16];

        for (i = 0; i < st->n; i++) {
                enum pamconf_role r = st->e[i].role;

                if (r == ROLE_MAILOTP_SIMPLE || r == ROLE_MAILOTP_SPLIT) {
                        fronts++;
                        if (front < 0)
                                front = (long)i;
                } else if (r == ROLE_MAILOTP_VERIFY && verify < 0) {
                        verify = (long)i;
                }
        }
        if (front < 0 && verify < 0) {
                pamconf_add(rep, SEV_WARN, "not-protected",
                            "add: auth [success=done ignore=ignore default=die] pam_mailotp.so "
                            "(before the password module)",
                            "service %s does not use pam_mailotp: no second factor", service);
                return;
        }
        if (fronts > 1)
                pamconf_add(rep, SEV_ERROR, "several-front-entries",
                            "keep one pam_mailotp entry before the password module",
                            "service %s has %zu pam_mailotp entries before verify", service,
                            fronts);
        if (front < 0) {
                const struct pamconf_entry *e = &st->e[verify];

                pamconf_add(rep, SEV_ERROR, "verify-without-split",
                            "add: auth [success=done ignore=ignore default=die] pam_mailotp.so "
                            "split (first, before the password module)",
                            "%s:%u: pam_mailotp.so verify without an earlier split: every "
                            "2FA user is refused",
                            e->file, e->line);
        }
        if (front >= 0) {
                const struct pamconf_entry *f = &st->e[front];

                if (f->role == ROLE_MAILOTP_SPLIT && verify < front)
                        pamconf_add(rep, SEV_UNSAFE, "split-without-verify",
                                    "add after the password module: auth required "
                                    "pam_mailotp.so verify",
                                    "%s:%u: pam_mailotp.so split with no later verify: codes "
                                    "are stripped but never checked",
                                    f->file, f->line);
                if (f->role == ROLE_MAILOTP_SIMPLE && verify > front)
                        pamconf_add(rep, SEV_ERROR, "verify-without-split",
                                    "use split in the first entry, or drop verify",
                                    "%s:%u: verify after a simple entry: there is no stashed "
                                    "code, every 2FA user is refused",
                                    st->e[verify].file, st->e[verify].line);
                if (failure_ignored(f->control, which, sizeof(which)))
                        pamconf_add(rep, SEV_UNSAFE, "failure-not-fatal",
                                    "use: auth [success=done ignore=ignore default=die] "
                                    "pam_mailotp.so",
                                    "%s:%u: control %s lets a refused code through (%s)", f->file,
                                    f->line, f->control, which);
                action(f->control, "ignore", a, sizeof(a));
                if (strcmp(a, "ignore") != 0 && strcmp(a, "ok") != 0)
                        pamconf_add(rep, SEV_UNSAFE, "ignore-not-ignored", "use ignore=ignore",
                                    "%s:%u: control %s turns PAM_IGNORE into %s: after a valid "
                                    "code the password would not be checked",
                                    f->file, f->line, f->control, a);
                action(f->control, "success", a, sizeof(a));
                if (strcmp(a, "done") != 0)
                        pamconf_add(rep, SEV_WARN, "app-passwords-rechecked",
                                    "use success=done (the module returns PAM_SUCCESS only for "
                                    "application passwords)",
                                    "%s:%u: control %s does not end the stack on PAM_SUCCESS: "
                                    "application passwords would be checked again by the "
                                    "password module and fail",
                                    f->file, f->line, f->control);
        }
        if (verify >= 0) {
                const struct pamconf_entry *v = &st->e[verify];

                if (failure_ignored(v->control, which, sizeof(which)))
                        pamconf_add(rep, SEV_UNSAFE, "verify-failure-not-fatal",
                                    "use: auth required pam_mailotp.so verify",
                                    "%s:%u: control %s lets a refused code through (%s)", v->file,
                                    v->line, v->control, which);
        }
        for (i = 0; i < st->n; i++) {
                const struct pamconf_entry *e = &st->e[i];

                if (e->role == ROLE_PASSWORD && front >= 0 && (long)i < front) {
                        pamconf_add(rep, SEV_UNSAFE, "password-before-mailotp",
                                    "move pam_mailotp before the password module",
                                    "%s:%u: %s runs before pam_mailotp: it sees password+code "
                                    "(and with sufficient would end the stack without a code)",
                                    e->file, e->line, e->module);
                        continue;
                }
                if (e->role == ROLE_PASSWORD && front >= 0 && pass < 0)
                        pass = (long)i;
                if (e->role == ROLE_PASSWORD && front >= 0 &&
                    !has_word(e->args, "use_first_pass")) {
                        if (has_word(e->args, "try_first_pass"))
                                pamconf_add(rep, SEV_WARN, "try-first-pass", "use use_first_pass",
                                            "%s:%u: %s with try_first_pass asks again when the "
                                            "forwarded password is wrong",
                                            e->file, e->line, e->module);
                        else
                                pamconf_add(rep, SEV_ERROR, "no-use-first-pass",
                                            "add use_first_pass to the password module",
                                            "%s:%u: %s without use_first_pass asks for the "
                                            "password again instead of checking the bare "
                                            "password pam_mailotp forwarded (Dovecot answers "
                                            "with password+code)",
                                            e->file, e->line, e->module);
                }
                if (e->role == ROLE_PASSWORD && front >= 0 && verify > (long)i && (long)i > front) {
                        action(e->control, "success", a, sizeof(a));
                        if (strcmp(a, "done") == 0)
                                pamconf_add(rep, SEV_UNSAFE, "verify-skipped",
                                            "use requisite for the password module",
                                            "%s:%u: %s with %s ends the stack on success, so "
                                            "verify never checks the code",
                                            e->file, e->line, e->module, e->control);
                        action(e->control, "auth_err", a, sizeof(a));
                        if (strcmp(a, "die") != 0)
                                pamconf_add(rep, SEV_WARN, "password-not-requisite",
                                            "use requisite for the password module in the "
                                            "hardened stack",
                                            "%s:%u: %s with %s: after a wrong password verify "
                                            "still runs, uses up the code and counts a failure",
                                            e->file, e->line, e->module, e->control);
                }
                if (e->role == ROLE_PERMIT && front >= 0 && (long)i > front) {
                        action(e->control, "success", a, sizeof(a));
                        if (strcmp(a, "ignore") != 0)
                                pamconf_add(rep, SEV_UNSAFE, "permit-after-mailotp",
                                            "remove pam_permit from the auth stack",
                                            "%s:%u: pam_permit succeeds for anyone: the "
                                            "password is not what decides",
                                            e->file, e->line);
                }
        }
        if (front >= 0 && pass < 0)
                pamconf_add(rep, SEV_UNSAFE, "no-password-module",
                            "add the password module after pam_mailotp, with use_first_pass",
                            "service %s checks no password after pam_mailotp (or doctor does "
                            "not know its password module)",
                            service);
}

void pamconf_check_dovecot(const char *text, size_t len, struct pamconf_report *rep)
{
        size_t pos = 0;
        unsigned lineno = 0;
        int in_passdb = 0, is_pam = 0, has_args = 0, args_ok = 0;
        unsigned start = 0;

        while (pos < len) {
                char line[1024], *p;
                const char *nl = memchr(text + pos, '\n', len - pos);
                size_t n = nl != NULL ? (size_t)(nl - (text + pos)) : len - pos;

                lineno++;
                copy_word(line, sizeof(line), text + pos, n);
                pos += n + (nl != NULL ? 1 : 0);
                for (p = line; *p == ' ' || *p == '\t'; p++)
                        ;
                if (strncmp(p, "passdb", 6) == 0 && strchr(p, '{') != NULL) {
                        in_passdb = 1;
                        is_pam = has_args = args_ok = 0;
                        start = lineno;
                        continue;
                }
                if (!in_passdb)
                        continue;
                if (strncmp(p, "driver", 6) == 0 && strstr(p, "pam") != NULL)
                        is_pam = 1;
                if (strncmp(p, "args", 4) == 0) {
                        has_args = 1;
                        if (strstr(p, "cache_key") != NULL)
                                pamconf_add(rep, SEV_UNSAFE, "dovecot-cache-key",
                                            "remove cache_key from the PAM passdb args",
                                            "doveconf line %u: PAM passdb with cache_key: "
                                            "Dovecot's auth cache would accept a replayed "
                                            "password+code without asking PAM",
                                            lineno);
                        if (strstr(p, "%s") != NULL || strstr(p, "%{service}") != NULL)
                                args_ok = 1;
                }
                if (*p == '}') {
                        if (is_pam && (!has_args || !args_ok))
                                pamconf_add(rep, SEV_NOTE, "dovecot-one-service",
                                            "set: passdb { driver = pam  args = %s }",
                                            "doveconf line %u: the PAM passdb uses one PAM "
                                            "service for every protocol (no %%s in args)",
                                            start);
                        in_passdb = 0;
                }
        }
}
