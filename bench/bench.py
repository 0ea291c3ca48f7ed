#!/usr/bin/env python3
"""cdn-edge vs nginx benchmark driver (see bench/README.md).

Started through bench/run.sh. Python 3 standard library only; the load comes
from wrk (and `openssl s_time` for full TLS handshakes), pinned with taskset.
"""

import argparse
import datetime
import hashlib
import http.client
import json
import os
import pwd
import re
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
CLK_TCK = os.sysconf("SC_CLK_TCK")
MIB = 1024 * 1024
BIG_SIZE = 20 * MIB
PAGE_SIZE = 8192
PAGE_PATH = "/bench/8k.html"
BIG_PATH = "/big-20m.bin"

# name -> description of one load shape.
#   tool   wrk | stime | h2load | idle (the driver holds `conns` idle keep-alive connections)
#   unit   req (rate in requests/s, CPU per request) | mib (MiB/s, CPU per MiB)
#          | mem (server memory per idle connection)
#   target issue thresholds on the edge/nginx ratios (rate >=, cpu <=)
CASES = {
    "ka8k": dict(tool="wrk", tls=False, path=PAGE_PATH, conns=64, depth=1, unit="req",
                 desc="8 KB page, 64 keep-alive connections",
                 target=dict(rate=1.0, cpu=0.85)),
    "pipe8k": dict(tool="wrk", tls=False, path=PAGE_PATH, conns=64, depth=16, unit="req",
                   desc="8 KB page, 64 connections, 16 requests pipelined",
                   target=dict(rate=1.5)),
    "big20m": dict(tool="wrk", tls=False, path=BIG_PATH, conns=4, depth=1, unit="mib",
                   desc="20 MiB file, 4 keep-alive connections",
                   target=dict(rate=1.0)),
    "tls_ka8k": dict(tool="wrk", tls=True, path=PAGE_PATH, conns=64, depth=1, unit="req",
                     desc="8 KB page over TLS 1.3, 64 keep-alive connections",
                     target=dict(rate=1.0, cpu=0.85)),
    "tls_new": dict(tool="stime", tls=True, path=PAGE_PATH, conns=4, depth=1, unit="req",
                    desc="full TLS 1.3 handshake + one request per connection (openssl s_time -new)",
                    target=dict(rate=1.0, cpu=0.85)),
    "tls_resume": dict(tool="wrk", tls=True, path=PAGE_PATH, conns=64, depth=1, unit="req",
                       close=True,
                       desc="TLS 1.3 connection per request, resumed by ticket (wrk, Connection: close)",
                       target=dict(rate=1.0)),
    "tls_big": dict(tool="wrk", tls=True, path=BIG_PATH, conns=4, depth=1, unit="mib",
                    desc="20 MiB file over TLS 1.3, 4 keep-alive connections",
                    target=dict(rate=1.0)),
    "h2_8k": dict(tool="h2load", tls=True, path=PAGE_PATH, conns=16, depth=16, unit="req",
                  desc="8 KB page over HTTP/2 and TLS 1.3, 16 connections x 16 concurrent "
                       "streams (h2load)",
                  target=dict(rate=1.0), target_h2o=dict(rate=1.0, cpu=0.85)),
    # HTTP/3 (cdn-edge only: Debian's nginx and h2o speak none), with bench/h3load. `vs` names
    # the TCP case it is held against, and the goal on cdn-edge's own figures (ratio <=).
    "h3_8k": dict(tool="h3load", tls=True, path=PAGE_PATH, conns=16, depth=16, unit="req",
                  edge_only=True, vs=("h2_8k", "server_cpu_us_per_req", 1.5),
                  desc="8 KB page over HTTP/3, 16 connections x 16 concurrent streams (h3load)"),
    "h3_new": dict(tool="h3load", tls=True, path=PAGE_PATH, conns=4, depth=1, unit="req",
                   edge_only=True, fresh=True, vs=("tls_new", "server_cpu_us_per_req", 1.0),
                   desc="a new HTTP/3 connection (full handshake) per request, 4 at a time "
                        "(h3load --new)"),
    "h3_big": dict(tool="h3load", tls=True, path=BIG_PATH, conns=4, depth=1, unit="mib",
                   edge_only=True, vs=("tls_big", "server_cpu_ms_per_mib", None),
                   desc="20 MiB file over HTTP/3, 4 connections"),
    "idle": dict(tool="idle", tls=False, path=PAGE_PATH, conns=2000, unit="mem",
                 desc="2000 keep-alive connections, one request each, then idle: server "
                      "memory (RSS) per connection",
                 target=dict(mem=1.0)),
    "tls_idle": dict(tool="idle", tls=True, path=PAGE_PATH, conns=2000, unit="mem",
                     desc="the same over TLS 1.3", target=dict(mem=0.5)),
}
DEFAULT_CASES = "ka8k,pipe8k,big20m,tls_ka8k,tls_new,tls_big,h2_8k,h3_8k,h3_new,h3_big,idle,tls_idle"
IDLE_SETTLE_S = 3  # after the last request: a server may give buffers back once idle

MOZILLA_INTERMEDIATE = (
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305")


class Fatal(Exception):
    pass


class Interrupted(Exception):
    pass


class RunFailed(Exception):
    """One client run failed (e.g. the server cut a TLS connection): the run is
    recorded as failed and left out of the medians; the benchmark goes on."""


def log(msg=""):
    print(msg, file=sys.stderr, flush=True)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------
# /proc accounting

def proc_cpu_ticks(pid):
    """utime+stime (fields 14 and 15 of /proc/PID/stat) in clock ticks, or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except OSError:
        return None
    rest = data[data.rindex(")") + 2:].split()  # rest[0] is field 3 (state)
    return int(rest[11]) + int(rest[12])


def proc_children(pid):
    out = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for t in tasks:
        try:
            with open(f"/proc/{pid}/task/{t}/children") as f:
                out.extend(int(x) for x in f.read().split())
        except OSError:
            pass
    return out


def proc_tree(pid):
    seen, todo = [], [pid]
    while todo and len(seen) < 256:
        p = todo.pop()
        if p in seen:
            continue
        seen.append(p)
        todo.extend(proc_children(p))
    return seen


def core_times(cpu=None):
    """(busy, total) jiffies of one CPU (None: all CPUs) from /proc/stat."""
    tag = "cpu " if cpu is None else f"cpu{cpu} "
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith(tag):
                v = [int(x) for x in line.split()[1:]]
                idle = v[3] + (v[4] if len(v) > 4 else 0)
                total = sum(v[:8])  # guest time is already inside user
                return total - idle, total
    return 0, 0


# --------------------------------------------------------------------------
# processes

class Child:
    """A process we started; only ever signalled by its own pid."""

    def __init__(self, argv, logpath, env=None, cwd=None):
        self.argv = argv
        self.logpath = logpath
        self.logf = open(logpath, "wb")
        self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.logf,
                                  stderr=subprocess.STDOUT, env=env, cwd=cwd)
        self.pid = self.p.pid
        self.known_tree = [self.pid]

    def alive(self):
        return self.p.poll() is None

    def stop(self, grace=10.0):
        if self.p.poll() is None:
            self.known_tree = proc_tree(self.pid) or self.known_tree
            try:
                self.p.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.p.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                log(f"  pid {self.pid} ignored SIGTERM for {grace:.0f}s, killing")
                self.p.kill()
                self.p.wait(timeout=5)
        # Children we saw (e.g. nginx workers) must not outlive their master.
        for pid in self.known_tree[1:]:
            if proc_cpu_ticks(pid) is not None:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        self.logf.close()

    def log_tail(self, n=15):
        try:
            with open(self.logpath, "rb") as f:
                lines = f.read().decode(errors="replace").splitlines()
            return "\n".join("    | " + l for l in lines[-n:])
        except OSError:
            return ""


class Server:
    def __init__(self, name, argv, port, tls_port, logpath, cpu, env=None, cwd=None):
        self.name = name
        self.argv = argv
        self.port = port
        self.tls_port = tls_port  # None: no TLS
        self.logpath = logpath
        self.cpu = cpu
        self.env = env
        self.cwd = cwd
        self.child = None
        self.optional_tls = False
        self.resumes = None
        self.suite = None

    def start(self):
        argv = ["taskset", "-c", str(self.cpu)] + self.argv
        self.child = Child(argv, self.logpath, env=self.env, cwd=self.cwd)
        ports = [self.port] + ([self.tls_port] if self.tls_port else [])
        deadline = time.monotonic() + 15
        pending = list(ports)
        while pending and time.monotonic() < deadline:
            if not self.child.alive():
                break
            try:
                with socket.create_connection(("127.0.0.1", pending[0]), timeout=0.5):
                    pending.pop(0)
                    if pending:  # HTTP is up: TLS gets a few more seconds, not 15
                        deadline = min(deadline, time.monotonic() + 5)
            except OSError:
                time.sleep(0.1)
        if pending == [self.tls_port] and self.child.alive() and self.optional_tls:
            log(f"note: {self.name} serves HTTP but nothing listens on its --tls-listen "
                f"port {self.tls_port}: TLS cases skipped")
            self.tls_port = None
            pending = []
        if pending:
            rc = self.child.p.poll()
            self.child.stop(grace=3)
            raise Fatal(f"{self.name} did not start listening on {pending} "
                        f"({'exited with ' + str(rc) if rc is not None else 'timeout'}); "
                        f"command: {' '.join(self.argv)}\n  log {self.logpath}:\n"
                        + self.child.log_tail())
        time.sleep(0.2)  # let nginx fork its worker

    def cpu_ticks(self):
        tree = proc_tree(self.child.pid)
        self.child.known_tree = tree
        return sum(t for t in (proc_cpu_ticks(p) for p in tree) if t is not None)

    def stop(self):
        if self.child:
            self.child.stop()
            self.child = None


# --------------------------------------------------------------------------
# set-up: data, certificate, configs

def make_page():
    head = ("<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<title>anyedge bench page</title>\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            "</head>\n<body>\n<h1>8 KB benchmark page</h1>\n")
    tail = "</body>\n</html>\n"
    para = ("<p>Anycast sends every client to the nearest edge; this page is exactly "
            "8192 bytes so that benchmarks compare like with like.</p>\n")
    body = ""
    while len((head + body + para + tail).encode()) <= PAGE_SIZE - 16:
        body += para
    fill = PAGE_SIZE - len((head + body + tail).encode()) - len("<!--  -->\n")
    body += "<!-- " + "x" * fill + " -->\n"
    page = (head + body + tail).encode()
    assert len(page) == PAGE_SIZE, len(page)
    return page


def prepare_data(tmp, site_src):
    data = os.path.join(tmp, "site")
    if os.path.isdir(site_src) and os.listdir(site_src):
        shutil.copytree(site_src, data, symlinks=False, ignore_dangling_symlinks=True)
    else:
        log(f"note: {site_src} is missing or empty; serving only the generated files")
        os.makedirs(data)
    os.makedirs(os.path.join(data, "bench"), exist_ok=True)
    with open(os.path.join(data, "bench", "8k.html"), "wb") as f:
        f.write(make_page())
    big = os.path.join(data, "big-20m.bin")
    subprocess.run(f"head -c {BIG_SIZE} /dev/urandom > '{big}'", shell=True, check=True)
    if os.path.getsize(big) != BIG_SIZE:
        raise Fatal("could not create the 20 MiB file")
    with open(big, "rb") as f:
        big_sha = hashlib.sha256(f.read()).hexdigest()
    # nginx workers run as nobody when started by root: make the tree readable.
    for root, dirs, files in os.walk(tmp):
        os.chmod(root, 0o755)
        for n in files:
            os.chmod(os.path.join(root, n), 0o644)
    return data, big_sha


def make_cert(tmp):
    cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec",
                    "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "7",
                    "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.chmod(key, 0o644)  # read by an unprivileged nginx worker? (master reads it; harmless in a temp dir)
    return cert, key


def nginx_conf(dirpath, data, port, tls_port, cert, key):
    os.makedirs(dirpath, exist_ok=True)
    conf = os.path.join(dirpath, "nginx.conf")
    d = dirpath
    text = f"""# generated by bench/run.sh
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    open_file_cache max=1000 inactive=60s;
    open_file_cache_valid 60s;
    open_file_cache_errors on;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
    etag on;
    server_tokens off;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
"""
    if tls_port:
        text += f"""        listen 127.0.0.1:{tls_port} ssl http2 backlog=4096;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_ciphers {MOZILLA_INTERMEDIATE};
        ssl_prefer_server_ciphers off;
        ssl_session_tickets on;
"""
    text += f"""        root {data};
        index index.html;
        error_page 404 /404.html;
    }}
}}
"""
    with open(conf, "w") as f:
        f.write(text)
    return conf


def nginx_server(name, tmp, data, cert, key, cpu, tls=True):
    d = os.path.join(tmp, name)
    port, tls_port = free_port(), (free_port() if tls else None)
    conf = nginx_conf(d, data, port, tls_port, cert, key)
    argv = ["nginx", "-p", d + "/", "-e", os.path.join(d, "error.log"),
            "-c", conf, "-g", "daemon off;"]
    return Server(name, argv, port, tls_port, os.path.join(d, "stdout.log"), cpu)


def h2o_conf(dirpath, data, port, tls_port, cert, key):
    """h2o as Debian ships it, one thread, the same files and certificate; HTTP/2 over TLS by
    ALPN as h2o always offers it, static files with its default ETag and no access log."""
    os.makedirs(dirpath, exist_ok=True)
    conf = os.path.join(dirpath, "h2o.conf")
    d = dirpath
    # Started by root, h2o would switch to nobody, who cannot write this temp dir.
    user = f"user: {pwd.getpwuid(os.getuid()).pw_name}\n" if os.getuid() == 0 else ""
    text = f"""# generated by bench/run.sh
{user}num-threads: 1
pid-file: {d}/h2o.pid
error-log: {d}/error.log
max-connections: 4096
http2-idle-timeout: 75
http1-request-timeout: 75
listen:
  host: 127.0.0.1
  port: {port}
"""
    if tls_port:
        text += f"""listen:
  host: 127.0.0.1
  port: {tls_port}
  ssl:
    certificate-file: {cert}
    key-file: {key}
    minimum-version: TLSv1.2
    cipher-suite: "{MOZILLA_INTERMEDIATE}"
    cipher-preference: client
    ocsp-update-interval: 0
"""
    text += f"""hosts:
  default:
    paths:
      /:
        file.dir: {data}
"""
    with open(conf, "w") as f:
        f.write(text)
    return conf


def h2o_server(name, tmp, data, cert, key, cpu):
    d = os.path.join(tmp, name)
    port, tls_port = free_port(), free_port()
    conf = h2o_conf(d, data, port, tls_port, cert, key)
    return Server(name, ["h2o", "-c", conf], port, tls_port, os.path.join(d, "stdout.log"), cpu)


note_for_table = []


def build_type_note(build_dir):
    """A Debug or sanitizer build would make the comparison meaningless."""
    try:
        with open(os.path.join(build_dir, "CMakeCache.txt")) as f:
            cache = f.read()
    except OSError:
        return ""
    bt = re.search(r"^CMAKE_BUILD_TYPE:\w+=(.*)$", cache, re.M)
    bt = bt.group(1).strip() if bt else ""
    san = re.search(r"^ANYEDGE_SANITIZE:BOOL=(ON|TRUE|1|YES)$", cache, re.M | re.I)
    problems = []
    if bt not in ("Release", "RelWithDebInfo", "MinSizeRel"):
        problems.append(f"CMAKE_BUILD_TYPE={bt or '(empty)'}")
    if san:
        problems.append("ANYEDGE_SANITIZE=ON")
    if problems:
        return (f"{build_dir} is not an optimized build ({', '.join(problems)}): "
                f"cdn-edge figures are not representative")
    return ""


def edge_server(args, tmp, data, cert, key, cpu):
    name = "cdn-edge"
    if args.edge_cmd == "nginx":
        log("note: --edge-cmd nginx: the 'cdn-edge' column is a second nginx (script self-test)")
        return nginx_server(name, tmp, data, cert, key, cpu), True, ""
    port, tls_port = free_port(), free_port()
    subst = dict(site=data, port=port, tls_port=tls_port, cert=cert, key=key)
    if args.edge_cmd:
        argv = [a.format(**subst) for a in args.edge_cmd.split()]
        tls_ok = "{tls_port}" in args.edge_cmd
        note = "" if tls_ok else "edge command has no {tls_port}: TLS cases skipped"
    else:
        binary = os.path.join(args.build_dir, "edge", "cdn-edge")
        if not os.access(binary, os.X_OK):
            raise Fatal(f"{binary} not found or not executable. Build it first "
                        f"(cmake -S . -B {args.build_dir} && cmake --build {args.build_dir}), "
                        f"or pass --build-dir / --edge-cmd.")
        try:
            helptext = subprocess.run([binary, "--help"], capture_output=True, text=True,
                                      timeout=10).stdout
        except (OSError, subprocess.TimeoutExpired) as e:
            raise Fatal(f"{binary} --help failed: {e}")
        # Run a private copy: a concurrent rebuild must not swap the binary mid-run.
        d = os.path.join(tmp, name)
        os.makedirs(d, exist_ok=True)
        shutil.copy2(binary, os.path.join(d, "cdn-edge"))
        build_note = build_type_note(args.build_dir)
        if build_note:
            log("WARNING: " + build_note)
            note_for_table.append(build_note)
        binary = os.path.join(d, "cdn-edge")
        argv = [binary, "--site", data, "--listen", f"127.0.0.1:{port}", "--threads", "1"]
        tls_ok = all(f in helptext for f in ("--tls-listen", "--cert", "--key"))
        note = ""
        if tls_ok:
            argv += ["--tls-listen", f"127.0.0.1:{tls_port}", "--cert", cert, "--key", key]
            if "--http2" in helptext:
                argv.append("--http2")  # as nginx's `listen ... ssl http2` below
        else:
            note = f"{binary} --help lists no --tls-listen/--cert/--key: TLS cases skipped"
        argv += args.edge_args.split()
    d = os.path.join(tmp, name)
    os.makedirs(d, exist_ok=True)
    srv = Server(name, argv, port, tls_port if tls_ok else None,
                 os.path.join(d, "stdout.log"), cpu, cwd=d)
    srv.optional_tls = True
    return srv, tls_ok, note


# --------------------------------------------------------------------------
# checks before measuring

def fetch(port, path, tls, method="GET"):
    if tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=20, context=ctx)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        conn.request(method, path)
        r = conn.getresponse()
        body = r.read()
        ver = (conn.sock.version(), conn.sock.cipher()[0]) if tls and conn.sock else (None, None)
        return r.status, body, ver
    finally:
        conn.close()


def tls_resumes(port):
    """Does a second connection resume with the ticket the first one got?"""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    req = (f"GET {PAGE_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
           "Connection: close\r\n\r\n").encode()
    session = None
    for _ in range(2):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with ctx.wrap_socket(raw, session=session) as t:
                reused = t.session_reused
                t.sendall(req)
                for _ in range(1000):
                    try:
                        if not t.recv(65536):
                            break
                    except (ssl.SSLError, OSError):
                        break
                session = t.session
    return reused


def preflight(srv, tls, page, big_sha):
    """Both servers must serve identical bytes, else the comparison is void."""
    port = srv.tls_port if tls else srv.port
    what = "https" if tls else "http"
    st, body, (ver, suite) = fetch(port, PAGE_PATH, tls)
    if st != 200 or body != page:
        raise Fatal(f"{srv.name}: {what} GET {PAGE_PATH} gave {st}, {len(body)} bytes "
                    f"(want 200 and the {PAGE_SIZE}-byte page)")
    if tls and ver != "TLSv1.3":
        raise Fatal(f"{srv.name}: negotiated {ver}, want TLSv1.3")
    if tls:
        # The suite an OpenSSL client gets (wrk and s_time list AES-256-GCM first, as this one):
        # it sets the key schedule's hash and the record cipher, so the table names it.
        srv.suite = suite
        srv.resumes = tls_resumes(port)
        if not srv.resumes:
            log(f"note: {srv.name} did not resume a TLS 1.3 session from its ticket: "
                f"tls_resume is a full handshake there")
    st, body, _ = fetch(port, BIG_PATH, tls)
    if st != 200 or hashlib.sha256(body).hexdigest() != big_sha:
        raise Fatal(f"{srv.name}: {what} GET {BIG_PATH} gave {st}, {len(body)} bytes, "
                    f"content differs from the file")


# --------------------------------------------------------------------------
# load generators

class Running:
    """The load generator processes of the current run (killed on interrupt)."""
    procs = []


def wait_rusage(p, timeout):
    """Wait for Popen p with os.wait4; returns (status, ru_utime+ru_stime seconds)."""
    timer = threading.Timer(timeout, lambda: p.poll() is None and p.kill())
    timer.start()
    try:
        _, status, ru = os.wait4(p.pid, 0)
    finally:
        timer.cancel()
    p.returncode = os.waitstatus_to_exitcode(status)
    return p.returncode, ru.ru_utime + ru.ru_stime


def run_client(argv, duration, env, tmp):
    """Runs one load client to its end; returns (exit code, its CPU seconds, its output)."""
    out_path = os.path.join(tmp, "client.out")
    with open(out_path, "wb") as out:
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                             stderr=subprocess.STDOUT, env=env)
        Running.procs = [p]
        rc, cpu = wait_rusage(p, duration + 60)
        Running.procs = []
    with open(out_path, errors="replace") as f:
        return rc, cpu, f.read()


def run_wrk(case, port, duration, client_cpu, env, tmp):
    scheme = "https" if case["tls"] else "http"
    url = f"{scheme}://127.0.0.1:{port}{case['path']}"
    timeout = "30s" if case["unit"] == "mib" else "10s"
    argv = ["taskset", "-c", str(client_cpu), "wrk", "-t1", f"-c{case['conns']}",
            f"-d{duration}s", f"--timeout={timeout}", "-s", os.path.join(HERE, "wrk.lua")]
    if case.get("close"):
        argv += ["-H", "Connection: close"]
    argv += [url, "--", str(case["depth"])]
    rc, cpu, text = run_client(argv, duration, env, tmp)
    m = re.search(r"^WRKJSON (\{.*\})$", text, re.M)
    if rc != 0 or not m:
        raise RunFailed(f"wrk failed (exit {rc}): {' '.join(argv)}\n{text[-1000:]}")
    w = json.loads(m.group(1))
    errors = {k[4:]: int(v) for k, v in w.items() if k.startswith("err_") and v}
    return dict(requests=int(w["requests"]), bytes=int(w["bytes"]),
                client_cpu_s=cpu, errors=errors, client_cmd=" ".join(argv))


H2LOAD_REQ_RE = re.compile(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                           r"(\d+) failed, (\d+) errored, (\d+) timeout")
H2LOAD_TRAFFIC_RE = re.compile(r"traffic: \S+ \((\d+)\) total")


def run_h2load(case, port, duration, client_cpu, env, tmp):
    """HTTP/2: `conns` connections, each with `depth` streams open at once, for `duration` s."""
    url = f"https://127.0.0.1:{port}{case['path']}"
    argv = ["taskset", "-c", str(client_cpu), "h2load", "-t1", f"-c{case['conns']}",
            f"-m{case['depth']}", f"-D{duration}", url]
    rc, cpu, text = run_client(argv, duration, env, tmp)
    m, t = H2LOAD_REQ_RE.search(text), H2LOAD_TRAFFIC_RE.search(text)
    if rc != 0 or not m or not t or "Application protocol: h2" not in text:
        raise RunFailed(f"h2load failed (exit {rc}): {' '.join(argv)}\n{text[-1000:]}")
    _, _, done, ok, failed, errored, timeout = (int(x) for x in m.groups())
    errors = {k: v for k, v in (("failed", failed), ("errored", errored),
                                ("timeout", timeout), ("not_2xx", done - ok)) if v}
    return dict(requests=ok, bytes=int(t.group(1)), client_cpu_s=cpu, errors=errors,
                client_cmd=" ".join(argv))


H3LOAD = None  # bench/h3load in the build dir, set by main()
H3LOAD_REQ_RE = re.compile(r"requests: (\d+) total, (\d+) succeeded, (\d+) failed")
H3LOAD_TRAFFIC_RE = re.compile(r"traffic: (\d+) bytes body")
H3LOAD_DROPS_RE = re.compile(r"socket drops: (\d+) datagrams")


def run_h3load(case, port, duration, client_cpu, env, tmp):
    """HTTP/3 with bench/h3load: `conns` connections x `depth` streams, or (fresh) a new
    connection per request."""
    if not H3LOAD or not os.access(H3LOAD, os.X_OK):
        raise Fatal(f"{H3LOAD} not found: build it (cmake --build BUILD --target h3load)")
    url = f"https://127.0.0.1:{port}{case['path']}"
    argv = ["taskset", "-c", str(client_cpu), H3LOAD, "-c", str(case["conns"]),
            "-m", str(case["depth"]), "-D", str(duration)] + (["--new"] if case.get("fresh")
                                                              else []) + [url]
    rc, cpu, text = run_client(argv, duration, env, tmp)
    m, t = H3LOAD_REQ_RE.search(text), H3LOAD_TRAFFIC_RE.search(text)
    if rc != 0 or not m or not t:
        raise RunFailed(f"h3load failed (exit {rc}): {' '.join(argv)}\n{text[-1000:]}")
    _, ok, failed = (int(x) for x in m.groups())
    drops = H3LOAD_DROPS_RE.search(text)
    # Datagrams the client's own sockets dropped: the server then spent CPU on loss recovery
    # that a client keeping up would not cause. Kept with the run and shown in its log line.
    return dict(requests=ok, bytes=int(t.group(1)), client_cpu_s=cpu,
                errors={"failed": failed} if failed else {}, client_cmd=" ".join(argv),
                client_socket_drops=int(drops.group(1)) if drops else None)


STIME_RE = re.compile(r"(\d+) connections in \d+ real seconds, (\d+) bytes read per connection")


def run_stime(case, port, duration, client_cpu, env, tmp):
    """Full TLS 1.3 handshakes: `openssl s_time -new` never resumes a session."""
    procs, outs = [], []
    argv = ["taskset", "-c", str(client_cpu), "openssl", "s_time",
            "-connect", f"127.0.0.1:{port}", "-new", "-tls1_3",
            "-www", case["path"], "-time", str(duration)]
    for i in range(case["conns"]):
        path = os.path.join(tmp, f"stime{i}.out")
        outs.append(path)
        with open(path, "wb") as out:
            procs.append(subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                          stderr=subprocess.STDOUT, env=env))
    Running.procs = procs
    cpu, rcs = 0.0, []
    for p in procs:
        rc, c = wait_rusage(p, duration + 60)
        cpu += c
        rcs.append(rc)
    Running.procs = []
    requests, nbytes = 0, 0
    for rc, path in zip(rcs, outs):
        with open(path, errors="replace") as f:
            text = f.read()
        m = STIME_RE.search(text)
        if rc != 0 or not m:
            raise RunFailed(f"openssl s_time failed (exit {rc}): {' '.join(argv)}\n"
                            + "\n".join(l for l in text.splitlines() if "*" not in l)[-800:])
        n, per = int(m.group(1)), int(m.group(2))
        if n and per < PAGE_SIZE:
            raise Fatal(f"openssl s_time read {per} bytes per connection (< page size): "
                        f"the server is not answering {case['path']} with the page")
        requests += n
        nbytes += n * per
    return dict(requests=requests, bytes=nbytes, client_cpu_s=cpu, errors={},
                client_cmd=f"{len(procs)} x " + " ".join(argv))


def wait_quiet(max_wait, limit_pct=15.0):
    """Wait (at most max_wait s) until the whole machine is nearly idle for 0.5 s:
    other people's builds on a shared box distort every figure. Returns the
    seconds waited and the last busy % seen (of one core)."""
    start = time.monotonic()
    busy = 0.0
    while True:
        b0, _ = core_times()
        time.sleep(0.5)
        b1, _ = core_times()
        busy = 100 * (b1 - b0) / CLK_TCK / 0.5
        waited = time.monotonic() - start
        if busy <= limit_pct or waited >= max_wait:
            return round(waited, 1), round(busy, 1)
        time.sleep(0.5)


def tree_rss_kib(pid):
    """VmRSS summed over a process and its children (nginx: master and worker)."""
    total = 0
    for p in [pid] + proc_children(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def idle_connection(port, tls_ctx, path):
    """A keep-alive connection that has made one request and read its whole answer."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    if tls_ctx:
        s = tls_ctx.wrap_socket(s, server_hostname="localhost")
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise RunFailed("the server closed a connection before answering")
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    if not head.startswith(b"HTTP/1.1 200") or not m:
        raise RunFailed("unexpected answer: " + head[:200].decode(errors="replace"))
    while len(body) < int(m.group(1)):
        chunk = s.recv(65536)
        if not chunk:
            raise RunFailed("the server closed a connection mid-answer")
        body += chunk
    return s


def measure_idle(srv, case, args):
    """Server memory per idle keep-alive connection: RSS of the server's processes before and
    after `conns` connections have each made one request and sat idle for a few seconds. A
    CDN's connections are mostly idle browsers, so this is what a busy edge's memory is."""
    # A fresh server process: what earlier cases left in its heap (or gave back) would
    # otherwise move its RSS by more than the connections do.
    srv.stop()
    srv.start()
    port = srv.tls_port if case["tls"] else srv.port
    ctx = None
    if case["tls"]:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    # Warm up: the server's first connections allocate what every later one reuses.
    warm = [idle_connection(port, ctx, case["path"]) for _ in range(50)]
    time.sleep(IDLE_SETTLE_S)
    before = tree_rss_kib(srv.child.pid)
    conns = []
    try:
        for _ in range(case["conns"]):
            conns.append(idle_connection(port, ctx, case["path"]))
        time.sleep(IDLE_SETTLE_S)
        after = tree_rss_kib(srv.child.pid)
        alive = sum(1 for s in conns if s.fileno() >= 0)
    finally:
        for s in conns + warm:
            s.close()
    if not srv.child.alive():
        raise Fatal(f"{srv.name} died during {case['name']}:\n" + srv.child.log_tail())
    per = (after - before) * 1024 / len(conns)
    return dict(case=case["name"], server=srv.name, conns=len(conns), alive=alive,
                rss_before_kib=before, rss_after_kib=after, bytes_per_conn=round(per),
                errors={}, client_cmd=f"bench.py: {len(conns)} idle connections")


def measure(srv, case, duration, args, env, tmp):
    if case["tool"] == "idle":
        return measure_idle(srv, case, args)
    port = srv.tls_port if case["tls"] else srv.port
    quiet = wait_quiet(args.wait_quiet) if args.wait_quiet > 0 else None
    runner = {"stime": run_stime, "h2load": run_h2load,
              "h3load": run_h3load}.get(case["tool"], run_wrk)
    if args.warmup > 0:
        runner(case, port, args.warmup, args.client_cpu, env, tmp)
    c0_busy0, c0_total0 = core_times(args.server_cpu)
    all_busy0, _ = core_times()
    me0 = os.times()
    t0, ticks0 = time.monotonic(), srv.cpu_ticks()
    r = runner(case, port, duration, args.client_cpu, env, tmp)
    ticks1, t1 = srv.cpu_ticks(), time.monotonic()
    c0_busy1, c0_total1 = core_times(args.server_cpu)
    all_busy1, _ = core_times()
    me1 = os.times()
    if not srv.child.alive():
        raise Fatal(f"{srv.name} died during {case['name']}:\n" + srv.child.log_tail())
    wall = t1 - t0
    scpu = (ticks1 - ticks0) / CLK_TCK
    reqs, mib = r["requests"], r["bytes"] / MIB
    res = dict(case=case["name"], server=srv.name, duration_s=duration, wall_s=round(wall, 3),
               requests=reqs, bytes=r["bytes"],
               req_per_s=round(reqs / wall, 1), mib_per_s=round(mib / wall, 2),
               server_cpu_s=round(scpu, 3),
               server_cpu_us_per_req=round(scpu * 1e6 / reqs, 3) if reqs else None,
               server_cpu_ms_per_mib=round(scpu * 1e3 / mib, 4) if mib else None,
               server_busy_pct=round(100 * scpu / wall, 1),
               client_cpu_s=round(r["client_cpu_s"], 3),
               client_busy_pct=round(100 * r["client_cpu_s"] / wall, 1),
               server_core_busy_pct=round(100 * (c0_busy1 - c0_busy0) /
                                          max(1, c0_total1 - c0_total0), 1),
               errors=r["errors"], client_cmd=r["client_cmd"])
    if r.get("client_socket_drops") is not None:
        res["client_socket_drops"] = r["client_socket_drops"]
    # Everything else the machine did meanwhile, in % of one core: both cores'
    # busy time minus server, client and this driver. Includes the kernel's
    # softirq network work (similar for both servers); a large value means
    # other processes competed with the benchmark and its figures are noisy.
    driver = (me1.user + me1.system) - (me0.user + me0.system)
    other = (all_busy1 - all_busy0) / CLK_TCK - scpu - r["client_cpu_s"] - driver
    res["other_busy_pct"] = round(max(0.0, 100 * other / wall), 1)
    if quiet:
        res["quiet_wait_s"], res["idle_check_busy_pct"] = quiet
    return res


# --------------------------------------------------------------------------
# report

def med(rows, key):
    vals = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def fmt(v, digits=None):
    if v is None:
        return "–"
    if digits is None:
        digits = 0 if abs(v) >= 1000 else (1 if abs(v) >= 10 else (2 if abs(v) >= 1 else 3))
    return f"{v:,.{digits}f}"


def spread(rows, key):
    """Half the min-max range relative to the median, in %."""
    vals = [r[key] for r in rows if r.get(key) is not None]
    m = statistics.median(vals) if vals else None
    if len(vals) < 2 or not m:
        return ""
    return f" ±{50 * (max(vals) - min(vals)) / m:.0f}%"


def ratio(a, b):
    return a / b if a is not None and b else None


def report(results, cases, names, skipped, meta, failed=()):
    """names: cdn-edge, nginx and optionally h2o. Ratios are cdn-edge over each peer; a case's
    `target` applies to the nginx ratio, its `target_h2o` to the h2o one."""
    E, N = names[0], names[1]
    H = names[2] if len(names) > 2 else None
    peers = [(N, "target")] + ([(H, "target_h2o")] if H else [])
    lines = []
    lines.append(f"### cdn-edge vs {' and '.join(n for n, _ in peers)} — {meta['date']}")
    lines.append("")
    lines.append(f"{meta['rounds']} rounds × {meta['duration']} s per run (after a "
                 f"{meta['warmup']} s warm-up), medians over rounds; server on CPU "
                 f"{meta['server_cpu']}, client on CPU {meta['client_cpu']}; one worker each. "
                 f"{meta['versions']}.")
    if meta.get("suites"):
        lines.append("")
        lines.append("TLS 1.3 suite an OpenSSL client (wrk, s_time) gets: " + ", ".join(
            f"{name} {suite}" for name, suite in meta["suites"].items()) + ".")
    lines.append("")
    head = f"| case | metric | {E} | " + " | ".join(n for n, _ in peers) + " | " + \
        " | ".join(f"{E}/{n} | target" for n, _ in peers) + " |"
    lines.append(head)
    lines.append("|---|---|---:|" + "---:|" * len(peers) + "---:|---|" * len(peers))
    for cname in cases:
        c = CASES[cname]
        if c.get("edge_only") and cname not in skipped:
            continue  # in the HTTP/3 section below
        if cname in skipped:
            lines.append(f"| {cname} | skipped: {skipped[cname]} | | | | |")
            continue
        rows = {n: [r for r in results if r["case"] == cname and r["server"] == n]
                for n in [E] + [p for p, _ in peers]}
        er = rows[E]
        fails = [sum(1 for r in failed if r["case"] == cname and r["server"] == n)
                 for n in [E] + [p for p, _ in peers]]
        if any(fails):
            lines.append(f"| {cname} | failed runs (left out; see the JSON) | "
                         + " | ".join(str(f) for f in fails) + " |" + " | |" * len(peers))
        if not er or not all(rows[p] for p, _ in peers):
            continue

        def row(label, key, tkey, better, digits=None):
            a = med(er, key)
            cells = [f"{fmt(a)}{spread(er, key)}"]
            cells += [f"{fmt(med(rows[p], key))}{spread(rows[p], key)}" for p, _ in peers]
            for p, tname in peers:
                q = ratio(a, med(rows[p], key))
                t = ""
                tgt = c.get(tname, {})
                if tkey in tgt and q is not None:
                    ok = q >= tgt[tkey] if better == ">=" else q <= tgt[tkey]
                    t = f"{'≥' if better == '>=' else '≤'} {tgt[tkey]:.2f} {'ok' if ok else 'MISS'}"
                cells += [fmt(q, 2) if q is not None else "–", t]
            lines.append(f"| {cname} | {label} | " + " | ".join(cells) + " |")

        if c["unit"] == "mem":
            row("server bytes per idle connection", "bytes_per_conn", "mem", "<=")
            continue
        if c["unit"] == "mib":
            rk, rl, ck, cl = "mib_per_s", "MiB/s", "server_cpu_ms_per_mib", "server CPU ms/MiB"
        else:
            rk, rl, ck, cl = "req_per_s", "req/s", "server_cpu_us_per_req", "server CPU µs/req"
        row(rl, rk, "rate", ">=")
        row(cl, ck, "cpu", "<=")
        busy = lambda rows: (f"{fmt(med(rows, 'server_busy_pct'), 0)} / "
                             f"{fmt(med(rows, 'server_core_busy_pct'), 0)} / "
                             f"{fmt(med(rows, 'client_busy_pct'), 0)} / "
                             f"{fmt(med(rows, 'other_busy_pct'), 0)}")
        lines.append(f"| {cname} | busy % server / server core / client / other | {busy(er)} | "
                     + " | ".join(busy(rows[p]) for p, _ in peers) + " |" + " | |" * len(peers))
        allrows = [r for n in rows for r in rows[n]]
        if sum(sum(r["errors"].values()) for r in allrows):
            lines.append(f"| {cname} | client-reported errors (all runs) | "
                         + " | ".join(str(sum(sum(r["errors"].values()) for r in rows[n]))
                                      for n in rows) + " |" + " | |" * len(peers))
    lines += h3_section(results, cases, E, [p for p, _ in peers], skipped)
    lines.append("")
    others = [r["other_busy_pct"] for r in results if "other_busy_pct" in r]
    if others and statistics.median(others) > 20:
        lines.append(f"**Noisy machine:** other work used a median {statistics.median(others):.0f}% "
                     f"of a core during the runs (max {max(others):.0f}%); compare ratios, "
                     f"and rerun on a quiet machine before quoting figures.")
        lines.append("")
    lines.append("±: half the min–max range over rounds, relative to the median. "
                 "busy %: server process CPU, server core total, client CPU, and other work "
                 "on the machine (both cores minus server, client and driver; % of one core).")
    lines.append("")
    lines.append("Cases: " + "; ".join(f"{n}: {CASES[n]['desc']}" for n in cases) + ".")
    return "\n".join(lines)


def forward_cost(build_dir):
    """The stray-forwarding filter's time per packet here (`cdn-hooks forward-cost`: the kernel
    runs it in a private network namespace), or (None, why)."""
    hooks = os.path.join(build_dir, "bgp-hooks", "cdn-hooks")
    if not os.access(hooks, os.X_OK):
        return None, f"{hooks} not built"
    try:
        p = subprocess.run([hooks, "forward-cost", "--runs", "1000000"], capture_output=True,
                           text=True, timeout=120)
    except subprocess.TimeoutExpired:
        return None, "cdn-hooks forward-cost timed out"
    if p.returncode != 0:
        return None, (p.stderr.strip() or f"exit {p.returncode}") + " (needs root)"
    return json.loads(p.stdout), ""


def forward_section(results, cases, E, build_dir):
    """What stray forwarding costs a node that is not forwarding: its tc filter runs on every
    inbound packet. Against cdn-edge's own server CPU per request on the keep-alive cases
    (a keep-alive request brings in about two segments: the request and an ACK)."""
    cost, why = forward_cost(build_dir)
    lines = ["", "", "Stray forwarding on the serving path (a node that is not forwarding; the "
             "tc filter cdn-hooks loads runs on every inbound packet):", ""]
    if cost is None:
        lines.append(f"not measured: {why}")
        return "\n".join(lines)
    ns = cost["local_segment_ns"]
    lines.append(f"filter time per packet: {ns} ns (a segment of a local connection), "
                 f"{cost['other_address_ns']} ns (another address); the kernel's own timing "
                 f"over {cost['runs']:,} runs.")
    rows = []
    for cname in ("ka8k", "tls_ka8k"):
        er = [r for r in results if r["case"] == cname and r["server"] == E]
        if cname not in cases or not er:
            continue
        per_req = med(er, "server_cpu_us_per_req")
        filt = 2 * ns / 1000
        rows.append(f"| {cname} | {fmt(per_req)} | {filt:.2f} | {100 * filt / per_req:.1f}% |")
    if rows:
        lines += ["", f"| case | {E} server CPU µs/req | filter µs/req (2 packets) | filter / "
                  f"{E} |", "|---|---:|---:|---:|"] + rows
    return "\n".join(lines)


def h3_section(results, cases, E, peers, skipped):
    """HTTP/3 cases against the TCP case each is held to (`vs`): cdn-edge's own figure over
    TCP, and the peers' for reference; the goal applies to cdn-edge h3 / cdn-edge TCP."""
    h3 = [c for c in cases if CASES[c].get("edge_only")]
    if not h3:
        return []
    lines = ["", f"HTTP/3 (cdn-edge only; Debian's nginx and h2o have none), against a TCP case:",
             "", f"| case | metric | {E} h3 | TCP case | {E} TCP | "
             + " | ".join(f"{p} TCP" for p in peers) + f" | h3 / {E} TCP | goal |",
             "|---|---|---:|---|---:|" + "---:|" * len(peers) + "---:|---|"]
    for cname in h3:
        if cname in skipped:
            lines.append(f"| {cname} | skipped: {skipped[cname]} |")
            continue
        c = CASES[cname]
        tcp, key, goal = c["vs"]
        er = [r for r in results if r["case"] == cname and r["server"] == E]
        if not er:
            continue
        rate_key = "mib_per_s" if c["unit"] == "mib" else "req_per_s"
        for label, k, g in ((("MiB/s" if c["unit"] == "mib" else "req/s"), rate_key, None),
                            (("server CPU ms/MiB" if c["unit"] == "mib"
                              else "server CPU µs/req"), key, goal)):
            a = med(er, k)
            t = [r for r in results if r["case"] == tcp and r["server"] == E]
            b = med(t, k) if t else None
            q = ratio(a, b)
            verdict = (f"≤ {g:.2f} {'ok' if q <= g else 'MISS'}" if g is not None and q is not None
                       else "")
            peer_cells = " | ".join(
                fmt(med([r for r in results if r["case"] == tcp and r["server"] == p], k))
                for p in peers)
            lines.append(f"| {cname} | {label} | {fmt(a)}{spread(er, k)} | {tcp} | {fmt(b)} | "
                         f"{peer_cells} | {fmt(q, 2) if q is not None else '–'} | {verdict} |")
        errs = sum(sum(r["errors"].values()) for r in er)
        if errs:
            lines.append(f"| {cname} | client-reported errors (all runs) | {errs} |")
    return lines


def versions():
    out = []
    try:
        v = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip()
        out.append(v.replace("nginx version: ", ""))
    except OSError:
        pass
    if shutil.which("h2o"):
        try:
            v = subprocess.run(["h2o", "--version"], capture_output=True, text=True).stdout
            out.append(v.splitlines()[0].replace("h2o version ", "h2o ") if v else "h2o")
        except OSError:
            pass
    try:
        v = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()
        out.append("wrk " + v[0].split()[1] if v else "wrk")
    except (OSError, IndexError):
        pass
    try:
        out.append(subprocess.run(["openssl", "version"], capture_output=True,
                                  text=True).stdout.split(" (")[0].strip())
    except OSError:
        pass
    out.append("Linux " + os.uname().release)
    return ", ".join(out)


# --------------------------------------------------------------------------

def parse_args(argv):
    ap = argparse.ArgumentParser(
        prog="bench/run.sh",
        description="Compare cdn-edge and nginx (one worker each) on loopback, alternating; "
                    "prints medians and edge/nginx ratios as a Markdown table.")
    ap.add_argument("--build-dir", default="build",
                    help="CMake build dir holding edge/cdn-edge (default: build)")
    ap.add_argument("--rounds", type=int, default=3, help="alternations per case (default 3)")
    ap.add_argument("--duration", type=int, default=8, help="seconds per run (default 8)")
    ap.add_argument("--warmup", type=int, default=1,
                    help="unmeasured seconds before every run (default 1, 0 = none)")
    ap.add_argument("--cases", default=DEFAULT_CASES,
                    help=f"comma list from {','.join(CASES)} (default {DEFAULT_CASES})")
    ap.add_argument("--out", help="directory for raw JSON lines and the table "
                                  "(default BUILD/bench-results)")
    ap.add_argument("--site", default=os.path.join(REPO, "site"),
                    help="site to copy into the data dir (default: the repo's site/)")
    ap.add_argument("--edge-cmd",
                    help="replace cdn-edge: 'nginx' (self-test: nginx on both sides) or a "
                         "command with {site} {port} {tls_port} {cert} {key} placeholders")
    ap.add_argument("--edge-args", default="",
                    help="extra arguments appended to the cdn-edge command line")
    ap.add_argument("--wait-quiet", type=int, default=0, metavar="S",
                    help="before each run wait up to S seconds for the machine to be idle "
                         "(for shared machines; default 0 = don't wait)")
    ap.add_argument("--peers", default="nginx,h2o",
                    help="servers to compare with: nginx, and h2o when installed "
                         "(default nginx,h2o)")
    ap.add_argument("--server-cpu", type=int, default=0)
    ap.add_argument("--client-cpu", type=int, default=1)
    ap.add_argument("--keep-tmp", action="store_true", help="keep the temp dir (configs, logs)")
    a = ap.parse_args(argv)
    a.cases = [c.strip() for c in a.cases.split(",") if c.strip()]
    a.peers = [p.strip() for p in a.peers.split(",") if p.strip()]
    if "nginx" not in a.peers or any(p not in ("nginx", "h2o") for p in a.peers):
        ap.error("--peers: nginx, optionally followed by h2o")
    bad = [c for c in a.cases if c not in CASES]
    if bad:
        ap.error(f"unknown case(s) {bad}; known: {','.join(CASES)}")
    if not 1 <= a.rounds <= 50 or not 1 <= a.duration <= 600 or not 0 <= a.warmup <= 60 \
            or not 0 <= a.wait_quiet <= 600:
        ap.error("--rounds 1..50, --duration 1..600, --warmup 0..60, --wait-quiet 0..600")
    if not os.path.isabs(a.build_dir) and not os.path.isdir(a.build_dir) \
            and os.path.isdir(os.path.join(REPO, a.build_dir)):
        a.build_dir = os.path.join(REPO, a.build_dir)
    a.build_dir = os.path.abspath(a.build_dir)
    return a


def main(argv):
    args = parse_args(argv)
    global H3LOAD
    H3LOAD = os.path.join(args.build_dir, "bench", "h3load")
    for tool in ("wrk", "nginx", "openssl", "taskset"):
        if not shutil.which(tool):
            raise Fatal(f"{tool} not found (apt-get install -y wrk nginx-light openssl util-linux)")
    ncpu = os.cpu_count() or 1
    if max(args.server_cpu, args.client_cpu) >= ncpu or args.server_cpu == args.client_cpu:
        raise Fatal(f"need two distinct CPUs < {ncpu} for server and client")
    try:  # keep this driver off the server's core
        os.sched_setaffinity(0, {args.client_cpu})
    except OSError:
        pass

    def on_signal(signum, frame):
        raise Interrupted(signal.Signals(signum).name)
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)

    out_dir = os.path.abspath(args.out or os.path.join(args.build_dir, "bench-results"))
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    tmp = tempfile.mkdtemp(prefix="anyedge-bench-")
    servers = []
    try:
        log(f"temp dir {tmp}")
        data, big_sha = prepare_data(tmp, args.site)
        page = make_page()
        cert, key = make_cert(tmp)
        edge, edge_tls, note = edge_server(args, tmp, data, cert, key, args.server_cpu)
        nginx = nginx_server("nginx", tmp, data, cert, key, args.server_cpu)
        h2o = None
        if "h2o" in args.peers:
            if shutil.which("h2o"):
                h2o = h2o_server("h2o", tmp, data, cert, key, args.server_cpu)
            else:
                log("note: h2o not installed (apt-get install -y h2o): compared with nginx only")
        skipped = {}
        if args.edge_cmd:
            for c in args.cases:
                if CASES[c].get("edge_only"):
                    skipped[c] = "HTTP/3 needs cdn-edge (bench/h3load)"
        if not edge_tls:
            log("note: " + note)
            for c in args.cases:
                if CASES[c]["tls"]:
                    skipped[c] = "edge has no TLS yet"
        servers = [edge, nginx] + ([h2o] if h2o else [])
        for s in servers:
            log(f"starting {s.name}: {' '.join(s.argv)}")
            s.start()
            preflight(s, False, page, big_sha)
            if s.tls_port:
                preflight(s, True, page, big_sha)
        if edge_tls and not edge.tls_port:
            edge_tls = False
            for c in args.cases:
                if CASES[c]["tls"]:
                    skipped[c] = "cdn-edge's TLS listener did not come up"
        log("the servers serve identical bytes (8 KB page, 20 MiB file"
            + (", also over TLS 1.3)" if edge_tls else ")"))

        cases = [c for c in args.cases if c not in skipped]
        runs = args.rounds * sum(1 if CASES[c].get("edge_only") else len(servers)
                                 for c in cases)
        est = runs * (args.duration + args.warmup + 0.5)
        if args.wait_quiet:
            log(f"waiting up to {args.wait_quiet} s for an idle machine before each run")
        log(f"{runs} runs, about {est / 60:.1f} min; load average "
            f"{open('/proc/loadavg').read().split()[0]}")

        os.makedirs(out_dir, exist_ok=True)
        jsonl = os.path.join(out_dir, f"bench-{stamp}.jsonl")
        env = dict(os.environ)
        client_conf = os.path.join(tmp, "client-openssl.cnf")
        with open(client_conf, "w") as f:
            f.write("openssl_conf = c\n[c]\nssl_conf = s\n[s]\nsystem_default = d\n"
                    "[d]\nMinProtocol = TLSv1.3\n")
        env["OPENSSL_CONF"] = client_conf  # wrk and s_time: TLS 1.3 only

        with open(os.path.join(out_dir, f"bench-{stamp}.meta.json"), "w") as f:
            json.dump(dict(args=vars(args), versions=versions(),
                           servers={s.name: s.argv for s in servers},
                           nginx_conf=open(os.path.join(tmp, "nginx", "nginx.conf")).read(),
                           loadavg_start=open("/proc/loadavg").read().strip(),
                           tls_resumption={s.name: s.resumes for s in servers},
                           tls_suite={s.name: s.suite for s in servers},
                           skipped=skipped), f, indent=1)
        results, failed = [], []
        n = 0
        with open(jsonl, "w") as jf:
            for rnd in range(1, args.rounds + 1):
                # Each round in another order, so no server always runs first or last.
                k = (rnd - 1) % len(servers)
                order = servers[k:] + servers[:k]
                for cname in cases:
                    case = dict(CASES[cname], name=cname)
                    for srv in order:
                        if case.get("edge_only") and srv is not edge:
                            continue
                        n += 1
                        try:
                            r = measure(srv, case, args.duration, args, env, tmp)
                        except RunFailed as e:
                            if not srv.child.alive():
                                raise Fatal(f"{srv.name} died during {cname}:\n"
                                            + srv.child.log_tail())
                            r = dict(case=cname, server=srv.name, failed=str(e))
                        r.update(round=rnd, ts=datetime.datetime.now().isoformat(
                            timespec="seconds"))
                        jf.write(json.dumps(r) + "\n")
                        jf.flush()
                        if r.get("failed"):
                            failed.append(r)
                            log(f"[{n:3d}/{runs}] r{rnd} {cname:9s} {srv.name:8s} RUN FAILED, "
                                f"left out of the medians:\n    "
                                + r["failed"].replace("\n", "\n    "))
                            continue
                        results.append(r)
                        if case["unit"] == "mem":
                            log(f"[{n:3d}/{runs}] r{rnd} {cname:9s} {srv.name:8s} "
                                f"{r['bytes_per_conn']:,} bytes per idle connection "
                                f"(RSS {r['rss_before_kib']} -> {r['rss_after_kib']} KiB)")
                            continue
                        rate = (f"{r['mib_per_s']:9.1f} MiB/s" if case["unit"] == "mib"
                                else f"{r['req_per_s']:9.0f} req/s")
                        cpu = (f"{r['server_cpu_ms_per_mib']:.3f} ms/MiB" if case["unit"] == "mib"
                               else f"{r['server_cpu_us_per_req']:.2f} µs/req")
                        warn = f"  ERRORS {r['errors']}" if r["errors"] else ""
                        if r.get("client_socket_drops"):
                            warn += f"  client socket drops {r['client_socket_drops']}"
                        log(f"[{n:3d}/{runs}] r{rnd} {cname:9s} {srv.name:8s} {rate}  "
                            f"server {cpu}  busy srv {r['server_busy_pct']:.0f}% "
                            f"core {r['server_core_busy_pct']:.0f}% "
                            f"cli {r['client_busy_pct']:.0f}% other {r['other_busy_pct']:.0f}%{warn}")
        meta = dict(date=datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
                    rounds=args.rounds, duration=args.duration, warmup=args.warmup,
                    server_cpu=args.server_cpu, client_cpu=args.client_cpu,
                    versions=versions(),
                    suites={s.name: s.suite for s in servers if s.suite})
        table = report(results, args.cases, [s.name for s in servers], skipped, meta, failed)
        table += forward_section(results, args.cases, servers[0].name, args.build_dir)
        if args.edge_cmd:
            table += f"\n\n(cdn-edge column produced by --edge-cmd {args.edge_cmd!r})"
        for note in note_for_table:
            table += f"\n\n**Warning:** {note}"
        md = os.path.join(out_dir, f"bench-{stamp}.md")
        with open(md, "w") as f:
            f.write(table + "\n")
        print(table, flush=True)
        log(f"\nraw results: {jsonl}\ntable: {md}")
        return 0
    finally:
        for p in Running.procs:
            if p.poll() is None:
                p.kill()
        for s in servers:
            s.stop()
        if args.keep_tmp:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except Fatal as e:
        log(f"bench: error: {e}")
        sys.exit(1)
    except Interrupted as e:
        log(f"bench: interrupted ({e}), servers stopped")
        sys.exit(130)
