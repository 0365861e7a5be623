#!/usr/bin/env python3
"""A socket-activated test server (sd_listen_fds(3) protocol, by hand).

It checks LISTEN_PID == its own pid, prints one line
  activated pid=PID fds=N names=A:B targets=3:socket:[..],4:socket:[..]
then answers every connection on every passed socket with "NAME PID\n" (after
reading one line), one connection at a time. On SIGTERM it finishes the connection
in hand and exits, leaving the rest queued in the sockets' backlogs for the next
incarnation.
"""
import os
import select
import signal
import socket
import sys

pid = os.environ.get("LISTEN_PID")
n = int(os.environ.get("LISTEN_FDS", "0"))
names = os.environ.get("LISTEN_FDNAMES", "").split(":")
if pid != str(os.getpid()):
    print(f"LISTEN_PID={pid!r} but my pid is {os.getpid()}", flush=True)
    sys.exit(3)
if n < 1 or len(names) != n:
    print(f"LISTEN_FDS={n} LISTEN_FDNAMES={names!r}", flush=True)
    sys.exit(4)
fds = sorted(int(f) for f in os.listdir("/proc/self/fd"))
targets = []
for fd in fds:
    try:
        targets.append(f"{fd}:{os.readlink(f'/proc/self/fd/{fd}')}")
    except OSError:
        pass  # listdir's own descriptor, closed by now
print(f"activated pid={pid} fds={n} names={':'.join(names)} targets={','.join(targets[3:])}", flush=True)

stop = False


def on_term(*_):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_term)
socks = {socket.socket(fileno=3 + i): names[i] for i in range(n)}
while not stop:
    try:
        ready, _, _ = select.select(list(socks), [], [], 0.05)
    except InterruptedError:
        continue
    for s in ready:
        try:
            c, _ = s.accept()
        except BlockingIOError:
            continue
        with c:
            c.setblocking(True)
            c.settimeout(5)
            buf = b""
            while not buf.endswith(b"\n"):
                b = c.recv(100)
                if not b:
                    break
                buf += b
            c.sendall(f"{socks[s]} {os.getpid()}\n".encode())
