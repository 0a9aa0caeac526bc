/* eh_frame.c — frame rules from .eh_frame_hdr and .eh_frame (see eh_frame.h). */
#include <dlfcn.h>
#include <stddef.h>
#include <string.h>
#include "eh_frame.h"

#define DW_REG_RBP 6
#define DW_REG_RSP 7
#define DW_REG_RA 16

#define DW_EH_PE_omit 0xff
#define DW_EH_PE_absptr 0x00
#define DW_EH_PE_uleb128 0x01
#define DW_EH_PE_udata2 0x02
#define DW_EH_PE_udata4 0x03
#define DW_EH_PE_udata8 0x04
#define DW_EH_PE_sleb128 0x09
#define DW_EH_PE_sdata2 0x0a
#define DW_EH_PE_sdata4 0x0b
#define DW_EH_PE_sdata8 0x0c
#define DW_EH_PE_pcrel 0x10
#define DW_EH_PE_datarel 0x30
#define DW_EH_PE_indirect 0x80

struct rule {
    int outermost;
    int cfa_rbp, rbp_saved;
    int32_t cfa_off;
    int16_t rbp_off, ra_off;
};

static uint64_t pack(const struct rule *r)
{
    return RULE_KNOWN | RULE_USABLE | (r->outermost ? RULE_OUTERMOST : 0) | (r->cfa_rbp ? RULE_CFA_RBP : 0) |
           (r->rbp_saved ? RULE_RBP_SAVED : 0) |
           ((uint64_t)(uint32_t)r->cfa_off) | ((uint64_t)(uint16_t)r->rbp_off << 32) |
           ((uint64_t)(uint8_t)(int8_t)r->ra_off << 48);
}

/* ---- reading DWARF encodings; every read is checked against the end of the section ---------- */

struct reader {
    const uint8_t *p, *end;
    int bad;
};

static uint64_t read_uleb(struct reader *r)
{
    uint64_t v = 0;
    for (unsigned shift = 0; r->p < r->end; shift += 7) {
        uint8_t b = *r->p++;
        if (shift < 64)
            v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
    r->bad = 1;
    return 0;
}

static int64_t read_sleb(struct reader *r)
{
    int64_t v = 0;
    unsigned shift = 0;
    while (r->p < r->end) {
        uint8_t b = *r->p++;
        if (shift < 64)
            v |= (int64_t)((uint64_t)(b & 0x7f) << shift);
        shift += 7;
        if (!(b & 0x80)) {
            if (shift < 64 && (b & 0x40))
                v |= -((int64_t)1 << shift);
            return v;
        }
    }
    r->bad = 1;
    return 0;
}

static uint64_t read_fixed(struct reader *r, unsigned size)
{
    if ((size_t)(r->end - r->p) < size) {
        r->bad = 1;
        return 0;
    }
    uint64_t v = 0;
    memcpy(&v, r->p, size);
    r->p += size;
    return v;
}

/* A pointer in encoding enc; datarel is relative to dbase. Indirect pointers are not needed here. */
static uintptr_t read_encoded(struct reader *r, uint8_t enc, uintptr_t dbase)
{
    if (enc == DW_EH_PE_omit)
        return 0;
    uintptr_t at = (uintptr_t)r->p;
    uint64_t v;
    switch (enc & 0x0f) {
    case DW_EH_PE_absptr: v = read_fixed(r, 8); break;
    case DW_EH_PE_uleb128: v = read_uleb(r); break;
    case DW_EH_PE_udata2: v = read_fixed(r, 2); break;
    case DW_EH_PE_udata4: v = read_fixed(r, 4); break;
    case DW_EH_PE_udata8: v = read_fixed(r, 8); break;
    case DW_EH_PE_sleb128: v = (uint64_t)read_sleb(r); break;
    case DW_EH_PE_sdata2: v = (uint64_t)(int64_t)(int16_t)read_fixed(r, 2); break;
    case DW_EH_PE_sdata4: v = (uint64_t)(int64_t)(int32_t)read_fixed(r, 4); break;
    case DW_EH_PE_sdata8: v = read_fixed(r, 8); break;
    default: r->bad = 1; return 0;
    }
    switch (enc & 0x70) {
    case 0: break;
    case DW_EH_PE_pcrel: v += at; break;
    case DW_EH_PE_datarel: v += dbase; break;
    default: r->bad = 1; return 0;
    }
    if (enc & DW_EH_PE_indirect)
        r->bad = 1;
    return (uintptr_t)v;
}

/* ---- finding the FDE of an address through .eh_frame_hdr's sorted table ----------------------- */

static const uint8_t *find_fde(const uint8_t *hdr, uintptr_t pc)
{
    struct reader r = { hdr, hdr + 4096, 0 };   /* the header proper is tiny; the table is bounded below */
    if (read_fixed(&r, 1) != 1)
        return NULL;
    uint8_t frame_enc = (uint8_t)read_fixed(&r, 1), count_enc = (uint8_t)read_fixed(&r, 1);
    uint8_t table_enc = (uint8_t)read_fixed(&r, 1);
    read_encoded(&r, frame_enc, (uintptr_t)hdr);
    uint64_t count = read_encoded(&r, count_enc, (uintptr_t)hdr);
    /* The binary search needs fixed-size entries: datarel sdata4 is what every linker writes. */
    if (r.bad || table_enc != (DW_EH_PE_datarel | DW_EH_PE_sdata4) || count == 0)
        return NULL;
    const int32_t *table = (const int32_t *)r.p;
    size_t lo = 0, hi = count;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if ((uintptr_t)hdr + (intptr_t)table[2 * mid] <= pc)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return NULL;
    return hdr + (intptr_t)table[2 * (lo - 1) + 1];
}

/* ---- running the CFA program up to pc --------------------------------------------------------- */

struct cfa_state {
    int cfa_reg;
    int64_t cfa_off;
    int rbp_how, ra_how;              /* 0 unchanged, 1 saved at CFA + off, 2 unusable */
    int64_t rbp_off, ra_off;
};

#define STATE_STACK 8

/* Runs instructions [p, end) while the location is <= pc. Returns 0, or -1 for what we do not handle. */
static int run_cfa(struct reader *r, uintptr_t *loc, uintptr_t pc, uint64_t code_align, int64_t data_align,
                   uint8_t fde_enc, struct cfa_state *st, const struct cfa_state *initial)
{
    struct cfa_state saved[STATE_STACK];
    int depth = 0;
    while (r->p < r->end && !r->bad) {
        uint8_t op = *r->p++;
        uint8_t low = op & 0x3f;
        uint64_t reg;
        int64_t off;
        switch (op & 0xc0) {
        case 0x40:                                /* advance_loc */
            *loc += low * code_align;
            if (*loc > pc)
                return 0;
            continue;
        case 0x80:                                /* offset */
            off = (int64_t)read_uleb(r) * data_align;
            if (low == DW_REG_RBP)
                st->rbp_how = 1, st->rbp_off = off;
            else if (low == DW_REG_RA)
                st->ra_how = 1, st->ra_off = off;
            continue;
        case 0xc0:                                /* restore */
            if (low == DW_REG_RBP)
                st->rbp_how = initial->rbp_how, st->rbp_off = initial->rbp_off;
            else if (low == DW_REG_RA)
                st->ra_how = initial->ra_how, st->ra_off = initial->ra_off;
            continue;
        }
        switch (op) {
        case 0x00:                                /* nop */
            break;
        case 0x01:                                /* set_loc */
            *loc = read_encoded(r, fde_enc, 0);
            if (*loc > pc)
                return 0;
            break;
        case 0x02: *loc += read_fixed(r, 1) * code_align; if (*loc > pc) return 0; break;
        case 0x03: *loc += read_fixed(r, 2) * code_align; if (*loc > pc) return 0; break;
        case 0x04: *loc += read_fixed(r, 4) * code_align; if (*loc > pc) return 0; break;
        case 0x05:                                /* offset_extended */
        case 0x11:                                /* offset_extended_sf */
            reg = read_uleb(r);
            off = op == 0x05 ? (int64_t)read_uleb(r) * data_align : read_sleb(r) * data_align;
            if (reg == DW_REG_RBP)
                st->rbp_how = 1, st->rbp_off = off;
            else if (reg == DW_REG_RA)
                st->ra_how = 1, st->ra_off = off;
            break;
        case 0x06:                                /* restore_extended */
            reg = read_uleb(r);
            if (reg == DW_REG_RBP)
                st->rbp_how = initial->rbp_how, st->rbp_off = initial->rbp_off;
            else if (reg == DW_REG_RA)
                st->ra_how = initial->ra_how, st->ra_off = initial->ra_off;
            break;
        case 0x07:                                /* undefined */
        case 0x08:                                /* same_value */
            reg = read_uleb(r);
            if (reg == DW_REG_RBP)
                st->rbp_how = 0;
            else if (reg == DW_REG_RA)
                st->ra_how = 2;
            break;
        case 0x09:                                /* register */
            reg = read_uleb(r);
            read_uleb(r);
            if (reg == DW_REG_RBP || reg == DW_REG_RA)
                return -1;
            break;
        case 0x0a:                                /* remember_state */
            if (depth == STATE_STACK)
                return -1;
            saved[depth++] = *st;
            break;
        case 0x0b:                                /* restore_state */
            if (depth == 0)
                return -1;
            *st = saved[--depth];
            break;
        case 0x0c:                                /* def_cfa */
            st->cfa_reg = (int)read_uleb(r);
            st->cfa_off = (int64_t)read_uleb(r);
            break;
        case 0x0d:                                /* def_cfa_register */
            st->cfa_reg = (int)read_uleb(r);
            break;
        case 0x0e:                                /* def_cfa_offset */
            st->cfa_off = (int64_t)read_uleb(r);
            break;
        case 0x12:                                /* def_cfa_sf */
            st->cfa_reg = (int)read_uleb(r);
            st->cfa_off = read_sleb(r) * data_align;
            break;
        case 0x13:                                /* def_cfa_offset_sf */
            st->cfa_off = read_sleb(r) * data_align;
            break;
        case 0x10:                                /* expression */
        case 0x16:                                /* val_expression */
            reg = read_uleb(r);
            off = (int64_t)read_uleb(r);
            if (reg == DW_REG_RBP || reg == DW_REG_RA || off < 0 || off > r->end - r->p)
                return -1;
            r->p += off;
            break;
        case 0x14:                                /* val_offset */
        case 0x15:                                /* val_offset_sf */
            reg = read_uleb(r);
            if (op == 0x14)
                read_uleb(r);
            else
                read_sleb(r);
            if (reg == DW_REG_RBP || reg == DW_REG_RA)
                return -1;
            break;
        case 0x2e:                                /* GNU_args_size */
            read_uleb(r);
            break;
        case 0x2f:                                /* GNU_negative_offset_extended */
            reg = read_uleb(r);
            off = -(int64_t)read_uleb(r) * data_align;
            if (reg == DW_REG_RBP)
                st->rbp_how = 1, st->rbp_off = off;
            else if (reg == DW_REG_RA)
                st->ra_how = 1, st->ra_off = off;
            break;
        default:                                  /* def_cfa_expression and anything newer */
            return -1;
        }
    }
    return r->bad ? -1 : 0;
}

/* Reads the CIE and FDE at fde and runs both programs up to pc. 0 and *out filled, or -1. */
static int rule_from_fde(const uint8_t *fde, uintptr_t pc, uintptr_t dbase, struct rule *out)
{
    uint32_t fde_len;
    memcpy(&fde_len, fde, 4);
    if (fde_len == 0 || fde_len == 0xffffffffu)
        return -1;
    const uint8_t *fde_end = fde + 4 + fde_len;
    int32_t cie_delta;
    memcpy(&cie_delta, fde + 4, 4);
    const uint8_t *cie = fde + 4 - cie_delta;
    uint32_t cie_len;
    memcpy(&cie_len, cie, 4);
    if (cie_len == 0 || cie_len == 0xffffffffu)
        return -1;
    struct reader r = { cie + 8, cie + 4 + cie_len, 0 };
    uint8_t version = (uint8_t)read_fixed(&r, 1);
    const char *aug = (const char *)r.p;
    size_t aug_len = strnlen(aug, (size_t)(r.end - r.p));
    r.p += aug_len + 1;
    if (version != 1 && version != 3)
        return -1;
    uint64_t code_align = read_uleb(&r);
    int64_t data_align = read_sleb(&r);
    uint64_t ra_reg = version == 1 ? read_fixed(&r, 1) : read_uleb(&r);
    uint8_t fde_enc = DW_EH_PE_absptr;
    if (aug[0] == 'z') {
        uint64_t len = read_uleb(&r);
        const uint8_t *data_end = r.p + len;
        for (size_t i = 1; i < aug_len && !r.bad; i++) {
            if (aug[i] == 'R')
                fde_enc = (uint8_t)read_fixed(&r, 1);
            else if (aug[i] == 'P')
                read_encoded(&r, (uint8_t)read_fixed(&r, 1) & ~DW_EH_PE_indirect, dbase);
            else if (aug[i] == 'L')
                read_fixed(&r, 1);
            else if (aug[i] == 'S')
                return -1;                        /* a signal frame: libunwind knows those */
            else
                break;                            /* unknown: skip the rest with the length */
        }
        if (data_end > r.end)
            return -1;
        r.p = data_end;
    } else if (aug[0] != '\0') {
        return -1;
    }
    if (r.bad || ra_reg != DW_REG_RA)
        return -1;
    struct cfa_state st = { DW_REG_RSP, 8, 0, 1, 0, -8 };
    uintptr_t loc = 0;
    if (run_cfa(&r, &loc, UINTPTR_MAX, code_align, data_align, fde_enc, &st, &st) < 0)
        return -1;
    struct cfa_state initial = st;

    struct reader f = { fde + 8, fde_end, 0 };
    uintptr_t start = read_encoded(&f, fde_enc, dbase);
    uintptr_t range = read_encoded(&f, fde_enc & 0x0f, 0);
    if (f.bad || pc < start || pc >= start + range)
        return -1;
    if (aug[0] == 'z') {
        uint64_t len = read_uleb(&f);
        if (len > (uint64_t)(f.end - f.p))
            return -1;
        f.p += len;
    }
    loc = start;
    if (run_cfa(&f, &loc, pc, code_align, data_align, fde_enc, &st, &initial) < 0)
        return -1;
    memset(out, 0, sizeof *out);
    if (st.ra_how == 2) {
        out->outermost = 1;
        return 0;
    }
    if ((st.cfa_reg != DW_REG_RSP && st.cfa_reg != DW_REG_RBP) || st.ra_how != 1 || st.rbp_how == 2 ||
        st.cfa_off < INT32_MIN || st.cfa_off > INT32_MAX || st.rbp_off < INT16_MIN || st.rbp_off > INT16_MAX ||
        st.ra_off < INT8_MIN || st.ra_off > INT8_MAX)
        return -1;
    out->cfa_rbp = st.cfa_reg == DW_REG_RBP;
    out->cfa_off = (int32_t)st.cfa_off;
    out->rbp_saved = st.rbp_how == 1;
    out->rbp_off = (int16_t)st.rbp_off;
    out->ra_off = (int16_t)st.ra_off;
    return 0;
}

uint64_t eh_frame_rule(uintptr_t ip)
{
    struct dl_find_object obj;
    uintptr_t pc = ip - 1;                        /* ip is a return address: the call is before it */
    if (_dl_find_object((void *)pc, &obj) != 0)
        return RULE_KNOWN | RULE_FOREIGN;
    if (!obj.dlfo_eh_frame)
        return RULE_KNOWN;
    const uint8_t *fde = find_fde(obj.dlfo_eh_frame, pc);
    struct rule rule;
#if DLFO_STRUCT_HAS_EH_DBASE
    uintptr_t dbase = (uintptr_t)obj.dlfo_eh_dbase;
#else
    uintptr_t dbase = 0;
#endif
    if (!fde || rule_from_fde(fde, pc, dbase, &rule) < 0)
        return RULE_KNOWN;
    return pack(&rule);
}
