/*
 * logflood BYTES WRITE_SIZE [GO_FIFO]: the writer of the log-capture rows (bench/rows/94-log-*.sh,
 * 95-log-*.sh). Writes BYTES bytes to stdout as fast as it can, in write(2)s of WRITE_SIZE
 * bytes (the last one shorter), then exits 0. The bytes are 64-byte lines
 * "NNNNNNNNNNNNNNNN <47 letters>\n" (N the line number), so line-based loggers (s6-log) see
 * real lines; a 128-byte write is two whole lines, a 64 KiB write 1024.
 *
 * With GO_FIFO, it first opens that FIFO for reading, which blocks until the driver opens
 * it for writing: the driver starts every capturing process, lets it settle, reads its CPU
 * time and RSS, and only then lets the flood begin.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LINE 64
#define LINES_PER_BUF 16384 /* 1 MiB of lines, written round and round */

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: logflood BYTES WRITE_SIZE [GO_FIFO]\n");
        return 2;
    }
    long long total = atoll(argv[1]);
    long size = atol(argv[2]);
    if (total <= 0 || size <= 0 || size > (long)LINE * LINES_PER_BUF) {
        fprintf(stderr, "logflood: bad BYTES or WRITE_SIZE\n");
        return 2;
    }
    static char buf[2 * LINE * LINES_PER_BUF];
    for (long i = 0; i < 2L * LINES_PER_BUF; i++) {
        char *l = buf + i * LINE;
        snprintf(l, LINE, "%016ld ", i % LINES_PER_BUF);
        for (int k = 17; k < LINE - 1; k++) l[k] = (char)('a' + (i + k) % 26);
        l[LINE - 1] = '\n';
    }
    if (argc > 3) {
        int fd = open(argv[3], O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            perror("logflood: opening the go fifo");
            return 2;
        }
        close(fd);
    }
    /* The second copy of the buffer lets every write be one contiguous slice. */
    long period = (long)LINE * LINES_PER_BUF, off = 0;
    while (total > 0) {
        long n = total < size ? (long)total : size;
        ssize_t w = write(1, buf + off, (size_t)n);
        if (w < 0) {
            if (errno == EINTR) continue;
            perror("logflood: write");
            return 1;
        }
        total -= w;
        off = (off + w) % period;
    }
    return 0;
}
