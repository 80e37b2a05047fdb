/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * exports_check [--sanitizer] MODULE.so: dlopen the module with RTLD_NOW
 * (every symbol it needs resolves), find pam_sm_authenticate and
 * pam_sm_setcred, and read its ELF dynamic section and symbol table to prove
 *   - that nothing else is exported;
 *   - that it needs exactly libpam, liboath and libc (DT_NEEDED): libcrypto
 *     is dlopen()ed by src/mac.c only when a keyed hash is computed, never
 *     linked (--sanitizer also allows the ASan/UBSan runtimes);
 *   - that no OpenSSL symbol (EVP_*, OSSL_*, OPENSSL_*, ERR_*) is undefined
 *     in it, i.e. nothing would make the loader look for libcrypto.
 * Exit 0 when all holds, 1 otherwise (with the reason on stderr).
 */
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const allowed[] = {"pam_sm_authenticate", "pam_sm_setcred"};

/* The libraries the module links, by SONAME prefix: each must be there, nothing else. */
static const char *const needed[] = {"libpam.so.", "liboath.so.", "libc.so."};
static const char *const sanitizer_needed[] = {"libasan.so.", "libubsan.so."};
static const char *const crypto_prefixes[] = {"EVP_", "OSSL_", "OPENSSL_", "ERR_"};

static size_t prefix_index(const char *name, const char *const *list, size_t n)
{
        size_t i;

        for (i = 0; i < n; i++) {
                if (strncmp(name, list[i], strlen(list[i])) == 0)
                        return i;
        }
        return n;
}

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static int is_allowed(const char *name)
{
        size_t i;

        for (i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
                if (strcmp(name, allowed[i]) == 0)
                        return 1;
        }
        return 0;
}

/* Count exported (defined, global or weak, default/protected visibility) symbols; the
 * unexpected exports and undefined OpenSSL symbols are the return value. */
static int check_dynsym(const unsigned char *img, size_t size, int *found)
{
        const Elf64_Ehdr *eh = (const Elf64_Ehdr *)(const void *)img;
        const Elf64_Shdr *sh;
        int bad = 0;
        size_t i, j;

        if (size < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 ||
            eh->e_ident[EI_CLASS] != ELFCLASS64 ||
            eh->e_shoff + (size_t)eh->e_shnum * sizeof(*sh) > size) {
                fprintf(stderr, "not a 64-bit ELF file\n");
                return -1;
        }
        sh = (const Elf64_Shdr *)(const void *)(img + eh->e_shoff);
        for (i = 0; i < eh->e_shnum; i++) {
                const Elf64_Sym *sym;
                const char *strtab;
                size_t n;

                if (sh[i].sh_type != SHT_DYNSYM || sh[i].sh_link >= eh->e_shnum)
                        continue;
                sym = (const Elf64_Sym *)(const void *)(img + sh[i].sh_offset);
                strtab = (const char *)(img + sh[sh[i].sh_link].sh_offset);
                n = sh[i].sh_size / sizeof(*sym);
                for (j = 1; j < n; j++) {
                        unsigned bind = ELF64_ST_BIND(sym[j].st_info);
                        unsigned vis = ELF64_ST_VISIBILITY(sym[j].st_other);
                        const char *name = strtab + sym[j].st_name;

                        if (sym[j].st_shndx == SHN_UNDEF &&
                            prefix_index(name, crypto_prefixes, NELEM(crypto_prefixes)) <
                                NELEM(crypto_prefixes)) {
                                fprintf(stderr, "undefined OpenSSL symbol: %s\n", name);
                                bad++;
                                continue;
                        }
                        if (sym[j].st_shndx == SHN_UNDEF ||
                            (bind != STB_GLOBAL && bind != STB_WEAK) ||
                            (vis != STV_DEFAULT && vis != STV_PROTECTED))
                                continue;
                        if (is_allowed(name)) {
                                (*found)++;
                        } else {
                                fprintf(stderr, "unexpected export: %s\n", name);
                                bad++;
                        }
                }
        }
        return bad;
}

/* DT_NEEDED: libpam, liboath and libc each once, nothing else (libcrypto above all). */
static int check_needed(const unsigned char *img, size_t size, int sanitizer)
{
        const Elf64_Ehdr *eh = (const Elf64_Ehdr *)(const void *)img;
        const Elf64_Shdr *sh = (const Elf64_Shdr *)(const void *)(img + eh->e_shoff);
        int seen[NELEM(needed)] = {0};
        int bad = 0, sections = 0;
        size_t i, j, k;

        for (i = 0; i < eh->e_shnum; i++) {
                const Elf64_Dyn *dyn;
                const char *strtab;

                if (sh[i].sh_type != SHT_DYNAMIC || sh[i].sh_link >= eh->e_shnum ||
                    sh[i].sh_offset + sh[i].sh_size > size)
                        continue;
                sections++;
                dyn = (const Elf64_Dyn *)(const void *)(img + sh[i].sh_offset);
                strtab = (const char *)(img + sh[sh[i].sh_link].sh_offset);
                for (j = 0; j < sh[i].sh_size / sizeof(*dyn) && dyn[j].d_tag != DT_NULL; j++) {
                        const char *lib;

                        if (dyn[j].d_tag != DT_NEEDED)
                                continue;
                        lib = strtab + dyn[j].d_un.d_val;
                        printf("NEEDED %s\n", lib);
                        k = prefix_index(lib, needed, NELEM(needed));
                        if (k < NELEM(needed)) {
                                seen[k]++;
                        } else if (!sanitizer ||
                                   prefix_index(lib, sanitizer_needed, NELEM(sanitizer_needed)) ==
                                       NELEM(sanitizer_needed)) {
                                fprintf(stderr, "unexpected DT_NEEDED: %s%s\n", lib,
                                        strstr(lib, "libcrypto") != NULL
                                            ? " (libcrypto must be dlopen()ed on demand)"
                                            : "");
                                bad++;
                        }
                }
        }
        if (sections != 1) {
                fprintf(stderr, "%d dynamic sections, want 1\n", sections);
                return 1;
        }
        for (k = 0; k < NELEM(needed); k++) {
                if (seen[k] != 1) {
                        fprintf(stderr, "DT_NEEDED %s* found %d times, want once\n", needed[k],
                                seen[k]);
                        bad++;
                }
        }
        return bad;
}

int main(int argc, char **argv)
{
        struct stat st;
        void *h, *img;
        int fd, found = 0, bad, bad_needed, sanitizer = 0;
        size_t i;

        if (argc == 3 && strcmp(argv[1], "--sanitizer") == 0) {
                sanitizer = 1;
                argv++;
                argc--;
        }
        if (argc != 2) {
                fprintf(stderr, "usage: exports_check [--sanitizer] MODULE.so\n");
                return 1;
        }
        h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
        if (h == NULL) {
                fprintf(stderr, "dlopen: %s\n", dlerror());
                return 1;
        }
        for (i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
                if (dlsym(h, allowed[i]) == NULL) {
                        fprintf(stderr, "missing export: %s\n", allowed[i]);
                        return 1;
                }
        }
        dlclose(h);
        fd = open(argv[1], O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) != 0) {
                perror(argv[1]);
                return 1;
        }
        img = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        close(fd);
        if (img == MAP_FAILED) {
                perror("mmap");
                return 1;
        }
        bad = check_dynsym(img, (size_t)st.st_size, &found);
        bad_needed = bad < 0 ? 0 : check_needed(img, (size_t)st.st_size, sanitizer);
        munmap(img, (size_t)st.st_size);
        if (bad != 0 || found != 2) {
                fprintf(stderr, "symbols: %d unexpected (above), %d of 2 exports found\n", bad,
                        found);
                return 1;
        }
        if (bad_needed != 0) {
                fprintf(stderr, "DT_NEEDED is not exactly libpam, liboath and libc\n");
                return 1;
        }
        printf("only pam_sm_authenticate and pam_sm_setcred are exported; "
               "needs only libpam, liboath and libc\n");
        return 0;
}
