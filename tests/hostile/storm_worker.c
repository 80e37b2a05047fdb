/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * storm_worker: one process of the concurrency storm (tests/hostile/storm.py).
 * It runs a plan of logins through the real module in a real libpam stack,
 * looping pam_start_confdir + pam_authenticate + pam_end in one process so
 * that 32 of them can run thousands of logins without process-start costs.
 * Test-only, never installed.
 *
 *   storm_worker --confdir DIR --store DIR --users FILE --codes FILE
 *                --worker N --seed S [--preload MODULE]... < PLAN > RECORDS
 *
 * --preload dlopen()s a module once up front, so that libpam's dlopen and
 * dlclose on every pam_start/pam_end only count references instead of
 * loading and relocating the module and its libraries (liboath, libcrypto)
 * again for each login, as a long-running auth worker would.  The module
 * keeps no state between calls, so this changes nothing it decides.
 *
 * USERS: one line per user: "IDX NAME SERVICE LOCKOUT_SERVICE PASSWORD APPPW".
 * CODES: one line per user: "IDX FIRST_STEP CODE CODE ...", the user's TOTP
 * codes for consecutive steps from FIRST_STEP, made by oathtool (the
 * independent oracle); the worker never computes a code itself.
 * PLAN: one attempt per line: "ROUND USER KIND".  KIND is
 *   V0  password + code of the current step
 *   V1  password + code of the next step
 *   R   password + code of the user's last used step (read from the user's
 *       file): a sure replay, sent only while that step is not older than the
 *       current one, so that it is inside the window whenever the module
 *       looks (else the attempt is recorded as SKIPPED and not made)
 *   W   password + a wrong code (equal to no code in the table)
 *   A   the user's application password
 *   P   a wrong password + the current code (hardened stack: neither used nor counted)
 *   W2  as W, through LOCKOUT_SERVICE
 *   V2  as V1, through LOCKOUT_SERVICE
 * RECORDS: one line per attempt:
 *   "ROUND WORKER USER KIND STEP RESULT REASON FAILURES T0 T1 SEEN_STEP LOGLINES NOLAST"
 * STEP is the step whose code was sent (-1 for none), RESULT the PAM result
 * name (or SKIPPED), REASON the reason= of the module's last outcome line ("-" when it
 * logged none), FAILURES its failures= field (-1 when absent), T0/T1 the
 * CLOCK_MONOTONIC nanoseconds around pam_authenticate, SEEN_STEP the
 * last_step read from the user's file right after a code success (-1
 * otherwise), LOGLINES how many lines the module logged, NOLAST 1 when it
 * said the outcome could not be written to the last-logins log.
 */
#include <security/pam_appl.h>
#include <security/pam_ext.h>

#include <dlfcn.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "pam_names.h"

#define MAX_USERS  64
#define MAX_STEPS  64
#define FIELD_MAX  128
#define PERIOD     30
#define CODE_SPACE 1000000U

struct user {
        char name[FIELD_MAX];
        char service[FIELD_MAX];
        char lockout_service[FIELD_MAX];
        char password[FIELD_MAX];
        char apppw[FIELD_MAX];
        long long first_step;
        int nsteps;
        char codes[MAX_STEPS][12];
};

/* What the module logged during the current attempt. */
static struct {
        char reason[FIELD_MAX];
        long failures;
        int lines;
        int nolast;
} seen;

/* Copy the value after `key` in msg (up to a space) into out. */
static void field(const char *msg, const char *key, char *out, size_t outsz)
{
        const char *p = strstr(msg, key);
        size_t n = 0;

        out[0] = '\0';
        if (p == NULL)
                return;
        p += strlen(key);
        while (p[n] != '\0' && p[n] != ' ' && n + 1 < outsz)
                n++;
        memcpy(out, p, n);
        out[n] = '\0';
}

void pam_vsyslog(const pam_handle_t *pamh, int priority, const char *fmt, va_list args)
{
        char msg[2048], num[32];

        (void)pamh;
        (void)priority;
        (void)vsnprintf(msg, sizeof(msg), fmt, args);
        seen.lines++;
        if (strncmp(msg, "result=", 7) == 0) {
                if (strncmp(msg, "result=error ", 13) == 0)
                        fprintf(stderr, "storm_worker: %s\n", msg); /* with its detail */
                field(msg, " reason=", seen.reason, sizeof(seen.reason));
                field(msg, " failures=", num, sizeof(num));
                seen.failures = num[0] != '\0' ? strtol(num, NULL, 10) : -1;
        } else if (strncmp(msg, "configuration error", 19) == 0) {
                (void)snprintf(seen.reason, sizeof(seen.reason), "config-error");
        } else if (strncmp(msg, "last-logins log not written", 27) == 0) {
                seen.nolast = 1;
                fprintf(stderr, "storm_worker: %s\n", msg);
        } else {
                (void)snprintf(seen.reason, sizeof(seen.reason), "unexpected-log-line");
                fprintf(stderr, "storm_worker: unexpected log line: %s\n", msg);
        }
}

void pam_syslog(const pam_handle_t *pamh, int priority, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        pam_vsyslog(pamh, priority, fmt, ap);
        va_end(ap);
}

struct answer {
        const char *user;
        const char *text;
};

/* Dovecot-like: every hidden prompt gets the string, every visible one the user. */
static int converse(int n, const struct pam_message **msg, struct pam_response **resp, void *data)
{
        const struct answer *a = data;
        struct pam_response *r;
        int i;

        if (n <= 0 || n > PAM_MAX_NUM_MSG)
                return PAM_CONV_ERR;
        r = calloc((size_t)n, sizeof(*r));
        if (r == NULL)
                return PAM_BUF_ERR;
        for (i = 0; i < n; i++) {
                const char *s = msg[i]->msg_style == PAM_PROMPT_ECHO_OFF  ? a->text
                                : msg[i]->msg_style == PAM_PROMPT_ECHO_ON ? a->user
                                                                          : NULL;

                if (s == NULL)
                        continue;
                r[i].resp = strdup(s);
                if (r[i].resp == NULL) {
                        for (i = 0; i < n; i++)
                                free(r[i].resp);
                        free(r);
                        return PAM_BUF_ERR;
                }
        }
        *resp = r;
        return PAM_SUCCESS;
}

static int64_t mono_ns(void)
{
        struct timespec ts;

        (void)clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int load_users(const char *path, struct user *u, int *n)
{
        char line[1024];
        FILE *f = fopen(path, "r");

        if (f == NULL)
                return -1;
        *n = 0;
        while (fgets(line, sizeof(line), f) != NULL) {
                int idx;

                if (sscanf(line, "%d %127s %127s %127s %127s %127s", &idx, u[*n].name,
                           u[*n].service, u[*n].lockout_service, u[*n].password,
                           u[*n].apppw) != 6 ||
                    idx != *n || *n >= MAX_USERS - 1) {
                        fclose(f);
                        return -1;
                }
                (*n)++;
        }
        fclose(f);
        return 0;
}

static int load_codes(const char *path, struct user *u, int n)
{
        char line[4096];
        FILE *f = fopen(path, "r");

        if (f == NULL)
                return -1;
        while (fgets(line, sizeof(line), f) != NULL) {
                char *save = NULL, *tok = strtok_r(line, " \n", &save);
                int idx = tok != NULL ? atoi(tok) : -1;

                if (idx < 0 || idx >= n || (tok = strtok_r(NULL, " \n", &save)) == NULL) {
                        fclose(f);
                        return -1;
                }
                u[idx].first_step = atoll(tok);
                while ((tok = strtok_r(NULL, " \n", &save)) != NULL && u[idx].nsteps < MAX_STEPS) {
                        (void)snprintf(u[idx].codes[u[idx].nsteps], sizeof(u[idx].codes[0]), "%s",
                                       tok);
                        u[idx].nsteps++;
                }
        }
        fclose(f);
        return 0;
}

/* The oracle's code for `step`, or NULL when the table does not reach it. */
static const char *code_for(const struct user *u, long long step)
{
        long long i = step - u->first_step;

        if (i < 0 || i >= u->nsteps)
                return NULL;
        return u->codes[i];
}

/* A code equal to none in the user's table: wrong at every step the run can reach. */
static void wrong_code(const struct user *u, uint64_t *rng, char out[12])
{
        for (;;) {
                int i, clash = 0;

                *rng = *rng * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
                (void)snprintf(out, 12, "%06u", (unsigned)((*rng >> 33) % CODE_SPACE));
                for (i = 0; i < u->nsteps; i++)
                        clash |= strcmp(out, u->codes[i]) == 0;
                if (!clash)
                        return;
        }
}

/*
 * The user file's current payload, decoded here from the format description
 * (src/slots.h, src/userfile.h), not with the module's code: DIR/users/KEY,
 * 8192 bytes, two 4096-byte slots "MOTPSLOT", seq (u64 LE), length (u32 LE),
 * CRC-32 of bytes 0..19 and the payload (u32 LE), payload; the valid slot
 * with the higher seq counts.  The payload is the record's text up to its
 * first "end" line, then the state's text.  The CRC is table-driven (the
 * module's is bitwise) and checked against the standard check value at
 * start-up.
 */
#define SLOT_SIZE   4096U
#define SLOT_HEADER 24U

static uint32_t crc_table[256];

static void crc_init(void)
{
        static const char check[] = "123456789";
        uint32_t c, crc = 0xFFFFFFFFU;
        unsigned i, k;

        for (i = 0; i < 256; i++) {
                c = i;
                for (k = 0; k < 8; k++)
                        c = (c & 1U) ? 0xEDB88320U ^ (c >> 1) : c >> 1;
                crc_table[i] = c;
        }
        for (i = 0; i < sizeof(check) - 1; i++)
                crc = crc_table[(crc ^ (unsigned char)check[i]) & 0xFFU] ^ (crc >> 8);
        if ((crc ^ 0xFFFFFFFFU) != 0xCBF43926U) {
                fprintf(stderr, "storm_worker: CRC-32 table is wrong\n");
                exit(2);
        }
}

static uint32_t crc_update(uint32_t crc, const unsigned char *p, size_t n)
{
        while (n-- > 0)
                crc = crc_table[(crc ^ *p++) & 0xFFU] ^ (crc >> 8);
        return crc;
}

static uint64_t le(const unsigned char *p, unsigned n)
{
        uint64_t v = 0;
        unsigned i;

        for (i = 0; i < n; i++)
                v |= (uint64_t)p[i] << (8 * i);
        return v;
}

/* 1 and seq, payload, length for a valid slot, else 0. */
static int slot_valid(const unsigned char *slot, uint64_t *seq, const unsigned char **payload,
                      size_t *len)
{
        uint64_t l = le(slot + 16, 4);
        uint32_t crc;

        if (memcmp(slot, "MOTPSLOT", 8) != 0 || le(slot + 8, 8) == 0 || l == 0 ||
            l > SLOT_SIZE - SLOT_HEADER)
                return 0;
        crc = crc_update(0xFFFFFFFFU, slot, 20);
        crc = crc_update(crc, slot + SLOT_HEADER, (size_t)l) ^ 0xFFFFFFFFU;
        if (crc != (uint32_t)le(slot + 20, 4))
                return 0;
        *seq = le(slot + 8, 8);
        *payload = slot + SLOT_HEADER;
        *len = (size_t)l;
        return 1;
}

/*
 * last_step from the state part of the user file (read without the lock: a
 * torn slot is skipped); -2 while there is no users/KEY (a user still in the
 * 0.2.0 layout: a replay then is SKIPPED), -4 when the payload has no record
 * part.
 */
static long long read_last_step(const char *store, const char *name)
{
        static unsigned char img[2 * SLOT_SIZE + 1];
        const unsigned char *pl[2] = {NULL, NULL};
        char path[4096], text[SLOT_SIZE + 1], *p;
        uint64_t seq[2] = {0, 0};
        size_t got, len[2] = {0, 0};
        int ok[2], i;
        long long v = -1;
        FILE *f;

        (void)snprintf(path, sizeof(path), "%s/users/%s", store, name);
        f = fopen(path, "rb");
        if (f == NULL)
                return -2;
        got = fread(img, 1, sizeof(img), f);
        fclose(f);
        if (got != 2 * SLOT_SIZE)
                return -3;
        for (i = 0; i < 2; i++)
                ok[i] = slot_valid(img + (size_t)i * SLOT_SIZE, &seq[i], &pl[i], &len[i]);
        if ((!ok[0] && !ok[1]) || (ok[0] && ok[1] && seq[0] == seq[1]))
                return -3;
        i = ok[0] && (!ok[1] || seq[0] > seq[1]) ? 0 : 1;
        memcpy(text, pl[i], len[i]);
        text[len[i]] = '\0';
        /* the state part: after the record's "end" line */
        if (strncmp(text, "end\n", 4) == 0)
                p = text + 4;
        else if ((p = strstr(text, "\nend\n")) != NULL)
                p += 5;
        else
                return -4;
        while (*p != '\0') {
                char *nl = strchr(p, '\n');

                if (sscanf(p, "last_step = %lld", &v) == 1)
                        break;
                if (nl == NULL)
                        break;
                p = nl + 1;
        }
        return v;
}

int main(int argc, char **argv)
{
        static const struct option longopts[] = {
            {"confdir", required_argument, NULL, 'c'}, {"store", required_argument, NULL, 's'},
            {"users", required_argument, NULL, 'u'},   {"codes", required_argument, NULL, 'k'},
            {"worker", required_argument, NULL, 'w'},  {"seed", required_argument, NULL, 'S'},
            {"preload", required_argument, NULL, 'p'}, {NULL, 0, NULL, 0},
        };
        static struct user users[MAX_USERS];
        const char *confdir = NULL, *store = NULL, *users_path = NULL, *codes_path = NULL;
        char line[256];
        int nusers = 0, worker = 0, opt, errors = 0;
        uint64_t rng = 1;

        crc_init();
        while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
                switch (opt) {
                case 'c':
                        confdir = optarg;
                        break;
                case 's':
                        store = optarg;
                        break;
                case 'u':
                        users_path = optarg;
                        break;
                case 'k':
                        codes_path = optarg;
                        break;
                case 'w':
                        worker = atoi(optarg);
                        break;
                case 'S':
                        rng = strtoull(optarg, NULL, 10);
                        break;
                case 'p':
                        if (dlopen(optarg, RTLD_NOW) == NULL) {
                                fprintf(stderr, "storm_worker: %s\n", dlerror());
                                return 2;
                        }
                        break;
                default:
                        return 2;
                }
        }
        if (confdir == NULL || store == NULL || users_path == NULL || codes_path == NULL ||
            load_users(users_path, users, &nusers) != 0 ||
            load_codes(codes_path, users, nusers) != 0) {
                fprintf(stderr, "storm_worker: bad arguments or input files\n");
                return 2;
        }
        rng ^= UINT64_C(0x9E3779B97F4A7C15) * (uint64_t)(unsigned)worker;
        while (fgets(line, sizeof(line), stdin) != NULL) {
                char kind[8], text[2 * FIELD_MAX + 16], wrong[12];
                const char *service, *code = NULL;
                struct answer ans;
                struct pam_conv conv;
                pam_handle_t *pamh = NULL;
                long long step = -1, seen_step = -1;
                int round, ui, rc;
                int64_t t0, t1;
                const struct user *u;
                long long now_step = (long long)(time(NULL) / PERIOD);

                if (sscanf(line, "%d %d %7s", &round, &ui, kind) != 3 || ui < 0 || ui >= nusers) {
                        fprintf(stderr, "storm_worker: bad plan line: %s", line);
                        return 2;
                }
                u = &users[ui];
                service = u->service;
                /* The whole window around now must be in the table, or "wrong" is unproven. */
                if (code_for(u, now_step - 2) == NULL || code_for(u, now_step + 2) == NULL) {
                        printf("%d %d %d %s -1 NO_TABLE - -1 0 0 -1 0 0\n", round, worker, ui,
                               kind);
                        errors++;
                        continue;
                }
                if (strcmp(kind, "V0") == 0) {
                        step = now_step;
                } else if (strcmp(kind, "V1") == 0 || strcmp(kind, "V2") == 0) {
                        step = now_step + 1;
                } else if (strcmp(kind, "R") == 0) {
                        step = read_last_step(store, u->name);
                        if (step < now_step) {
                                printf("%d %d %d %s %lld SKIPPED - -1 0 0 -1 0 0\n", round, worker,
                                       ui, kind, step);
                                continue;
                        }
                } else if (strcmp(kind, "P") == 0) {
                        step = now_step;
                }
                if (step >= 0 && (code = code_for(u, step)) == NULL) {
                        printf("%d %d %d %s %lld NO_TABLE - -1 0 0 -1 0 0\n", round, worker, ui,
                               kind, step);
                        errors++;
                        continue;
                }
                if (strcmp(kind, "A") == 0) {
                        (void)snprintf(text, sizeof(text), "%s", u->apppw);
                } else if (strcmp(kind, "W") == 0 || strcmp(kind, "W2") == 0) {
                        wrong_code(u, &rng, wrong);
                        (void)snprintf(text, sizeof(text), "%s%s", u->password, wrong);
                } else if (strcmp(kind, "P") == 0) {
                        (void)snprintf(text, sizeof(text), "x%s%s", u->password, code);
                } else if (code != NULL) {
                        (void)snprintf(text, sizeof(text), "%s%s", u->password, code);
                } else {
                        fprintf(stderr, "storm_worker: unknown kind %s\n", kind);
                        return 2;
                }
                if (strcmp(kind, "W2") == 0 || strcmp(kind, "V2") == 0)
                        service = u->lockout_service;
                ans.user = u->name;
                ans.text = text;
                conv.conv = converse;
                conv.appdata_ptr = &ans;
                memset(&seen, 0, sizeof(seen));
                seen.failures = -1;
                t0 = mono_ns();
                rc = pam_start_confdir(service, u->name, &conv, confdir, &pamh);
                if (rc == PAM_SUCCESS) {
                        (void)pam_set_item(pamh, PAM_RHOST, "192.0.2.77");
                        rc = pam_authenticate(pamh, 0);
                        (void)pam_end(pamh, rc);
                } else {
                        rc = -1000;
                }
                t1 = mono_ns();
                if (rc == PAM_SUCCESS && code != NULL)
                        seen_step = read_last_step(store, u->name);
                printf("%d %d %d %s %lld %s %s %ld %" PRId64 " %" PRId64 " %lld %d %d\n", round,
                       worker, ui, kind, step,
                       rc == -1000 ? "PAM_START_FAILED" : pam_result_name(rc),
                       seen.reason[0] != '\0' ? seen.reason : "-", seen.failures, t0, t1, seen_step,
                       seen.lines, seen.nolast);
        }
        fflush(stdout);
        return errors != 0 ? 1 : 0;
}
