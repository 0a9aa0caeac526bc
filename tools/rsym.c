/* rsym.c — modules and dynamic symbols of another process (see rsym.h). */
#include <elf.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "rsym.h"

bool rsym_read(int pid, uintptr_t addr, void *buf, size_t len)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/mem", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = pread(fd, buf, len, (off_t)addr);
    close(fd);
    return n == (ssize_t)len;
}

int rsym_find_module(int pid, const char *prefix, rsym_module *m)
{
    char path[64], line[PATH_MAX + 128];
    snprintf(path, sizeof path, "/proc/%d/maps", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int found = 0;
    while (!found && fgets(line, sizeof line, f)) {
        unsigned long start, offset;
        int name_at = 0;
        if (sscanf(line, "%lx-%*x %*s %lx %*s %*u %n", &start, &offset, &name_at) < 2 || name_at == 0)
            continue;
        char *file = line + name_at;
        file[strcspn(file, "\n")] = '\0';
        const char *base = strrchr(file, '/');
        if (file[0] != '/' || offset != 0 || strncmp(base + 1, prefix, strlen(prefix)) != 0)
            continue;
        m->base = start;
        snprintf(m->path, sizeof m->path, "%s", file);
        found = 1;
    }
    fclose(f);
    return found;
}

struct dyninfo {
    uintptr_t symtab, strtab, gnu_hash, hash;
};

static uintptr_t relocated(const rsym_module *m, uintptr_t p)
{
    return p < m->base ? p + m->base : p;   /* the loader relocates most dynamic sections in place */
}

static bool read_dynamic(int pid, const rsym_module *m, struct dyninfo *d)
{
    Elf64_Ehdr eh;
    if (!rsym_read(pid, m->base, &eh, sizeof eh) || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
        eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_phnum > 64)
        return false;
    Elf64_Phdr ph[64];
    if (!rsym_read(pid, m->base + eh.e_phoff, ph, eh.e_phnum * sizeof *ph))
        return false;
    uintptr_t dyn = 0;
    for (int i = 0; i < eh.e_phnum; i++)
        if (ph[i].p_type == PT_DYNAMIC)
            dyn = m->base + ph[i].p_vaddr;
    if (!dyn)
        return false;
    memset(d, 0, sizeof *d);
    for (int i = 0; i < 1024; i++) {
        Elf64_Dyn e;
        if (!rsym_read(pid, dyn + i * sizeof e, &e, sizeof e))
            return false;
        if (e.d_tag == DT_NULL)
            break;
        if (e.d_tag == DT_SYMTAB)
            d->symtab = relocated(m, e.d_un.d_ptr);
        else if (e.d_tag == DT_STRTAB)
            d->strtab = relocated(m, e.d_un.d_ptr);
        else if (e.d_tag == DT_GNU_HASH)
            d->gnu_hash = relocated(m, e.d_un.d_ptr);
        else if (e.d_tag == DT_HASH)
            d->hash = relocated(m, e.d_un.d_ptr);
    }
    return d->symtab && d->strtab && (d->gnu_hash || d->hash);
}

/* Symbol idx when it is a definition called name. */
static bool symbol_matches(int pid, const struct dyninfo *d, uint32_t idx, const char *name, Elf64_Sym *sym)
{
    char buf[256];
    size_t len = strlen(name) + 1;
    if (len > sizeof buf || !rsym_read(pid, d->symtab + idx * sizeof *sym, sym, sizeof *sym))
        return false;
    return sym->st_shndx != SHN_UNDEF && sym->st_value != 0 && rsym_read(pid, d->strtab + sym->st_name, buf, len) &&
           memcmp(buf, name, len) == 0;
}

static bool lookup_gnu(int pid, const struct dyninfo *d, const char *name, Elf64_Sym *sym)
{
    uint32_t hdr[4];                        /* buckets, first hashed symbol, bloom words, bloom shift */
    if (!rsym_read(pid, d->gnu_hash, hdr, sizeof hdr) || hdr[0] == 0)
        return false;
    uint32_t h = 5381;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = h * 33 + *p;
    uintptr_t buckets = d->gnu_hash + sizeof hdr + (uintptr_t)hdr[2] * 8;
    uintptr_t chains = buckets + (uintptr_t)hdr[0] * 4;
    uint32_t idx;
    if (!rsym_read(pid, buckets + (h % hdr[0]) * 4, &idx, 4) || idx < hdr[1])
        return false;
    for (int guard = 0; guard < 100000; guard++, idx++) {
        uint32_t ch;
        if (!rsym_read(pid, chains + (uintptr_t)(idx - hdr[1]) * 4, &ch, 4))
            return false;
        if ((ch | 1) == (h | 1) && symbol_matches(pid, d, idx, name, sym))
            return true;
        if (ch & 1)
            return false;
    }
    return false;
}

static bool lookup_sysv(int pid, const struct dyninfo *d, const char *name, Elf64_Sym *sym)
{
    uint32_t hdr[2];                        /* buckets, chain length */
    if (!rsym_read(pid, d->hash, hdr, sizeof hdr) || hdr[0] == 0)
        return false;
    uint32_t h = 0;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        h = (h << 4) + *p;
        uint32_t g = h & 0xf0000000u;
        h ^= g >> 24;
        h &= ~g;
    }
    uint32_t idx;
    if (!rsym_read(pid, d->hash + 8 + (h % hdr[0]) * 4, &idx, 4))
        return false;
    for (int guard = 0; idx != 0 && idx < hdr[1] && guard < 100000; guard++) {
        if (symbol_matches(pid, d, idx, name, sym))
            return true;
        if (!rsym_read(pid, d->hash + 8 + (uintptr_t)hdr[0] * 4 + (uintptr_t)idx * 4, &idx, 4))
            return false;
    }
    return false;
}

bool rsym_lookup(int pid, const rsym_module *m, const char *name, uintptr_t *addr)
{
    struct dyninfo d;
    Elf64_Sym sym;
    if (!read_dynamic(pid, m, &d))
        return false;
    if (!(d.gnu_hash ? lookup_gnu(pid, &d, name, &sym) : lookup_sysv(pid, &d, name, &sym)))
        return false;
    *addr = m->base + sym.st_value;
    return true;
}
