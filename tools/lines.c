/* lines.c — file:line from module + offset with libdwfl, offline (the process may be long gone).
 * Each module gets its own Dwfl session so that addresses of different modules never overlap. */
#include "lines.h"
#include "util.h"
#include <elfutils/libdwfl.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *path;
    Dwfl *dwfl;           /* NULL when the module could not be opened: remembered so we try once */
    Dwfl_Module *mod;
    GElf_Addr bias;       /* where dwfl placed the module */
    GElf_Addr first_load; /* page-aligned vaddr of the first PT_LOAD, what the module base maps */
    bool exec;            /* ET_EXEC: addresses are absolute */
} lines_module;

struct lines {
    lines_module *mods;
    size_t n, cap;
};

static const Dwfl_Callbacks offline_callbacks = {
    .find_elf = dwfl_build_id_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .section_address = dwfl_offline_section_address,
};

lines *lines_open(void)
{
    return calloc(1, sizeof(lines));
}

static void module_setup(lines_module *m)
{
    m->dwfl = dwfl_begin(&offline_callbacks);
    if (!m->dwfl)
        return;
    m->mod = dwfl_report_offline(m->dwfl, lw_basename(m->path), m->path, -1);
    dwfl_report_end(m->dwfl, NULL, NULL);
    Elf *elf = m->mod ? dwfl_module_getelf(m->mod, &m->bias) : NULL;
    GElf_Ehdr eh;
    size_t phnum;
    if (!elf || !gelf_getehdr(elf, &eh) || elf_getphdrnum(elf, &phnum) != 0) {
        dwfl_end(m->dwfl);
        m->dwfl = NULL;
        return;
    }
    m->exec = eh.e_type == ET_EXEC;
    bool found = false;
    for (size_t i = 0; i < phnum; i++) {
        GElf_Phdr ph;
        if (gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_LOAD && (!found || ph.p_vaddr < m->first_load)) {
            m->first_load = ph.p_vaddr;
            found = true;
        }
    }
    m->first_load &= ~(GElf_Addr)0xfff;
}

static lines_module *module_get(lines *L, const char *path)
{
    for (size_t i = 0; i < L->n; i++)
        if (strcmp(L->mods[i].path, path) == 0)
            return &L->mods[i];
    if (L->n == L->cap) {
        size_t cap = L->cap ? L->cap * 2 : 8;
        lines_module *m = realloc(L->mods, cap * sizeof *m);
        if (!m)
            return NULL;
        L->mods = m;
        L->cap = cap;
    }
    lines_module *m = &L->mods[L->n++];
    memset(m, 0, sizeof *m);
    m->path = strdup(path);
    module_setup(m);
    return m;
}

bool lines_lookup(lines *L, const char *module_path, uint64_t base, uint64_t offset, char *buf, size_t len)
{
    if (!L || !module_path || offset == 0)
        return false;
    lines_module *m = module_get(L, module_path);
    if (!m || !m->dwfl)
        return false;
    GElf_Addr vaddr = m->exec ? base + offset : m->first_load + offset;
    /* A return address points after the call; the call itself is one byte earlier. */
    Dwfl_Line *line = dwfl_module_getsrc(m->mod, m->bias + vaddr - 1);
    if (!line)
        return false;
    int lineno = 0;
    const char *src = dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL);
    if (!src || lineno <= 0)
        return false;
    snprintf(buf, len, "%s:%d", lw_basename(src), lineno);
    return true;
}

void lines_close(lines *L)
{
    if (!L)
        return;
    for (size_t i = 0; i < L->n; i++) {
        if (L->mods[i].dwfl)
            dwfl_end(L->mods[i].dwfl);
        free(L->mods[i].path);
    }
    free(L->mods);
    free(L);
}
