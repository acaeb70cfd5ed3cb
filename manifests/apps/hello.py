#!/usr/bin/env python3
"""A small HTTP service for Tide's examples: answers every GET with a greeting naming the
instance, and /healthz with ok. Listens on 127.0.0.1:$PORT (Tide sets PORT)."""
import http.server
import os
import socketserver

INSTANCE = os.environ.get("TIDE_INSTANCE", "local")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self, body: bytes, ctype: str = "text/plain") -> None:
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # noqa: N802 (http.server naming)
        if self.path == "/healthz":
            self._answer(b"ok\n")
        else:
            self._answer(f"hello from {INSTANCE}\n".encode())

    def do_POST(self):  # noqa: N802
        length = int(self.headers.get("Content-Length", "0"))
        data = self.rfile.read(length)
        self._answer(f"{INSTANCE} got {len(data)} bytes\n".encode())

    def log_message(self, fmt, *args):
        print(f"{self.address_string()} {fmt % args}", flush=True)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


if __name__ == "__main__":
    port = int(os.environ["PORT"])
    print(f"hello: {INSTANCE} listening on 127.0.0.1:{port}", flush=True)
    Server(("127.0.0.1", port), Handler).serve_forever()
