"""A stand-in for the edge admin API in cdn-sync/cdnctl tests (the real one is cdn-edge's):
python3 fake_admin.py STATE_DIR NAME. GET /status reports the generation loaded at the last
POST /reload (read from STATE_DIR/current), like an edge that switches only when told to.
Prints "port N" once listening on an ephemeral loopback port."""
import http.server
import json
import os
import sys
import time

state_dir, name = sys.argv[1:3]
loaded = {"generation": 0, "at": time.time(), "reloads": 0}


class Handler(http.server.BaseHTTPRequestHandler):
    def reply(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path != "/status":
            return self.reply(404, {"error": "not found"})
        self.reply(200, {"node": name, "generation": loaded["generation"],
                         "generation_age_s": time.time() - loaded["at"], "healthy": True,
                         "reloads": loaded["reloads"]})

    def do_POST(self):
        if self.path != "/reload":
            return self.reply(404, {"error": "not found"})
        with open(os.path.join(state_dir, "current")) as f:
            loaded["generation"] = json.load(f)["generation"]
        loaded["at"] = time.time()
        loaded["reloads"] += 1
        self.reply(200, {"generation": loaded["generation"]})

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print("port", server.server_address[1], flush=True)
server.serve_forever()
