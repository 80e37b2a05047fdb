/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Loading the options from their sources, in order: defaults, the
 * configuration file, then module arguments (or the CLI's own flags, passed
 * as the same "name=value" words).
 */
#ifndef MAILOTP_CONFIG_H
#define MAILOTP_CONFIG_H

#include <stddef.h>
#include <sys/types.h>

#include "mailotp_rc.h"
#include "options.h"

#define CONFIG_MAX_SIZE 65536U

/*
 * Fill *o (already through opts_init) from the configuration file and then
 * argv.  The file is o->conf, or conf= from argv; it must be owned by `owner`
 * and not group- or world-writable.  A missing default file means defaults; a
 * missing file named by conf= is an error.  Returns MAILOTP_OK or an error with
 * a reason naming the file or option in err.
 */
enum mailotp_rc config_load(struct mailotp_opts *o, int argc, const char **argv, uid_t owner,
                            char *err, size_t errlen);

#endif
