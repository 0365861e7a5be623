/*
 * sigterm N [-s] ::: LABEL CMD ARGS... [::: LABEL CMD ARGS...]...
 *
 * For each group, N times (groups interleaved round-robin, so noise spreads evenly):
 *   fork/exec CMD (an init running `sleep 1000`) in its own process group with
 *   stdout/stderr on /dev/null; wait until the workload exists: CMD itself or one of its
 *   children (from /proc/PID/task/PID/children) has comm "sleep", i.e. it has exec'd;
 *   then 2 ms to settle and CMD sleeping (state S) in its wait; then
 *     t0 = CLOCK_MONOTONIC; kill(PID, SIGTERM); waitpid(PID); t1
 *   and record t1 - t0. The init must forward TERM, the workload die of it, the init reap
 *   it and exit. "bad": an exit status other than 143 or death by SIGTERM, or an init that
 *   exited with its workload still running (it would otherwise look fast).
 * The driver is a child subreaper, so anything left behind is re-parented to it, killed
 * and reaped after each sample.
 * Prints one line per group: LABEL median_us p90_us min_us n bad
 * -s (diagnosis, not used by run.sh): also watch the workload with a pidfd and print the
 * median time until it died ("workload-dead-after"), splitting signal forwarding from
 * reaping and exiting; the extra wake-up of the driver perturbs the total a little.
 * BENCH_VERBOSE=1 leaves the inits' stdout/stderr on ours.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common.h"

#define WORKLOAD "sleep"

struct group { const char *label; char **argv; double *us, *fwd; int n, nfwd, bad; };

/* -s: also time when the workload died (pidfd), to split forward vs reap+exit. */
static int split;

/* The pid running WORKLOAD: PID itself or one of its children; 0 if none yet. */
static pid_t workload(pid_t pid) {
    if (comm_is(pid, WORKLOAD)) return pid;
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", pid, pid);
    if (read_file(path, buf, sizeof buf) <= 0) return 0;
    for (char *t = strtok(buf, " \n"); t; t = strtok(NULL, " \n")) {
        pid_t c = atoi(t);
        if (c > 0 && comm_is(c, WORKLOAD)) return c;
    }
    return 0;
}

static void reap_leftovers(pid_t w) {
    if (w > 0 && kill(w, 0) == 0) kill(w, SIGKILL);
    nap_us(1000);
    while (waitpid(-1, NULL, WNOHANG) > 0) {}
}

/* One sample: microseconds, or -1 if the init never got going. The workload's pid is
 * cur_also (on_fatal kills it too: the init may have put it in a group of its own). */
static double sample(struct group *g) {
    pid_t pid = cur = spawn("sigterm", g->argv, KEEP, getenv("BENCH_VERBOSE") ? KEEP : DEV_NULL);
    pid_t w = 0;
    double start = now_us();
    for (;;) {
        if (!w) cur_also = w = workload(pid);
        if (w && state_of(pid) == 'S') {
            nap_us(2000);
            if (state_of(pid) == 'S') break;
        }
        if (now_us() - start > 5e6 || waitpid(pid, NULL, WNOHANG) == pid) {
            fprintf(stderr, "sigterm: %s: workload '%s' never appeared\n", g->label, WORKLOAD);
            kill_group(pid);
            waitpid(pid, NULL, 0);
            reap_leftovers(w);
            cur = cur_also = 0;
            return -1;
        }
        nap_us(200);
    }
    int st;
    int wfd = split && w != pid ? (int)syscall(SYS_pidfd_open, w, 0) : -1;
    double t0 = now_us(), tw = -1;
    kill(pid, SIGTERM);
    if (wfd >= 0) {
        /* Wakes us once more, when the workload dies: diagnosis only, not for the table. */
        struct pollfd pfd = { wfd, POLLIN, 0 };
        if (poll(&pfd, 1, 5000) == 1) tw = now_us();
        close(wfd);
    }
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    double t1 = now_us();
    if (tw > 0) g->fwd[g->nfwd++] = tw - t0;
    int exited = (WIFEXITED(st) && WEXITSTATUS(st) == 143) || (WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
    /* The workload is gone (reaped) or at least dead (a zombie, re-parented to us). */
    int gone = w == pid || kill(w, 0) < 0 || state_of(w) == 'Z';
    if (!exited || !gone) g->bad++;
    if (!gone) fprintf(stderr, "sigterm: %s: the init exited with its workload still running\n", g->label);
    reap_leftovers(w == pid ? 0 : w);
    cur = cur_also = 0;
    return t1 - t0;
}

int main(int argc, char **argv) {
    const char *usage = "usage: sigterm N [-s] ::: LABEL CMD... [::: LABEL CMD...]\n";
    if (argc < 5) { fputs(usage, stderr); return 2; }
    int n = atoi(argv[1]), i = 2;
    if (strcmp(argv[i], "-s") == 0) { split = 1; i++; }
    if (n < 1 || strcmp(argv[i], ":::") != 0) { fputs(usage, stderr); return 2; }
    struct group gs[32];
    int ng = 0;
    while (i < argc) {
        int j = group_end(argc, argv, i);
        if (j - i < 3 || ng == 32) { fprintf(stderr, "sigterm: a group needs LABEL CMD (32 groups at most)\n"); return 2; }
        gs[ng] = (struct group){ argv[i + 1], argv + i + 2, calloc(n, sizeof(double)), calloc(n, sizeof(double)), 0, 0, 0 };
        ng++;
        i = j;
    }
    driver_init("sigterm");
    for (int r = 0; r < n; r++) {
        for (int k = 0; k < ng; k++) {
            struct group *g = &gs[(r + k) % ng];
            double us = sample(g);
            if (us >= 0) g->us[g->n++] = us;
        }
    }
    for (int k = 0; k < ng; k++) {
        struct group *g = &gs[k];
        if (g->n == 0) { printf("%s n/a n/a n/a 0 %d\n", g->label, g->bad); continue; }
        sort_doubles(g->us, (size_t)g->n);
        printf("%s %.1f %.1f %.1f %d %d", g->label, median_of(g->us, (size_t)g->n), p90_of(g->us, (size_t)g->n),
               g->us[0], g->n, g->bad);
        if (g->nfwd) {
            sort_doubles(g->fwd, (size_t)g->nfwd);
            printf(" workload-dead-after %.1f", g->fwd[g->nfwd / 2]);
        }
        printf("\n");
    }
    return 0;
}
