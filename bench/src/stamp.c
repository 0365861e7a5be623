/*
 * stamp FILE: write CLOCK_REALTIME in microseconds to FILE, first thing, and exit. The
 * dependent service of the row 96-ready-notify: its stamp is when its process runs.
 * bench: static
 */
#include "common.h"

int main(int argc, char **argv) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (argc < 2) return 2;
    char buf[64];
    int n = snprintf(buf, sizeof buf, "%.0f\n", ts.tv_sec * 1e6 + ts.tv_nsec / 1e3);
    int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, buf, (size_t)n) != n) return 1;
    return 0;
}
