/*
 * sup_rate WINDOW_MS WARMUP_MS ROUNDS DIR ::: LABEL PATTERN CMD ARGS... [::: ...]...
 *
 * Crash-loop restart rate. For each group, ROUNDS times (groups interleaved round-robin,
 * the order rotated every round):
 *   PATTERN "-" (the floor): a bare loop of fork(); execv(CMD); waitpid() in this process,
 *     run for WARMUP_MS, then counted over WINDOW_MS: rate = loops / elapsed.
 *   otherwise: fork/exec CMD (a supervisor restarting a crashing service) in its own
 *     process group with stdin on /dev/null and stdout+stderr appended to DIR/LABEL.out;
 *     wait for the first PATTERN in that file (10 s at most), then WARMUP_MS; then
 *     for WINDOW_MS, read what the file gained every POLL ms (SUP_POLL_MS, default 10)
 *     and count new occurrences of PATTERN (one per start: tend's "started (pid",
 *     supervisord's "spawned: ", a line the service's run script echoes for s6/runit).
 *     rate = occurrences after the first poll that saw any, up to the last poll that saw
 *     any, divided by the time between those two polls (exact for fast loops, and not
 *     quantised to whole starts for supervisors that restart once a second).
 *     Then the supervisor's whole tree is SIGKILLed top-down (the driver is a child
 *     subreaper, so nothing escapes) and reaped, and the file removed.
 * Prints one line per group: LABEL median_per_s min_per_s max_per_s n
 * (n/a and n=0 when no round saw two polls with starts).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

struct group {
    const char *label, *pattern;
    char **argv;
    double *rate;
    int n;
};

/* A stream matcher: counts PATTERN across reads (keeps the last len-1 bytes). */
struct matcher { const char *pat; size_t len; char carry[256]; size_t nc; };

static long feed(struct matcher *m, const char *buf, size_t n) {
    static char tmp[(1 << 16) + 256];
    long hits = 0;
    while (n > 0) {
        size_t take = n > (1 << 16) ? (1 << 16) : n;
        memcpy(tmp, m->carry, m->nc);
        memcpy(tmp + m->nc, buf, take);
        size_t tot = m->nc + take;
        for (char *p = tmp; (p = memmem(p, (size_t)(tmp + tot - p), m->pat, m->len)); p += m->len) hits++;
        m->nc = tot >= m->len - 1 ? m->len - 1 : tot;
        memmove(m->carry, tmp + tot - m->nc, m->nc);
        buf += take;
        n -= take;
    }
    return hits;
}

static long drain(int fd, struct matcher *m) {
    static char buf[1 << 16];
    long hits = 0;
    ssize_t r;
    while ((r = read(fd, buf, sizeof buf)) > 0) hits += feed(m, buf, (size_t)r);
    return hits;
}

static double floor_rate(char **argv, double warm_ms, double win_ms) {
    double t = now_us(), ts = 0;
    long n = 0;
    int counting = 0;
    for (;;) {
        pid_t p = fork();
        if (p < 0) { perror("sup_rate: fork"); exit(1); }
        if (p == 0) { execv(argv[0], argv); _exit(127); }
        int st;
        while (waitpid(p, &st, 0) < 0 && errno == EINTR) {}
        double now = now_us();
        if (!counting) {
            if (now - t >= warm_ms * 1e3) { counting = 1; ts = now; n = 0; }
        } else {
            n++;
            if (now - ts >= win_ms * 1e3) return n / ((now - ts) / 1e6);
        }
    }
}

static double sup_rate(struct group *g, const char *dir, double warm_ms, double win_ms, double poll_ms) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.out", dir, g->label);
    int wfd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
    int rfd = open(path, O_RDONLY | O_CLOEXEC);
    if (wfd < 0 || rfd < 0) { perror(path); exit(1); }
    pid_t pid = cur = spawn("sup_rate", g->argv, DEV_NULL, wfd);
    close(wfd);
    struct matcher m = { g->pattern, strlen(g->pattern), { 0 }, 0 };
    double rate = -1, t = now_us();
    while (drain(rfd, &m) == 0) {
        if (now_us() - t > 10e6 || waitpid(pid, NULL, WNOHANG) == pid) {
            fprintf(stderr, "sup_rate: %s: no '%s' in its output; see %s\n", g->label, g->pattern, path);
            goto out;
        }
        nap_us(poll_ms * 1e3);
    }
    nap_us(warm_ms * 1e3);
    drain(rfd, &m);
    double ts = now_us(), first = -1, last = -1;
    long after = 0;
    for (;;) {
        nap_us(poll_ms * 1e3);
        long h = drain(rfd, &m);
        double now = now_us();
        if (h > 0) {
            if (first < 0) first = now;
            else { after += h; last = now; }
        }
        if (now - ts >= win_ms * 1e3) break;
    }
    if (last > first) rate = after / ((last - first) / 1e6); /* last is set only after first */
    else fprintf(stderr, "sup_rate: %s: fewer than two polls with starts in %.0f ms\n", g->label, win_ms);
out:
    kill_group(pid);
    teardown();
    cur = 0;
    close(rfd);
    if (!getenv("SUP_KEEP")) unlink(path);
    return rate;
}

int main(int argc, char **argv) {
    if (argc < 8 || strcmp(argv[5], ":::") != 0) {
        fprintf(stderr, "usage: sup_rate WINDOW_MS WARMUP_MS ROUNDS DIR ::: LABEL PATTERN CMD ARGS... [::: ...]\n");
        return 2;
    }
    double win = atof(argv[1]), warm = atof(argv[2]);
    int rounds = atoi(argv[3]);
    const char *dir = argv[4];
    double poll = getenv("SUP_POLL_MS") ? atof(getenv("SUP_POLL_MS")) : 10;
    struct group gs[16];
    int ng = 0;
    for (int i = 5; i < argc;) {
        int j = group_end(argc, argv, i);
        if (j - i < 4 || ng == 16) { fprintf(stderr, "sup_rate: a group needs LABEL PATTERN CMD (16 groups at most)\n"); return 2; }
        struct group *g = &gs[ng++];
        g->label = argv[i + 1];
        g->pattern = argv[i + 2];
        if (strlen(g->pattern) == 0 || strlen(g->pattern) > 200) { fprintf(stderr, "sup_rate: bad pattern\n"); return 2; }
        g->argv = &argv[i + 3];
        g->rate = calloc((size_t)rounds, sizeof(double));
        g->n = 0;
        i = j;
    }
    driver_init("sup_rate");
    for (int r = 0; r < rounds; r++)
        for (int k = 0; k < ng; k++) {
            struct group *g = &gs[(k + r) % ng];
            double v = strcmp(g->pattern, "-") == 0 ? floor_rate(g->argv, warm, win)
                                                    : sup_rate(g, dir, warm, win, poll);
            if (v >= 0) g->rate[g->n++] = v;
        }
    for (int k = 0; k < ng; k++) {
        struct group *g = &gs[k];
        if (g->n == 0) { printf("%s n/a n/a n/a 0\n", g->label); continue; }
        sort_doubles(g->rate, (size_t)g->n);
        printf("%s %.3f %.3f %.3f %d\n", g->label, median_of(g->rate, (size_t)g->n), g->rate[0], g->rate[g->n - 1], g->n);
    }
    return 0;
}
