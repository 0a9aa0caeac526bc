/* jvm_attach.c — finding the JVM and attaching our threads to it (see jvm_attach.h). */
#include <dlfcn.h>
#include <stdatomic.h>
#include "jvm_attach.h"
#include "log.h"

#if __has_include(<jvmti.h>)

#define WAIT_FOR_VM_TICKS 5             /* a VM seen this many ticks in a row is past its start-up */

static struct {
    int decided, ticks_seen;
    jint (*get_created)(JavaVM **, jsize, jsize *);
    _Atomic(JavaVM *) vm;
    atomic_int refusal_said;
} attach;

/* The JVM JNI_GetCreatedJavaVMs names, or NULL; the function is looked up until it is found. */
static JavaVM *created_vm(void)
{
    if (!attach.get_created) {
        /* the java launcher loads libjvm.so RTLD_GLOBAL; a lookup in the global scope opens no file */
        attach.get_created = (jint(*)(JavaVM **, jsize, jsize *))dlsym(RTLD_DEFAULT, "JNI_GetCreatedJavaVMs");
        if (!attach.get_created) {
            void *h = dlopen("libjvm.so", RTLD_LAZY | RTLD_NOLOAD);    /* loaded locally by an embedder */
            if (h) {
                attach.get_created = (jint(*)(JavaVM **, jsize, jsize *))dlsym(h, "JNI_GetCreatedJavaVMs");
                dlclose(h);
            }
        }
        if (!attach.get_created)
            return NULL;                /* not (yet) a JVM: libjvm may still be loaded later */
    }
    JavaVM *found = NULL;
    jsize count = 0;
    return attach.get_created(&found, 1, &count) == JNI_OK && count >= 1 ? found : NULL;
}

void jvm_attach_poll(void)
{
    if (__builtin_expect(attach.decided, 1))
        return;
    JavaVM *found = created_vm();
    if (!found) {
        attach.ticks_seen = 0;
        return;
    }
    if (++attach.ticks_seen < WAIT_FOR_VM_TICKS)
        return;
    attach.decided = 1;
    atomic_store_explicit(&attach.vm, found, memory_order_release);
}

JavaVM *jvm_attach_now(void)
{
    if (!attach.decided) {
        JavaVM *found = created_vm();
        if (!found)
            return NULL;
        attach.decided = 1;
        atomic_store_explicit(&attach.vm, found, memory_order_release);
    }
    return jvm_attach_vm();
}

JavaVM *jvm_attach_vm(void) { return atomic_load_explicit(&attach.vm, memory_order_acquire); }

/* Said once, whichever module meets it first: the other module's thread meets the same JVM. */
static void say_refusal(const char *what)
{
    if (!atomic_exchange(&attach.refusal_said, 1))
        lw_log(what, ": no Java frames in reports and no Java-heap sites; native tracking goes on", NULL, NULL, NULL);
}

jvmtiEnv *jvm_attach_thread(const char *name, jint version, JNIEnv **jni, const char **why)
{
    JavaVM *vm = jvm_attach_vm();
    *why = NULL;
    if (!vm)
        return NULL;
    JavaVMAttachArgs args = { JNI_VERSION_1_6, (char *)name, NULL };
    if ((*vm)->AttachCurrentThreadAsDaemon(vm, (void **)jni, &args) != JNI_OK) {
        say_refusal("the JVM refused to attach a thread");
        return NULL;
    }
    jvmtiEnv *env = NULL;
    jint got = (*vm)->GetEnv(vm, (void **)&env, version);
    if (got == JNI_OK && env)
        return env;
    /* no JVMTI at all is the JVM's answer to both modules; an older JVMTI only to the one that needs more: a JVM
     * that knows JVMTI 1 but answers JNI_EVERSION to JDK 11's version predates JDK 11 (JDK 8's HotSpot does so) */
    jvmtiEnv *any = NULL;
    if ((*vm)->GetEnv(vm, (void **)&any, JVMTI_VERSION_1) == JNI_OK && any) {
        (*any)->DisposeEnvironment(any);
        if (version >= JVMTI_VERSION_11 && got == JNI_EVERSION)
            *why = "the JVM is older than JDK 11; JDK 11 or later samples allocations";
        else
            *why = version >= JVMTI_VERSION_11 ? "the JVM offers no JVMTI of JDK 11 or later" : "the JVM offers no JVMTI";
        return NULL;
    }
    say_refusal("the JVM offers no JVMTI");
    return NULL;
}

void jvm_attach_atfork_child(void)
{
    attach.decided = 1;                 /* the child has no JVM */
    atomic_store(&attach.vm, NULL);
}

#else  /* built without the JDK's headers */

void jvm_attach_poll(void) {}
void jvm_attach_atfork_child(void) {}

#endif
