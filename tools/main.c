/* main.c — the leakwatch command: finds the subcommand in a table and runs it. Only main() lives here,
 * so the unit tests can link every other tools object. */
#include <stdio.h>
#include <string.h>
#include "commands.h"
#include "util.h"

static const struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"run", cmd_run, "run a command with the leak finder preloaded"},
    {"dump", cmd_dump, "ask a running process for a report now and print it"},
    {"report", cmd_report, "re-render a JSON report (text, folded stacks, JSON; file:line)"},
    {"diff", cmd_diff, "per-site change of live memory between two reports"},
    {"gate", cmd_gate, "CI gate: fail only on sites whose live memory keeps growing with load"},
    {"attach", cmd_attach, "load the leak finder into a running process (no restart)"},
    {"detach", cmd_detach, "put an attached process's allocation functions back"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: leakwatch COMMAND [OPTIONS] ...\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-7s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n`leakwatch COMMAND --help` shows the options of a command; man leakwatch has it all.\n"
                 "exit status: 0 ok, 1 a leak was found or the gate failed, 2 usage or runtime error.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return LW_EXIT_ERROR;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return lw_finish_stdout(LW_EXIT_OK);
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].fn(argc - 1, argv + 1);
    lw_err("unknown command \"%s\": use one of run, dump, report, diff, gate, attach, detach (leakwatch --help)", argv[1]);
    return LW_EXIT_ERROR;
}
