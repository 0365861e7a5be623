/*
 * http_upstream.c: the upstream of the ingress row (bench/rows/98-ingress.sh): a minimal
 * HTTP/1.1 server that answers every request with the same 13-byte body, keep-alive and
 * pipelining included, on a Unix socket (what tend and nginx forward to) and on a TCP
 * port (what wrk reaches directly, the floor). One thread, epoll, non-blocking: the
 * cheapest upstream the forwarders can have, so the row measures them.
 *
 * usage: http_upstream SOCKET_PATH TCP_PORT
 * Requests must have no body (wrk's GET). Exits on SIGTERM.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define MAXC 65536
static const char RESP[] =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nhello, world\n";

struct conn {
    char in[8192];
    int len;
};
static struct conn *conns[MAXC];

static int listen_unix(const char *path) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    strncpy(a.sun_path, path, sizeof a.sun_path - 1);
    unlink(path);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) || listen(fd, 4096)) {
        perror("unix listen");
        exit(1);
    }
    return fd;
}

static int listen_tcp(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(0x7f000001) };
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) || listen(fd, 4096)) {
        perror("tcp listen");
        exit(1);
    }
    return fd;
}

static void drop(int ep, int fd) {
    epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
    close(fd);
    free(conns[fd]);
    conns[fd] = NULL;
}

/* Answer every complete request head in the buffer; -1 to close. */
static int serve(int fd) {
    struct conn *c = conns[fd];
    for (;;) {
        int n = read(fd, c->in + c->len, sizeof c->in - c->len);
        if (n == 0) return -1;
        if (n < 0) return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
        c->len += n;
        char out[64 * sizeof RESP];
        int olen = 0, start = 0;
        for (;;) {
            char *end = memmem(c->in + start, c->len - start, "\r\n\r\n", 4);
            if (!end) break;
            start = end - c->in + 4;
            if (olen + (int)sizeof RESP > (int)sizeof out) {
                if (write(fd, out, olen) != olen) return -1;
                olen = 0;
            }
            memcpy(out + olen, RESP, sizeof RESP - 1);
            olen += sizeof RESP - 1;
        }
        if (olen && write(fd, out, olen) != olen) return -1;
        memmove(c->in, c->in + start, c->len - start);
        c->len -= start;
        if (c->len == (int)sizeof c->in) return -1;
    }
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s SOCKET_PATH TCP_PORT\n", argv[0]);
        return 2;
    }
    int lu = listen_unix(argv[1]), lt = listen_tcp(atoi(argv[2]));
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = { .events = EPOLLIN };
    ev.data.fd = lu;
    epoll_ctl(ep, EPOLL_CTL_ADD, lu, &ev);
    ev.data.fd = lt;
    epoll_ctl(ep, EPOLL_CTL_ADD, lt, &ev);
    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == lu || fd == lt) {
                for (;;) {
                    int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (c < 0) break;
                    if (c >= MAXC) {
                        close(c);
                        continue;
                    }
                    if (fd == lt) {
                        int one = 1;
                        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    }
                    conns[c] = calloc(1, sizeof(struct conn));
                    struct epoll_event ce = { .events = EPOLLIN | EPOLLRDHUP, .data.fd = c };
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce);
                }
            } else if (serve(fd) < 0) {
                drop(ep, fd);
            }
        }
    }
}
