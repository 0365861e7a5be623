/*
 * notify_ready FILE [DELAY_MS]: a service that becomes ready by sd_notify after
 * DELAY_MS (default 20): writes CLOCK_REALTIME in microseconds to FILE, then at once
 * sends READY=1 to $NOTIFY_SOCKET (an abstract name when it starts with '@'), then
 * sleeps until killed. For the row 96-ready-notify.
 * bench: static
 */
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "common.h"

static double real_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    const char *name = getenv("NOTIFY_SOCKET");
    if (!name || !*name) return 3;
    nap_us((argc > 2 ? atof(argv[2]) : 20) * 1000);
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    size_t n = strlen(name);
    if (n >= sizeof a.sun_path) return 4;
    memcpy(a.sun_path, name, n);
    if (name[0] == '@') a.sun_path[0] = 0;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return 5;
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    char stamp[64];
    int sl = snprintf(stamp, sizeof stamp, "%.0f\n", real_us());
    if (sendto(fd, "READY=1", 7, 0, (struct sockaddr *)&a, len) != 7) return 6;
    int out = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0 || write(out, stamp, (size_t)sl) != sl) return 7;
    close(out);
    for (;;) pause();
}
