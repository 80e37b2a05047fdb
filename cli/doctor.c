/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * `mailotp doctor`: the file and process side of the stack checks.  The
 * judging itself is pure and lives in src/pamconf.c.
 */
#include "doctor.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/timex.h>
#include <unistd.h>

#include "fileio.h"
#include "json.h"
#include "pamconf.h"
#include "userfile.h"

#define PAMFILE_MAX 65536U

/* Read a whole small file (a PAM service or include), NUL-terminated. */
static int read_text(const char *dir, const char *name, char **text, size_t *len)
{
        char path[1200];
        FILE *f;
        size_t n;
        char *buf;

        /* Names come from pam.d files we are reading: never let one leave the directory. */
        if (name[0] == '\0' || strchr(name, '/') != NULL || name[0] == '.')
                return -1;
        if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
                return -1;
        f = fopen(path, "re");
        if (f == NULL)
                return -1;
        buf = malloc(PAMFILE_MAX + 1);
        if (buf == NULL) {
                fclose(f);
                return -1;
        }
        n = fread(buf, 1, PAMFILE_MAX, f);
        fclose(f);
        buf[n] = '\0';
        *text = buf;
        *len = n;
        return 0;
}

struct include_ctx {
        const char *pamdir;
};

static int include_cb(void *ctx, const char *name, char **text, size_t *len)
{
        const struct include_ctx *ic = ctx;

        return read_text(ic->pamdir, name, text, len);
}

/* The services to examine: those named, or every pam.d file that mentions the module. */
static int list_services(const struct doctor_args *a, char names[][64], int max)
{
        DIR *d;
        struct dirent *de;
        int n = 0, i;

        if (a->nservices > 0) {
                for (i = 0; i < a->nservices && n < max; i++)
                        (void)snprintf(names[n++], 64, "%.63s", a->services[i]);
                return n;
        }
        d = opendir(a->pamdir);
        if (d == NULL)
                return 0;
        while ((de = readdir(d)) != NULL && n < max) {
                char *text = NULL;
                size_t len = 0;

                if (de->d_name[0] == '.' || strlen(de->d_name) >= 64)
                        continue;
                if (read_text(a->pamdir, de->d_name, &text, &len) == 0) {
                        if (strstr(text, "pam_mailotp.so") != NULL)
                                (void)snprintf(names[n++], 64, "%.63s", de->d_name);
                        free(text);
                }
        }
        closedir(d);
        return n;
}

/*
 * Users still in the 0.2.0 layout (records/KEY a record, not the note that
 * the user moved to users/, whose size tells them apart without reading).
 */
static void check_layout(int storefd, const char *dir, struct pamconf_report *rep)
{
        struct dirent *de;
        struct stat st;
        unsigned long legacy = 0;
        DIR *d;
        int fd;

        fd = openat(storefd, "records", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return;
        d = fdopendir(fd);
        if (d == NULL) {
                (void)close(fd);
                return;
        }
        while ((de = readdir(d)) != NULL) {
                if (de->d_name[0] == '.')
                        continue;
                if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                    (!S_ISREG(st.st_mode) || st.st_size != (off_t)(sizeof(USERFILE_MOVED) - 1)))
                        legacy++;
        }
        closedir(d);
        if (legacy > 0)
                pamconf_add(rep, SEV_NOTE, "store-0.2.0-users",
                            "nothing to do: each moves at its next login or mailotp command; "
                            "restart Dovecot (and any other service using the module) once "
                            "after upgrading, as a 0.2.0 module still loaded refuses moved users",
                            "store %s: %lu user%s still in the 0.2.0 layout (records/, state/)",
                            dir, legacy, legacy == 1 ? "" : "s");
}

static void check_store(const struct mailotp_opts *o, struct pamconf_report *rep)
{
        struct stat st;
        char err[256];
        int fd = -1;
        enum mailotp_rc rc;

        rc = fio_open_dir(AT_FDCWD, o->dir, geteuid(), 022, 0, &fd, err, sizeof(err));
        if (rc == MAILOTP_ERR_NOT_FOUND) {
                pamconf_add(rep, SEV_ERROR, "store-missing",
                            "create it: install -d -m 0700 -o root -g root DIR",
                            "store directory %s does not exist: every login fails closed", o->dir);
                return;
        }
        if (rc != MAILOTP_OK) {
                pamconf_add(rep, SEV_UNSAFE, "store-unsafe",
                            "chown root:root DIR && chmod 0700 DIR", "store %s: %s", o->dir, err);
                return;
        }
        if (fstat(fd, &st) == 0 && (st.st_mode & 077) != 0)
                pamconf_add(rep, SEV_WARN, "store-readable",
                            "chmod 0700 DIR (others can list which mailboxes use 2FA)",
                            "store %s has mode %04o", o->dir, (unsigned)(st.st_mode & 07777));
        check_layout(fd, o->dir, rep);
        (void)close(fd);
}

static void check_clock(struct pamconf_report *rep)
{
        struct timex tx;
        int state;

        memset(&tx, 0, sizeof(tx));
        state = adjtimex(&tx);
        if (state == TIME_ERROR || (tx.status & STA_UNSYNC) != 0)
                pamconf_add(rep, SEV_WARN, "clock-unsynchronised",
                            "run an NTP client (chrony or systemd-timesyncd)",
                            "the kernel reports the clock as not synchronised: codes are "
                            "checked against this clock (window of 30 s steps)");
}

static void check_dovecot(const struct doctor_args *a, struct pamconf_report *rep)
{
        char *buf = malloc(PAMFILE_MAX + 1);
        size_t n = 0;
        FILE *f = NULL;
        int from_cmd = 0;

        if (buf == NULL)
                return;
        if (a->doveconf != NULL) {
                f = fopen(a->doveconf, "re");
        } else if (access("/usr/bin/doveconf", X_OK) == 0 ||
                   access("/usr/sbin/doveconf", X_OK) == 0) {
                f = popen("doveconf -n 2>/dev/null", "r");
                from_cmd = 1;
        }
        if (f != NULL) {
                n = fread(buf, 1, PAMFILE_MAX, f);
                if (from_cmd)
                        (void)pclose(f);
                else
                        fclose(f);
                pamconf_check_dovecot(buf, n, rep);
        } else if (a->doveconf != NULL) {
                pamconf_add(rep, SEV_ERROR, "doveconf-unreadable", "check the path",
                            "cannot read %s", a->doveconf);
        }
        free(buf);
}

int doctor_run(const struct mailotp_opts *o, const struct doctor_args *a)
{
        char names[32][64];
        struct include_ctx ic = {a->pamdir};
        struct pamconf_report *rep = calloc(1, sizeof(*rep));
        struct pamconf_stack *st = malloc(sizeof(*st));
        size_t i;
        int n, s, bad = 0;
        struct json j;

        if (rep == NULL || st == NULL) {
                free(rep);
                free(st);
                fprintf(stderr, "mailotp: out of memory\n");
                return 4;
        }
        n = list_services(a, names, 32);
        if (n == 0)
                pamconf_add(rep, SEV_WARN, "no-service",
                            "add pam_mailotp to the services that need 2FA (see pam_mailotp(8))",
                            "no PAM service in %s uses pam_mailotp", a->pamdir);
        for (s = 0; s < n; s++) {
                char *text = NULL;
                size_t len = 0;

                memset(st, 0, sizeof(*st));
                if (read_text(a->pamdir, names[s], &text, &len) != 0) {
                        pamconf_add(rep, SEV_ERROR, "service-unreadable", "check the service name",
                                    "cannot read %s/%s", a->pamdir, names[s]);
                        continue;
                }
                pamconf_parse(st, names[s], text, len, include_cb, &ic, rep);
                free(text);
                pamconf_check(st, names[s], rep);
        }
        check_dovecot(a, rep);
        check_store(o, rep);
        check_clock(rep);

        for (i = 0; i < rep->n; i++)
                bad += rep->f[i].sev >= SEV_ERROR;
        if (a->json) {
                json_init(&j, stdout);
                json_obj_begin(&j);
                json_key(&j, "services");
                json_arr_begin(&j);
                for (s = 0; s < n; s++)
                        json_str(&j, names[s]);
                json_arr_end(&j);
                json_key(&j, "findings");
                json_arr_begin(&j);
                for (i = 0; i < rep->n; i++) {
                        json_obj_begin(&j);
                        json_key(&j, "severity");
                        json_str(&j, pamconf_severity_name(rep->f[i].sev));
                        json_key(&j, "id");
                        json_str(&j, rep->f[i].id);
                        json_key(&j, "problem");
                        json_str(&j, rep->f[i].text);
                        json_key(&j, "fix");
                        json_str(&j, rep->f[i].fix);
                        json_obj_end(&j);
                }
                json_arr_end(&j);
                json_key(&j, "ok");
                json_bool(&j, bad == 0);
                json_obj_end(&j);
                json_end(&j);
        } else {
                printf("checked: %d PAM service%s in %s", n, n == 1 ? "" : "s", a->pamdir);
                for (s = 0; s < n; s++)
                        printf("%s%s", s == 0 ? " (" : ", ", names[s]);
                printf("%s, the store %s, Dovecot, the clock\n", n > 0 ? ")" : "", o->dir);
                for (i = 0; i < rep->n; i++)
                        printf("%s [%s] %s\n    fix: %s\n", pamconf_severity_name(rep->f[i].sev),
                               rep->f[i].id, rep->f[i].text, rep->f[i].fix);
                printf(bad == 0 ? "no problems found\n" : "%d problem%s found\n", bad,
                       bad == 1 ? "" : "s");
        }
        free(rep);
        free(st);
        return bad == 0 ? 0 : 1;
}
