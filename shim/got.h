/* got.h — sends calls to the allocation functions of modules that are already loaded to the shim's hooks
 * by rewriting their GOT entries (JUMP_SLOT and GLOB_DAT relocations against malloc ... mremap, sigaction,
 * pthread_create, the setuid family), for a shim loaded into a running process. Every rewritten entry is
 * remembered, so got_restore puts the original back. Serialised by its own lock, which no hook takes;
 * calls the dynamic loader (dl_iterate_phdr, dlopen with RTLD_NOLOAD), so never call these with a lock
 * that malloc or free can take. Not async-signal-safe. */
#ifndef LW_GOT_H
#define LW_GOT_H

/* Rewrites every entry of every loaded module (the dynamic loader excepted) that reaches one of the real
 * functions, or is not bound yet, to the shim's hook. Entries bound to another implementation of the same
 * name are left alone. Returns the number of entries rewritten now, or -1 when the hooks cannot be found. */
int got_redirect(void);

/* Cheap check for modules loaded since the last got_redirect (the loader's count of loaded objects);
 * redirects them when there are. */
void got_redirect_new_modules(void);

/* Puts back the original value of every entry still holding our hook, in modules still loaded. Returns
 * the number of entries restored. */
int got_restore(void);

/* The definition of `name` a PLT call from the program binds to: the first module in load order that
 * defines it (the shim itself excepted). Unlike dlsym(RTLD_DEFAULT), never an executable's canonical PLT
 * entry (a non-PIE program that takes malloc's address), which leads back through the program's own GOT.
 * Calls the dynamic loader: no lock that malloc or free can take may be held. */
void *got_global_definition(const char *name);

#endif
