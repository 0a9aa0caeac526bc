/* got.c — rewriting GOT entries of loaded modules to the shim's hooks (see got.h).
 *
 * A module calls malloc through its GOT: a JUMP_SLOT entry (the PLT) or a GLOB_DAT entry (-fno-plt code,
 * address-taken functions). The loader fills both with the address the global lookup finds, so an entry
 * holding the global definition (or, for a lazily bound JUMP_SLOT, still pointing into its own module's
 * PLT) is what a preloaded shim would have received; only those are rewritten. Entries in the RELRO
 * segment are made writable for the store and read-only again. A store of an aligned 8-byte entry is
 * atomic, so threads calling through it meanwhile get either the real function or the hook.
 *
 * A module is listed (dl_iterate_phdr) as soon as it is mapped, before the loader has relocated it and made
 * its RELRO read-only: rewriting it then would be undone by the relocation, and making a page read-only
 * under the loader's feet would crash the program. So every pass first counts the modules, then waits for
 * any dlopen in progress to finish (a dlopen with RTLD_NOLOAD takes the loader's lock), and then touches only
 * the modules counted before the wait; later ones wait for the next pass. */
#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <stdint.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include "got.h"
#include "arena.h"
#include "lock.h"
#include "log.h"
#include "state.h"

/* The names the shim's hooks answer to (hooks.c), as a preloaded shim interposes them. */
static const char *const hooked_names[] = {
    "malloc", "free", "calloc", "realloc", "reallocarray", "memalign", "posix_memalign", "aligned_alloc",
    "valloc", "pvalloc", "mmap", "mmap64", "munmap", "mremap", "sigaction", "signal", "bsd_signal",
    "pthread_create", "setuid", "seteuid", "setreuid", "setresuid",
};
#define NHOOKS (sizeof hooked_names / sizeof *hooked_names)

struct saved_entry {
    uintptr_t *slot;
    uintptr_t original;
    uintptr_t hook;
};

static struct {
    lw_lock_t lock;
    int resolved;
    uintptr_t hook[NHOOKS], real[NHOOKS];
    struct saved_entry *saved;
    unsigned nsaved, cap;
    unsigned long long adds_seen;
    size_t page;
    char self_path[512];
} got = { .lock = LW_LOCK_INIT(LOCK_RANK_GOT) };
LOCK_REGISTER(LOCK_RANK_GOT, &got.lock, 1, 0)

/* Our own hooks by name: a lookup through our own handle finds our definitions first, whatever the
 * global scope holds (a shim loaded with RTLD_LOCAL is not in it). */
static int resolve_hooks_locked(void)
{
    if (got.resolved)
        return 0;
    Dl_info self;
    if (!dladdr((void *)resolve_hooks_locked, &self) || !self.dli_fname)
        return -1;
    size_t len = strlen(self.dli_fname);
    if (len >= sizeof got.self_path)
        return -1;
    memcpy(got.self_path, self.dli_fname, len + 1);
    void *handle = dlopen(got.self_path, RTLD_NOW | RTLD_NOLOAD);
    if (!handle)
        return -1;
    for (unsigned i = 0; i < NHOOKS; i++) {
        got.hook[i] = (uintptr_t)dlsym(handle, hooked_names[i]);
        got.real[i] = (uintptr_t)got_global_definition(hooked_names[i]);
    }
    dlclose(handle);
    for (unsigned i = 0; i < NHOOKS; i++)
        if (!got.hook[i] || got.hook[i] == got.real[i])
            return -1;
    got.page = shim_state.page_size ? shim_state.page_size : 4096;
    got.resolved = 1;
    return 0;
}

static int remember_locked(uintptr_t *slot, uintptr_t original, uintptr_t hook)
{
    if (got.nsaved == got.cap) {
        unsigned cap = got.cap ? got.cap * 2 : 256;
        struct saved_entry *bigger = arena_alloc(cap * sizeof *bigger);
        if (!bigger)
            return -1;
        if (got.saved) {
            memcpy(bigger, got.saved, got.nsaved * sizeof *bigger);
            arena_free(got.saved, got.cap * sizeof *bigger);
        }
        got.saved = bigger;
        got.cap = cap;
    }
    got.saved[got.nsaved++] = (struct saved_entry){ slot, original, hook };
    return 0;
}

/* What we need of one module's dynamic section. */
struct module {
    uintptr_t base, lo, hi, relro_lo, relro_hi;
    const ElfW(Sym) *symtab;
    const char *strtab;
    size_t strsz;
    const ElfW(Rela) *rel[2];
    size_t nrel[2];
};

/* The loader relocates most dynamic sections in place, but not its own or the vDSO's. */
static uintptr_t dyn_ptr(const struct module *m, uintptr_t p)
{
    return p < m->base ? p + m->base : p;
}

static int read_module(const struct dl_phdr_info *info, struct module *m)
{
    memset(m, 0, sizeof *m);
    m->base = info->dlpi_addr;
    m->lo = UINTPTR_MAX;
    const ElfW(Dyn) *dyn = NULL;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t start = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD) {
            if (start < m->lo)
                m->lo = start;
            if (start + ph->p_memsz > m->hi)
                m->hi = start + ph->p_memsz;
        } else if (ph->p_type == PT_DYNAMIC) {
            dyn = (const ElfW(Dyn) *)start;
        } else if (ph->p_type == PT_GNU_RELRO) {
            m->relro_lo = start & ~(uintptr_t)(got.page - 1);
            m->relro_hi = (start + ph->p_memsz) & ~(uintptr_t)(got.page - 1);
        }
    }
    if (!dyn)
        return -1;
    size_t relsz = 0, pltrelsz = 0;
    uintptr_t rela = 0, jmprel = 0;
    for (; dyn->d_tag != DT_NULL; dyn++) {
        switch (dyn->d_tag) {
        case DT_SYMTAB: m->symtab = (const ElfW(Sym) *)dyn_ptr(m, dyn->d_un.d_ptr); break;
        case DT_STRTAB: m->strtab = (const char *)dyn_ptr(m, dyn->d_un.d_ptr); break;
        case DT_STRSZ: m->strsz = dyn->d_un.d_val; break;
        case DT_RELA: rela = dyn_ptr(m, dyn->d_un.d_ptr); break;
        case DT_RELASZ: relsz = dyn->d_un.d_val; break;
        case DT_JMPREL: jmprel = dyn_ptr(m, dyn->d_un.d_ptr); break;
        case DT_PLTRELSZ: pltrelsz = dyn->d_un.d_val; break;
        default: break;
        }
    }
    if (!m->symtab || !m->strtab)
        return -1;
    m->rel[0] = (const ElfW(Rela) *)jmprel;
    m->nrel[0] = jmprel ? pltrelsz / sizeof(ElfW(Rela)) : 0;
    m->rel[1] = (const ElfW(Rela) *)rela;
    m->nrel[1] = rela ? relsz / sizeof(ElfW(Rela)) : 0;
    return 0;
}

static int hook_index(const struct module *m, const ElfW(Sym) *sym)
{
    if (sym->st_name >= m->strsz)
        return -1;
    const char *name = m->strtab + sym->st_name;
    for (unsigned i = 0; i < NHOOKS; i++)
        if (strcmp(name, hooked_names[i]) == 0)
            return (int)i;
    return -1;
}

/* Stores value into a GOT entry, through a writable window when the entry is in RELRO. */
static int store_entry(const struct module *m, uintptr_t *slot, uintptr_t value)
{
    uintptr_t at = (uintptr_t)slot;
    int relro = at >= m->relro_lo && at < m->relro_hi;
    void *page = (void *)(at & ~(uintptr_t)(got.page - 1));
    if (relro && mprotect(page, got.page, PROT_READ | PROT_WRITE) < 0)
        return -1;
    __atomic_store_n(slot, value, __ATOMIC_RELEASE);
    if (relro)
        mprotect(page, got.page, PROT_READ);
    return 0;
}

/* ---- the definition a PLT call binds to ---------------------------------------------------------- */

struct lookup {
    const char *name;
    uint32_t hash;
    uintptr_t self_base;
    void *found;
};

/* A GNU hash lookup of a defined, default-version symbol in one module. */
static void *module_definition(const struct dl_phdr_info *info, const char *name, uint32_t h)
{
    const ElfW(Dyn) *dyn = NULL;
    for (int i = 0; i < info->dlpi_phnum; i++)
        if (info->dlpi_phdr[i].p_type == PT_DYNAMIC)
            dyn = (const ElfW(Dyn) *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
    if (!dyn)
        return NULL;
    struct module m = { .base = info->dlpi_addr };
    const uint32_t *gnu = NULL;
    const ElfW(Versym) *versym = NULL;
    for (; dyn->d_tag != DT_NULL; dyn++) {
        if (dyn->d_tag == DT_GNU_HASH)
            gnu = (const uint32_t *)dyn_ptr(&m, dyn->d_un.d_ptr);
        else if (dyn->d_tag == DT_SYMTAB)
            m.symtab = (const ElfW(Sym) *)dyn_ptr(&m, dyn->d_un.d_ptr);
        else if (dyn->d_tag == DT_STRTAB)
            m.strtab = (const char *)dyn_ptr(&m, dyn->d_un.d_ptr);
        else if (dyn->d_tag == DT_VERSYM)
            versym = (const ElfW(Versym) *)dyn_ptr(&m, dyn->d_un.d_ptr);
    }
    if (!gnu || !m.symtab || !m.strtab || gnu[0] == 0)
        return NULL;
    uint32_t nbuckets = gnu[0], symoffset = gnu[1], bloom_words = gnu[2];
    const uint32_t *buckets = gnu + 4 + bloom_words * (sizeof(ElfW(Addr)) / 4);
    const uint32_t *chain = buckets + nbuckets;
    uint32_t idx = buckets[h % nbuckets];
    if (idx < symoffset)
        return NULL;
    for (;; idx++) {
        uint32_t ch = chain[idx - symoffset];
        const ElfW(Sym) *sym = &m.symtab[idx];
        /* an undefined symbol with a value is a canonical PLT entry of the executable, not a definition */
        if ((ch | 1) == (h | 1) && sym->st_shndx != SHN_UNDEF && sym->st_value != 0 &&
            (!versym || !(versym[idx] & 0x8000)) && strcmp(m.strtab + sym->st_name, name) == 0)
            return (void *)(info->dlpi_addr + sym->st_value);
        if (ch & 1)
            return NULL;
    }
}

static int find_definition(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    struct lookup *q = data;
    if (info->dlpi_addr == q->self_base || info->dlpi_addr == getauxval(AT_SYSINFO_EHDR))
        return 0;
    q->found = module_definition(info, q->name, q->hash);
    return q->found != NULL;
}

void *got_global_definition(const char *name)
{
    Dl_info self;
    struct lookup q = { name, 5381, 0, NULL };
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        q.hash = q.hash * 33 + *p;
    if (dladdr((void *)got_global_definition, &self))
        q.self_base = (uintptr_t)self.dli_fbase;
    dl_iterate_phdr(find_definition, &q);
    return q.found ? q.found : dlsym(RTLD_DEFAULT, name);
}

/* ---- one pass ------------------------------------------------------------------------------------- */

struct walk {
    int restore;
    int changed;
    unsigned index, limit;         /* only the first `limit` modules: those complete before the wait */
    unsigned long long subs;       /* a module unloaded meanwhile: the pass stops, the next one redoes it */
    int stopped;
};

static void redirect_module_locked(const struct module *m, struct walk *w)
{
    for (int k = 0; k < 2; k++) {
        for (size_t r = 0; r < m->nrel[k]; r++) {
            const ElfW(Rela) *rel = &m->rel[k][r];
            unsigned type = ELF64_R_TYPE(rel->r_info);
            if (type != R_X86_64_JUMP_SLOT && type != R_X86_64_GLOB_DAT)
                continue;
            const ElfW(Sym) *sym = &m->symtab[ELF64_R_SYM(rel->r_info)];
            int h = hook_index(m, sym);
            if (h < 0)
                continue;
            uintptr_t *slot = (uintptr_t *)(m->base + rel->r_offset);
            uintptr_t now = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
            if (now == got.hook[h])
                continue;
            int unbound = type == R_X86_64_JUMP_SLOT && sym->st_shndx == SHN_UNDEF && now >= m->lo && now < m->hi;
            if (now != got.real[h] && !unbound)
                continue;        /* bound to another implementation (a module's own malloc): not ours */
            if (remember_locked(slot, now, got.hook[h]) < 0)
                return;
            if (store_entry(m, slot, got.hook[h]) < 0) {
                got.nsaved--;
                continue;
            }
            w->changed++;
        }
    }
}

static void restore_module_locked(const struct module *m, struct walk *w)
{
    for (unsigned i = 0; i < got.nsaved; i++) {
        struct saved_entry *e = &got.saved[i];
        uintptr_t at = (uintptr_t)e->slot;
        if (!e->slot || at < m->lo || at >= m->hi)
            continue;
        if (__atomic_load_n(e->slot, __ATOMIC_ACQUIRE) == e->hook && store_entry(m, e->slot, e->original) == 0)
            w->changed++;
        e->slot = NULL;
    }
}

static int visit(struct dl_phdr_info *info, size_t size, void *data)
{
    struct walk *w = data;
    if (w->index++ >= w->limit || (size > offsetof(struct dl_phdr_info, dlpi_subs) && info->dlpi_subs != w->subs)) {
        w->stopped = w->index <= w->limit;
        return 1;
    }
    /* the loader's own calls do not go through a GOT we could rewrite, and the vDSO has none */
    if (info->dlpi_addr == getauxval(AT_BASE) || info->dlpi_addr == getauxval(AT_SYSINFO_EHDR))
        return 0;
    struct module m;
    if (read_module(info, &m) < 0)
        return 0;
    if (w->restore)
        restore_module_locked(&m, w);
    else
        redirect_module_locked(&m, w);
    return 0;
}

struct census {
    unsigned long long adds, subs;
    unsigned count;
};

static int count_modules(struct dl_phdr_info *info, size_t size, void *data)
{
    struct census *c = data;
    if (size > offsetof(struct dl_phdr_info, dlpi_subs)) {
        c->adds = info->dlpi_adds;
        c->subs = info->dlpi_subs;
    }
    c->count++;
    return 0;
}

/* Returns once no dlopen or dlclose is in progress: RTLD_NOLOAD of a loaded library takes the loader's lock
 * and changes nothing (the reference it takes is dropped again). */
static void wait_for_loader(void)
{
    void *handle = dlopen(got.self_path, RTLD_NOW | RTLD_NOLOAD);
    if (handle)
        dlclose(handle);
}

/* One pass over the modules complete before it started (see the top of the file). */
static int pass_locked(int restore)
{
    struct census before = { 0, 0, 0 };
    dl_iterate_phdr(count_modules, &before);
    wait_for_loader();
    struct walk w = { restore, 0, 0, before.count, before.subs, 0 };
    dl_iterate_phdr(visit, &w);
    if (!w.stopped)
        got.adds_seen = before.adds;
    return w.changed;
}

int got_redirect(void)
{
    lw_lock(&got.lock);
    int changed = resolve_hooks_locked() < 0 ? -1 : pass_locked(0);
    lw_unlock(&got.lock);
    return changed;
}

static int read_adds(struct dl_phdr_info *info, size_t size, void *data)
{
    if (size > offsetof(struct dl_phdr_info, dlpi_subs))
        *(unsigned long long *)data = info->dlpi_adds;
    return 1;
}

void got_redirect_new_modules(void)
{
    unsigned long long adds = 0;
    dl_iterate_phdr(read_adds, &adds);
    if (adds != __atomic_load_n(&got.adds_seen, __ATOMIC_RELAXED))
        got_redirect();
}

int got_restore(void)
{
    lw_lock(&got.lock);
    int changed = got.resolved ? pass_locked(1) : 0;
    got.nsaved = 0;              /* entries of modules unloaded since: nothing to put back */
    lw_unlock(&got.lock);
    return changed;
}
