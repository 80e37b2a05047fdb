/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * faultshim.so: an LD_PRELOAD fault-injection shim for the fault, crash and
 * full-disk tests.  Test builds only: it is never linked into the module or
 * the CLI; the tests preload it into pamauth (which dlopens the real module)
 * or into the real mailotp binary.
 *
 * Wrapped: open, openat, read, pread, write, pwrite, fsync, fdatasync,
 * ftruncate, fstat, statx (descriptor form), rename, renameat, renameat2, linkat, unlinkat,
 * mkdirat, flock, fchmod, close, malloc, calloc, time (the clock) and dlopen (a library that cannot
 * be loaded).  The fortified entry points __open_2 and
 * __openat_2 (what _FORTIFY_SOURCE calls when the flags are not a constant)
 * count as open and openat; pread64 and pwrite64 (large-file names of the
 * same calls) as pread and pwrite.  A new file call in the code under test
 * must be wrapped here: test_faults.py test_6 fails when a kind of call it
 * expects is never seen.
 *
 * Scope (what counts as "a call of the code under test"):
 *   - file calls count only when their path lies in FAULT_DIR (the test's
 *     store) or FAULT_EXTRA (the configuration file): the path argument
 *     resolved against its directory descriptor (or the cwd), or for
 *     descriptor calls the descriptor's own path from /proc/self/fd.  libpam
 *     reading its confdir, pamauth appending to its log file, the stand-in
 *     password module and the dynamic loader are never counted, so call n is
 *     the n-th call the module's file layer makes, whatever the libraries
 *     around it do, and the same n means the same call site on every run;
 *   - malloc/calloc count only when called directly from an object whose
 *     file name contains one of the comma-separated FAULT_MALLOC_FROM
 *     substrings (default "pam_mailotp": the module and the core statically
 *     linked into it; "mailotp" for the CLI).  Allocation sites are then
 *     exactly our own call sites; libpam's, libc's (stdio, dlopen) and
 *     pamauth's never are.  An "armed after point X" scope was the
 *     alternative; it would still count libpam's allocations after X
 *     (pam_set_item, pam_end) and make "call n" drift whenever a library
 *     changes.  FAULT_MALLOC_FROM=libcrypto,liboath covers the allocations
 *     those libraries make on the module's behalf instead.
 *
 * Environment:
 *   FAULT_DIR=/abs/store       scope (nothing is counted when unset)
 *   FAULT_EXTRA=/a:/b          more paths in scope (the configuration file)
 *   FAULT_CALL=fsync           which function to fault (up to 4, comma-separated)
 *   FAULT_NTH=3                its n-th in-scope call (1-based; one per function)
 *   FAULT_PERSIST=1            ... and every later one too
 *   FAULT_MATCH=/last/         count only calls whose path contains this
 *   FAULT_ERRNO=EIO            errno of the failure (name or number; EIO,
 *                              ENOMEM for malloc/calloc)
 *   FAULT_ACTION=fail|kill|kill-after|short
 *                              fail the call, or raise SIGKILL just before
 *                              (kill) or just after (kill-after) making it;
 *                              short (write and pwrite only): really write
 *                              the first FAULT_PARTIAL bytes (default half)
 *                              and return that count, as a nearly full disk
 *                              (another function hit in that run fails)
 *   FAULT_PARTIAL=N            for write and pwrite: the hit call first
 *                              really writes its first N bytes (a torn
 *                              write), then fails (fail) or the process is
 *                              killed (kill); N >= the length writes it all
 *   FAULT_TRACE=file           append one line per in-scope call:
 *                              "FUNC N PATH MODE [INJECT]" (MODE r, w, d or -)
 *   FAULT_VERSIONS=dir         before each in-scope rename/renameat(2)/linkat,
 *                              copy the source file (the complete new version)
 *                              to DIR/PID.SEQ (first line: its target path);
 *                              before each in-place change of a store file
 *                              (pwrite, ftruncate, write on an O_APPEND
 *                              descriptor), the file as it will be once that
 *                              call completed (the state's slot writes, the
 *                              last-logins appends)
 *   FAULT_NOW=seconds          time() returns this (codes at a fixed time)
 *   FAULT_DLOPEN_FAIL=text     every dlopen() of a file name containing this
 *                              fails as for a missing file (dlerror() then
 *                              says "...: cannot open shared object file");
 *                              e.g. "libcrypto": the module's keyed hashes.
 *                              Not counted or traced: it is not a store call
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);

#define SHIM_EXPORT __attribute__((visibility("default")))
#define PATH_BUF    4096
#define MAX_SPECS   4 /* FAULT_CALL=write,unlinkat FAULT_NTH=1,1: several faults in one run */

enum fn {
        F_OPEN,
        F_OPENAT,
        F_READ,
        F_PREAD,
        F_WRITE,
        F_PWRITE,
        F_FSYNC,
        F_FDATASYNC,
        F_FTRUNCATE,
        F_FSTAT,
        F_STATX,
        F_RENAME,
        F_RENAMEAT,
        F_RENAMEAT2,
        F_LINKAT,
        F_UNLINKAT,
        F_MKDIRAT,
        F_FLOCK,
        F_FCHMOD,
        F_CLOSE,
        F_MALLOC,
        F_CALLOC,
        F_COUNT
};

static const char *const fn_names[F_COUNT] = {
    "open",      "openat", "read",   "pread",  "write",    "pwrite",    "fsync",  "fdatasync",
    "ftruncate", "fstat",  "statx",  "rename", "renameat", "renameat2", "linkat", "unlinkat",
    "mkdirat",   "flock",  "fchmod", "close",  "malloc",   "calloc"};

static struct {
        int ready;
        char dir[PATH_BUF];
        size_t dirlen;
        int call[MAX_SPECS]; /* enum fn to fault, -1 none */
        unsigned long nth[MAX_SPECS];
        int nspecs;
        int persist;
        char match[256];
        int err;
        int action;   /* 0 fail, 1 kill before, 2 kill after, 3 short write */
        long partial; /* FAULT_PARTIAL, -1 unset */
        int trace_fd;
        char versions[PATH_BUF];
        char extra[PATH_BUF];
        char malloc_from[512];
        int have_now;
        time_t now;
        char dlopen_fail[256];
        unsigned long count[F_COUNT];
        unsigned long version_seq;
} S = {.trace_fd = -1, .partial = -1};

/* pread64/pwrite64 share the wrappers of pread/pwrite: the same offset type here. */
_Static_assert(sizeof(off_t) == sizeof(off64_t), "faultshim: build for a 64-bit off_t");

static __thread int in_shim; /* our own calls are never counted */

/* The real functions, looked up once. */
static int (*real_open)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static int (*real_open_2)(const char *, int);
static int (*real_openat_2)(int, const char *, int);
static ssize_t (*real_read)(int, void *, size_t);
static ssize_t (*real_pread)(int, void *, size_t, off_t);
static ssize_t (*real_pread64)(int, void *, size_t, off64_t);
static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_pwrite64)(int, const void *, size_t, off64_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_ftruncate)(int, off_t);
static int (*real_fstat)(int, struct stat *);
static int (*real_statx)(int, const char *, int, unsigned int, struct statx *);
static int (*real_rename)(const char *, const char *);
static int (*real_renameat)(int, const char *, int, const char *);
static int (*real_renameat2)(int, const char *, int, const char *, unsigned);
static int (*real_linkat)(int, const char *, int, const char *, int);
static int (*real_unlinkat)(int, const char *, int);
static int (*real_mkdirat)(int, const char *, mode_t);
static int (*real_flock)(int, int);
static int (*real_fchmod)(int, mode_t);
static int (*real_close)(int);
static time_t (*real_time)(time_t *);
static void *(*real_dlopen)(const char *, int);

static int errno_by_name(const char *s)
{
        static const struct {
                const char *name;
                int value;
        } tab[] = {{"EIO", EIO},       {"ENOSPC", ENOSPC}, {"EDQUOT", EDQUOT}, {"ENOMEM", ENOMEM},
                   {"EACCES", EACCES}, {"EPERM", EPERM},   {"EINTR", EINTR},   {"ENOLCK", ENOLCK},
                   {"EMFILE", EMFILE}, {"EROFS", EROFS},   {"EAGAIN", EAGAIN}, {"EBADF", EBADF},
                   {"ENOENT", ENOENT}, {"EEXIST", EEXIST}, {"EFBIG", EFBIG},   {"EINVAL", EINVAL}};
        size_t i;

        for (i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
                if (strcmp(s, tab[i].name) == 0)
                        return tab[i].value;
        }
        return atoi(s) > 0 ? atoi(s) : EIO;
}

static void *next_sym(const char *name)
{
        void *p = dlsym(RTLD_NEXT, name);

        if (p == NULL) {
                static const char msg[] = "faultshim: missing libc symbol\n";

                (void)!write(2, msg, sizeof(msg) - 1);
                abort();
        }
        return p;
}

/* Look the real functions up (also lazily: another constructor may call us first). */
static void resolve(void)
{
        in_shim++;
        real_open = (int (*)(const char *, int, ...))next_sym("open");
        real_openat = (int (*)(int, const char *, int, ...))next_sym("openat");
        real_open_2 = (int (*)(const char *, int))next_sym("__open_2");
        real_openat_2 = (int (*)(int, const char *, int))next_sym("__openat_2");
        real_read = (ssize_t(*)(int, void *, size_t))next_sym("read");
        real_pread = (ssize_t(*)(int, void *, size_t, off_t))next_sym("pread");
        real_pread64 = (ssize_t(*)(int, void *, size_t, off64_t))next_sym("pread64");
        real_write = (ssize_t(*)(int, const void *, size_t))next_sym("write");
        real_pwrite = (ssize_t(*)(int, const void *, size_t, off_t))next_sym("pwrite");
        real_pwrite64 = (ssize_t(*)(int, const void *, size_t, off64_t))next_sym("pwrite64");
        real_fsync = (int (*)(int))next_sym("fsync");
        real_fdatasync = (int (*)(int))next_sym("fdatasync");
        real_ftruncate = (int (*)(int, off_t))next_sym("ftruncate");
        real_fstat = (int (*)(int, struct stat *))next_sym("fstat");
        real_statx =
            (int (*)(int, const char *, int, unsigned int, struct statx *))next_sym("statx");
        real_rename = (int (*)(const char *, const char *))next_sym("rename");
        real_renameat = (int (*)(int, const char *, int, const char *))next_sym("renameat");
        real_renameat2 =
            (int (*)(int, const char *, int, const char *, unsigned))next_sym("renameat2");
        real_linkat = (int (*)(int, const char *, int, const char *, int))next_sym("linkat");
        real_unlinkat = (int (*)(int, const char *, int))next_sym("unlinkat");
        real_mkdirat = (int (*)(int, const char *, mode_t))next_sym("mkdirat");
        real_flock = (int (*)(int, int))next_sym("flock");
        real_fchmod = (int (*)(int, mode_t))next_sym("fchmod");
        real_close = (int (*)(int))next_sym("close");
        real_time = (time_t(*)(time_t *))next_sym("time");
        real_dlopen = (void *(*)(const char *, int))next_sym("dlopen");
        in_shim--;
}

#define ENSURE()                                                                                   \
        do {                                                                                       \
                if (real_time == NULL)                                                             \
                        resolve();                                                                 \
        } while (0)

__attribute__((constructor)) static void shim_init(void)
{
        const char *v;
        int i;

        ENSURE();
        in_shim++;
        v = getenv("FAULT_DIR");
        if (v != NULL && v[0] == '/' && strlen(v) < sizeof(S.dir)) {
                strcpy(S.dir, v);
                S.dirlen = strlen(S.dir);
                while (S.dirlen > 1 && S.dir[S.dirlen - 1] == '/')
                        S.dir[--S.dirlen] = '\0';
        }
        v = getenv("FAULT_EXTRA");
        if (v != NULL && strlen(v) < sizeof(S.extra))
                strcpy(S.extra, v);
        v = getenv("FAULT_CALL");
        if (v != NULL && v[0] != '\0') {
                const char *nv = getenv("FAULT_NTH");

                while (S.nspecs < MAX_SPECS) {
                        size_t len = strcspn(v, ",");
                        int found = -1;

                        for (i = 0; i < F_COUNT; i++) {
                                if (strlen(fn_names[i]) == len && strncmp(v, fn_names[i], len) == 0)
                                        found = i;
                        }
                        if (found < 0) {
                                static const char msg[] = "faultshim: unknown FAULT_CALL\n";

                                (void)!real_write(2, msg, sizeof(msg) - 1);
                                abort();
                        }
                        S.call[S.nspecs] = found;
                        S.nth[S.nspecs] = nv != NULL ? strtoul(nv, NULL, 10) : 1;
                        S.nspecs++;
                        if (nv != NULL) {
                                nv = strchr(nv, ',');
                                nv = nv != NULL ? nv + 1 : NULL;
                        }
                        if (v[len] != ',')
                                break;
                        v += len + 1;
                }
        }
        v = getenv("FAULT_PERSIST");
        S.persist = v != NULL && strcmp(v, "1") == 0;
        v = getenv("FAULT_MATCH");
        if (v != NULL && strlen(v) < sizeof(S.match))
                strcpy(S.match, v);
        v = getenv("FAULT_ERRNO");
        S.err = v != NULL ? errno_by_name(v)
                : S.nspecs > 0 && (S.call[0] == F_MALLOC || S.call[0] == F_CALLOC) ? ENOMEM
                                                                                   : EIO;
        v = getenv("FAULT_ACTION");
        S.action = v == NULL                      ? 0
                   : strcmp(v, "kill") == 0       ? 1
                   : strcmp(v, "kill-after") == 0 ? 2
                   : strcmp(v, "short") == 0      ? 3
                                                  : 0;
        v = getenv("FAULT_PARTIAL");
        if (v != NULL && v[0] != '\0')
                S.partial = strtol(v, NULL, 10);
        v = getenv("FAULT_TRACE");
        if (v != NULL)
                S.trace_fd = real_open(v, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        v = getenv("FAULT_VERSIONS");
        if (v != NULL && strlen(v) < sizeof(S.versions))
                strcpy(S.versions, v);
        v = getenv("FAULT_MALLOC_FROM");
        (void)snprintf(S.malloc_from, sizeof(S.malloc_from), "%s", v != NULL ? v : "pam_mailotp");
        v = getenv("FAULT_NOW");
        if (v != NULL) {
                S.have_now = 1;
                S.now = (time_t)strtoll(v, NULL, 10);
        }
        v = getenv("FAULT_DLOPEN_FAIL");
        if (v != NULL && strlen(v) < sizeof(S.dlopen_fail))
                strcpy(S.dlopen_fail, v);
        S.ready = 1;
        in_shim--;
}

/* "/a/b" for descriptor fd (no " (deleted)" suffix); "" when unknown. */
static void fd_path(int fd, char *out, size_t outsz)
{
        char link[64];
        ssize_t n;

        out[0] = '\0';
        if (fd == AT_FDCWD) {
                if (getcwd(out, outsz) == NULL)
                        out[0] = '\0';
                return;
        }
        (void)snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
        n = readlink(link, out, outsz - 1);
        if (n < 0) {
                out[0] = '\0';
                return;
        }
        out[n] = '\0';
        if (n > 10 && strcmp(out + n - 10, " (deleted)") == 0)
                out[n - 10] = '\0';
}

/* Resolve (dirfd, name) to an absolute path, lexically. */
static void at_path(int dirfd, const char *name, char *out, size_t outsz)
{
        char base[PATH_BUF];
        int n;

        if (name == NULL) {
                out[0] = '\0';
                return;
        }
        if (name[0] == '/') {
                (void)snprintf(out, outsz, "%s", name);
                return;
        }
        fd_path(dirfd, base, sizeof(base));
        if (base[0] == '\0') {
                out[0] = '\0';
                return;
        }
        n = snprintf(out, outsz, "%s/%s", base, name);
        if (n < 0 || (size_t)n >= outsz)
                out[0] = '\0'; /* too long to be ours */
}

static int under(const char *path, const char *dir, size_t dirlen)
{
        return dirlen > 0 && strncmp(path, dir, dirlen) == 0 &&
               (path[dirlen] == '\0' || path[dirlen] == '/');
}

/* In the store (1), under one of the FAULT_EXTRA paths (2), or not in scope (0). */
static int in_store(const char *path)
{
        const char *p = S.extra;

        if (S.dirlen == 0 || path[0] == '\0')
                return 0;
        if (under(path, S.dir, S.dirlen))
                return 1;
        while (*p != '\0') {
                size_t len = strcspn(p, ":");

                if (len > 1 && under(path, p, len))
                        return 2;
                p += len;
                if (*p == ':')
                        p++;
        }
        return 0;
}

/* r (read-only descriptor), w (writable), d (directory), - (none). */
static char fd_mode(int fd)
{
        struct stat st;
        int fl;

        if (fd < 0)
                return '-';
        if (real_fstat(fd, &st) == 0 && S_ISDIR(st.st_mode))
                return 'd';
        fl = fcntl(fd, F_GETFL);
        if (fl < 0)
                return '-';
        return (fl & O_ACCMODE) == O_RDONLY ? 'r' : 'w';
}

static void trace(enum fn f, unsigned long n, const char *path, char mode, int inject)
{
        char line[PATH_BUF + 128];
        int len;

        if (S.trace_fd < 0)
                return;
        /* Store paths are printed relative to it ("." for the store itself), others whole. */
        len = snprintf(line, sizeof(line), "%s %lu %s %c%s\n", fn_names[f], n,
                       path[0] == '\0'                 ? "?"
                       : !under(path, S.dir, S.dirlen) ? path
                       : path[S.dirlen] == '\0'        ? "."
                                                       : path + S.dirlen + 1,
                       mode, inject ? " INJECT" : "");
        if (len > 0)
                (void)!real_write(S.trace_fd, line,
                                  (size_t)len < sizeof(line) ? (size_t)len : sizeof(line) - 1);
}

/*
 * Count an in-scope call; 1 when this call must fail (errno is then set by
 * the caller after the action), with kill actions carried out here (before).
 */
static int decide(enum fn f, const char *path, char mode)
{
        unsigned long n;
        int hit = 0, k;

        if (S.match[0] != '\0' && strstr(path, S.match) == NULL) {
                trace(f, 0, path, mode, 0);
                return 0;
        }
        n = ++S.count[f];
        for (k = 0; k < S.nspecs; k++) {
                if (S.call[k] == (int)f && (n == S.nth[k] || (S.persist && n > S.nth[k])))
                        hit = 1;
        }
        trace(f, n, path, mode, hit);
        /* A torn write is killed by its wrapper, after the first FAULT_PARTIAL bytes. */
        if (hit && S.action == 1 && !(S.partial >= 0 && (f == F_WRITE || f == F_PWRITE)))
                (void)raise(SIGKILL);
        return hit;
}

/* A hit call fails: action fail, or short for a call that cannot be short. */
#define FAILS(hit) ((hit) && (S.action == 0 || S.action == 3))

/* After the real call: kill-after, or report a failure. */
static int after(int hit, int real_rc)
{
        if (hit && S.action == 2)
                (void)raise(SIGKILL);
        (void)real_rc;
        return FAILS(hit);
}

/* Copy the complete file at path (the version about to be put in place) to FAULT_VERSIONS. */
static void keep_version(const char *src, const char *target)
{
        char out[PATH_BUF + 64], buf[65536];
        int in, o;
        ssize_t n;

        if (S.versions[0] == '\0' || in_store(target) != 1)
                return;
        in = real_open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (in < 0)
                return;
        (void)snprintf(out, sizeof(out), "%s/%ld.%lu", S.versions, (long)getpid(), ++S.version_seq);
        o = real_open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (o >= 0) {
                int len = snprintf(buf, sizeof(buf), "%s\n", target + S.dirlen + 1);

                (void)!real_write(o, buf, (size_t)len);
                while ((n = real_read(in, buf, sizeof(buf))) > 0)
                        (void)!real_write(o, buf, (size_t)n);
                (void)real_close(o);
        }
        (void)real_close(in);
}

/*
 * Keep the version an in-place change of store file `path` (descriptor fd) is
 * about to make: the file's current bytes with len bytes of data put at off
 * (off < 0: appended), or cut to trunc bytes (trunc >= 0).  Temporary files
 * are not kept: they become versions when they are renamed into place.
 */
static void keep_inplace_version(const char *path, int fd, const void *data, size_t len, off_t off,
                                 off_t trunc)
{
        static unsigned char img[1U << 20]; /* the store's files are far smaller */
        char out[PATH_BUF + 64], head[PATH_BUF + 2];
        const char *base;
        size_t size = 0;
        ssize_t n;
        int o, hl;

        if (S.versions[0] == '\0' || in_store(path) != 1 || path[S.dirlen] != '/')
                return;
        base = strrchr(path, '/') + 1;
        if (base[0] == '.')
                return;
        while (size < sizeof(img) &&
               (n = real_pread(fd, img + size, sizeof(img) - size, (off_t)size)) > 0)
                size += (size_t)n;
        if (trunc >= 0) {
                if ((size_t)trunc > sizeof(img))
                        return;
                if ((size_t)trunc > size)
                        memset(img + size, 0, (size_t)trunc - size);
                size = (size_t)trunc;
        } else {
                size_t at = off < 0 ? size : (size_t)off;

                if (at + len > sizeof(img))
                        return;
                if (at > size)
                        memset(img + size, 0, at - size);
                memcpy(img + at, data, len);
                if (at + len > size)
                        size = at + len;
        }
        (void)snprintf(out, sizeof(out), "%s/%ld.%lu", S.versions, (long)getpid(), ++S.version_seq);
        o = real_open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (o < 0)
                return;
        hl = snprintf(head, sizeof(head), "%s\n", path + S.dirlen + 1);
        (void)!real_write(o, head, (size_t)hl);
        (void)!real_write(o, img, size);
        (void)real_close(o);
}

/* ---- wrappers ------------------------------------------------------------ */

static int open_common(enum fn f, int dirfd, const char *path, int flags, mode_t mode)
{
        char full[PATH_BUF];
        int hit = 0, rc;

        ENSURE();
        if (S.ready && !in_shim) {
                in_shim++;
                at_path(f == F_OPEN ? AT_FDCWD : dirfd, path, full, sizeof(full));
                if (in_store(full))
                        hit = decide(f, full, (flags & O_ACCMODE) == O_RDONLY ? 'r' : 'w');
                in_shim--;
                if (FAILS(hit)) {
                        errno = S.err;
                        return -1;
                }
        }
        rc = f == F_OPEN ? real_open(path, flags, mode) : real_openat(dirfd, path, flags, mode);
        if (hit)
                (void)after(hit, rc);
        return rc;
}

SHIM_EXPORT int open(const char *path, int flags, ...)
{
        mode_t mode = 0;

        if (flags & (O_CREAT | O_TMPFILE)) {
                va_list ap;

                va_start(ap, flags);
                mode = (mode_t)va_arg(ap, unsigned);
                va_end(ap);
        }
        return open_common(F_OPEN, AT_FDCWD, path, flags, mode);
}

SHIM_EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
        mode_t mode = 0;

        if (flags & (O_CREAT | O_TMPFILE)) {
                va_list ap;

                va_start(ap, flags);
                mode = (mode_t)va_arg(ap, unsigned);
                va_end(ap);
        }
        return open_common(F_OPENAT, dirfd, path, flags, mode);
}

/* _FORTIFY_SOURCE's entry points (flags not known at compile time, no mode). */
SHIM_EXPORT int __open_2(const char *path, int flags);
SHIM_EXPORT int __openat_2(int dirfd, const char *path, int flags);

SHIM_EXPORT int __open_2(const char *path, int flags)
{
        char full[PATH_BUF];
        int hit = 0, rc;

        ENSURE();
        if (S.ready && !in_shim) {
                in_shim++;
                at_path(AT_FDCWD, path, full, sizeof(full));
                if (in_store(full))
                        hit = decide(F_OPEN, full, (flags & O_ACCMODE) == O_RDONLY ? 'r' : 'w');
                in_shim--;
                if (FAILS(hit)) {
                        errno = S.err;
                        return -1;
                }
        }
        rc = real_open_2(path, flags);
        if (hit)
                (void)after(hit, rc);
        return rc;
}

SHIM_EXPORT int __openat_2(int dirfd, const char *path, int flags)
{
        char full[PATH_BUF];
        int hit = 0, rc;

        ENSURE();
        if (S.ready && !in_shim) {
                in_shim++;
                at_path(dirfd, path, full, sizeof(full));
                if (in_store(full))
                        hit = decide(F_OPENAT, full, (flags & O_ACCMODE) == O_RDONLY ? 'r' : 'w');
                in_shim--;
                if (FAILS(hit)) {
                        errno = S.err;
                        return -1;
                }
        }
        rc = real_openat_2(dirfd, path, flags);
        if (hit)
                (void)after(hit, rc);
        return rc;
}

/* Decide for a descriptor call; the path is kept for callers that need it. */
static int fd_decide(enum fn f, int fd)
{
        char path[PATH_BUF];
        int hit = 0;

        if (!S.ready || in_shim)
                return 0;
        in_shim++;
        fd_path(fd, path, sizeof(path));
        if (in_store(path))
                hit = decide(f, path, fd_mode(fd));
        in_shim--;
        return hit;
}

#define FD_WRAPPER_BODY(f, call)                                                                   \
        do {                                                                                       \
                int hit_;                                                                          \
                ENSURE();                                                                          \
                hit_ = fd_decide(f, fd);                                                           \
                if (FAILS(hit_)) {                                                                 \
                        errno = S.err;                                                             \
                        return -1;                                                                 \
                }                                                                                  \
                rc = call;                                                                         \
                (void)after(hit_, 0);                                                              \
                return rc;                                                                         \
        } while (0)

SHIM_EXPORT ssize_t read(int fd, void *buf, size_t n)
{
        ssize_t rc;

        FD_WRAPPER_BODY(F_READ, real_read(fd, buf, n));
}

SHIM_EXPORT ssize_t pread(int fd, void *buf, size_t n, off_t off)
{
        ssize_t rc;

        FD_WRAPPER_BODY(F_PREAD, real_pread(fd, buf, n, off));
}

SHIM_EXPORT ssize_t pread64(int fd, void *buf, size_t n, off64_t off)
{
        ssize_t rc;

        FD_WRAPPER_BODY(F_PREAD, real_pread64(fd, buf, n, off));
}

/*
 * write and pwrite: as the other descriptor calls, plus the version an
 * in-place change makes (FAULT_VERSIONS) and torn writes (FAULT_PARTIAL).
 * off < 0: write(2), appending when the descriptor has O_APPEND.
 */
static ssize_t write_common(enum fn f, int fd, const void *buf, size_t n, off_t off, int large)
{
        ssize_t (*real_pw)(int, const void *, size_t, off_t);
        char path[PATH_BUF];
        int hit = 0;
        ssize_t rc;

        ENSURE();
        /* off_t is off64_t here (a 64-bit build without _FILE_OFFSET_BITS: see nm -D). */
        real_pw = large ? (ssize_t(*)(int, const void *, size_t, off_t))real_pwrite64 : real_pwrite;
        if (S.ready && !in_shim) {
                in_shim++;
                fd_path(fd, path, sizeof(path));
                if (in_store(path)) {
                        int fl = fcntl(fd, F_GETFL);

                        if (f == F_PWRITE || (fl >= 0 && (fl & O_APPEND)))
                                keep_inplace_version(path, fd, buf, n, off, -1);
                        hit = decide(f, path, fd_mode(fd));
                }
                in_shim--;
        }
        if (hit && S.action == 3 && (f == F_WRITE || f == F_PWRITE)) {
                size_t part = S.partial >= 0 ? (size_t)S.partial : n / 2;

                if (part > n)
                        part = n;
                return f == F_PWRITE ? real_pw(fd, buf, part, off) : real_write(fd, buf, part);
        }
        if (hit && S.partial >= 0) {
                size_t part = (size_t)S.partial < n ? (size_t)S.partial : n;

                if (part > 0)
                        (void)!(f == F_PWRITE ? real_pw(fd, buf, part, off)
                                              : real_write(fd, buf, part));
                if (S.action != 0)
                        (void)raise(SIGKILL);
                errno = S.err;
                return -1;
        }
        if (FAILS(hit)) {
                errno = S.err;
                return -1;
        }
        rc = f == F_PWRITE ? real_pw(fd, buf, n, off) : real_write(fd, buf, n);
        (void)after(hit, 0);
        return rc;
}

SHIM_EXPORT ssize_t write(int fd, const void *buf, size_t n)
{
        return write_common(F_WRITE, fd, buf, n, -1, 0);
}

SHIM_EXPORT ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
        return write_common(F_PWRITE, fd, buf, n, off, 0);
}

SHIM_EXPORT ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off)
{
        return write_common(F_PWRITE, fd, buf, n, off, 1);
}

SHIM_EXPORT int fsync(int fd)
{
        int rc;

        FD_WRAPPER_BODY(F_FSYNC, real_fsync(fd));
}

SHIM_EXPORT int fdatasync(int fd)
{
        int rc;

        FD_WRAPPER_BODY(F_FDATASYNC, real_fdatasync(fd));
}

SHIM_EXPORT int ftruncate(int fd, off_t len)
{
        int hit = 0, rc;

        ENSURE();
        if (S.ready && !in_shim) {
                char path[PATH_BUF];

                in_shim++;
                fd_path(fd, path, sizeof(path));
                if (in_store(path)) {
                        keep_inplace_version(path, fd, NULL, 0, 0, len);
                        hit = decide(F_FTRUNCATE, path, fd_mode(fd));
                }
                in_shim--;
        }
        if (FAILS(hit)) {
                errno = S.err;
                return -1;
        }
        rc = real_ftruncate(fd, len);
        (void)after(hit, rc);
        return rc;
}

SHIM_EXPORT int fstat(int fd, struct stat *st)
{
        int rc;

        FD_WRAPPER_BODY(F_FSTAT, real_fstat(fd, st));
}

/* Only the descriptor form (empty path, AT_EMPTY_PATH) is what the code under test uses. */
SHIM_EXPORT int statx(int fd, const char *path, int flags, unsigned int mask, struct statx *sx)
{
        int rc;

        if (path[0] != '\0' || (flags & AT_EMPTY_PATH) == 0) {
                ENSURE();
                return real_statx(fd, path, flags, mask, sx);
        }
        FD_WRAPPER_BODY(F_STATX, real_statx(fd, path, flags, mask, sx));
}

SHIM_EXPORT int flock(int fd, int op)
{
        int rc;

        FD_WRAPPER_BODY(F_FLOCK, real_flock(fd, op));
}

SHIM_EXPORT int fchmod(int fd, mode_t mode)
{
        int rc;

        FD_WRAPPER_BODY(F_FCHMOD, real_fchmod(fd, mode));
}

/* close: like Linux, a failed close still releases the descriptor. */
SHIM_EXPORT int close(int fd)
{
        int hit, rc;

        ENSURE();
        hit = fd_decide(F_CLOSE, fd);
        if (FAILS(hit)) {
                (void)real_close(fd);
                errno = S.err;
                return -1;
        }
        rc = real_close(fd);
        (void)after(hit, rc);
        return rc;
}

/* Path calls: (dirfd, name) pairs; in scope when either path is in the store. */
static int path_decide(enum fn f, int fd1, const char *p1, int fd2, const char *p2, int version)
{
        char a[PATH_BUF], b[PATH_BUF];
        int hit = 0;

        if (!S.ready || in_shim)
                return 0;
        in_shim++;
        at_path(fd1, p1, a, sizeof(a));
        b[0] = '\0';
        if (p2 != NULL)
                at_path(fd2, p2, b, sizeof(b));
        if (in_store(a) || in_store(b)) {
                if (version)
                        keep_version(a, b);
                hit = decide(f, in_store(b) ? b : a, '-');
        }
        in_shim--;
        return hit;
}

#define PATH_WRAPPER_BODY(decision, call)                                                          \
        do {                                                                                       \
                int hit_, rc_;                                                                     \
                ENSURE();                                                                          \
                hit_ = decision;                                                                   \
                if (FAILS(hit_)) {                                                                 \
                        errno = S.err;                                                             \
                        return -1;                                                                 \
                }                                                                                  \
                rc_ = call;                                                                        \
                (void)after(hit_, rc_);                                                            \
                return rc_;                                                                        \
        } while (0)

SHIM_EXPORT int rename(const char *from, const char *to)
{
        PATH_WRAPPER_BODY(path_decide(F_RENAME, AT_FDCWD, from, AT_FDCWD, to, 1),
                          real_rename(from, to));
}

SHIM_EXPORT int renameat(int fd1, const char *from, int fd2, const char *to)
{
        PATH_WRAPPER_BODY(path_decide(F_RENAMEAT, fd1, from, fd2, to, 1),
                          real_renameat(fd1, from, fd2, to));
}

SHIM_EXPORT int renameat2(int fd1, const char *from, int fd2, const char *to, unsigned flags)
{
        PATH_WRAPPER_BODY(path_decide(F_RENAMEAT2, fd1, from, fd2, to, 1),
                          real_renameat2(fd1, from, fd2, to, flags));
}

SHIM_EXPORT int linkat(int fd1, const char *from, int fd2, const char *to, int flags)
{
        PATH_WRAPPER_BODY(path_decide(F_LINKAT, fd1, from, fd2, to, 1),
                          real_linkat(fd1, from, fd2, to, flags));
}

SHIM_EXPORT int unlinkat(int fd, const char *name, int flags)
{
        PATH_WRAPPER_BODY(path_decide(F_UNLINKAT, fd, name, AT_FDCWD, NULL, 0),
                          real_unlinkat(fd, name, flags));
}

SHIM_EXPORT int mkdirat(int fd, const char *name, mode_t mode)
{
        PATH_WRAPPER_BODY(path_decide(F_MKDIRAT, fd, name, AT_FDCWD, NULL, 0),
                          real_mkdirat(fd, name, mode));
}

/* ---- allocation -------------------------------------------------------- */

static int caller_in_scope(const void *ra)
{
        Dl_info info;
        const char *p;
        char want[512];
        char *save = NULL, *tok;

        if (S.dirlen == 0)
                return 0;
        if (dladdr(ra, &info) == 0 || info.dli_fname == NULL)
                return 0;
        p = strrchr(info.dli_fname, '/');
        p = p != NULL ? p + 1 : info.dli_fname;
        (void)snprintf(want, sizeof(want), "%s", S.malloc_from);
        for (tok = strtok_r(want, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
                if (tok[0] != '\0' && strstr(p, tok) != NULL)
                        return 1;
        }
        return 0;
}

static int alloc_decide(enum fn f, const void *ra)
{
        char where[PATH_BUF + 16];
        int hit;

        in_shim++;
        if (!caller_in_scope(ra)) {
                in_shim--;
                return 0;
        }
        (void)snprintf(where, sizeof(where), "%s/<%s>", S.dir, fn_names[f]);
        hit = decide(f, where, '-');
        in_shim--;
        return hit;
}

SHIM_EXPORT void *malloc(size_t n)
{
        void *p;
        int hit = 0;

        if (S.ready && !in_shim)
                hit = alloc_decide(F_MALLOC, __builtin_return_address(0));
        if (FAILS(hit)) {
                errno = S.err;
                return NULL;
        }
        p = __libc_malloc(n);
        (void)after(hit, 0);
        return p;
}

SHIM_EXPORT void *calloc(size_t n, size_t size)
{
        void *p;
        int hit = 0;

        if (S.ready && !in_shim)
                hit = alloc_decide(F_CALLOC, __builtin_return_address(0));
        if (FAILS(hit)) {
                errno = S.err;
                return NULL;
        }
        p = __libc_calloc(n, size);
        (void)after(hit, 0);
        return p;
}

/* ---- clock --------------------------------------------------------------- */

SHIM_EXPORT time_t time(time_t *t)
{
        time_t now;

        if (S.have_now) {
                now = S.now;
                if (t != NULL)
                        *t = now;
                return now;
        }
        ENSURE();
        return real_time(t);
}

/* ---- the loader ---------------------------------------------------------- */

SHIM_EXPORT void *dlopen(const char *file, int mode)
{
        char missing[PATH_BUF];

        ENSURE();
        if (S.ready && file != NULL && S.dlopen_fail[0] != '\0' &&
            strstr(file, S.dlopen_fail) != NULL) {
                /* Ask the loader for a file that is not there: dlerror() gets its own words. */
                (void)snprintf(missing, sizeof(missing), "%s.faultshim-refused", file);
                return real_dlopen(missing, mode);
        }
        return real_dlopen(file, mode);
}
