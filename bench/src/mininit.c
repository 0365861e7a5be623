/*
 * mininit [--] CMD ARGS...: the floor for an init. Registers as child subreaper (unless it is
 * PID 1), fork/execs CMD, then reaps with a plain blocking wait() loop: no signals, no
 * polling, nothing else. Exits with CMD's status once CMD itself is reaped.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc > 1 && argv[1][0] == '-' && argv[1][1] == '-' && !argv[1][2]) { argv++; argc--; }
    if (argc < 2) { fprintf(stderr, "usage: mininit [--] CMD ARGS...\n"); return 2; }
    if (getpid() != 1) prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    pid_t child = fork();
    if (child < 0) { perror("mininit: fork"); return 1; }
    if (child == 0) {
        execvp(argv[1], argv + 1);
        perror("mininit: exec");
        _exit(127);
    }
    for (;;) {
        int st;
        pid_t p = wait(&st);
        if (p < 0) return 1;
        if (p == child) return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
}
