/* Unit tests of the shim's locks and fork handling, linked directly (no LD_PRELOAD): a fork while a
 * thread holds a shim lock leaves the child a usable shim, and (in the witness build) a lock taken out
 * of rank order stops the process. */
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/wait.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>
#include "check_suites.h"
#include "testutil.h"
#include "blocks.h"
#include "lock.h"
#include "report_thread.h"
#include "signals.h"
#include "state.h"
#include "lifecycle.h"
#include "track.h"

/* Waits up to timeout_s for pid; kills it if it is still running. Returns its status, or -1 if killed. */
static int wait_or_kill(pid_t pid, double timeout_s)
{
    int status;
    for (int waited_ms = 0; waited_ms < timeout_s * 1000; waited_ms += 10) {
        if (waitpid(pid, &status, WNOHANG) == pid)
            return status;
        usleep(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

/* ---- a fork while the program changes the report signal's action ---- */

static atomic_int inside_real_sigaction;

/* Stands in for libc's sigaction: slow enough that the fork below lands while the shim's signal lock
 * is held around it. */
static int slow_sigaction(int signo, const struct sigaction *act, struct sigaction *old)
{
    if (act) {
        atomic_store(&inside_real_sigaction, 1);
        usleep(300000);
    }
    return sigaction(signo, act, old);
}

static void *program_sets_handler(void *arg)
{
    (void)arg;
    struct sigaction act;
    memset(&act, 0, sizeof act);
    act.sa_handler = SIG_IGN;
    signals_sigaction(SIGUSR2, &act, NULL);
    return NULL;
}

START_TEST(fork_while_signal_action_changes)
{
    tu_shim_core_setup();
    shim_state.real.sigaction = slow_sigaction;
    shim_state.config.signal = SIGUSR2;
    strcpy(shim_state.config.signal_name, "SIGUSR2");
    signals_install();
    lw_install_fork_handlers();
    atomic_store(&inside_real_sigaction, 0);
    pthread_t thread;
    ck_assert_int_eq(pthread_create(&thread, NULL, program_sets_handler, NULL), 0);
    while (!atomic_load(&inside_real_sigaction))
        usleep(1000);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* the child's program sets the action again: the lock must be free */
        struct sigaction act, old;
        memset(&act, 0, sizeof act);
        act.sa_handler = SIG_DFL;
        int rc = signals_sigaction(SIGUSR2, &act, &old);
        _exit(rc == 0 && old.sa_handler == SIG_IGN ? 0 : 3);
    }
    int status = wait_or_kill(pid, 10);
    pthread_join(thread, NULL);
    ck_assert_msg(status != -1, "the forked child blocked setting the report signal's action");
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "the child did not see the action its parent's program set (status %#x)", status);
}
END_TEST

#ifdef LW_LOCK_WITNESS
/* ---- the witness: taking locks in rank order passes, against it stops the process ---- */

enum witness_case { IN_ORDER, AGAINST_ORDER, SAME_RANK, UNRANKED, IN_ORDER_AFTER_RELEASE };

static void take_locks(enum witness_case which)
{
    lw_lock_t sites = LW_LOCK_INIT(LOCK_RANK_SITES), shard = LW_LOCK_INIT(LOCK_RANK_BLOCK_SHARD);
    lw_lock_t shard2 = LW_LOCK_INIT(LOCK_RANK_BLOCK_SHARD), arena = LW_LOCK_INIT(LOCK_RANK_ARENA);
    lw_lock_t unranked = { 0 };
    switch (which) {
    case IN_ORDER:
        lw_lock(&sites), lw_lock(&shard), lw_lock(&arena);
        lw_unlock(&arena), lw_unlock(&shard), lw_unlock(&sites);
        break;
    case AGAINST_ORDER:
        lw_lock(&arena), lw_lock(&sites);
        break;
    case SAME_RANK:
        lw_lock(&shard), lw_lock(&shard2);
        break;
    case UNRANKED:
        lw_lock(&unranked);
        break;
    case IN_ORDER_AFTER_RELEASE:
        lw_lock(&arena), lw_unlock(&arena), lw_lock(&sites), lw_unlock(&sites);
        break;
    }
}

static int status_of(enum witness_case which)
{
    pid_t pid = fork();
    if (pid == 0) {
        take_locks(which);
        _exit(0);
    }
    return wait_or_kill(pid, 10);
}

START_TEST(witness_checks_the_order)
{
    int status = status_of(IN_ORDER);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "in order: status %#x", status);
    status = status_of(IN_ORDER_AFTER_RELEASE);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "after release: status %#x", status);
    enum witness_case bad[] = { AGAINST_ORDER, SAME_RANK, UNRANKED };
    for (unsigned i = 0; i < 3; i++) {
        status = status_of(bad[i]);
        ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "case %u: status %#x", i, status);
    }
}
END_TEST

/* A fork walks the whole table under the witness: no complaint, and the child can take locks again. */
START_TEST(witness_accepts_fork)
{
    tu_shim_core_setup();
    lw_install_fork_handlers();
    pid_t pid = fork();
    if (pid == 0) {
        struct block b, stale;
        block_set(&b, 0x5000, 10, 5, 1);
        int ok = blocks_insert(&b, NULL, &stale) == 0 && blocks_remove(0x5000, &b, NULL) == 1;
        _exit(ok ? 0 : 3);
    }
    int status = wait_or_kill(pid, 10);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %#x", status);
}
END_TEST
#endif

static Suite *locks_suite(void)
{
    Suite *s = suite_create("locks");
    TCase *tc = tcase_create("fork");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, fork_while_signal_action_changes);
    suite_add_tcase(s, tc);
#ifdef LW_LOCK_WITNESS
    tc = tcase_create("witness");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, witness_checks_the_order);
    tcase_add_test(tc, witness_accepts_fork);
    suite_add_tcase(s, tc);
#endif
    return s;
}

LW_SUITE(locks_suite)
