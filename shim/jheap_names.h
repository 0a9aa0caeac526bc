/* jheap_names.h — names of the methods in Java-heap sites (class, method, source file, line table),
 * asked of JVMTI once per method and kept in the shim's arena, and frames written as Java prints them.
 * jheap_names_method runs only on our JVM thread; what it returns is read by the reporter thread after
 * jheap_prepare_report has ordered the two. No locks. */
#ifndef LW_JHEAP_NAMES_H
#define LW_JHEAP_NAMES_H

#include <stdint.h>
#include "jvm_names.h"
#include "out.h"

/* "Ljava/lang/String;" -> "java.lang.String", "[[B" -> "byte[][]" (as Java prints types); control
 * characters become '?' so that no name can forge a line of the report. */
void jheap_names_java_type(const char *sig, char *dst, size_t cap);

struct jheap_method;

#ifdef _JAVA_JVMTI_H_
/* The names of a jmethodID; NULL when JVMTI cannot name it (its class was unloaded). */
const struct jheap_method *jheap_names_method(jvmtiEnv *env, void *method);
#endif
/* FNV-1a over a name, skipping the addresses in the names of hidden classes: the same in every run. */
uint64_t jheap_names_stable_hash(uint64_t h, const char *s);
/* A hash of class, method name and signature: the same in every run of the same code. */
uint64_t jheap_names_hash(const struct jheap_method *m);
/* The declaring class ("java.util.HashMap"). */
const char *jheap_names_class(const struct jheap_method *m);
/* Is the method's class part of the JDK (java.*, javax.*, jdk.*, sun.*, com.sun.*)? */
int jheap_names_in_jdk(const struct jheap_method *m);
/* A frame at bytecode index bci of the method, as data (for the writers below and the live endpoint). */
void jheap_names_frame(const struct jheap_method *m, int32_t bci, struct java_frame *f);
/* "\tClass.method(File.java:12)\n", or a JSON frame object {"ip":"0x0","module":-1,"java":{...}}. */
void jheap_names_write_text(struct out *o, const struct jheap_method *m, int32_t bci);
void jheap_names_write_json(struct out *o, const struct jheap_method *m, int32_t bci);

#endif
