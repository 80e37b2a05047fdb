/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "vclock.h"

#include <time.h>

/* One benchmark process, one thread: the virtual time of the login in progress. */
static int64_t vtime; /* 0: the real clock */

void vclock_set(int64_t t)
{
        vtime = t;
}

/* Exported (-rdynamic): modules loaded later bind their time() to this one. */
time_t time(time_t *out)
{
        struct timespec ts;
        time_t now;

        if (vtime != 0) {
                now = (time_t)vtime;
        } else {
                (void)clock_gettime(CLOCK_REALTIME, &ts);
                now = ts.tv_sec;
        }
        if (out != NULL)
                *out = now;
        return now;
}
