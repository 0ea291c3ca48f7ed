#!/usr/bin/env python3
"""Stand-in for cdn-edge's admin API and canary path in the bgp-hooks integration tests.

Usage: fake_edge.py PORT CONTROL_JSON
Every request re-reads CONTROL_JSON, so the test changes behaviour by rewriting that file:
  {"healthy": true, "generation": 5, "generation_age_s": 1.0,
   "drain": "serving", "canary_body": "...", "etag": "<hex or null: sha256 of body>",
   "wedge": false}
Paths: /healthz, /status (shape of the real edge's), /canary.html, /origin/current (the file
named by "origin_current" in the control JSON, served verbatim).
"""
import hashlib
import http.server
import json
import socketserver
import sys
import time

PORT = int(sys.argv[1])
CONTROL = sys.argv[2]


def control():
    with open(CONTROL) as f:
        return json.load(f)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def send(self, code, body, ctype="application/json", headers=None):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Served-By", "fake-edge")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        c = control()
        if c.get("wedge"):
            # Accepts, reads the request, never answers: a wedged edge.
            time.sleep(3600)
            return
        if self.path == "/healthz":
            ok = c.get("healthy", True)
            self.send(200 if ok else 503, json.dumps(
                {"status": "ok" if ok else "unhealthy", "generation": c.get("generation", 1)}))
        elif self.path == "/status":
            self.send(200, json.dumps({
                "node": "fake", "generation": c.get("generation", 1),
                "generation_age_s": c.get("generation_age_s", 1.0), "open_connections": 0,
                "drain": {"state": c.get("drain", "serving"), "in_flight": 0,
                          "last_accept_age_ms": 5}}))
        elif self.path == "/canary.html":
            body = c.get("canary_body", "hello").encode()
            etag = c.get("etag") or hashlib.sha256(body).hexdigest()
            self.send(200, body, "text/html", {"ETag": '"%s"' % etag})
        elif self.path == "/origin/current" and c.get("origin_current"):
            with open(c["origin_current"]) as f:
                self.send(200, f.read())
        else:
            self.send(404, "{}")


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


Server(("127.0.0.1", PORT), Handler).serve_forever()
