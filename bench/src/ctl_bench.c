/*
 * ctl_bench: the control-plane rows (bench/rows/90-ctl-ping-rtt.sh, 91-ctl-pipeline.sh).
 * bench: static
 *
 * ctl_bench rtt SOCK SERVICE ITERS WARMUP ROUNDS IDLE [STOPPED]
 *   Round-trip latency, four groups (five with STOPPED), each ROUNDS times (the order
 *   rotated every round so that a burst of noise on the shared machine hits all of
 *   them), ITERS timed round trips per round after WARMUP untimed ones, all samples
 *   pooled per group:
 *     floor    64-byte ping-pong over a socketpair(AF_UNIX, SOCK_STREAM) with a forked
 *              echo process (blocking read of 64 bytes, write of 64 bytes).
 *     cframe   the same STATUS exchange as tend's, against a forked minimal C frame
 *              server on a socketpair (epoll_wait, non-blocking read to EAGAIN, decode
 *              frames, a canned STATUS_REPLY of tend's size with the id patched, write):
 *              what an event-loop frame server costs over the bare ping-pong.
 *     tend1    tend: one connection to SOCK (hello, welcome), then per round trip
 *              t0 = CLOCK_MONOTONIC, write one STATUS frame for SERVICE, read the 4-byte
 *              length, read the rest of the reply frame (type STATUS_REPLY, same id), t1.
 *     tendN    the same with IDLE more connections open, each of which did its hello and
 *              read its welcome first (opened before the round, closed after it).
 *     stopped  (with STOPPED) as tend1, asking about service STOPPED, which is not running:
 *              tend then has no process to read /proc/PID/stat of (a diagnosis group).
 *   Prints per group: LABEL p50_us p90_us p99_us max_us n
 *
 * ctl_bench pipe SOCK SERVICE N ROUNDS [STOPPED]
 *   Pipelined throughput on one connection: a writer thread sends N STATUS frames (ids 1..N,
 *   512 frames per write(2)) while the main thread reads and decodes the replies, checking
 *   each is a STATUS_REPLY with the next id. rate = N / (time of the last reply - time of
 *   the first write). Groups: tend (SOCK), cframe (the C frame server above) and, with
 *   STOPPED, "stopped" (tend, asking about that service), ROUNDS times each, interleaved.
 *   Prints per group: LABEL median_per_s min max n
 *
 * ctl_bench job SOCK CMD ITERS WARMUP ROUNDS
 *   One-shot job round trips (bench/rows/99-jobs.sh), three groups, each ROUNDS times
 *   (order rotated every round), ITERS timed after WARMUP untimed, samples pooled:
 *     spawn-wait   on one greeted connection: t0, write SPAWN {command: [CMD]}, read
 *                  its JOB (the job's number), write WAIT for it, read the JOB that
 *                  says it has ended (status 0 expected), t1.
 *     spawn-attach the same with one SPAWN {attach: true}: t0, write it, read its JOB,
 *                  then frames (LOG_DATA if CMD writes) up to the JOB that ends the
 *                  stream, t1.
 *     fork-exec    the floor, in this process: t0, fork(); execv(CMD); waitpid(), t1.
 *   Prints per group: LABEL p50_us p90_us p99_us max_us n
 *
 * Exits 1 (with a message) if tend answers anything but the expected reply.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define MAXFRAME (1 << 20)

static void die(const char *m) {
    fprintf(stderr, "ctl_bench: %s\n", m);
    exit(1);
}

static void write_all(int fd, const void *buf, size_t n) {
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) { perror("ctl_bench: write"); exit(1); }
        p += w;
        n -= (size_t)w;
    }
}

/* 0 when n bytes were read, -1 on EOF or error. */
static int read_full(int fd, void *buf, size_t n) {
    char *p = buf;
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* ---- msgpack, just what the frames here need ---------------------------------------- */

struct mp { uint8_t *p; };
static void mp_raw(struct mp *m, const void *s, size_t n) { memcpy(m->p, s, n); m->p += n; }
static void mp_byte(struct mp *m, uint8_t b) { *m->p++ = b; }
static void mp_map(struct mp *m, unsigned n) {
    if (n < 16) mp_byte(m, 0x80 | n);
    else { mp_byte(m, 0xde); mp_byte(m, n >> 8); mp_byte(m, n & 0xff); }
}
static void mp_str(struct mp *m, const char *s) {
    size_t n = strlen(s);
    if (n < 32) mp_byte(m, 0xa0 | n);
    else { mp_byte(m, 0xd9); mp_byte(m, n); }
    mp_raw(m, s, n);
}
static void mp_u32(struct mp *m, uint32_t v) { /* always 0xce: fixed size, patchable */
    mp_byte(m, 0xce);
    mp_byte(m, v >> 24); mp_byte(m, v >> 16); mp_byte(m, v >> 8); mp_byte(m, v);
}
static void mp_uint(struct mp *m, uint64_t v) { /* compact, as rmp does */
    if (v < 128) mp_byte(m, v);
    else if (v < 256) { mp_byte(m, 0xcc); mp_byte(m, v); }
    else if (v < 65536) { mp_byte(m, 0xcd); mp_byte(m, v >> 8); mp_byte(m, v); }
    else mp_u32(m, (uint32_t)v);
}

/* Reads a msgpack unsigned integer at *p; -1 if it is not one. */
static int64_t mp_read_uint(const uint8_t *p, const uint8_t *end) {
    if (p >= end) return -1;
    if (*p < 0x80) return *p;
    int n = *p == 0xcc ? 1 : *p == 0xcd ? 2 : *p == 0xce ? 4 : *p == 0xcf ? 8 : 0;
    if (n == 0 || p + 1 + n > end) return -1;
    uint64_t v = 0;
    for (int i = 1; i <= n; i++) v = v << 8 | p[i];
    return (int64_t)v;
}

/* The id of a reply body {"id": N, ...} (tend writes id first), or -1. */
static int64_t body_id(const uint8_t *b, size_t n) {
    if (n < 5 || (b[0] & 0xf0) != 0x80 || memcmp(b + 1, "\xa2id", 3) != 0) return -1;
    return mp_read_uint(b + 4, b + n);
}

/* Frame header: u32 BE length of type + body, type byte. Returns the frame size. */
#define frame_begin(out) ((void)(out), (size_t)5)
static size_t frame_end(uint8_t *out, uint8_t kind, size_t total) {
    uint32_t len = (uint32_t)(total - 4);
    out[0] = len >> 24; out[1] = len >> 16; out[2] = len >> 8; out[3] = len; out[4] = kind;
    return total;
}

#define HELLO 0x01
#define WELCOME 0x02
#define ERROR 0x03
#define STATUS 0x11
#define STATUS_REPLY 0x21

static size_t enc_hello(uint8_t *out) {
    struct mp m = { out + frame_begin(out) };
    mp_map(&m, 3);
    mp_str(&m, "api"); mp_uint(&m, 2);
    mp_str(&m, "client"); mp_str(&m, "tend-bench");
    mp_str(&m, "capabilities"); mp_byte(&m, 0x91); mp_str(&m, "status");
    return frame_end(out, HELLO, (size_t)(m.p - out));
}

/* {"id": id (u32), "service": svc}; the id sits at byte 10..13 of the frame. */
#define STATUS_ID_OFF 10
static size_t enc_status(uint8_t *out, uint32_t id, const char *svc) {
    struct mp m = { out + frame_begin(out) };
    mp_map(&m, 2);
    mp_str(&m, "id"); mp_u32(&m, id);
    mp_str(&m, "service"); mp_str(&m, svc);
    return frame_end(out, STATUS, (size_t)(m.p - out));
}
static void patch_id(uint8_t *frame, uint32_t id) {
    uint8_t *p = frame + STATUS_ID_OFF;
    p[0] = id >> 24; p[1] = id >> 16; p[2] = id >> 8; p[3] = id;
}

/* Read one frame: type in *kind, body into buf (cap bytes), returns the body length. */
static long read_frame(int fd, uint8_t *kind, uint8_t *buf, size_t cap) {
    uint8_t h[4];
    if (read_full(fd, h, 4) < 0) return -1;
    uint32_t len = (uint32_t)h[0] << 24 | h[1] << 16 | h[2] << 8 | h[3];
    if (len < 1 || len - 1 > cap) die("reply frame too large");
    /* the type byte and body in one read when they are all there, as a client would */
    static uint8_t tmp[MAXFRAME + 1];
    if (read_full(fd, tmp, len) < 0) return -1;
    *kind = tmp[0];
    memcpy(buf, tmp + 1, len - 1);
    return (long)len - 1;
}

static int uds_connect(const char *path) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) { perror("ctl_bench: socket"); exit(1); }
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof a.sun_path) die("socket path too long");
    strcpy(a.sun_path, path);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        fprintf(stderr, "ctl_bench: connect %s: %s\n", path, strerror(errno));
        exit(1);
    }
    return fd;
}

static uint8_t rbuf[MAXFRAME];

static void greet(int fd) {
    uint8_t f[128], k;
    write_all(fd, f, enc_hello(f));
    long n = read_frame(fd, &k, rbuf, sizeof rbuf);
    if (n < 0) die("connection closed before the welcome");
    if (k != WELCOME) {
        fprintf(stderr, "ctl_bench: expected a welcome, got type 0x%02x: %.*s\n", k, (int)n, rbuf);
        exit(1);
    }
}

/* ---- the C frame server (a forked child on one end of a socketpair) ----------------- */

static size_t canned_reply(uint8_t *out) {
    /* tend's STATUS_REPLY for a running `sleep infinity`, field for field */
    struct mp m = { out + frame_begin(out) };
    mp_map(&m, 2);
    mp_str(&m, "id"); mp_u32(&m, 0);
    mp_str(&m, "service"); mp_map(&m, 18);
    mp_str(&m, "name"); mp_str(&m, "s05");
    mp_str(&m, "state"); mp_str(&m, "running");
    mp_str(&m, "pid"); mp_uint(&m, 12345);
    mp_str(&m, "uptime_ms"); mp_uint(&m, 1234);
    mp_str(&m, "started"); mp_str(&m, "2026-11-22T17:05:21.291433Z");
    mp_str(&m, "restarts"); mp_uint(&m, 0);
    mp_str(&m, "last_exit"); mp_byte(&m, 0xc0);
    mp_str(&m, "rss"); mp_uint(&m, 1560576);
    mp_str(&m, "cpu_ms"); mp_uint(&m, 0);
    mp_str(&m, "ready"); mp_byte(&m, 0xc3);
    mp_str(&m, "healthy"); mp_byte(&m, 0xc0);
    mp_str(&m, "paused"); mp_byte(&m, 0xc2);
    mp_str(&m, "autostart"); mp_byte(&m, 0xc3);
    mp_str(&m, "reason"); mp_str(&m, "started (pid 12345)");
    mp_str(&m, "command"); mp_byte(&m, 0x92); mp_str(&m, "sleep"); mp_str(&m, "infinity");
    mp_str(&m, "stdout_bytes"); mp_uint(&m, 0);
    mp_str(&m, "stderr_bytes"); mp_uint(&m, 0);
    mp_str(&m, "dropped_bytes"); mp_uint(&m, 0);
    return frame_end(out, STATUS_REPLY, (size_t)(m.p - out));
}

static size_t canned_welcome(uint8_t *out) {
    struct mp m = { out + frame_begin(out) };
    mp_map(&m, 5);
    mp_str(&m, "api"); mp_uint(&m, 2);
    mp_str(&m, "version"); mp_str(&m, "0.0.0");
    mp_str(&m, "pid"); mp_uint(&m, (uint64_t)getpid());
    mp_str(&m, "capabilities"); mp_byte(&m, 0x91); mp_str(&m, "status");
    mp_str(&m, "max_frame"); mp_uint(&m, 1 << 20);
    return frame_end(out, WELCOME, (size_t)(m.p - out));
}

/* Serve frames on fd until EOF, as an edge-triggered event loop does: epoll_wait only
 * when there is nothing to do; reads (non-blocking, to EAGAIN) stop while more than
 * 512 KiB of replies are queued; replies are written after each read. */
#define CF_HIGH (1 << 19)
static void cframe_serve(int fd) {
    static uint8_t in[1 << 17], out[1 << 21];
    uint8_t rep[512], wel[256];
    size_t nrep = canned_reply(rep), nwel = canned_welcome(wel);
    size_t nin = 0, oh = 0, ot = 0;
    int rd = 1, wr = 1; /* the socket may be readable / writable (edge-triggered state) */
    fcntl(fd, F_SETFL, O_NONBLOCK);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.fd = fd };
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    for (;;) {
        int can_read = rd && ot - oh <= CF_HIGH, can_write = wr && oh < ot;
        if (!can_read && !can_write) {
            struct epoll_event evs[4];
            int n = epoll_wait(ep, evs, 4, -1);
            if (n < 0 && errno != EINTR) _exit(1);
            for (int i = 0; i < n; i++) {
                if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) rd = 1;
                if (evs[i].events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) wr = 1;
            }
            continue;
        }
        if (can_read) {
            if (oh > 0) { /* compact the queue so that ot + a frame always fits */
                memmove(out, out + oh, ot - oh);
                ot -= oh;
                oh = 0;
            }
            while (ot <= CF_HIGH && nin < sizeof in) {
                ssize_t r = read(fd, in + nin, sizeof in - nin);
                if (r == 0) _exit(0);
                if (r < 0) {
                    if (errno == EINTR) continue;
                    if (errno == EAGAIN) { rd = 0; break; }
                    _exit(1);
                }
                nin += (size_t)r;
                size_t pos = 0;
                while (nin - pos >= 5 && ot + 512 <= sizeof out) {
                    uint8_t *f = in + pos;
                    uint32_t len = (uint32_t)f[0] << 24 | f[1] << 16 | f[2] << 8 | f[3];
                    if (len < 1 || len > sizeof in - 4) _exit(1);
                    if (nin - pos < 4 + (size_t)len) break;
                    if (f[4] == HELLO) {
                        memcpy(out + ot, wel, nwel);
                        ot += nwel;
                    } else {
                        memcpy(out + ot, rep, nrep);
                        patch_id(out + ot, (uint32_t)body_id(f + 5, len - 1)); /* same layout */
                        ot += nrep;
                    }
                    pos += 4 + len;
                }
                memmove(in, in + pos, nin - pos);
                nin -= pos;
            }
        }
        while (wr && oh < ot) {
            ssize_t w = write(fd, out + oh, ot - oh);
            if (w < 0 && errno == EINTR) continue;
            if (w < 0 && errno == EAGAIN) { wr = 0; break; }
            if (w <= 0) _exit(1);
            oh += (size_t)w;
        }
        if (oh == ot) oh = ot = 0;
    }
}

/* Fork a child running fn(fd) on one end of a socketpair; returns the other end. */
static int spawn_peer(void (*fn)(int), pid_t *pid) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) { perror("socketpair"); exit(1); }
    *pid = fork();
    if (*pid < 0) { perror("fork"); exit(1); }
    if (*pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        close(sv[0]);
        fn(sv[1]);
        _exit(0);
    }
    close(sv[1]);
    return sv[0];
}

static void end_peer(int fd, pid_t pid) {
    close(fd);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
}

static void echo_serve(int fd) {
    char b[64];
    while (read_full(fd, b, 64) == 0) write_all(fd, b, 64);
}

/* ---- samples ---------------------------------------------------------------------------- */

struct samples { const char *label; double *v; size_t n, cap; };

static void add(struct samples *s, double x) {
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 65536;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
        if (!s->v) die("out of memory");
    }
    s->v[s->n++] = x;
}

/* nearest rank */
static double pct(const struct samples *s, double q) {
    size_t k = (size_t)(q * (double)s->n + 0.999999);
    if (k < 1) k = 1;
    if (k > s->n) k = s->n;
    return s->v[k - 1];
}

/* ---- rtt --------------------------------------------------------------------------------- */

static void rtt_floor(struct samples *s, int iters, int warm) {
    pid_t pid;
    int fd = spawn_peer(echo_serve, &pid);
    char b[64];
    memset(b, 'x', sizeof b);
    for (int i = 0; i < warm + iters; i++) {
        double t0 = now_us();
        write_all(fd, b, 64);
        if (read_full(fd, b, 64) < 0) die("echo peer closed");
        double t1 = now_us();
        if (i >= warm) add(s, t1 - t0);
    }
    end_peer(fd, pid);
}

/* STATUS round trips on a greeted connection fd. */
static void rtt_status(int fd, const char *svc, struct samples *s, int iters, int warm) {
    static uint32_t next_id = 1;
    uint8_t f[256], k;
    size_t n = enc_status(f, 0, svc);
    for (int i = 0; i < warm + iters; i++) {
        uint32_t id = next_id++;
        patch_id(f, id);
        double t0 = now_us();
        write_all(fd, f, n);
        long len = read_frame(fd, &k, rbuf, sizeof rbuf);
        double t1 = now_us();
        if (len < 0) die("the server closed the connection");
        if (k != STATUS_REPLY || body_id(rbuf, (size_t)len) != id) {
            fprintf(stderr, "ctl_bench: expected STATUS_REPLY id %u, got type 0x%02x: %.*s\n", id, k,
                    (int)(len > 200 ? 200 : len), rbuf);
            exit(1);
        }
        if (i >= warm) add(s, t1 - t0);
    }
}

static void rtt_cframe(const char *svc, struct samples *s, int iters, int warm) {
    pid_t pid;
    int fd = spawn_peer(cframe_serve, &pid);
    greet(fd);
    rtt_status(fd, svc, s, iters, warm);
    end_peer(fd, pid);
}

static void rtt_tend(const char *sock, const char *svc, struct samples *s, int iters, int warm, int idle) {
    int *fds = calloc((size_t)idle + 1, sizeof(int));
    for (int i = 0; i < idle; i++) {
        fds[i] = uds_connect(sock);
        greet(fds[i]);
    }
    int fd = uds_connect(sock);
    greet(fd);
    rtt_status(fd, svc, s, iters, warm);
    close(fd);
    for (int i = 0; i < idle; i++) close(fds[i]);
    free(fds);
    if (idle > 0) usleep(200000); /* let tend process the closes before the next group */
}

static int cmd_rtt(int argc, char **argv) {
    if (argc != 8 && argc != 9) die("usage: ctl_bench rtt SOCK SERVICE ITERS WARMUP ROUNDS IDLE [STOPPED]");
    const char *sock = argv[2], *svc = argv[3], *stopped = argc == 9 ? argv[8] : NULL;
    int iters = atoi(argv[4]), warm = atoi(argv[5]), rounds = atoi(argv[6]), idle = atoi(argv[7]);
    char lbl[32];
    snprintf(lbl, sizeof lbl, "tend%d", idle + 1);
    struct samples g[5] = { { .label = "floor" }, { .label = "cframe" }, { .label = "tend1" }, { .label = lbl },
                            { .label = "stopped" } };
    int ng = stopped ? 5 : 4;
    for (int r = 0; r < rounds; r++)
        for (int j = 0; j < ng; j++) {
            int k = (j + r) % ng;
            switch (k) {
            case 0: rtt_floor(&g[0], iters, warm); break;
            case 1: rtt_cframe(svc, &g[1], iters, warm); break;
            case 2: rtt_tend(sock, svc, &g[2], iters, warm, 0); break;
            case 3: rtt_tend(sock, svc, &g[3], iters, warm, idle); break;
            case 4: rtt_tend(sock, stopped, &g[4], iters, warm, 0); break;
            }
        }
    for (int k = 0; k < ng; k++) {
        struct samples *s = &g[k];
        sort_doubles(s->v, s->n);
        printf("%s %.2f %.2f %.2f %.2f %zu\n", s->label, pct(s, 0.5), pct(s, 0.9), pct(s, 0.99), s->v[s->n - 1], s->n);
    }
    return 0;
}

/* ---- pipe -------------------------------------------------------------------------------- */

struct writer { int fd; long n; const char *svc; double t0; };

#define BATCH 512

static void *writer_main(void *arg) {
    struct writer *w = arg;
    uint8_t one[256];
    size_t fl = enc_status(one, 0, w->svc);
    uint8_t *buf = malloc(fl * BATCH);
    for (int i = 0; i < BATCH; i++) memcpy(buf + i * fl, one, fl);
    w->t0 = now_us();
    for (long id = 1; id <= w->n;) {
        int k = 0;
        for (; k < BATCH && id <= w->n; k++, id++) patch_id(buf + (size_t)k * fl, (uint32_t)id);
        write_all(w->fd, buf, (size_t)k * fl);
    }
    free(buf);
    return NULL;
}

/* Send n pipelined STATUS frames on greeted fd, read all replies; returns replies/s. */
static double pipe_run(int fd, const char *svc, long n) {
    struct writer w = { fd, n, svc, 0 };
    pthread_t th;
    if (pthread_create(&th, NULL, writer_main, &w) != 0) die("pthread_create");
    static uint8_t in[1 << 18];
    size_t have = 0;
    long got = 0;
    while (got < n) {
        ssize_t r = read(fd, in + have, sizeof in - have);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) die("the server closed the connection while pipelining");
        have += (size_t)r;
        size_t pos = 0;
        while (have - pos >= 5) {
            uint8_t *f = in + pos;
            uint32_t len = (uint32_t)f[0] << 24 | f[1] << 16 | f[2] << 8 | f[3];
            if (len < 1 || len > sizeof in - 4) die("bad frame length in a reply");
            if (have - pos < 4 + (size_t)len) break;
            got++;
            if (f[4] != STATUS_REPLY || body_id(f + 5, len - 1) != got) {
                fprintf(stderr, "ctl_bench: pipelined reply %ld: type 0x%02x id %lld: %.*s\n", got, f[4],
                        (long long)body_id(f + 5, len - 1), (int)(len > 200 ? 200 : len - 1), f + 5);
                exit(1);
            }
            pos += 4 + len;
        }
        memmove(in, in + pos, have - pos);
        have -= pos;
    }
    double t1 = now_us();
    pthread_join(th, NULL);
    return n / ((t1 - w.t0) / 1e6);
}

static int cmd_pipe(int argc, char **argv) {
    if (argc != 6 && argc != 7) die("usage: ctl_bench pipe SOCK SERVICE N ROUNDS [STOPPED]");
    const char *sock = argv[2], *svc = argv[3], *stopped = argc == 7 ? argv[6] : NULL;
    long n = atol(argv[4]);
    int rounds = atoi(argv[5]);
    struct samples g[3] = { { .label = "tend" }, { .label = "cframe" }, { .label = "stopped" } };
    int ng = stopped ? 3 : 2;
    for (int r = 0; r < rounds; r++)
        for (int j = 0; j < ng; j++) {
            int k = (j + r) % ng;
            if (k == 0 || k == 2) {
                int fd = uds_connect(sock);
                greet(fd);
                add(&g[k], pipe_run(fd, k == 0 ? svc : stopped, n));
                close(fd);
            } else {
                pid_t pid;
                int fd = spawn_peer(cframe_serve, &pid);
                greet(fd);
                add(&g[1], pipe_run(fd, svc, n));
                end_peer(fd, pid);
            }
        }
    for (int k = 0; k < ng; k++) {
        struct samples *s = &g[k];
        sort_doubles(s->v, s->n);
        printf("%s %.0f %.0f %.0f %zu\n", s->label, median_of(s->v, s->n), s->v[0], s->v[s->n - 1], s->n);
    }
    return 0;
}

/* ---- job --------------------------------------------------------------------------------- */

#define SPAWN 0x30
#define WAIT 0x32
#define JOB 0x2a

/* SPAWN {"id": id, "spec": {"command": [cmd]}[, "attach": true]} */
static size_t enc_spawn(uint8_t *out, uint32_t id, const char *cmd, int attach) {
    struct mp m = { out + frame_begin(out) };
    mp_map(&m, attach ? 3 : 2);
    mp_str(&m, "id"); mp_u32(&m, id);
    mp_str(&m, "spec"); mp_map(&m, 1);
    mp_str(&m, "command"); mp_byte(&m, 0x91); mp_str(&m, cmd);
    if (attach) { mp_str(&m, "attach"); mp_byte(&m, 0xc3); }
    return frame_end(out, SPAWN, (size_t)(m.p - out));
}

/* WAIT {"id": id, "job": job} */
static size_t enc_wait(uint8_t *out, uint32_t id, uint64_t job) {
    struct mp m = { out + frame_begin(out) };
    mp_map(&m, 2);
    mp_str(&m, "id"); mp_u32(&m, id);
    mp_str(&m, "job"); mp_uint(&m, job);
    return frame_end(out, WAIT, (size_t)(m.p - out));
}

/* The job's number in a JOB body {"id": N, "job": {"job": K, ...}} (the second "job"
 * key), or -1. */
static int64_t job_number(const uint8_t *b, size_t n) {
    const uint8_t *p = memmem(b, n, "\xa3job", 4);
    if (!p) return -1;
    const uint8_t *q = memmem(p + 4, n - (size_t)(p + 4 - b), "\xa3job", 4);
    return q ? mp_read_uint(q + 4, b + n) : -1;
}

/* The "status" of a JOB body: -1 while the job has not ended (the field is absent). */
static int64_t job_status(const uint8_t *b, size_t n) {
    const uint8_t *p = memmem(b, n, "\xa6status", 7);
    return p ? mp_read_uint(p + 7, b + n) : -1;
}

/* Read frames until a JOB with this id; its body length (body in rbuf). */
static long read_job(int fd, uint32_t id) {
    for (;;) {
        uint8_t k;
        long len = read_frame(fd, &k, rbuf, sizeof rbuf);
        if (len < 0) die("the server closed the connection");
        if (k == JOB && body_id(rbuf, (size_t)len) == id) return len;
        if (k == 0x24 /* LOG_DATA */ && body_id(rbuf, (size_t)len) == id) continue;
        fprintf(stderr, "ctl_bench: expected JOB id %u, got type 0x%02x: %.*s\n", id, k, (int)(len > 200 ? 200 : len),
                rbuf);
        exit(1);
    }
}

static void job_rtt(int fd, const char *cmd, int attach, struct samples *s, int iters, int warm) {
    static uint32_t next_id = 1;
    uint8_t f[512], w[64];
    for (int i = 0; i < warm + iters; i++) {
        uint32_t id = next_id++;
        size_t n = enc_spawn(f, id, cmd, attach);
        double t0 = now_us();
        write_all(fd, f, n);
        long len = read_job(fd, id);
        int64_t job = job_number(rbuf, (size_t)len);
        if (job < 0) die("a JOB without a job number");
        if (attach) {
            len = read_job(fd, id);
        } else {
            uint32_t wid = next_id++;
            write_all(fd, w, enc_wait(w, wid, (uint64_t)job));
            len = read_job(fd, wid);
        }
        double t1 = now_us();
        if (job_status(rbuf, (size_t)len) != 0) {
            fprintf(stderr, "ctl_bench: job %lld did not end with status 0: %.*s\n", (long long)job,
                    (int)(len > 300 ? 300 : len), rbuf);
            exit(1);
        }
        if (i >= warm) add(s, t1 - t0);
    }
}

static void fork_exec_rtt(const char *cmd, struct samples *s, int iters, int warm) {
    char *argv[] = { (char *)cmd, NULL };
    for (int i = 0; i < warm + iters; i++) {
        double t0 = now_us();
        pid_t pid = fork();
        if (pid < 0) die("fork failed");
        if (pid == 0) {
            execv(cmd, argv);
            _exit(127);
        }
        int st;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
        double t1 = now_us();
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) die("the command failed");
        if (i >= warm) add(s, t1 - t0);
    }
}

static int cmd_job(int argc, char **argv) {
    if (argc != 7) die("usage: ctl_bench job SOCK CMD ITERS WARMUP ROUNDS");
    const char *sock = argv[2], *cmd = argv[3];
    int iters = atoi(argv[4]), warm = atoi(argv[5]), rounds = atoi(argv[6]);
    struct samples g[3] = { { .label = "spawn-wait" }, { .label = "spawn-attach" }, { .label = "fork-exec" } };
    int fd = uds_connect(sock);
    greet(fd);
    for (int r = 0; r < rounds; r++)
        for (int j = 0; j < 3; j++) {
            int k = (j + r) % 3;
            switch (k) {
            case 0: job_rtt(fd, cmd, 0, &g[0], iters, warm); break;
            case 1: job_rtt(fd, cmd, 1, &g[1], iters, warm); break;
            case 2: fork_exec_rtt(cmd, &g[2], iters, warm); break;
            }
        }
    close(fd);
    for (int k = 0; k < 3; k++) {
        struct samples *s = &g[k];
        sort_doubles(s->v, s->n);
        printf("%s %.2f %.2f %.2f %.2f %zu\n", s->label, pct(s, 0.5), pct(s, 0.9), pct(s, 0.99), s->v[s->n - 1], s->n);
    }
    return 0;
}

int main(int argc, char **argv) {
    signal(SIGPIPE, SIG_IGN);
    /* 1,000 connections and more: raise the soft fd limit to the hard one */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (argc >= 2 && strcmp(argv[1], "rtt") == 0) return cmd_rtt(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "pipe") == 0) return cmd_pipe(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "job") == 0) return cmd_job(argc, argv);
    die("usage: ctl_bench rtt|pipe|job ...");
}
