/* jheap_names.c — method names for Java-heap sites (see jheap_names.h). */
#include <string.h>
#include "arena.h"

#if __has_include(<jvmti.h>)
#include <jvmti.h>
#endif
#include "jheap_names.h"

/* "Ljava/lang/String;" -> "java.lang.String", "[[B" -> "byte[][]" (as Java prints types); control
 * characters become '?' so that no name can forge a line of the report. */
void jheap_names_java_type(const char *sig, char *dst, size_t cap)
{
    unsigned dims = 0;
    while (*sig == '[')
        dims++, sig++;
    static const char *const prim[][2] = { { "B", "byte" }, { "C", "char" }, { "D", "double" }, { "F", "float" },
                                           { "I", "int" }, { "J", "long" }, { "S", "short" }, { "Z", "boolean" },
                                           { "V", "void" } };
    const char *base = sig;
    size_t len = strlen(sig);
    for (unsigned i = 0; i < sizeof prim / sizeof prim[0]; i++)
        if (strcmp(sig, prim[i][0]) == 0)
            base = prim[i][1], len = strlen(base);
    if (*sig == 'L' && len >= 2 && sig[len - 1] == ';')
        base = sig + 1, len -= 2;
    size_t k = 0;
    for (size_t i = 0; i < len && k + 1 < cap; i++) {
        unsigned char c = (unsigned char)base[i];
        dst[k++] = c == '/' ? '.' : c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    for (unsigned d = 0; d < dims && k + 2 < cap; d++)
        dst[k++] = '[', dst[k++] = ']';
    dst[k] = '\0';
}

struct jheap_method {
    void *id;                         /* the jmethodID */
    const char *klass, *name, *file;
    uint64_t hash;
    int is_native;
    int32_t nlines;
    struct { int64_t start; int32_t line; } *lines;
};

#define CACHE_SLOTS 16384u            /* methods named, open addressing; a full cache names nothing more */

static struct jheap_method **cache;

static char *keep(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *k = arena_alloc(n);
    if (k)
        for (size_t i = 0; i < n; i++)   /* no control characters in a report line */
            k[i] = (unsigned char)s[i] < 0x20 && s[i] ? '?' : s[i] == 0x7f ? '?' : s[i];
    return k;
}

/* Hidden classes (lambda forms, lambdas) carry their address in their name ("LambdaForm$MH.0x00007f44500c8000"):
 * the hash skips such hex runs so that a site's id is the same in every run. */
uint64_t jheap_names_stable_hash(uint64_t h, const char *s)
{
    for (; s && *s; s++) {
        if (s[0] == '0' && s[1] == 'x') {
            s += 2;
            while ((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f'))
                s++;
            if (!*s)
                break;
        }
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    }
    return (h ^ 0xff) * 0x100000001b3ull;
}
#define fnv_str jheap_names_stable_hash

#ifdef _JAVA_JVMTI_H_

static struct jheap_method *name_method(jvmtiEnv *env, jmethodID id)
{
    jclass klass = NULL;
    char *name = NULL, *sig = NULL, *csig = NULL, *file = NULL;
    struct jheap_method *m = NULL;
    if ((*env)->GetMethodDeclaringClass(env, id, &klass) != JVMTI_ERROR_NONE ||
        (*env)->GetMethodName(env, id, &name, &sig, NULL) != JVMTI_ERROR_NONE ||
        (*env)->GetClassSignature(env, klass, &csig, NULL) != JVMTI_ERROR_NONE)
        goto done;
    m = arena_alloc(sizeof *m);
    if (!m)
        goto done;
    char cname[256];
    jheap_names_java_type(csig, cname, sizeof cname);
    m->id = id;
    m->klass = keep(cname);
    m->name = keep(name);
    m->hash = fnv_str(fnv_str(fnv_str(0xcbf29ce484222325ull, csig), name), sig);
    if ((*env)->GetSourceFileName(env, klass, &file) == JVMTI_ERROR_NONE)
        m->file = keep(file);
    jboolean native = 0;
    (*env)->IsMethodNative(env, id, &native);
    m->is_native = native;
    jint n = 0;
    jvmtiLineNumberEntry *table = NULL;
    if (!native && (*env)->GetLineNumberTable(env, id, &n, &table) == JVMTI_ERROR_NONE && table) {
        m->lines = n > 0 ? arena_alloc((size_t)n * sizeof *m->lines) : NULL;
        for (jint i = 0; m->lines && i < n; i++)
            m->lines[i].start = table[i].start_location, m->lines[i].line = table[i].line_number;
        m->nlines = m->lines ? n : 0;
        (*env)->Deallocate(env, (unsigned char *)table);
    }
    if (!m->klass || !m->name) {
        m = NULL;                     /* the arena is out of memory: leave it unnamed */
        goto done;
    }
done:
    if (file)
        (*env)->Deallocate(env, (unsigned char *)file);
    if (csig)
        (*env)->Deallocate(env, (unsigned char *)csig);
    if (name)
        (*env)->Deallocate(env, (unsigned char *)name);
    if (sig)
        (*env)->Deallocate(env, (unsigned char *)sig);
    return m;
}

const struct jheap_method *jheap_names_method(jvmtiEnv *env, void *method)
{
    if (!cache && !(cache = arena_map(CACHE_SLOTS * sizeof *cache)))
        return NULL;
    uint32_t h = (uint32_t)(((uintptr_t)method >> 3) * 0x9e3779b1u);
    for (uint32_t i = 0; i < CACHE_SLOTS; i++) {
        uint32_t j = (h + i) & (CACHE_SLOTS - 1);
        if (cache[j] && cache[j]->id == method)
            return cache[j];
        if (!cache[j])
            return (cache[j] = name_method(env, (jmethodID)method));
    }
    return NULL;
}

#endif

uint64_t jheap_names_hash(const struct jheap_method *m) { return m->hash; }
const char *jheap_names_class(const struct jheap_method *m) { return m->klass; }

int jheap_names_in_jdk(const struct jheap_method *m)
{
    static const char *const prefixes[] = { "java.", "javax.", "jdk.", "sun.", "com.sun." };
    for (unsigned i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
        if (strncmp(m->klass, prefixes[i], strlen(prefixes[i])) == 0)
            return 1;
    return 0;
}

static int32_t line_of(const struct jheap_method *m, int32_t bci)
{
    int32_t line = 0;
    int64_t best = -1;
    for (int32_t i = 0; i < m->nlines; i++)
        if (m->lines[i].start <= bci && m->lines[i].start > best)
            best = m->lines[i].start, line = m->lines[i].line;
    return line;
}

void jheap_names_frame(const struct jheap_method *m, int32_t bci, struct java_frame *f)
{
    int32_t line = !m->is_native && bci >= 0 ? line_of(m, bci) : 0;
    *f = (struct java_frame){ .klass = m->klass, .method = m->name, .file = m->file,
                              .line = line > 0 ? (uint32_t)line : 0, .bci = bci,
                              .is_native = (uint8_t)(m->is_native != 0) };
}

void jheap_names_write_text(struct out *o, const struct jheap_method *m, int32_t bci)
{
    struct java_frame f;
    jheap_names_frame(m, bci, &f);
    out_char(o, '\t');
    out_str(o, f.klass);
    out_char(o, '.');
    out_str(o, f.method);
    out_char(o, '(');
    if (f.is_native) {
        out_str(o, "Native Method");
    } else {
        out_str(o, f.file ? f.file : "Unknown Source");
        if (f.line > 0) {
            out_char(o, ':');
            out_u64(o, f.line);
        }
    }
    out_str(o, ")\n");
}

void jheap_names_write_json(struct out *o, const struct jheap_method *m, int32_t bci)
{
    struct java_frame f;
    jheap_names_frame(m, bci, &f);
    out_str(o, "{\"ip\":\"0x0\",\"module\":-1,\"java\":{\"class\":");
    out_json_str(o, f.klass);
    out_str(o, ",\"method\":");
    out_json_str(o, f.method);
    if (f.file) {
        out_str(o, ",\"file\":");
        out_json_str(o, f.file);
    }
    if (f.line > 0) {
        out_str(o, ",\"line\":");
        out_u64(o, f.line);
    }
    out_str(o, ",\"bci\":");
    out_i64(o, f.bci);
    out_str(o, f.is_native ? ",\"native\":true}}" : "}}");
}
