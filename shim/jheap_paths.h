/* jheap_paths.h — "Held by": one chain of references from a GC root to each of a few objects, as a
 * Java developer reads it (static java.io.DeleteOnExitHook.files -> java.util.LinkedHashSet -> ...).
 * JVMTI's FollowReferences walks the heap from the roots in a VM operation (the JVM is stopped for the
 * whole walk); a throw-away JVMTI environment tags each object reached that a chain can pass through with
 * the number of a record that says how it was first reached, so the walk back from a target gives a chain. The walk stops when
 * every target is reached, after budget_ms, or when its record memory (4 Mi objects) is full; then
 * *why says so. Runs on our JVM thread only (an attached thread); takes no shim lock. */
#ifndef LW_JHEAP_PATHS_H
#define LW_JHEAP_PATHS_H

#ifdef _JAVA_JVMTI_H_
/* chains[i] (arena strings, kept for later reports' reuse of the memory) for targets[i], or NULL. */
void jheap_paths_find(JavaVM *vm, JNIEnv *jni, jobject *targets, unsigned n, unsigned budget_ms,
                      const char **chains, const char **why);
#endif

#endif
