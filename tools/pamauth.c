/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pamauth: run one real libpam authentication (pam_start_confdir +
 * pam_authenticate + pam_end) the way a mail server or pamtester does.  For
 * the demo and the PAM-level tests; not installed.
 *
 *   pamauth [--confdir DIR] [--rhost HOST] [--mode dovecot|lines] SERVICE USER
 *
 * The answers come from standard input, one per line:
 *   dovecot  every hidden prompt gets the first line (the password), every
 *            visible prompt the username: what Dovecot's PAM passdb does;
 *   lines    each prompt gets the next line: a person (or pamtester) typing.
 * Exit status 0 when pam_authenticate succeeds, 1 when it fails, 2 on
 * usage or setup errors.  The PAM result name is printed on stdout.
 *
 * pamauth also defines pam_syslog()/pam_vsyslog() and exports them
 * (-rdynamic), so the modules' log lines, which on a server go to syslog,
 * are printed on stderr and appended to $PAMAUTH_SYSLOG when set: the demo
 * shows what an administrator would read, and the tests check the lines.
 *
 * With PAMAUTH_REPORT_MAPS=1, after pam_end pamauth prints
 * "pamauth: libcrypto-mapped=yes|no" on stderr: whether the login mapped
 * libcrypto into the process (the module loads it only for keyed hashes).
 */
#include <security/pam_appl.h>
#include <security/pam_ext.h>

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "pam_names.h"

#define MAX_LINES    8
#define LINE_MAX_LEN 70000

void pam_vsyslog(const pam_handle_t *pamh, int priority, const char *fmt, va_list args)
{
        const void *service = NULL;
        const char *path = getenv("PAMAUTH_SYSLOG");
        char msg[2048];

        (void)pam_get_item(pamh, PAM_SERVICE, &service);
        (void)vsnprintf(msg, sizeof(msg), fmt, args);
        fprintf(stderr, "syslog[%d] pam(%s:auth): %s\n", priority,
                service != NULL ? (const char *)service : "?", msg);
        if (path != NULL) {
                FILE *f = fopen(path, "a");

                if (f != NULL) {
                        fprintf(f, "%d %s\n", priority, msg);
                        fclose(f);
                }
        }
}

void pam_syslog(const pam_handle_t *pamh, int priority, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        pam_vsyslog(pamh, priority, fmt, ap);
        va_end(ap);
}

struct answers {
        int dovecot;
        const char *user;
        char *lines[MAX_LINES];
        int nlines;
        int next;
};

static int converse(int n, const struct pam_message **msg, struct pam_response **resp, void *data)
{
        struct answers *a = data;
        struct pam_response *r;
        int i;

        if (n <= 0 || n > PAM_MAX_NUM_MSG)
                return PAM_CONV_ERR;
        r = calloc((size_t)n, sizeof(*r));
        if (r == NULL)
                return PAM_BUF_ERR;
        for (i = 0; i < n; i++) {
                const char *ans = NULL;

                switch (msg[i]->msg_style) {
                case PAM_PROMPT_ECHO_OFF:
                        if (a->dovecot)
                                ans = a->nlines > 0 ? a->lines[0] : "";
                        else
                                ans = a->next < a->nlines ? a->lines[a->next++] : NULL;
                        fprintf(stderr, "pamauth: hidden prompt \"%s\"\n", msg[i]->msg);
                        break;
                case PAM_PROMPT_ECHO_ON:
                        if (a->dovecot)
                                ans = a->user;
                        else
                                ans = a->next < a->nlines ? a->lines[a->next++] : NULL;
                        fprintf(stderr, "pamauth: visible prompt \"%s\"\n", msg[i]->msg);
                        break;
                default:
                        fprintf(stderr, "pamauth: message \"%s\"\n", msg[i]->msg);
                        continue;
                }
                if (ans == NULL) {
                        free(r);
                        return PAM_CONV_ERR;
                }
                r[i].resp = strdup(ans);
                if (r[i].resp == NULL) {
                        free(r);
                        return PAM_BUF_ERR;
                }
        }
        *resp = r;
        return PAM_SUCCESS;
}

/* "yes" when a libcrypto.so* is mapped into this process (/proc/self/maps), else "no". */
static const char *libcrypto_mapped(void)
{
        FILE *f = fopen("/proc/self/maps", "re");
        char line[4096];
        const char *ans = "no";

        if (f == NULL)
                return "unknown";
        while (fgets(line, sizeof(line), f) != NULL) {
                if (strstr(line, "/libcrypto.so") != NULL)
                        ans = "yes";
        }
        fclose(f);
        return ans;
}

static int read_lines(struct answers *a)
{
        char *buf = malloc(LINE_MAX_LEN + 2);

        if (buf == NULL)
                return -1;
        while (a->nlines < MAX_LINES && fgets(buf, LINE_MAX_LEN + 2, stdin) != NULL) {
                size_t len = strlen(buf);

                if (len > 0 && buf[len - 1] == '\n')
                        buf[--len] = '\0';
                a->lines[a->nlines] = strdup(buf);
                if (a->lines[a->nlines] == NULL)
                        break;
                a->nlines++;
        }
        free(buf);
        return 0;
}

int main(int argc, char **argv)
{
        static const struct option longopts[] = {
            {"confdir", required_argument, NULL, 'c'},
            {"rhost", required_argument, NULL, 'r'},
            {"mode", required_argument, NULL, 'm'},
            {NULL, 0, NULL, 0},
        };
        struct answers a;
        struct pam_conv conv;
        pam_handle_t *pamh = NULL;
        const char *confdir = NULL, *rhost = NULL, *report;
        int opt, rc, i;

        memset(&a, 0, sizeof(a));
        a.dovecot = 1;
        while ((opt = getopt_long(argc, argv, "c:r:m:", longopts, NULL)) != -1) {
                switch (opt) {
                case 'c':
                        confdir = optarg;
                        break;
                case 'r':
                        rhost = optarg;
                        break;
                case 'm':
                        if (strcmp(optarg, "dovecot") == 0)
                                a.dovecot = 1;
                        else if (strcmp(optarg, "lines") == 0)
                                a.dovecot = 0;
                        else
                                return 2;
                        break;
                default:
                        fprintf(stderr, "usage: pamauth [--confdir DIR] [--rhost HOST] "
                                        "[--mode dovecot|lines] SERVICE USER < answers\n");
                        return 2;
                }
        }
        if (optind + 2 != argc) {
                fprintf(stderr, "pamauth: need SERVICE and USER\n");
                return 2;
        }
        a.user = argv[optind + 1];
        if (read_lines(&a) != 0)
                return 2;
        conv.conv = converse;
        conv.appdata_ptr = &a;
        rc = pam_start_confdir(argv[optind], a.user, &conv, confdir, &pamh);
        if (rc != PAM_SUCCESS) {
                fprintf(stderr, "pamauth: pam_start_confdir: %s\n", pam_strerror(NULL, rc));
                return 2;
        }
        if (rhost != NULL)
                (void)pam_set_item(pamh, PAM_RHOST, rhost);
        rc = pam_authenticate(pamh, 0);
        printf("%s (%s)\n", pam_result_name(rc), pam_strerror(pamh, rc));
        fflush(stdout);
        (void)pam_end(pamh, rc);
        report = getenv("PAMAUTH_REPORT_MAPS");
        if (report != NULL && strcmp(report, "1") == 0)
                fprintf(stderr, "pamauth: libcrypto-mapped=%s\n", libcrypto_mapped());
        for (i = 0; i < a.nlines; i++)
                free(a.lines[i]);
        return rc == PAM_SUCCESS ? 0 : 1;
}
