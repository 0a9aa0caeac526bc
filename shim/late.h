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

/* For Agent_OnLoad when the shim was not preloaded (`java -agentpath:` alone): the tracking the constructor
 * started gets the loaded modules' allocation calls, now and as modules load. Returns a late_result. */
int late_start_as_agent(void);

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
