/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * hostile_conv: one real libpam authentication (pam_start_confdir +
 * pam_authenticate + pam_end) with a conversation that can misbehave, for the
 * catalogue of bad input (tests/hostile/test_catalogue.py).  Test-only, never
 * installed.
 *
 *   hostile_conv --confdir DIR [--rhost HOST] [--conv MODE]
 *                [--user-hex HEX | --no-user] [--user-answer-hex HEX]
 *                [--answer-hex HEX | --answer-file PATH] [--second-answer-hex HEX]
 *                SERVICE
 *
 * Username and answers are given in hex (or, for the answer, as the raw bytes
 * of a file: a 64 KiB answer does not fit in one argument) so that any byte
 * can be sent: an embedded NUL, invalid UTF-8, a trailing newline or CR.  The username goes to
 * pam_start_confdir() (so a NUL truncates it, as it would in any C caller);
 * with --no-user the module has to ask for it through the conversation, which
 * answers visible prompts with --user-answer-hex.
 *
 * Conversation modes (--conv):
 *   answer      every hidden prompt gets the answer bytes (a buffer of their
 *               full length, embedded NULs included), every visible prompt
 *               the user answer: what Dovecot's PAM passdb does (default);
 *               with --second-answer-hex, hidden prompts after the first get
 *               those bytes instead (a person answering a second prompt)
 *   null-array  return PAM_SUCCESS but no response array (*resp = NULL)
 *   null-text   return a response array whose resp pointer is NULL
 *   conv-err    return PAM_CONV_ERR
 *   buf-err     return PAM_BUF_ERR
 *   first-only  answer the first hidden prompt, fail every later one with
 *               PAM_CONV_ERR (a second prompt nobody answers)
 *
 * Output: the PAM result name on stdout, as tools/pamauth.c prints it.  The
 * modules' log lines are captured as pamauth does: pam_syslog()/pam_vsyslog()
 * are defined here and exported, and append "PRIO MESSAGE" lines to
 * $PAMAUTH_SYSLOG.
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

#define BYTES_MAX (256U * 1024U) /* longest username or answer */

void pam_vsyslog(const pam_handle_t *pamh, int priority, const char *fmt, va_list args)
{
        const char *path = getenv("PAMAUTH_SYSLOG");
        char msg[2048];
        FILE *f;

        (void)pamh;
        (void)vsnprintf(msg, sizeof(msg), fmt, args);
        fprintf(stderr, "syslog[%d]: %s\n", priority, msg);
        if (path != NULL && (f = fopen(path, "a")) != NULL) {
                fprintf(f, "%d %s\n", priority, msg);
                fclose(f);
        }
}

void pam_syslog(const pam_handle_t *pamh, int priority, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        pam_vsyslog(pamh, priority, fmt, ap);
        va_end(ap);
}

enum conv_mode { CONV_ANSWER, CONV_NULL_ARRAY, CONV_NULL_TEXT, CONV_ERR, CONV_BUF_ERR, CONV_FIRST };

struct bytes {
        char *p; /* always NUL-terminated after len bytes */
        size_t len;
};

struct state {
        enum conv_mode mode;
        struct bytes answer;
        struct bytes second_answer; /* len 0 and p NULL: none */
        struct bytes user_answer;
        int hidden_prompts;
};

/* A fresh copy of b: all len bytes (embedded NULs too) plus a terminating NUL. */
static char *copy_bytes(const struct bytes *b)
{
        char *p = malloc(b->len + 1);

        if (p != NULL) {
                memcpy(p, b->p, b->len);
                p[b->len] = '\0';
        }
        return p;
}

static int converse(int n, const struct pam_message **msg, struct pam_response **resp, void *data)
{
        struct state *s = data;
        struct pam_response *r;
        int i;

        *resp = NULL;
        if (n <= 0 || n > PAM_MAX_NUM_MSG)
                return PAM_CONV_ERR;
        switch (s->mode) {
        case CONV_NULL_ARRAY:
                return PAM_SUCCESS;
        case CONV_ERR:
                return PAM_CONV_ERR;
        case CONV_BUF_ERR:
                return PAM_BUF_ERR;
        default:
                break;
        }
        r = calloc((size_t)n, sizeof(*r));
        if (r == NULL)
                return PAM_BUF_ERR;
        for (i = 0; i < n; i++) {
                const struct bytes *b = NULL;

                if (msg[i]->msg_style == PAM_PROMPT_ECHO_OFF) {
                        s->hidden_prompts++;
                        if (s->mode == CONV_FIRST && s->hidden_prompts > 1) {
                                free(r);
                                return PAM_CONV_ERR;
                        }
                        b = s->hidden_prompts > 1 && s->second_answer.p != NULL ? &s->second_answer
                                                                                : &s->answer;
                } else if (msg[i]->msg_style == PAM_PROMPT_ECHO_ON) {
                        b = &s->user_answer;
                }
                fprintf(stderr, "hostile_conv: prompt style %d \"%s\"\n", msg[i]->msg_style,
                        msg[i]->msg != NULL ? msg[i]->msg : "(null)");
                if (b == NULL || s->mode == CONV_NULL_TEXT)
                        continue; /* resp stays NULL */
                r[i].resp = copy_bytes(b);
                if (r[i].resp == NULL) {
                        free(r);
                        return PAM_BUF_ERR;
                }
        }
        *resp = r;
        return PAM_SUCCESS;
}

static int hexval(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* Decode hex text into b (0 ok, -1 bad hex or too long). */
static int unhex(const char *hex, struct bytes *b)
{
        size_t n = strlen(hex), i;

        if (n % 2 != 0 || n / 2 > BYTES_MAX)
                return -1;
        b->p = malloc(n / 2 + 1);
        if (b->p == NULL)
                return -1;
        for (i = 0; i < n / 2; i++) {
                int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);

                if (hi < 0 || lo < 0) {
                        free(b->p);
                        b->p = NULL;
                        return -1;
                }
                b->p[i] = (char)(hi * 16 + lo);
        }
        b->p[n / 2] = '\0';
        b->len = n / 2;
        return 0;
}

/* Read the whole file into b (0 ok, -1 error or too long). */
static int slurp(const char *path, struct bytes *b)
{
        FILE *f = fopen(path, "rb");
        size_t n;

        if (f == NULL)
                return -1;
        b->p = malloc(BYTES_MAX + 1);
        if (b->p == NULL) {
                fclose(f);
                return -1;
        }
        n = fread(b->p, 1, BYTES_MAX + 1, f);
        fclose(f);
        if (n > BYTES_MAX) {
                free(b->p);
                b->p = NULL;
                return -1;
        }
        b->p[n] = '\0';
        b->len = n;
        return 0;
}

static int parse_mode(const char *s, enum conv_mode *m)
{
        static const struct {
                const char *name;
                enum conv_mode mode;
        } modes[] = {
            {"answer", CONV_ANSWER}, {"null-array", CONV_NULL_ARRAY}, {"null-text", CONV_NULL_TEXT},
            {"conv-err", CONV_ERR},  {"buf-err", CONV_BUF_ERR},       {"first-only", CONV_FIRST},
        };
        size_t i;

        for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
                if (strcmp(s, modes[i].name) == 0) {
                        *m = modes[i].mode;
                        return 0;
                }
        }
        return -1;
}

int main(int argc, char **argv)
{
        static const struct option longopts[] = {
            {"confdir", required_argument, NULL, 'c'},
            {"rhost", required_argument, NULL, 'r'},
            {"conv", required_argument, NULL, 'm'},
            {"user-hex", required_argument, NULL, 'u'},
            {"no-user", no_argument, NULL, 'n'},
            {"user-answer-hex", required_argument, NULL, 'U'},
            {"answer-hex", required_argument, NULL, 'a'},
            {"answer-file", required_argument, NULL, 'f'},
            {"second-answer-hex", required_argument, NULL, 's'},
            {NULL, 0, NULL, 0},
        };
        struct state s;
        struct bytes user = {NULL, 0};
        struct pam_conv conv;
        pam_handle_t *pamh = NULL;
        const char *confdir = NULL, *rhost = NULL;
        int opt, rc, no_user = 0;

        memset(&s, 0, sizeof(s));
        s.mode = CONV_ANSWER;
        while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
                int bad = 0;

                switch (opt) {
                case 'c':
                        confdir = optarg;
                        break;
                case 'r':
                        rhost = optarg;
                        break;
                case 'm':
                        bad = parse_mode(optarg, &s.mode);
                        break;
                case 'u':
                        bad = unhex(optarg, &user);
                        break;
                case 'n':
                        no_user = 1;
                        break;
                case 'U':
                        bad = unhex(optarg, &s.user_answer);
                        break;
                case 'a':
                        bad = s.answer.p != NULL || unhex(optarg, &s.answer) != 0;
                        break;
                case 'f':
                        bad = s.answer.p != NULL || slurp(optarg, &s.answer) != 0;
                        break;
                case 's':
                        bad = s.second_answer.p != NULL || unhex(optarg, &s.second_answer) != 0;
                        break;
                default:
                        bad = 1;
                        break;
                }
                if (bad) {
                        fprintf(stderr, "usage: hostile_conv --confdir DIR [--rhost HOST] "
                                        "[--conv MODE] [--user-hex HEX|--no-user] "
                                        "[--user-answer-hex HEX] "
                                        "[--answer-hex HEX|--answer-file PATH] "
                                        "[--second-answer-hex HEX] SERVICE\n");
                        return 2;
                }
        }
        if (optind + 1 != argc || (user.p == NULL && !no_user)) {
                fprintf(stderr, "hostile_conv: need SERVICE and --user-hex or --no-user\n");
                return 2;
        }
        if (s.answer.p == NULL && unhex("", &s.answer) != 0)
                return 2;
        if (s.user_answer.p == NULL && unhex("", &s.user_answer) != 0)
                return 2;
        conv.conv = converse;
        conv.appdata_ptr = &s;
        rc = pam_start_confdir(argv[optind], no_user ? NULL : user.p, &conv, confdir, &pamh);
        if (rc != PAM_SUCCESS) {
                fprintf(stderr, "hostile_conv: pam_start_confdir: %s\n", pam_strerror(NULL, rc));
                return 2;
        }
        if (rhost != NULL)
                (void)pam_set_item(pamh, PAM_RHOST, rhost);
        rc = pam_authenticate(pamh, 0);
        printf("%s (%s)\n", pam_result_name(rc), pam_strerror(pamh, rc));
        fflush(stdout);
        (void)pam_end(pamh, rc);
        free(user.p);
        free(s.answer.p);
        free(s.second_answer.p);
        free(s.user_answer.p);
        return rc == PAM_SUCCESS ? 0 : 1;
}
