/*
 * common.h: what the bench helpers share (sigterm.c, sup_rate.c, sup_stop.c, reap.c,
 * reap_helper.c, ctl_bench.c): the clock and naps, /proc reads, starting the process under
 * test and killing the whole tree under the driver afterwards, the "::: LABEL ... CMD
 * ARGS..." groups of the drivers' command lines, and statistics of sorted samples.
 *
 * Included as "common.h", which every compiler run.sh may use (gcc, gcc -static,
 * musl-gcc -static) finds next to the including source; run.sh compiles only *.c. All
 * functions are static inline, so a helper compiles and links only what it uses.
 * ctl_once.c (the floor of the `tend status` row, no stdio) stays on its own.
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- time */

static inline double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static inline double now_ms(void) { return now_us() / 1e3; }

static inline void nap_us(double us) {
    long long ns = (long long)(us * 1e3);
    struct timespec ts = { (time_t)(ns / 1000000000LL), (long)(ns % 1000000000LL) };
    nanosleep(&ts, NULL);
}

/* ---- /proc */

/* PATH into BUF (at most CAP - 1 bytes, NUL-terminated); its length, or -1. */
static inline int read_file(const char *path, char *buf, size_t cap) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    size_t off = 0;
    ssize_t r;
    while (off < cap - 1 && (r = read(fd, buf + off, cap - 1 - off)) > 0) off += (size_t)r;
    close(fd);
    buf[off] = 0;
    return (int)off;
}

static inline int comm_is(pid_t pid, const char *comm) {
    char path[64], buf[64];
    snprintf(path, sizeof path, "/proc/%d/comm", pid);
    if (read_file(path, buf, sizeof buf) <= 0) return 0;
    buf[strcspn(buf, "\n")] = 0;
    return strcmp(buf, comm) == 0;
}

/* The state letter of /proc/PID/stat (R, S, T, Z, ...), or '?'. */
static inline char state_of(pid_t pid) {
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    if (read_file(path, buf, sizeof buf) <= 0) return '?';
    char *p = strrchr(buf, ')');
    return p && p[1] && p[2] ? p[2] : '?';
}

/* ---- the process tree under the driver */

/* Room for the reap rows' 10,000 orphans with room to spare. */
#define MAXP 16384

/* Appends PID's children (of every thread; zombies included) to out[*n]. */
static inline void children_of(pid_t pid, pid_t *out, int *n) {
    static char buf[1 << 20];
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", pid);
    DIR *d = opendir(path);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char cpath[300];
        snprintf(cpath, sizeof cpath, "/proc/%d/task/%s/children", pid, e->d_name);
        int len = read_file(cpath, buf, sizeof buf);
        if (len <= 0) continue;
        if ((size_t)len == sizeof buf - 1) { /* cut short: drop the last, maybe partial, pid */
            char *sp = strrchr(buf, ' ');
            if (!sp) continue;
            *sp = 0;
        }
        for (char *s = buf, *t; (t = strtok_r(s, " \n", &s));) {
            pid_t c = atoi(t);
            if (c > 0 && *n < MAXP) out[(*n)++] = c;
        }
    }
    closedir(d);
}

/* The whole tree under ROOT (not ROOT itself), parents before children. */
static inline int proc_tree(pid_t root, pid_t *out) {
    int n = 0;
    children_of(root, out, &n);
    for (int i = 0; i < n; i++) children_of(out[i], out, &n);
    return n;
}

/* SIGKILL PID and its process group. */
static inline void kill_group(pid_t pid) {
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
}

/* Kill everything below the driver (a child subreaper, so nothing has escaped), top-down,
 * until nothing is left; reap it all. */
static inline void teardown(void) {
    static pid_t all[MAXP];
    for (int round = 0; round < 200; round++) {
        int n = proc_tree(getpid(), all);
        if (n == 0) break;
        for (int i = 0; i < n; i++) kill(all[i], SIGKILL);
        nap_us(2000);
        while (waitpid(-1, NULL, WNOHANG) > 0) {}
    }
    while (waitpid(-1, NULL, WNOHANG) > 0) {}
}

/* The process under test (and its process group), and with it one more pid (sigterm: the
 * init's workload, which may be in a group of its own): a TERM/INT/HUP to the driver
 * (e.g. from timeout(1)) SIGKILLs them before the driver exits. 0: none. */
static volatile pid_t cur, cur_also;

static void on_fatal(int sig) {
    (void)sig;
    if (cur > 0) kill_group(cur);
    if (cur_also > 0) kill(cur_also, SIGKILL);
    _exit(1);
}

/* Become a child subreaper (orphans below us come to us) and clean up on TERM/INT/HUP. */
static inline void driver_init(const char *name) {
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) {
        fprintf(stderr, "%s: ", name);
        perror("PR_SET_CHILD_SUBREAPER");
    }
    signal(SIGTERM, on_fatal);
    signal(SIGINT, on_fatal);
    signal(SIGHUP, on_fatal);
}

/* Where spawn() puts a child's stdin or stdout+stderr. */
#define KEEP (-1)      /* ours */
#define DEV_NULL (-2)  /* /dev/null */

/* fork/exec ARGV (PATH searched) in a process group of its own, SIGKILLed if the driver
 * dies; IN on its stdin and OUT on its stdout and stderr (a file descriptor, KEEP or
 * DEV_NULL). Returns its pid. */
static inline pid_t spawn(const char *name, char **argv, int in, int out) {
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "%s: ", name);
        perror("fork");
        exit(1);
    }
    if (pid == 0) {
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
        int null = in == DEV_NULL || out == DEV_NULL ? open("/dev/null", O_RDWR | O_CLOEXEC) : -1;
        if (in != KEEP) dup2(in == DEV_NULL ? null : in, 0);
        if (out != KEEP) {
            dup2(out == DEV_NULL ? null : out, 1);
            dup2(out == DEV_NULL ? null : out, 2);
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    return pid;
}

/* ---- command lines: ... ::: LABEL ... CMD ARGS... [::: ...]... */

/* argv[i] is the ":::" that opens a group: returns the index of the next ":::" (or argc)
 * and puts a NULL there, which ends the group's CMD ARGS as an argv of their own. */
static inline int group_end(int argc, char **argv, int i) {
    int j = i + 1;
    while (j < argc && strcmp(argv[j], ":::") != 0) j++;
    argv[j] = NULL;
    return j;
}

/* ---- statistics */

static inline int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static inline void sort_doubles(double *v, size_t n) { qsort(v, n, sizeof *v, cmp_double); }

/* v sorted, n > 0 */
static inline double median_of(const double *v, size_t n) {
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* v sorted, n > 0: the sample at 90% of the way from the lowest to the highest */
static inline double p90_of(const double *v, size_t n) { return v[(size_t)(0.9 * (double)(n - 1))]; }

#endif
