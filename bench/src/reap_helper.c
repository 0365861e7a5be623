/*
 * reap_helper [-l] N DIR: the main child of the init under test in the reap rows;
 * driven by `reap` (reap.c) through the FIFOs DIR/up and DIR/down.
 *
 *  1. A spawner child makes N grandchildren, each blocked in read() on a pipe whose only
 *     write end we hold; their pids go into a shared mapping. With -l they are "light"
 *     (clone(CLONE_VM): no page tables to copy, so 10,000 are made in a fraction of the
 *     time; as zombies they are the same). The spawner exits and we reap it, so the N are
 *     orphans: the kernel re-parents them to the init (PID 1 of the pid namespace, or the
 *     nearest child subreaper).
 *  2. "r" -> up. Then the driver sends the mode on down:
 *     "g" (waiting zombies): the driver has SIGSTOPped the init. We close the write end,
 *         so all N read() return 0 and all N exit and stay zombies (the init is stopped).
 *         We wait until all N have exited (pidfds, closed again afterwards) and send "z";
 *         the driver takes t0, SIGCONTs the init and sends "c".
 *     "b" (burst): the init runs; the driver took t0 just before sending "b" and "c".
 *         We close the write end: all N exit at once while the init reaps.
 *  3. On "c", for each pid in turn we poll kill(pid, 0) until it fails with ESRCH: a
 *     zombie still answers kill(pid, 0), only a reaped process gives ESRCH. Then
 *     t1 (CLOCK_MONOTONIC, ms) -> up, and exit 0, so the init exits 0 too.
 * The poll sleeps ~20 us between misses (timer slack 1 ns), so it takes little CPU from
 * the init; what it adds at the end is one poll interval plus one kill() per pid not yet
 * checked (the init reaps in the order they were re-parented, which is the order we check).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
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

#define STACK 8192

/* A light grandchild (CLONE_VM: no page tables to copy or tear down): block on the
 * pipe, then exit. Raw syscalls only: it shares the spawner's memory, TLS included. */
static int grandchild(void *arg) {
    char b;
    while (syscall(SYS_read, *(int *)arg, &b, 1) < 0) {}
    syscall(SYS_exit, 0);
    return 0;
}

/* Release the N (close the pipe's write end) and return once every one has exited
 * (is a zombie): a pidfd polls readable when its process exits, before it is reaped.
 * The pidfds are all closed again before we return, so none is open while the init
 * reaps. Without pidfd_open (Linux < 5.3), wait 1 s instead. */
static int until_all_exited(pid_t *pids, long n, int release_fd) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)n + 64) {
        rl.rlim_cur = (rlim_t)n + 64;
        if (rl.rlim_max < rl.rlim_cur) rl.rlim_max = rl.rlim_cur;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    int ep = epoll_create1(EPOLL_CLOEXEC);
    int *fds = calloc(n, sizeof(int));
    long opened = 0;
    for (; ep >= 0 && opened < n; opened++) {
        int fd = (int)syscall(SYS_pidfd_open, pids[opened], 0);
        if (fd < 0) break;
        fds[opened] = fd;
        struct epoll_event ev = { .events = EPOLLIN | EPOLLONESHOT, .data.u64 = (uint64_t)opened };
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) { close(fd); break; }
    }
    close(release_fd);
    int ok = 0;
    if (opened == n) {
        struct epoll_event evs[256];
        long seen = 0;
        double start = now_ms();
        while (seen < n) {
            int k = epoll_wait(ep, evs, 256, 1000);
            if (k < 0 && errno != EINTR) break;
            if (k > 0) seen += k;
            if (now_ms() - start > 60000) break;
        }
        ok = seen == n ? 0 : -1;
        if (ok < 0) fprintf(stderr, "reap_helper: only %ld of %ld exited\n", seen, n);
    } else {
        struct timespec s = { 1, 0 };
        nanosleep(&s, NULL);
    }
    for (long i = 0; i < opened; i++) close(fds[i]);
    if (ep >= 0) close(ep);
    free(fds);
    return ok;
}

int main(int argc, char **argv) {
    int light = 0;
    if (argc > 1 && strcmp(argv[1], "-l") == 0) { light = 1; argv++; argc--; }
    if (argc != 3) { fprintf(stderr, "usage: reap_helper [-l] N DIR\n"); return 2; }
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

    char *stacks = NULL;
    if (light) {
        stacks = mmap(NULL, n * STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (stacks == MAP_FAILED) { perror("reap_helper: mmap stacks"); return 1; }
    }
    pid_t spawner = fork();
    if (spawner < 0) { perror("reap_helper: fork"); return 1; }
    if (spawner == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0); /* stop forking if the helper dies */
        close(p[1]); /* the write end stays open in the helper alone */
        for (long i = 0; i < n; i++) {
            pid_t c = light ? clone(grandchild, stacks + (i + 1) * STACK, CLONE_VM | SIGCHLD, &p[0]) : fork();
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
    if (down < 0) { perror("reap_helper: down"); return 1; }
    char mode;
    while (read(down, &mode, 1) < 0 && errno == EINTR) {}
    if (mode == 'g') {
        if (until_all_exited(pids, n, p[1]) < 0) return 1;
        if (write(up, "z", 1) != 1) return 1;
    } else if (mode == 'b') {
        close(p[1]);
    } else {
        return 1;
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
