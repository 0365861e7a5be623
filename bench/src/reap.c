/*
 * reap [-n] [-b] RUNS DIR ::: LABEL CMD ARGS... [::: LABEL CMD ARGS...]...
 *
 * Time for an init to reap N zombies re-parented to it. CMD is an init whose main child
 * is `reap_helper [-l] [-b] N DIR` (reap_helper.c has the helper's side). Per sample, groups
 * interleaved round-robin:
 *   - fork CMD as PID 1 of a new pid namespace (clone(CLONE_NEWPID)); with -n, as a plain
 *     child (the init must then be a child subreaper, e.g. tini -s);
 *   - wait for the helper's "r": its N grandchildren are now orphans of the init;
 *   - waiting zombies (default; the helper made N zombies that its spawner holds):
 *     SIGSTOP the init (forced even for a namespace's PID 1, since we are outside it),
 *     wait for state T, send "g": the spawner exits, handing the N zombies to the
 *     stopped init; on the helper's "z", t0 = CLOCK_MONOTONIC, SIGCONT the init, send "c";
 *     burst (-b; the helper was started with -b, its N grandchildren blocked on a pipe):
 *     t0, then send "bc": the N exit at once while the init runs and reaps them;
 *   - read t1 from the helper, taken once kill(pid, 0) gives ESRCH for all N; record
 *     t1 - t0; waitpid the init, which must exit 0.
 * We are a child subreaper, so nothing can escape; on failure the init (and with it the
 * namespace) is SIGKILLed and everything reaped.
 * Also the init's own CPU time over [t0, t1] (sum_exec_runtime, /proc/PID/schedstat):
 * unlike wall time it hardly moves with other load on the machine.
 * Prints one line per group: LABEL median_ms p90_ms min_ms n bad cpu_median_ms
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common.h"

struct group { const char *label; char **argv; double *ms, *cpu; int n, ncpu, bad; };

static const char *dir;
static int newns = 1, burst = 0;

/* cur (common.h) is the init now running, so a TERM/INT/HUP to us (e.g. from timeout(1))
 * cleans up: killing a namespace's PID 1 kills the namespace; without one, the helper sees
 * EOF on its FIFO, exits, and that releases its grandchildren. */

/* CPU time pid has run, in ms (sum_exec_runtime from /proc/PID/schedstat), or -1. */
static double cpu_ms(pid_t pid) {
    char path[64], buf[128];
    snprintf(path, sizeof path, "/proc/%d/schedstat", pid);
    if (read_file(path, buf, sizeof buf) <= 0) return -1;
    return atof(buf) / 1e6;
}

/* One token from the FIFO: a single letter, or a line. Gives up after timeout_ms. */
static int read_token(int fd, char *buf, size_t cap, int timeout_ms) {
    size_t n = 0;
    double end = now_ms() + timeout_ms;
    while (n + 1 < cap) {
        struct pollfd pfd = { fd, POLLIN, 0 };
        int left = (int)(end - now_ms());
        if (left <= 0 || poll(&pfd, 1, left) <= 0) break;
        ssize_t r = read(fd, buf + n, 1);
        if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (r <= 0) break;
        if (buf[n] == '\n' || (n == 0 && buf[0] >= 'a' && buf[0] <= 'z')) { n++; break; }
        n++;
    }
    buf[n] = 0;
    return (int)n;
}

/* On failure: the init (SIGKILL wakes it if it is stopped), then every orphan that came
 * to us (we are a subreaper; without a namespace, the helper's up to 10,000 grandchildren). */
static void kill_all(pid_t init) {
    kill(init, SIGKILL);
    waitpid(init, NULL, 0);
    teardown();
}

static double sample(struct group *g, double *cpu) {
    char up_path[4096], down_path[4096];
    snprintf(up_path, sizeof up_path, "%s/up", dir);
    snprintf(down_path, sizeof down_path, "%s/down", dir);
    pid_t init = newns ? (pid_t)syscall(SYS_clone, CLONE_NEWPID | SIGCHLD, NULL, NULL, NULL, NULL) : fork();
    if (init < 0) { perror("reap: clone/fork"); exit(1); }
    if (init == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0); /* if we die, so does it */
        execvp(g->argv[0], g->argv);
        perror("reap: exec");
        _exit(127);
    }
    cur = init;
    const char *why = NULL;
    char tok[64];
    /* Non-blocking, so a helper that never comes cannot hang us; poll() in read_token
     * reports no hang-up before a writer has been there. */
    int up = open(up_path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    int down = -1;
    double t0 = 0, t1 = 0;
    if (up < 0 || read_token(up, tok, sizeof tok, 60000) != 1 || tok[0] != 'r') { why = "no ready from the helper"; goto fail; }
    if (burst) {
        /* Release the N and time from there: no stop, no zombie wait. */
        nap_us(200e3); /* let the orphans settle into read() */
        goto open_down;
    }
    kill(init, SIGSTOP);
    for (double s = now_ms(); state_of(init) != 'T'; nap_us(200))
        if (now_ms() - s > 5000) { why = "init never stopped"; goto fail; }
open_down:
    /* O_NONBLOCK: ENXIO until the helper has opened its end; retry rather than hang. */
    for (double s = now_ms(); (down = open(down_path, O_WRONLY | O_NONBLOCK | O_CLOEXEC)) < 0; nap_us(200))
        if (errno != ENXIO || now_ms() - s > 5000) { why = "helper never opened down"; goto fail; }
    double c0 = -1;
    if (burst) {
        c0 = cpu_ms(init);
        t0 = now_ms();
        if (write(down, "bc", 2) != 2) { why = "cannot send b"; goto fail; }
        goto wait_t1;
    }
    if (write(down, "g", 1) != 1) { why = "cannot send g"; goto fail; }
    if (read_token(up, tok, sizeof tok, 60000) != 1 || tok[0] != 'z') { why = "no z from the helper"; goto fail; }
    c0 = cpu_ms(init);
    t0 = now_ms();
    kill(init, SIGCONT);
    if (write(down, "c", 1) != 1) { why = "cannot send c"; goto fail; }
wait_t1:
    if (read_token(up, tok, sizeof tok, 60000) <= 1) { why = "no t1 from the helper"; goto fail; }
    t1 = atof(tok);
    /* The init is alive until the helper exits, which it does after writing t1. */
    double c1 = cpu_ms(init);
    *cpu = c0 >= 0 && c1 >= 0 ? c1 - c0 : -1;
    int st;
    while (waitpid(init, &st, 0) < 0 && errno == EINTR) {}
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) g->bad++;
    close(up);
    close(down);
    cur = 0;
    return t1 - t0;
fail:
    fprintf(stderr, "reap: %s: %s\n", g->label, why);
    if (up >= 0) close(up);
    if (down >= 0) close(down);
    kill_all(init);
    cur = 0;
    g->bad++;
    return -1;
}

int main(int argc, char **argv) {
    int i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1] && !argv[i][2]; i++) {
        if (argv[i][1] == 'n') newns = 0;
        else if (argv[i][1] == 'b') burst = 1;
        else break;
    }
    if (argc - i < 4) { fprintf(stderr, "usage: reap [-n] [-b] RUNS DIR ::: LABEL CMD... [::: LABEL CMD...]\n"); return 2; }
    int runs = atoi(argv[i]);
    dir = argv[i + 1];
    i += 2;
    struct group gs[32];
    int ng = 0;
    if (strcmp(argv[i], ":::") != 0) { fprintf(stderr, "reap: bad arguments\n"); return 2; }
    while (i < argc) {
        int j = group_end(argc, argv, i);
        if (j - i < 3 || ng == 32) { fprintf(stderr, "reap: a group needs LABEL CMD (32 groups at most)\n"); return 2; }
        gs[ng] = (struct group){ argv[i + 1], argv + i + 2, calloc(runs, sizeof(double)), calloc(runs, sizeof(double)), 0, 0, 0 };
        ng++;
        i = j;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/up", dir);
    unlink(path);
    if (mkfifo(path, 0600) < 0) { perror("reap: mkfifo up"); return 1; }
    snprintf(path, sizeof path, "%s/down", dir);
    unlink(path);
    if (mkfifo(path, 0600) < 0) { perror("reap: mkfifo down"); return 1; }
    signal(SIGPIPE, SIG_IGN);
    driver_init("reap");
    for (int r = 0; r < runs; r++) {
        for (int k = 0; k < ng; k++) {
            struct group *g = &gs[(r + k) % ng];
            double cpu = -1, ms = sample(g, &cpu);
            if (ms >= 0) g->ms[g->n++] = ms;
            if (ms >= 0 && cpu >= 0) g->cpu[g->ncpu++] = cpu;
        }
    }
    for (int k = 0; k < ng; k++) {
        struct group *g = &gs[k];
        if (g->n == 0) { printf("%s n/a n/a n/a 0 %d n/a\n", g->label, g->bad); continue; }
        sort_doubles(g->ms, (size_t)g->n);
        printf("%s %.2f %.2f %.2f %d %d ", g->label, median_of(g->ms, (size_t)g->n), p90_of(g->ms, (size_t)g->n),
               g->ms[0], g->n, g->bad);
        if (g->ncpu) {
            sort_doubles(g->cpu, (size_t)g->ncpu);
            printf("%.2f\n", median_of(g->cpu, (size_t)g->ncpu));
        } else printf("n/a\n");
    }
    return 0;
}
