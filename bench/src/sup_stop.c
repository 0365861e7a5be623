/*
 * sup_stop [-d] [-m LABEL=MAX]... RUNS NSVC ::: LABEL SIG CMD ARGS... [::: ...]...
 *
 * "Stop N services": for each group, RUNS times (groups interleaved round-robin, the
 * order rotated every round, so noise spreads evenly):
 *   fork/exec CMD (a supervisor configured with NSVC services running `sleep 1000`) in its
 *   own process group, stdin/stdout/stderr on /dev/null; wait until its process tree
 *   (walked through /proc/PID/task/TID/children) holds exactly NSVC processes whose comm
 *   is "sleep" (i.e. they have exec'd) and the supervisor sleeps (state S); settle
 *   (SUP_SETTLE_MS, default 150 ms) and check again; then
 *     t0 = CLOCK_MONOTONIC; kill(CMD, SIG);
 *   then block in waitpid(-1) (the driver is a child subreaper, so services or
 *   per-service supervisors the supervisor leaves behind are re-parented to it and reaped
 *   here) and after every reap check the NSVC sleep pids with kill(pid, 0): a pid is gone
 *   once it answers ESRCH (a zombie still answers, so "gone" means reaped, by whoever).
 *     t1 = the first moment the supervisor has been reaped and all NSVC pids are gone.
 *   SIG is TERM, HUP, INT or QUIT (runsvdir stops its services on HUP, not TERM).
 *   A sample that takes more than 30 s, or whose supervisor never gets NSVC sleeps
 *   running within 30 s, counts as "bad"; everything left is SIGKILLed and reaped after
 *   every sample.
 * -m LABEL=MAX: at most MAX runs for that group, spread evenly over the RUNS rounds (for
 *   a slow supervisor).
 * Prints one line per group: LABEL median_us p90_us min_us n bad status
 * where status is the supervisor's exit status ("exit=0", "exit=111", "sig=15"), or all
 * of them if its runs ended differently ("exit=0/sig=9"); "?" if no run ended in time.
 * -d (diagnosis, not used by the rows): also watch the NSVC services with pidfds and
 *   append the median time until all of them had died (zombies count as dead), to tell a
 *   slow kill from a slow reap; the driver's extra wake-ups perturb the total a little.
 * BENCH_VERBOSE=1 leaves the supervisors' stdout/stderr on ours.
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

struct group {
    const char *label;
    int sig, max;
    char **argv;
    double *us, *dead;
    int n, nd, bad;
    char status[32];
};

static int diag; /* -d */

static volatile sig_atomic_t alarmed;
static void on_alarm(int sig) { (void)sig; alarmed = 1; }

/* Adds the exit status ST ("exit=0", "sig=15") to g->status unless it is there already:
 * the status line shows every status the group's runs ended with ("exit=0/exit=1"), not
 * only the last one's. */
static void add_status(struct group *g, int st) {
    char s[24], have[48], want[32];
    if (WIFEXITED(st)) snprintf(s, sizeof s, "exit=%d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st)) snprintf(s, sizeof s, "sig=%d", WTERMSIG(st));
    else snprintf(s, sizeof s, "?");
    snprintf(have, sizeof have, "/%s/", g->status);
    snprintf(want, sizeof want, "/%s/", s);
    if (strstr(have, want)) return;
    size_t l = strlen(g->status);
    if (l + 1 + strlen(s) < sizeof g->status) snprintf(g->status + l, sizeof g->status - l, "%s%s", l ? "/" : "", s);
}

static double sample(struct group *g, int nsvc, long settle_ms) {
    static pid_t all[MAXP], sleeps[MAXP];
    pid_t pid = cur = spawn("sup_stop", g->argv, DEV_NULL, getenv("BENCH_VERBOSE") ? KEEP : DEV_NULL);
    int ns = 0, ready = 0;
    double start = now_us();
    while (now_us() - start < 30e6) {
        int n = proc_tree(pid, all);
        ns = 0;
        for (int i = 0; i < n; i++)
            if (comm_is(all[i], "sleep")) sleeps[ns++] = all[i];
        if (ns == nsvc && state_of(pid) == 'S') {
            if (ready) break;
            ready = 1;
            nap_us(settle_ms * 1000);
            continue;
        }
        ready = 0;
        if (ns > nsvc) break;
        if (waitpid(pid, NULL, WNOHANG) == pid) { pid = -1; break; }
        nap_us(2000);
    }
    if (pid < 0 || ns != nsvc || !ready) {
        fprintf(stderr, "sup_stop: %s: %d of %d sleeps after %.1f s; sample dropped\n", g->label, ns,
                nsvc, (now_us() - start) / 1e6);
        if (pid > 0) kill_group(pid);
        teardown();
        cur = 0;
        g->bad++;
        return -1;
    }

    int st = 0, done = 0, left = ns;
    double t1 = -1, tdead = -1;
    /* -d: pidfds of the services; until all have died, the loop below checks them and
     * reaps with WNOHANG every 0.5 ms instead of blocking in waitpid. */
    static struct pollfd pfd[MAXP];
    int npfd = 0;
    if (diag)
        for (int i = 0; i < ns; i++) {
            int fd = (int)syscall(SYS_pidfd_open, sleeps[i], 0);
            if (fd >= 0) pfd[npfd++] = (struct pollfd){ fd, POLLIN, 0 };
        }
    int undead = npfd;
    alarmed = 0;
    alarm(30);
    double t0 = now_us();
    kill(pid, g->sig);
    for (;;) {
        int s;
        pid_t r;
        if (undead > 0) {
            if (poll(pfd, (nfds_t)npfd, 0) == 0) nap_us(500);
            for (int i = 0; i < npfd; i++)
                if (pfd[i].fd >= 0 && (pfd[i].revents & POLLIN)) {
                    close(pfd[i].fd);
                    pfd[i].fd = -1;
                    if (--undead == 0) tdead = now_us();
                }
            r = waitpid(-1, &s, WNOHANG);
            if (r == 0) r = -2;
        } else {
            r = waitpid(-1, &s, 0);
        }
        if (r == pid) { done = 1; st = s; }
        if (alarmed) break;
        if (r == -1 && errno == ECHILD) nap_us(100); /* services still owned elsewhere: poll */
        if (!done) continue;
        for (int i = 0; i < left;)
            if (kill(sleeps[i], 0) < 0 && errno == ESRCH) sleeps[i] = sleeps[--left];
            else i++;
        if (left == 0) { t1 = now_us(); break; }
    }
    for (int i = 0; i < npfd; i++)
        if (pfd[i].fd >= 0) close(pfd[i].fd);
    if (tdead < 0 && npfd > 0 && t1 >= 0) tdead = t1;
    if (tdead >= 0) g->dead[g->nd++] = tdead - t0;
    alarm(0);
    if (t1 < 0) {
        fprintf(stderr, "sup_stop: %s: timed out (supervisor %s, %d of %d services left)\n",
                g->label, done ? "exited" : "running", left, ns);
        kill_group(pid);
        g->bad++;
    } else {
        add_status(g, st);
    }
    teardown();
    cur = 0;
    return t1 < 0 ? -1 : t1 - t0;
}

static int signum(const char *s) {
    if (!strncmp(s, "SIG", 3)) s += 3;
    if (!strcmp(s, "TERM")) return SIGTERM;
    if (!strcmp(s, "HUP")) return SIGHUP;
    if (!strcmp(s, "INT")) return SIGINT;
    if (!strcmp(s, "QUIT")) return SIGQUIT;
    return 0;
}

int main(int argc, char **argv) {
    const char *maxes[16];
    int nmax = 0, a = 1;
    for (; a < argc && argv[a][0] == '-'; a++) {
        if (!strcmp(argv[a], "-d")) diag = 1;
        else if (!strcmp(argv[a], "-m") && a + 1 < argc && nmax < 16) maxes[nmax++] = argv[++a];
        else break;
    }
    argv += a - 1;
    argc -= a - 1;
    if (argc < 6 || strcmp(argv[3], ":::") != 0) {
        fprintf(stderr, "usage: sup_stop [-d] [-m LABEL=MAX]... RUNS NSVC ::: LABEL SIG CMD ARGS... [::: ...]\n");
        return 2;
    }
    int runs = atoi(argv[1]), nsvc = atoi(argv[2]);
    if (runs < 1 || nsvc < 1 || nsvc > MAXP / 4) { fprintf(stderr, "sup_stop: bad RUNS or NSVC\n"); return 2; }
    long settle = getenv("SUP_SETTLE_MS") ? atol(getenv("SUP_SETTLE_MS")) : 150;
    struct group gs[16];
    int ng = 0;
    for (int i = 3; i < argc;) {
        int j = group_end(argc, argv, i);
        if (j - i < 4 || ng == 16) { fprintf(stderr, "sup_stop: a group needs LABEL SIG CMD (16 groups at most)\n"); return 2; }
        struct group *g = &gs[ng++];
        g->label = argv[i + 1];
        g->sig = signum(argv[i + 2]);
        if (!g->sig) { fprintf(stderr, "sup_stop: unknown signal %s\n", argv[i + 2]); return 2; }
        g->argv = &argv[i + 3];
        g->us = calloc((size_t)runs, sizeof(double));
        g->dead = calloc((size_t)runs, sizeof(double));
        g->n = g->nd = g->bad = 0;
        g->max = runs;
        for (int m = 0; m < nmax; m++) {
            size_t l = strlen(g->label);
            if (!strncmp(maxes[m], g->label, l) && maxes[m][l] == '=') g->max = atoi(maxes[m] + l + 1);
        }
        g->status[0] = 0;
        i = j;
    }
    driver_init("sup_stop");
    struct sigaction sa = { 0 };
    sa.sa_handler = on_alarm; /* no SA_RESTART: interrupts waitpid */
    sigaction(SIGALRM, &sa, NULL);
    for (int r = 0; r < runs; r++)
        for (int k = 0; k < ng; k++) {
            struct group *g = &gs[(k + r) % ng];
            /* MAX of RUNS rounds, spread out: the rounds where r * MAX mod RUNS < MAX. */
            if (g->max < runs && (r * g->max) % runs >= g->max) continue;
            double us = sample(g, nsvc, settle);
            if (us >= 0) g->us[g->n++] = us;
        }
    for (int k = 0; k < ng; k++) {
        struct group *g = &gs[k];
        const char *status = g->status[0] ? g->status : "?";
        if (g->n == 0) {
            printf("%s n/a n/a n/a 0 %d %s\n", g->label, g->bad, status);
            continue;
        }
        sort_doubles(g->us, (size_t)g->n);
        printf("%s %.1f %.1f %.1f %d %d %s", g->label, median_of(g->us, (size_t)g->n), p90_of(g->us, (size_t)g->n),
               g->us[0], g->n, g->bad, status);
        if (diag && g->nd > 0) {
            sort_doubles(g->dead, (size_t)g->nd);
            printf(" all-dead-after-us=%.1f", median_of(g->dead, (size_t)g->nd));
        }
        printf("\n");
    }
    return 0;
}
