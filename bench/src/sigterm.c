/*
 * sigterm N [-w COMM] [-s] ::: LABEL CMD ARGS... [::: LABEL CMD ARGS...]...
 *
 * For each group, N times (groups interleaved round-robin, so noise spreads evenly):
 *   fork/exec CMD (an init running e.g. `sleep 1000`) in its own process group with
 *   stdout/stderr on /dev/null; wait until the workload exists: CMD itself or one of its
 *   children (from /proc/PID/task/PID/children) has comm COMM (default "sleep"), i.e. it
 *   has exec'd; then 2 ms to settle and CMD sleeping (state S) in its wait; then
 *     t0 = CLOCK_MONOTONIC; kill(PID, SIGTERM); waitpid(PID); t1
 *   and record t1 - t0. The init must forward TERM, the workload die of it, the init reap
 *   it and exit. An exit status other than 143 or death by SIGTERM counts as "bad".
 * The driver is a child subreaper, so anything left behind is re-parented to it, killed
 * and reaped after each sample.
 * Prints one line per group: LABEL median_us p90_us min_us n bad
 * -s (diagnosis, not used by run.sh): also watch the workload with a pidfd and print the
 * median time until it died ("workload-dead-after"), splitting signal forwarding from
 * reaping and exiting; the extra wake-up of the driver perturbs the total a little.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct group { const char *label; char **argv; double *us, *fwd; int n, nfwd, bad; };

/* -s: also time when the workload died (pidfd), to split forward vs reap+exit. */
static int split;

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int read_file(const char *path, char *buf, size_t cap) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t r = read(fd, buf, cap - 1);
    close(fd);
    if (r < 0) return -1;
    buf[r] = 0;
    return (int)r;
}

static int comm_is(pid_t pid, const char *comm) {
    char path[64], buf[64];
    snprintf(path, sizeof path, "/proc/%d/comm", pid);
    if (read_file(path, buf, sizeof buf) <= 0) return 0;
    buf[strcspn(buf, "\n")] = 0;
    return strcmp(buf, comm) == 0;
}

static char state_of(pid_t pid) {
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    if (read_file(path, buf, sizeof buf) <= 0) return '?';
    char *p = strrchr(buf, ')');
    return p && p[1] && p[2] ? p[2] : '?';
}

/* The pid running COMM: PID itself or one of its children; 0 if none yet. */
static pid_t workload(pid_t pid, const char *comm) {
    if (comm_is(pid, comm)) return pid;
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", pid, pid);
    if (read_file(path, buf, sizeof buf) <= 0) return 0;
    for (char *t = strtok(buf, " \n"); t; t = strtok(NULL, " \n")) {
        pid_t c = atoi(t);
        if (c > 0 && comm_is(c, comm)) return c;
    }
    return 0;
}

/* What is running now, so a TERM/INT/HUP to us (e.g. from timeout(1)) cleans up. */
static volatile pid_t cur_init, cur_work;

static void on_fatal(int sig) {
    (void)sig;
    if (cur_init > 0) { kill(-cur_init, SIGKILL); kill(cur_init, SIGKILL); }
    if (cur_work > 0) kill(cur_work, SIGKILL);
    _exit(1);
}

static void nap_us(long us) {
    struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };
    nanosleep(&ts, NULL);
}

static void reap_leftovers(pid_t w) {
    if (w > 0 && kill(w, 0) == 0) kill(w, SIGKILL);
    usleep(1000);
    while (waitpid(-1, NULL, WNOHANG) > 0) {}
}

/* One sample: microseconds, or -1 if the init never got going. */
static double sample(struct group *g, const char *comm) {
    pid_t pid = fork();
    if (pid < 0) { perror("sigterm: fork"); exit(1); }
    if (pid == 0) {
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0); /* if we are SIGKILLed, so is it */
        if (!getenv("BENCH_VERBOSE")) {
            int fd = open("/dev/null", O_WRONLY);
            dup2(fd, 1);
            dup2(fd, 2);
            if (fd > 2) close(fd);
        }
        execvp(g->argv[0], g->argv);
        _exit(127);
    }
    cur_init = pid;
    pid_t w = 0;
    double start = now_us();
    for (;;) {
        if (!w) cur_work = w = workload(pid, comm);
        if (w && state_of(pid) == 'S') {
            nap_us(2000);
            if (state_of(pid) == 'S') break;
        }
        if (now_us() - start > 5e6 || waitpid(pid, NULL, WNOHANG) == pid) {
            fprintf(stderr, "sigterm: %s: workload '%s' never appeared\n", g->label, comm);
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            reap_leftovers(w);
            cur_init = cur_work = 0;
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
    if (!((WIFEXITED(st) && WEXITSTATUS(st) == 143) || (WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM))) g->bad++;
    reap_leftovers(w == pid ? 0 : w);
    cur_init = cur_work = 0;
    return t1 - t0;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: sigterm N [-w COMM] [-s] ::: LABEL CMD... [::: LABEL CMD...]\n"); return 2; }
    int n = atoi(argv[1]);
    const char *comm = "sleep";
    int i = 2;
    for (;;) {
        if (strcmp(argv[i], "-w") == 0) { comm = argv[i + 1]; i += 2; }
        else if (strcmp(argv[i], "-s") == 0) { split = 1; i++; }
        else break;
    }
    struct group gs[32];
    int ng = 0;
    while (i < argc) {
        if (strcmp(argv[i], ":::") != 0 || i + 2 >= argc || ng == 32) { fprintf(stderr, "sigterm: bad arguments\n"); return 2; }
        argv[i] = NULL; /* terminates the previous group's argv */
        gs[ng].label = argv[i + 1];
        gs[ng].argv = argv + i + 2;
        gs[ng].us = calloc(n, sizeof(double));
        gs[ng].fwd = calloc(n, sizeof(double));
        gs[ng].n = gs[ng].nfwd = gs[ng].bad = 0;
        ng++;
        i += 2;
        while (i < argc && strcmp(argv[i], ":::") != 0) i++;
    }
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    signal(SIGTERM, on_fatal);
    signal(SIGINT, on_fatal);
    signal(SIGHUP, on_fatal);
    for (int r = 0; r < n; r++) {
        for (int k = 0; k < ng; k++) {
            struct group *g = &gs[(r + k) % ng];
            double us = sample(g, comm);
            if (us >= 0) g->us[g->n++] = us;
        }
    }
    for (int k = 0; k < ng; k++) {
        struct group *g = &gs[k];
        if (g->n == 0) { printf("%s n/a n/a n/a 0 %d\n", g->label, g->bad); continue; }
        qsort(g->us, g->n, sizeof(double), cmp);
        double med = g->n % 2 ? g->us[g->n / 2] : (g->us[g->n / 2 - 1] + g->us[g->n / 2]) / 2;
        printf("%s %.1f %.1f %.1f %d %d", g->label, med, g->us[(int)(0.9 * (g->n - 1))], g->us[0], g->n, g->bad);
        if (g->nfwd) {
            qsort(g->fwd, g->nfwd, sizeof(double), cmp);
            printf(" workload-dead-after %.1f", g->fwd[g->nfwd / 2]);
        }
        printf("\n");
    }
    return 0;
}
