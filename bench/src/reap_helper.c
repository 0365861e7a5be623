/*
 * reap_helper N DIR: the main child of the init under test in the "reap N waiting
 * zombies" row; driven by `reap` (reap.c) through the FIFOs DIR/up and DIR/down.
 *
 *  1. A spawner child forks N grandchildren, each blocked in read() on a pipe whose only
 *     write end we hold; their pids go into a shared mapping. The spawner exits and we
 *     reap it, so the N grandchildren are orphans: the kernel re-parents them to the
 *     init (PID 1 of the pid namespace, or the nearest child subreaper).
 *  2. "ready" -> up. The driver SIGSTOPs the init and sends "go".
 *  3. We close the write end: all N read() return 0, all N exit and stay zombies, since
 *     the (stopped) init cannot reap them. The driver waits until all N are in state Z,
 *     takes t0, SIGCONTs the init and sends "c".
 *  4. For each pid in turn we poll kill(pid, 0) until it fails with ESRCH: a zombie still
 *     answers kill(pid, 0), only a reaped process gives ESRCH. Then t1 (CLOCK_MONOTONIC,
 *     in ms) -> up, and exit 0, so the init exits 0 too.
 * The poll sleeps ~20 us between misses, so it takes little CPU from the init; what it
 * adds at the end is one poll interval plus one kill() per pid not yet checked.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int expect(int fd, char c) {
    char b;
    ssize_t r;
    while ((r = read(fd, &b, 1)) < 0 && errno == EINTR) {}
    return r == 1 && b == c;
}

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: reap_helper N DIR\n"); return 2; }
    long n = atol(argv[1]);
    if (n <= 0) return 2;
    char up_path[4096], down_path[4096];
    snprintf(up_path, sizeof up_path, "%s/up", argv[2]);
    snprintf(down_path, sizeof down_path, "%s/down", argv[2]);

    /* If the init dies (the driver kills it when it is killed), so do we, and closing
     * the pipe's write end then lets the grandchildren go. */
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    pid_t *pids = mmap(NULL, n * sizeof(pid_t), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    volatile long *made = mmap(NULL, sizeof(long), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (pids == MAP_FAILED || made == MAP_FAILED) { perror("reap_helper: mmap"); return 1; }
    int p[2];
    if (pipe(p) < 0) { perror("reap_helper: pipe"); return 1; }

    pid_t spawner = fork();
    if (spawner < 0) { perror("reap_helper: fork"); return 1; }
    if (spawner == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0); /* stop forking if the helper dies */
        close(p[1]); /* the write end stays open in the helper alone */
        for (long i = 0; i < n; i++) {
            pid_t c = fork();
            if (c < 0) { perror("reap_helper: fork grandchild"); _exit(1); }
            if (c == 0) {
                char b;
                while (read(p[0], &b, 1) < 0 && errno == EINTR) {}
                _exit(0);
            }
            pids[i] = c;
            *made = i + 1;
        }
        _exit(0);
    }
    close(p[0]);
    int st;
    if (waitpid(spawner, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0 || *made != n) {
        fprintf(stderr, "reap_helper: spawner failed after %ld children\n", *made);
        return 1; /* exiting closes p[1], which releases whatever was made */
    }
    int up = open(up_path, O_WRONLY | O_CLOEXEC);
    if (up < 0 || write(up, "r", 1) != 1) { perror("reap_helper: up"); return 1; }
    int down = open(down_path, O_RDONLY | O_CLOEXEC);
    if (down < 0 || !expect(down, 'g')) { perror("reap_helper: down"); return 1; }
    close(p[1]);
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
