/* tree_server — a stand-in for a forking server (an nginx master and its workers) for the live gate test:
 * `tree_server N leak|ok` runs as N processes (itself and N-1 forked children). Every 20 ms each one either
 * keeps a 4 KiB block for ever (leak) or allocates and frees one (ok). Prints "ready" once all have started
 * and stops by itself after 60 s so a failed test leaves nothing behind. Built by tests/check_tools_live.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void *volatile tree_sink;

static void __attribute__((noinline)) leak_tick(void)
{
    void **block = malloc(4096);
    if (block) {
        block[0] = tree_sink;
        tree_sink = block;
    }
}

static void __attribute__((noinline)) churn_tick(void)
{
    char *block = malloc(4096);
    if (block)
        block[0] = 1;
    free(block);
}

int main(int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[2], "leak") && strcmp(argv[2], "ok"))) {
        fprintf(stderr, "usage: tree_server N leak|ok\n");
        return 2;
    }
    int n = atoi(argv[1]);
    int leak = strcmp(argv[2], "leak") == 0;
    int parent = 1;
    for (int i = 1; i < n && parent; i++)
        if (fork() == 0)
            parent = 0;
    if (parent) {
        printf("ready\n");
        fflush(stdout);
    }
    struct timespec tick = {0, 20 * 1000000L};
    for (int i = 0; i < 3000; i++) {
        if (leak)
            leak_tick();
        else
            churn_tick();
        nanosleep(&tick, NULL);
    }
    return 0;
}
