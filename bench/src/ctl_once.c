/*
 * ctl_once [-r] SOCK SERVICE: one control-socket status query as a whole process, the
 * floor of the `tend status` CLI row (bench/rows/92-ctl-cli.sh), and the readiness probe
 * the control-plane rows use.
 * bench: static-musl
 *
 * connect(SOCK); write a pre-encoded HELLO; read the WELCOME frame; write one STATUS
 * frame for SERVICE; read the reply frame (the 4-byte length, then the rest); write the
 * reply's body to stdout (one write(2), as a CLI prints its answer); exit 0 if it was a
 * STATUS_REPLY, 1 otherwise. -r: print nothing, and exit 0 only if the service's state is
 * "running". No stdio, no allocation: as little as a client process can do.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int write_all(int fd, const void *buf, size_t n) {
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int read_full(int fd, void *buf, size_t n) {
    char *p = buf;
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        if (r <= 0) return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static uint8_t buf[1 << 16];

/* One frame: returns the type byte and leaves the body in buf (length in *n), or -1. */
static int read_frame(int fd, size_t *n) {
    uint8_t h[4];
    if (read_full(fd, h, 4) < 0) return -1;
    uint32_t len = (uint32_t)h[0] << 24 | h[1] << 16 | h[2] << 8 | h[3];
    if (len < 1 || len > sizeof buf) return -1;
    if (read_full(fd, buf, len) < 0) return -1;
    *n = len - 1;
    return buf[0];
}

static void fail(const char *m) {
    write_all(2, "ctl_once: ", 10);
    write_all(2, m, strlen(m));
    write_all(2, "\n", 1);
    _exit(1);
}

int main(int argc, char **argv) {
    int running = 0;
    if (argc > 1 && strcmp(argv[1], "-r") == 0) { running = 1; argc--; argv++; }
    if (argc != 3) fail("usage: ctl_once [-r] SOCK SERVICE");
    const char *path = argv[1], *svc = argv[2];
    size_t sl = strlen(svc);
    if (sl > 31) fail("service name too long");

    /* HELLO {"api": 2, "client": "ctl_once", "capabilities": ["status"]} */
    static uint8_t hello[] = "\x00\x00\x00\x00\x01"
                             "\x83\xa3" "api" "\x02"
                             "\xa6" "client" "\xa8" "ctl_once"
                             "\xac" "capabilities" "\x91\xa6" "status";
    hello[3] = (uint8_t)(sizeof hello - 1 - 4);
    /* STATUS {"id": 1, "service": SERVICE} */
    uint8_t st[64];
    size_t n = 0;
    st[4] = 0x11;
    n = 5;
    memcpy(st + n, "\x82\xa2" "id" "\x01\xa7" "service", 13);
    n += 13;
    st[n++] = (uint8_t)(0xa0 | sl);
    memcpy(st + n, svc, sl);
    n += sl;
    uint32_t len = (uint32_t)(n - 4);
    st[0] = len >> 24; st[1] = len >> 16; st[2] = len >> 8; st[3] = len;

    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    if (fd < 0 || strlen(path) >= sizeof a.sun_path) fail("socket");
    strcpy(a.sun_path, path);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) fail("connect failed");
    if (write_all(fd, hello, sizeof hello - 1) < 0) fail("write failed");
    size_t bn;
    if (read_frame(fd, &bn) != 0x02) fail("no welcome");
    if (write_all(fd, st, n) < 0) fail("write failed");
    int k = read_frame(fd, &bn);
    if (k != 0x21) fail("no status reply");
    if (running) {
        static const char want[] = "\xa5" "state" "\xa7" "running";
        return memmem(buf + 1, bn, want, sizeof want - 1) ? 0 : 1;
    }
    write_all(1, buf + 1, bn);
    return 0;
}
