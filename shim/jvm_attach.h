/* jvm_attach.h — finding the JVM this process runs and attaching a thread of ours to it, the one step that
 * Java frames (jvm.c) and Java-heap sites (jheap.c) share. The reporter thread polls once per tick: the
 * JVM counts as found once JNI_GetCreatedJavaVMs has answered for a few ticks in a row (it answers as soon
 * as creation begins). Each module then attaches its own thread (jvm_attach_thread) and takes its own JVMTI
 * environment; a JVM that refuses either is said once for both, in one line.
 * jvm_attach_poll runs on the reporter thread and calls the dynamic loader (no shim lock held there);
 * jvm_attach_vm is a plain read; jvm_attach_thread runs on the calling module's own thread. Not
 * async-signal-safe. */
#ifndef LW_JVM_ATTACH_H
#define LW_JVM_ATTACH_H

/* Each reporter tick, before the modules poll. Cheap once decided. */
void jvm_attach_poll(void);

#if __has_include(<jvmti.h>)
#include <jvmti.h>

/* The JVM once it is past its start-up, else NULL (no JVM, or not yet). */
JavaVM *jvm_attach_vm(void);

/* For a caller that knows the JVM is past its start-up (Agent_OnAttach runs in a live JVM): decides now,
 * without the ticks; the JVM or NULL. Call before the reporter thread runs (it polls the same state). */
JavaVM *jvm_attach_now(void);

/* Attaches the calling thread as a daemon named `name` and returns a new JVMTI environment of `version`,
 * or NULL. A JVM that refuses the thread or has no JVMTI at all is said here, once for both modules (*why
 * NULL: the caller says nothing); a JVMTI older than `version` is the caller's to say (*why). */
jvmtiEnv *jvm_attach_thread(const char *name, jint version, JNIEnv **jni, const char **why);

#endif

void jvm_attach_atfork_child(void);

#endif
