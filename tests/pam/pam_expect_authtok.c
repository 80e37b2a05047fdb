/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Test-only PAM module standing in for the password module after
 * pam_mailotp: it succeeds when PAM_AUTHTOK equals the first line of
 * file=PATH, fails otherwise (with `prompt` it asks for the password itself,
 * as pam_unix does without use_first_pass), and appends what it saw (the authtok length
 * and whether it matched, never the authtok) to log=PATH when given.
 * Never installed.
 */
#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include <stdio.h>
#include <string.h>

#define EXPORT __attribute__((visibility("default")))

EXPORT int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
        const void *tok = NULL;
        const char *file = NULL, *logp = NULL;
        char want[4096];
        FILE *f;
        int i, ok, prompt = 0;

        (void)flags;
        for (i = 0; i < argc; i++) {
                if (strncmp(argv[i], "file=", 5) == 0)
                        file = argv[i] + 5;
                else if (strncmp(argv[i], "log=", 4) == 0)
                        logp = argv[i] + 4;
                else if (strcmp(argv[i], "prompt") == 0)
                        prompt = 1;
        }
        if (file == NULL)
                return PAM_SERVICE_ERR;
        f = fopen(file, "r");
        if (f == NULL)
                return PAM_SERVICE_ERR;
        if (fgets(want, sizeof(want), f) == NULL)
                want[0] = '\0';
        fclose(f);
        want[strcspn(want, "\n")] = '\0';
        if (prompt) {
                const char *t = NULL;

                if (pam_get_authtok(pamh, PAM_AUTHTOK, &t, NULL) != PAM_SUCCESS)
                        t = NULL;
                tok = t;
                ok = tok != NULL && strcmp((const char *)tok, want) == 0;
        } else if (pam_get_item(pamh, PAM_AUTHTOK, &tok) != PAM_SUCCESS || tok == NULL)
                ok = 0;
        else
                ok = strcmp((const char *)tok, want) == 0;
        if (logp != NULL && (f = fopen(logp, "a")) != NULL) {
                fprintf(f, "authtok=%s len=%zu\n", ok ? "match" : "differ",
                        tok != NULL ? strlen((const char *)tok) : 0);
                fclose(f);
        }
        return ok ? PAM_SUCCESS : PAM_AUTH_ERR;
}

EXPORT int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
        (void)pamh;
        (void)flags;
        (void)argc;
        (void)argv;
        return PAM_SUCCESS;
}
