/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * exports_check MODULE.so: dlopen the module with RTLD_NOW (every symbol it
 * needs resolves), find pam_sm_authenticate and pam_sm_setcred, and read its
 * ELF dynamic symbol table to prove that nothing else is exported.
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

static int is_allowed(const char *name)
{
        size_t i;

        for (i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
                if (strcmp(name, allowed[i]) == 0)
                        return 1;
        }
        return 0;
}

/* Count exported (defined, global or weak, default/protected visibility) symbols. */
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

int main(int argc, char **argv)
{
        struct stat st;
        void *h, *img;
        int fd, found = 0, bad;
        size_t i;

        if (argc != 2) {
                fprintf(stderr, "usage: exports_check MODULE.so\n");
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
        munmap(img, (size_t)st.st_size);
        if (bad != 0 || found != 2) {
                fprintf(stderr, "exports: %d unexpected, %d of 2 expected found\n", bad, found);
                return 1;
        }
        printf("only pam_sm_authenticate and pam_sm_setcred are exported\n");
        return 0;
}
