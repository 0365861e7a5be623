#!/usr/bin/env python3
"""logcap.py: the driver of the log-capture rows (bench/rows/94-log-*.sh, 95-log-*.sh).

    logcap.py TEND LOGFLOOD DIR BYTES WRITE_SIZE ROUNDS CAPTURER...

For each round and each CAPTURER (in an order rotated every round), one child,
bench/src/logflood, writes BYTES bytes in WRITE_SIZE writes to a pipe that CAPTURER reads,
and prints one line:

    CAPTURER MIB_PER_S CPU_S_PER_GIB PEAK_RSS_KIB IDLE_RSS_KIB

CAPTURER is one of
  tend-off     `tend run`, the service's stdout "capture" (ring buffer only), no file
  tend-on      the same with log.file (max_size 0: no rotation) in DIR/tend-on/logs
  cat-null     `cat > /dev/null`
  cat-file     `cat > DIR/cat.out`
  supervisord  supervisord -n, stdout_logfile=DIR/sup/flood.log (no rotation)
  s6-log       `s6-log -b n20 s268435455 DIR/s6` (blocking mode: it loses nothing either)

The flood first blocks opening a FIFO, so every capturer is started and settled before
the clock starts: the driver then reads the capturer's CPU time (the sum over its threads of
/proc/PID/task/*/schedstat, nanoseconds on CPU; for cat and s6-log, which exit at EOF, the
rusage wait4 returns), opens the FIFO, and stops the clock when the capturer has consumed
everything: cat and s6-log at their exit; tend and supervisord, which stay, when their
/proc/PID/io shows BYTES more read (no file) or written (file) than at the start, polled every
millisecond. Peak RSS is VmHWM at the end, idle RSS VmRSS before the flood; n/a for cat
and s6-log (they are not resident services).
"""
import os
import resource
import signal
import subprocess
import sys
import time

TEND, FLOOD, DIR = (os.path.abspath(a) for a in sys.argv[1:4])
BYTES, SIZE, ROUNDS = int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
WHICH = sys.argv[7:]
GIB = float(1 << 30)
DEVNULL = subprocess.DEVNULL


def log(msg):
    print(f"[logcap] {msg}", file=sys.stderr, flush=True)


def cpu_ns(pid):
    total = 0
    try:
        for t in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{t}/schedstat") as f:
                    total += int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                pass
    except OSError:
        pass
    return total


def io(pid, field):
    with open(f"/proc/{pid}/io") as f:
        for line in f:
            k, v = line.split(":")
            if k == field:
                return int(v)
    return 0


def status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def children(pid):
    out = []
    try:
        for t in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{t}/children") as f:
                out += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return out


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def wait_for(cond, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.005)
    log(f"timed out waiting for {what}")
    return False


def fresh_fifo(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    os.mkfifo(path)


def go(fifo):
    """Let the flood start; returns the start time."""
    t0 = time.monotonic()
    fd = os.open(fifo, os.O_WRONLY)
    os.close(fd)
    return t0


def resident(name, argv, cwd, field):
    """A supervisor that stays: run it, wait for its flood child, measure until `field`
    of its /proc/PID/io has grown by BYTES."""
    fifo = os.path.join(DIR, "go.fifo")
    p = subprocess.Popen(argv, cwd=cwd, stdin=DEVNULL, stdout=DEVNULL, stderr=DEVNULL, start_new_session=True)
    try:
        if not wait_for(lambda: any(comm(c) == "logflood" for c in children(p.pid)), 30, f"{name}'s flood"):
            return None
        time.sleep(0.3)
        base_cpu, base_io = cpu_ns(p.pid), io(p.pid, field)
        idle = status_kib(p.pid, "VmRSS")
        t0 = go(fifo)
        end = t0 + 120
        while io(p.pid, field) < base_io + BYTES:
            if time.monotonic() > end or p.poll() is not None:
                log(f"{name} did not take {BYTES} bytes")
                return None
            time.sleep(0.001)
        t1 = time.monotonic()
        cpu = (cpu_ns(p.pid) - base_cpu) / 1e9
        peak = status_kib(p.pid, "VmHWM")
        return t1 - t0, cpu, peak, idle
    finally:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait()


def piped(name, argv, out):
    """A filter that exits at EOF: flood | argv > out."""
    fifo = os.path.join(DIR, "go.fifo")
    fresh_fifo(fifo)
    flood = subprocess.Popen([FLOOD, str(BYTES), str(SIZE), fifo], stdin=DEVNULL, stdout=subprocess.PIPE)
    with open(out, "wb") as o:
        cap = subprocess.Popen(argv, stdin=flood.stdout, stdout=o, stderr=DEVNULL)
    flood.stdout.close()
    time.sleep(0.3)
    t0 = go(fifo)
    _, status, ru = os.wait4(cap.pid, 0)
    t1 = time.monotonic()
    cap.returncode = os.waitstatus_to_exitcode(status)
    flood.wait()
    if cap.returncode != 0 or flood.returncode != 0:
        log(f"{name}: exit {cap.returncode}, flood exit {flood.returncode}")
        return None
    return t1 - t0, ru.ru_utime + ru.ru_stime, None, None


def tend(files):
    d = os.path.join(DIR, "tend-on" if files else "tend-off")
    os.makedirs(d, exist_ok=True)
    fifo = os.path.join(DIR, "go.fifo")
    fresh_fifo(fifo)
    with open(os.path.join(d, "tend.toml"), "w") as f:
        f.write(f'log_dir = "{d}/logs"\n' if files else "")
        f.write("[service.flood]\n")
        f.write(f'command = ["{FLOOD}", "{BYTES}", "{SIZE}", "{fifo}"]\n')
        f.write('restart = "never"\nstdout = "capture"\nstderr = "null"\n')
        if files:
            f.write("log = { file = true, max_size = 0 }\n")
        # Without it tend would exit when the flood ends ("all services finished").
        f.write('[service.idle]\ncommand = ["sleep", "100000"]\nstdout = "null"\nstderr = "null"\n')
    argv = [TEND, "run", "-c", os.path.join(d, "tend.toml"), "--socket", os.path.join(d, "tend.sock")]
    return resident("tend", argv, d, "wchar" if files else "rchar")


def supervisord():
    d = os.path.join(DIR, "sup")
    os.makedirs(d, exist_ok=True)
    fifo = os.path.join(DIR, "go.fifo")
    fresh_fifo(fifo)
    conf = os.path.join(d, "supervisord.conf")
    with open(conf, "w") as f:
        f.write(f"[supervisord]\nnodaemon=true\nlogfile={d}/supervisord.log\npidfile={d}/supervisord.pid\n")
        f.write(f"childlogdir={d}\n[program:flood]\ncommand={FLOOD} {BYTES} {SIZE} {fifo}\n")
        f.write("autorestart=false\nstartsecs=0\n")
        f.write(f"stdout_logfile={d}/flood.log\nstdout_logfile_maxbytes=0\nstdout_logfile_backups=0\n")
        f.write("stderr_logfile=NONE\n")
    return resident("supervisord", ["supervisord", "-n", "-c", conf], d, "wchar")


def s6log():
    d = os.path.join(DIR, "s6")
    subprocess.run(["rm", "-rf", d])
    return piped("s6-log", ["s6-log", "-b", "n20", "s268435455", d], "/dev/null")


def clean():
    """Every run writes BYTES to DIR (a tmpfs, when there is one): nothing is kept, or
    the files would pile up in memory."""
    for f in os.listdir(DIR):
        subprocess.run(["rm", "-rf", os.path.join(DIR, f)])


def run(which):
    clean()
    if which == "tend-off":
        return tend(False)
    if which == "tend-on":
        return tend(True)
    if which == "cat-null":
        return piped("cat", ["cat"], "/dev/null")
    if which == "cat-file":
        return piped("cat", ["cat"], os.path.join(DIR, "cat.out"))
    if which == "supervisord":
        return supervisord()
    if which == "s6-log":
        return s6log()
    raise SystemExit(f"unknown capturer {which}")


def main():
    os.makedirs(DIR, exist_ok=True)
    for r in range(ROUNDS):
        order = WHICH[r % len(WHICH):] + WHICH[:r % len(WHICH)]
        for which in order:
            res = run(which)
            if res is None:
                continue
            secs, cpu, peak, idle = res
            mibs = BYTES / float(1 << 20) / secs
            print(which, f"{mibs:.1f}", f"{cpu / (BYTES / GIB):.3f}", peak if peak else "n/a", idle if idle else "n/a",
                  flush=True)
    clean()


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))
    main()
