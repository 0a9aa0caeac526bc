/* symbols.c — modules, ELF symbol tables and the JIT perf map (see symbols.h).
 * Files are read with open/mmap system calls and parsed in place; everything kept lives in the arena. */
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "symbols.h"
#include "arena.h"
#include "out.h"
#include "sort.h"
#include "state.h"

struct sym {
    uint64_t addr;                  /* module-relative (st_value), or absolute for the perf map */
    uint64_t size;
    uint32_t name;                  /* offset in names */
};

struct symtab {
    struct symtab *next;            /* the cache list */
    char path[512];
    dev_t dev;
    ino_t ino;
    struct sym *syms;
    size_t count;
    char *names;
    size_t names_len;
    size_t syms_mapped, names_mapped;
};

static struct symtab *symtab_cache;   /* reporter context only: reports are serialised */

static int cmp_sym(const void *a, const void *b)
{
    const struct sym *x = a, *y = b;
    return x->addr < y->addr ? -1 : x->addr > y->addr;
}

struct mapped_file {
    const unsigned char *data;
    size_t size;
};

static int map_file(const char *path, struct mapped_file *f, struct stat *st)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode) || st->st_size < (off_t)sizeof(Elf64_Ehdr)) {
        close(fd);
        return -1;
    }
    void *p = (void *)syscall(SYS_mmap, NULL, (size_t)st->st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED)
        return -1;
    f->data = p;
    f->size = (size_t)st->st_size;
    return 0;
}

static void unmap_file(struct mapped_file *f)
{
    syscall(SYS_munmap, f->data, f->size);
}

/* Reads the function symbols of the section of type `want` into t; 0 if there were any. */
static int load_elf_symbols(const struct mapped_file *f, unsigned want, struct symtab *t)
{
    const Elf64_Ehdr *eh = (const void *)f->data;
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
        eh->e_shentsize != sizeof(Elf64_Shdr) || eh->e_shoff == 0 ||
        eh->e_shoff + (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr) > f->size)
        return -1;
    const Elf64_Shdr *sh = (const void *)(f->data + eh->e_shoff);
    for (unsigned i = 0; i < eh->e_shnum; i++) {
        if (sh[i].sh_type != want || sh[i].sh_link >= eh->e_shnum || sh[i].sh_entsize != sizeof(Elf64_Sym))
            continue;
        const Elf64_Shdr *strs = &sh[sh[i].sh_link];
        if (sh[i].sh_offset + sh[i].sh_size > f->size || strs->sh_offset + strs->sh_size > f->size)
            continue;
        const Elf64_Sym *syms = (const void *)(f->data + sh[i].sh_offset);
        size_t n = sh[i].sh_size / sizeof(Elf64_Sym), kept = 0;
        t->syms_mapped = n * sizeof(struct sym);
        t->syms = arena_map(t->syms_mapped ? t->syms_mapped : 1);
        t->names_mapped = strs->sh_size + 1;
        t->names = arena_map(t->names_mapped);
        if (!t->syms || !t->names)
            return -1;
        memcpy(t->names, f->data + strs->sh_offset, strs->sh_size);
        t->names_len = strs->sh_size;
        for (size_t k = 0; k < n; k++) {
            unsigned type = ELF64_ST_TYPE(syms[k].st_info);
            if ((type != STT_FUNC && type != STT_GNU_IFUNC) || syms[k].st_shndx == SHN_UNDEF ||
                syms[k].st_value == 0 || syms[k].st_name >= strs->sh_size)
                continue;
            t->syms[kept++] = (struct sym){ syms[k].st_value, syms[k].st_size, syms[k].st_name };
        }
        t->count = kept;
        lw_sort(t->syms, kept, sizeof *t->syms, cmp_sym);
        return kept ? 0 : -1;
    }
    return -1;
}

static void symtab_clear(struct symtab *t)
{
    arena_unmap(t->syms, t->syms_mapped);
    arena_unmap(t->names, t->names_mapped);
    t->syms = NULL;
    t->names = NULL;
    t->count = 0;
}

static void debug_file_path(const char *build_id, char *dst, size_t cap)
{
    struct out o;
    out_init(&o, -1, dst, cap - 1);
    out_str(&o, "/usr/lib/debug/.build-id/");
    out_mem(&o, build_id, 2);
    out_char(&o, '/');
    out_str(&o, build_id + 2);
    out_str(&o, ".debug");
    dst[o.len] = '\0';
}

static struct symtab *symtab_for(const struct module *m)
{
    struct mapped_file f;
    struct stat st;
    /* /proc/self/exe still reaches the running executable when its file was replaced (an upgrade
     * while the server runs); its path then names a new, different file, or none. */
    char proc[40];
    const char *file = m->is_main ? lw_proc_path("exe", proc, sizeof proc) : m->path;
    if (m->path[0] != '/' || map_file(file, &f, &st) < 0)
        return NULL;
    for (struct symtab *t = symtab_cache; t; t = t->next) {
        if (t->dev == st.st_dev && t->ino == st.st_ino && strcmp(t->path, m->path) == 0) {
            unmap_file(&f);
            return t;
        }
    }
    struct symtab *t = arena_alloc(sizeof *t);
    if (!t) {
        unmap_file(&f);
        return NULL;
    }
    memcpy(t->path, m->path, sizeof t->path);
    t->dev = st.st_dev;
    t->ino = st.st_ino;
    int ok = load_elf_symbols(&f, SHT_SYMTAB, t) == 0;
    unmap_file(&f);
    if (!ok && m->build_id[0]) {
        char debug[128];
        struct stat dst;
        debug_file_path(m->build_id, debug, sizeof debug);
        if (map_file(debug, &f, &dst) == 0) {
            symtab_clear(t);
            ok = load_elf_symbols(&f, SHT_SYMTAB, t) == 0;
            unmap_file(&f);
        }
    }
    if (!ok && map_file(file, &f, &st) == 0) {
        symtab_clear(t);
        load_elf_symbols(&f, SHT_DYNSYM, t);
        unmap_file(&f);
    }
    t->next = symtab_cache;
    symtab_cache = t;
    return t;
}

static void read_build_id(const struct dl_phdr_info *info, char *dst)
{
    dst[0] = '\0';
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE)
            continue;
        const unsigned char *p = (const unsigned char *)(info->dlpi_addr + ph->p_vaddr);
        const unsigned char *end = p + ph->p_memsz;
        while (p + sizeof(ElfW(Nhdr)) <= end) {
            const ElfW(Nhdr) *nh = (const void *)p;
            const unsigned char *name = p + sizeof *nh;
            const unsigned char *desc = name + ((nh->n_namesz + 3) & ~3u);
            if (desc + nh->n_descsz > end)
                break;
            if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && memcmp(name, "GNU", 4) == 0) {
                unsigned n = nh->n_descsz > 20 ? 20 : nh->n_descsz;
                for (unsigned k = 0; k < n; k++) {
                    dst[2 * k] = "0123456789abcdef"[desc[k] >> 4];
                    dst[2 * k + 1] = "0123456789abcdef"[desc[k] & 15];
                }
                dst[2 * n] = '\0';
                return;
            }
            p = desc + ((nh->n_descsz + 3) & ~3u);
        }
    }
}

static int add_module(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    struct module_set *set = data;
    if (set->count == set->cap)
        return 1;                   /* stop: the set was sized with room to spare */
    struct module *m = &set->items[set->count];
    memset(m, 0, sizeof *m);
    m->base = info->dlpi_addr;
    m->lo = UINTPTR_MAX;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
        if (lo < m->lo)
            m->lo = lo;
        if (hi > m->hi)
            m->hi = hi;
    }
    if (m->lo >= m->hi)
        return 0;
    const char *name = info->dlpi_name;
    if (!name || !name[0]) {
        char proc[40];
        ssize_t n = readlink(lw_proc_path("exe", proc, sizeof proc), m->path, sizeof m->path - 1);
        m->path[n > 0 ? n : 0] = '\0';
        m->is_main = 1;
    } else {
        size_t n = strlen(name);
        if (n >= sizeof m->path)
            n = sizeof m->path - 1;
        memcpy(m->path, name, n);
        m->path[n] = '\0';
    }
    read_build_id(info, m->build_id);
    set->count++;
    return 0;
}

static struct symtab *read_perf_map(void)
{
    char path[64];
    struct out o;
    out_init(&o, -1, path, sizeof path - 1);
    out_str(&o, "/tmp/perf-");
    out_u64(&o, (uint64_t)shim_state.pid);
    out_str(&o, ".map");
    path[o.len] = '\0';
    struct mapped_file f;
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    if (fstat(fd, &st) < 0 || st.st_size <= 0) {
        close(fd);
        return NULL;
    }
    void *p = (void *)syscall(SYS_mmap, NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED)
        return NULL;
    f.data = p;
    f.size = (size_t)st.st_size;
    struct symtab *t = arena_alloc(sizeof *t);
    size_t lines = 0;
    for (size_t i = 0; i < f.size; i++)
        lines += f.data[i] == '\n';
    if (t) {
        t->syms_mapped = (lines + 1) * sizeof(struct sym);
        t->names_mapped = f.size + 1;
        t->syms = arena_map(t->syms_mapped);
        t->names = arena_map(t->names_mapped);
    }
    if (!t || !t->syms || !t->names) {
        if (t) {
            symtab_clear(t);
            arena_free(t, sizeof *t);
        }
        unmap_file(&f);
        return NULL;
    }
    /* each line: START SIZE NAME, hex numbers with or without 0x (HotSpot writes 0x) */
    const unsigned char *s = f.data, *end = f.data + f.size;
    while (s < end) {
        const unsigned char *eol = memchr(s, '\n', (size_t)(end - s));
        if (!eol)
            eol = end;
        uint64_t v[2] = { 0, 0 };
        const unsigned char *q = s;
        int ok = 1;
        for (int k = 0; k < 2 && ok; k++) {
            int digits = 0;
            if (eol - q > 2 && q[0] == '0' && (q[1] == 'x' || q[1] == 'X'))
                q += 2;
            for (; q < eol && *q != ' '; q++, digits++) {
                unsigned c = *q, d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                   : c >= 'A' && c <= 'F' ? c - 'A' + 10 : 16;
                if (d == 16 || digits > 16)
                    ok = 0;
                v[k] = v[k] * 16 + d;
            }
            ok = ok && digits > 0 && q < eol;
            q++;
        }
        if (ok && q < eol) {
            size_t len = (size_t)(eol - q);
            t->syms[t->count++] = (struct sym){ v[0], v[1], (uint32_t)t->names_len };
            memcpy(t->names + t->names_len, q, len);
            t->names_len += len + 1;        /* the mapping is zeroed: the terminator is already there */
        }
        s = eol + 1;
    }
    unmap_file(&f);
    lw_sort(t->syms, t->count, sizeof *t->syms, cmp_sym);
    return t;
}

int symbols_snapshot(struct module_set *set)
{
    memset(set, 0, sizeof *set);
    set->cap = 1024;
    set->items = arena_map(set->cap * sizeof *set->items);
    if (!set->items)
        return -1;
    dl_iterate_phdr(add_module, set);
    for (unsigned i = 0; i < set->count; i++)
        set->items[i].syms = symtab_for(&set->items[i]);
    set->perf_map = read_perf_map();
    return 0;
}

void symbols_release(struct module_set *set)
{
    if (set->perf_map) {
        symtab_clear(set->perf_map);
        arena_free(set->perf_map, sizeof *set->perf_map);
    }
    arena_unmap(set->items, set->cap * sizeof *set->items);
    memset(set, 0, sizeof *set);
}

int symbols_module_of(const struct module_set *set, uintptr_t ip)
{
    for (unsigned i = 0; i < set->count; i++)
        if (ip >= set->items[i].lo && ip < set->items[i].hi)
            return (int)i;
    return -1;
}

static const struct sym *find_sym(const struct symtab *t, uint64_t addr)
{
    if (!t || t->count == 0)
        return NULL;
    size_t lo = 0, hi = t->count;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (t->syms[mid].addr <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return NULL;
    const struct sym *s = &t->syms[lo - 1];
    /* size 0 (hand-written assembly) is accepted as "up to the next symbol" */
    if (s->size && addr >= s->addr + s->size)
        return NULL;
    return s;
}

void symbols_resolve(const struct module_set *set, uintptr_t ip, struct resolved *out)
{
    memset(out, 0, sizeof *out);
    /* ip is a return address: look up the call instruction before it */
    uintptr_t look = ip ? ip - 1 : ip;
    out->module = symbols_module_of(set, look);
    if (out->module >= 0) {
        const struct module *m = &set->items[out->module];
        out->offset = ip - m->base;
        const struct sym *s = find_sym(m->syms, look - m->base);
        if (s) {
            out->function = m->syms->names + s->name;
            out->function_offset = ip - m->base - s->addr;
        }
        return;
    }
    const struct sym *s = find_sym(set->perf_map, look);
    if (s) {
        out->function = set->perf_map->names + s->name;
        out->function_offset = ip - s->addr;
    }
}
