/* late.h — the shim loaded into a process that is already running (`leakwatch attach`): the tool writes
 * the settings to /tmp/leakwatch-<euid>/<pid>.attach, loads the library with the process's own dlopen
 * (whose constructor then stays idle) and calls leakwatch_attach(), which reads them, starts tracking and
 * sends the loaded modules' allocation calls to the hooks (got.h). leakwatch_detach() puts the original
 * entries back; the library stays loaded and does nothing more until leakwatch_attach() is called again,
 * which starts tracking afresh (new settings, empty tables, a new start time). Exported entry points run in a thread the
 * tool stopped at a safe point (outside any lock); none is async-signal-safe. */
#ifndef LW_LATE_H
#define LW_LATE_H

#include "out.h"

/* True when the tool asked for a late start of this process (its attach file exists): the constructor
 * must then leave the start to leakwatch_attach. Two system calls, no allocation. */
int late_requested(void);

/* The exported entry points (called by the tool through ptrace, or by Agent_OnAttach in a JVM): start
 * tracking from the attach file's settings, or undo it. Return a late_result. */
int leakwatch_attach(void);
int leakwatch_detach(void);

/* True when the library was loaded by dlopen outside the global scope (HotSpot loads -agentpath libraries so):
 * no module's calls reach its hooks, so the constructor does not start tracking; Agent_OnLoad may. Calls the
 * dynamic loader: no lock of ours held. */
int late_loaded_locally(void);

/* For Agent_OnLoad when the shim is not preloaded (`java -agentpath:libleakwatch.so[=key=value,...]` alone):
 * starts tracking as leakwatch_attach does (the modules' allocation calls sent to the hooks, now and as modules
 * load; the real functions those they are bound to), from the JVM's start-up on, with each option key=value as
 * the setting LEAKWATCH_KEY (taking precedence over the environment's). *bad_options is set when the options do
 * not fit (none is used then). Returns a late_result: LATE_NO_HOOKS leaves the reporter running (Java-heap
 * sites need no hook). */
int late_start_as_agent(const char *options, int *bad_options);

/* Results of the exported entry points, as the tool reads them. */
enum late_result {
    LATE_OK = 0,
    LATE_ALREADY = 1,          /* already tracking: preloaded, or attached before */
    LATE_DETACHED = 2,         /* attach: an earlier attach found no entry to rewrite, so it stays inert;
                                  detach: already detached */
    LATE_NO_SETTINGS = 3,      /* the attach file is missing or unsafe */
    LATE_CANNOT_TRACK = 4,     /* real functions or memory missing */
    LATE_NO_HOOKS = 5,         /* the GOT entries could not be rewritten */
    LATE_NOT_ATTACHED = 6,     /* detach: the shim was preloaded or never attached */
};

#endif
