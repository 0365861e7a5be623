#!/usr/bin/env python3
"""A test upstream for tend's request forwarding: HTTP/1.1 (keep-alive) on a Unix
socket, one thread per connection.

usage: upstream.py SOCKET [--delay SECONDS]

It binds SOCKET only after --delay (so a test sees the socket refuse connections
first). With $UPSTREAM_LOG set, each request's line (METHOD TARGET) is appended to that
file as it is read, so a test can tell exactly which requests reached the upstream.
Endpoints:
  /echo        JSON: method, path, headers, body length and sha256
  /conns       JSON: connections accepted so far
  /hang        never answers (the connection is held)
  /slow?ms=N   answers after N ms
  /chunked     a chunked body of three chunks
  /close       an HTTP/1.0-style body ended by closing the connection
  /big?n=N     N bytes (Content-Length)
  /status?c=N  an empty response with status N
  /garbage     bytes that are not HTTP
"""
import hashlib
import json
import os
import socket
import socketserver
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlparse

path = sys.argv[1]
delay = float(sys.argv[sys.argv.index("--delay") + 1]) if "--delay" in sys.argv else 0.0
request_log = os.environ.get("UPSTREAM_LOG")
conns = 0
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def address_string(self):
        return "unix"

    def setup(self):
        global conns
        with lock:
            conns += 1
        super().setup()

    def send(self, code, body, ctype="application/json", extra=()):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def handle_any(self):
        if request_log:
            with lock, open(request_log, "a") as f:
                f.write("%s %s\n" % (self.command, self.path))
        u = urlparse(self.path)
        # Routes forward the path unchanged: /api/echo is /echo to this server.
        u = u._replace(path=u.path[4:] if u.path.startswith("/api/") else u.path)
        q = parse_qs(u.query)
        data = self.body()
        if u.path == "/echo":
            doc = {
                "method": self.command,
                "path": self.path,
                "headers": {k: v for k, v in self.headers.items()},
                "body_len": len(data),
                "body_sha256": hashlib.sha256(data).hexdigest(),
            }
            self.send(200, json.dumps(doc).encode())
        elif u.path == "/conns":
            with lock:
                n = conns
            self.send(200, json.dumps({"conns": n}).encode())
        elif u.path == "/hang":
            time.sleep(3600)
        elif u.path == "/slow":
            time.sleep(int(q.get("ms", ["100"])[0]) / 1000)
            self.send(200, b"slow\n", "text/plain")
        elif u.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b"one,", b"two,", b"three"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        elif u.path == "/close":
            self.wfile.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end\n")
            self.wfile.flush()
            self.close_connection = True
        elif u.path == "/big":
            n = int(q.get("n", ["0"])[0])
            self.send(200, b"x" * n, "application/octet-stream")
        elif u.path == "/status":
            self.send(int(q.get("c", ["200"])[0]), b"", "text/plain")
        elif u.path == "/garbage":
            self.wfile.write(b"SSH-2.0-nonsense\r\n\r\n")
            self.wfile.flush()
            self.close_connection = True
        else:
            self.send(404, b'{"error": "not found"}')

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = handle_any


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    request_queue_size = 1024


time.sleep(delay)
try:
    os.unlink(path)
except FileNotFoundError:
    pass
Server(path, Handler).serve_forever()
