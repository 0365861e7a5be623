/*
 * notify_floor N OUTDIR NOTIFY_READY STAMP: the floor of the row 96-ready-notify. N times:
 * bind an abstract datagram socket, start NOTIFY_READY (bench/src/notify_ready.c) with
 * NOTIFY_SOCKET naming it, block in recv(2) until its READY=1, then vfork+exec STAMP (the
 * dependent) at once, as a minimal supervisor would; print STAMP's stamp minus the
 * notifier's (microseconds), one a line.
 */
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "common.h"

static long long read_ll(const char *path) {
    char buf[64];
    for (int i = 0; i < 500; i++) {
        if (read_file(path, buf, sizeof buf) > 0) return atoll(buf);
        nap_us(2000);
    }
    return -1;
}

int main(int argc, char **argv) {
    if (argc < 5) return 2;
    int n = atoi(argv[1]);
    char ready[512], web[512], name[64];
    snprintf(ready, sizeof ready, "%s/floor-ready", argv[2]);
    snprintf(web, sizeof web, "%s/floor-web", argv[2]);
    for (int i = 0; i < n; i++) {
        unlink(ready);
        unlink(web);
        snprintf(name, sizeof name, "@floor/%d.%d", getpid(), i);
        struct sockaddr_un a = { .sun_family = AF_UNIX };
        size_t len = strlen(name);
        memcpy(a.sun_path, name, len);
        a.sun_path[0] = 0;
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *)&a, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0)
            return 3;
        setenv("NOTIFY_SOCKET", name, 1);
        pid_t db = fork();
        if (db == 0) {
            execl(argv[3], argv[3], ready, "20", (char *)NULL);
            _exit(127);
        }
        char buf[256];
        if (recv(fd, buf, sizeof buf, 0) < 0) return 4;
        pid_t w = vfork();
        if (w == 0) {
            execl(argv[4], argv[4], web, (char *)NULL);
            _exit(127);
        }
        waitpid(w, NULL, 0);
        long long r = read_ll(ready), s = read_ll(web);
        kill(db, SIGKILL);
        waitpid(db, NULL, 0);
        close(fd);
        if (r > 0 && s > 0) printf("%lld\n", s - r);
    }
    return 0;
}
