/*
 * reap_helper [-l] [-b] N DIR: the main child of the init under test in the reap rows;
 * driven by `reap` (reap.c) through the FIFOs DIR/up and DIR/down.
 *
 * A spawner child of ours makes N grandchildren; with -l they are "light"
 * (clone(CLONE_VM): no page tables to copy or free, so 10,000 are made in a fraction of
 * the time; as zombies they are like any other). Their pids go into a shared mapping.
 *
 * Waiting zombies (default):
 *   1. Each grandchild exits at once; the spawner waits until all N are zombies
 *      (waitid(WEXITED|WNOWAIT) on each, which does not reap) and tells us.
 *   2. "r" -> up. The driver SIGSTOPs the init and sends "g".
 *   3. We let the spawner exit and reap it: its N zombies are re-parented to the init
 *      (PID 1 of the pid namespace, or the nearest child subreaper), which is stopped
 *      and cannot reap them yet. "z" -> up.
 *   4. The driver takes t0, SIGCONTs the init and sends "c".
 * Burst (-b):
 *   1. Each grandchild blocks in read() on a pipe whose only write end we hold; the
 *      spawner exits and we reap it, so the N are orphans of the (running) init.
 *   2. "r" -> up. The driver takes t0 and sends "b" and "c": we close the write end, all
 *      N read() return 0 and all N exit at once while the init reaps them.
 * Then, for each pid in turn, we poll kill(pid, 0) until it fails with ESRCH: a zombie
 * still answers kill(pid, 0), only a reaped process gives ESRCH. Then t1
 * (CLOCK_MONOTONIC, ms) -> up, and exit 0, so the init exits 0 too.
 * The poll sleeps ~20 us between misses (timer slack 1 ns), so it takes little CPU from
 * the init; what it adds at the end is one poll interval plus one kill() per pid not yet
 * checked (an init reaps in the order they were re-parented, which is the order we check).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define STACK 8192

static int get(int fd, char *c) {
    ssize_t r;
    while ((r = read(fd, c, 1)) < 0 && errno == EINTR) {}
    return r == 1;
}

static int expect(int fd, char c) {
    char b;
    return get(fd, &b) && b == c;
}

/* Light grandchildren share the spawner's memory (TLS included): raw syscalls only. */
static int exit_now(void *arg) {
    (void)arg;
    syscall(SYS_exit, 0);
    return 0;
}

static int block_then_exit(void *arg) {
    char b;
    while (syscall(SYS_read, *(int *)arg, &b, 1) < 0) {}
    syscall(SYS_exit, 0);
    return 0;
}

int main(int argc, char **argv) {
    int light = 0, burst = 0;
    for (; argc > 1 && argv[1][0] == '-' && argv[1][1] && !argv[1][2]; argv++, argc--) {
        if (argv[1][1] == 'l') light = 1;
        else if (argv[1][1] == 'b') burst = 1;
        else break;
    }
    if (argc != 3) { fprintf(stderr, "usage: reap_helper [-l] [-b] N DIR\n"); return 2; }
    long n = atol(argv[1]);
    if (n <= 0) return 2;
    char up_path[4096], down_path[4096];
    snprintf(up_path, sizeof up_path, "%s/up", argv[2]);
    snprintf(down_path, sizeof down_path, "%s/down", argv[2]);

    /* If the init dies (the driver kills it when it is killed), so do we; that closes
     * our pipe ends, which lets the spawner and the grandchildren go. */
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    pid_t *pids = mmap(NULL, n * sizeof(pid_t), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    volatile long *made = mmap(NULL, sizeof(long), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    char *stacks = light ? mmap(NULL, n * STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0) : NULL;
    if (pids == MAP_FAILED || made == MAP_FAILED || stacks == MAP_FAILED) { perror("reap_helper: mmap"); return 1; }
    int rel[2], ready[2], gate[2];
    if (pipe(rel) < 0 || pipe(ready) < 0 || pipe(gate) < 0) { perror("reap_helper: pipe"); return 1; }

    pid_t spawner = fork();
    if (spawner < 0) { perror("reap_helper: fork"); return 1; }
    if (spawner == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0); /* stop if the helper dies */
        close(rel[1]); /* the release pipe's write end stays with the helper alone */
        close(ready[0]);
        close(gate[1]);
        for (long i = 0; i < n; i++) {
            pid_t c;
            if (light) c = clone(burst ? block_then_exit : exit_now, stacks + (i + 1) * STACK, CLONE_VM | SIGCHLD, &rel[0]);
            else if ((c = fork()) == 0) {
                char b;
                if (burst) while (read(rel[0], &b, 1) < 0 && errno == EINTR) {}
                _exit(0);
            }
            if (c < 0) { perror("reap_helper: making a grandchild"); _exit(1); }
            pids[i] = c;
            *made = i + 1;
        }
        if (!burst) {
            /* Stay until all N are zombies (WNOWAIT: not reaped), then until the gate
             * opens: our exit hands the N zombies to the init. */
            siginfo_t si;
            for (long i = 0; i < n; i++)
                while (waitid(P_PID, pids[i], &si, WEXITED | WNOWAIT) < 0 && errno == EINTR) {}
            if (write(ready[1], "k", 1) != 1) _exit(1);
            char b;
            get(gate[0], &b);
        }
        _exit(0);
    }
    close(rel[0]);
    close(ready[1]);
    close(gate[0]);
    int st;
    if (!burst) {
        char b;
        if (!get(ready[0], &b)) { fprintf(stderr, "reap_helper: spawner failed after %ld children\n", *made); return 1; }
    } else if (waitpid(spawner, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0 || *made != n) {
        fprintf(stderr, "reap_helper: spawner failed after %ld children\n", *made);
        return 1;
    }

    int up = open(up_path, O_WRONLY | O_CLOEXEC);
    if (up < 0 || write(up, "r", 1) != 1) { perror("reap_helper: up"); return 1; }
    int down = open(down_path, O_RDONLY | O_CLOEXEC);
    if (down < 0) { perror("reap_helper: down"); return 1; }
    if (!burst) {
        if (!expect(down, 'g')) { fprintf(stderr, "reap_helper: expected g (is the driver in burst mode?)\n"); return 1; }
        close(gate[1]); /* the spawner exits ... */
        if (waitpid(spawner, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) return 1;
        /* ... and its exit has re-parented the N zombies to the init */
        if (write(up, "z", 1) != 1) return 1;
    } else {
        if (!expect(down, 'b')) { fprintf(stderr, "reap_helper: expected b (is the driver in burst mode?)\n"); return 1; }
        close(rel[1]);
    }
    if (!expect(down, 'c')) return 1;

    double start = now_ms();
    struct timespec tick = { 0, 20000 };
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    for (long i = 0; i < n; i++) {
        while (kill(pids[i], 0) == 0 || errno != ESRCH) {
            if (now_ms() - start > 60000) { fprintf(stderr, "reap_helper: pid %d never reaped\n", pids[i]); return 1; }
            nanosleep(&tick, NULL);
        }
    }
    char out[64];
    int len = snprintf(out, sizeof out, "%.6f\n", now_ms());
    if (write(up, out, len) != len) return 1;
    return 0;
}
