/* commands.h — the subcommands of the leakwatch command, one file each (cmd_<name>.c), dispatched from
 * main.c. Each takes argv with argv[0] = the subcommand name and returns the exit code (util.h). */
#ifndef LW_COMMANDS_H
#define LW_COMMANDS_H

int cmd_run(int argc, char **argv);
int cmd_dump(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_diff(int argc, char **argv);
int cmd_gate(int argc, char **argv);
int cmd_attach(int argc, char **argv);
int cmd_detach(int argc, char **argv);

#endif
