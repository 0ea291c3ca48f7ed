#!/usr/bin/env python3
"""Lab probe: HTTP/1.1 clients against the anycast address, with per-request timing.

  probe.py run --addr 203.0.113.10 [--port 80] --out FILE --duration-s 10
               [--interval-ms 20] [--timeout-ms 500] [--stop-file F]
               [--keepalive N --ka-interval-ms 50]
      New-connection mode (default): starts a new TCP connection every interval (they may
      overlap, so a black-holed request never delays the next one), one GET with
      `Connection: close`. Keep-alive mode: N connections, each sending a GET every
      ka-interval on the same connection; a connection the server closes after a
      `Connection: close` response is a clean close, one that dies otherwise is a reset.
      Writes one line per request: start_ms end_ms ok served_by conn_id detail
  probe.py run ... --tls-ca CA.pem: new connections over TLS, the certificate verified against
      CA.pem for --host (a failed verification is a failed request); detail = HTTPnnn:SERIAL,
      the serial of the certificate that served it.
  probe.py run ... --page: each request is the page plus its /assets/ references (new
      connections); detail = the page's generation (gen1, gen2, ...) or mixed:... when an
      asset the page references does not answer 200.
  probe.py failover FILE --from NODE
      Prints JSON: first failure, first success on another node after it, the outage in ms
      (first failed request's start to the end of that success), failed-request count.
  probe.py summary FILE
      Prints JSON: requests, failures, per-node counts, resets/clean closes (keep-alive).
  probe.py window FILE... [--from MS] [--to MS] [--slow-ms 900]
      Prints JSON about the requests that started in [from, to) (epoch ms): requests, failed,
      failures by kind, per-node counts, latency (end - start) p50 and max, how many took longer
      than --slow-ms (e.g. waited a SYN retransmission), and the p50 latency of the requests
      before `from` (the baseline) with max_added_ms = max - baseline p50.
Bounded: every run stops at --duration-s at the latest.
"""
import argparse
import asyncio
import random
import json
import os
import socket
import ssl
import sys
import time
from collections import Counter


def now_ms():
    return time.time() * 1000.0


def build_request(host, path, close):
    conn = "close" if close else "keep-alive"
    return (f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: anyedge-lab-probe\r\n"
            f"Accept-Encoding: identity\r\nConnection: {conn}\r\n\r\n").encode()


async def read_response(reader):
    """Returns (status, headers dict lower-case, body bytes)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    n = int(headers.get("content-length", "0"))
    body = await reader.readexactly(n) if n else b""
    return status, headers, body


class Recorder:
    def __init__(self, path):
        self.f = open(path, "w", buffering=1)

    def add(self, start, end, ok, served_by, conn_id, detail):
        detail = detail.replace(" ", "_") or "-"
        self.f.write(f"{start:.3f} {end:.3f} {1 if ok else 0} {served_by or '-'} {conn_id} {detail}\n")


async def one_request(args, rec, seq):
    start = now_ms()
    served, ok, detail = None, False, ""
    writer = None
    try:
        async def go():
            nonlocal writer
            if args.tls_ca:
                reader, writer = await asyncio.open_connection(
                    args.addr, args.port, ssl=tls_context(args.tls_ca), server_hostname=args.host)
            else:
                reader, writer = await asyncio.open_connection(args.addr, args.port)
            writer.write(build_request(args.host, args.path, True))
            await writer.drain()
            return await read_response(reader)
        status, headers, _ = await asyncio.wait_for(go(), args.timeout_ms / 1000.0)
        served = headers.get("x-served-by")
        ok = status == 200
        detail = f"HTTP{status}"
        if args.tls_ca:
            cert = writer.get_extra_info("peercert") or {}
            detail += ":" + cert.get("serialNumber", "?")
    except asyncio.TimeoutError:
        detail = "timeout"
    except ssl.SSLError as e:
        detail = "tls:" + (e.reason or type(e).__name__)
    except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as e:
        detail = type(e).__name__
    finally:
        if writer is not None:
            writer.close()
    rec.add(start, now_ms(), ok, served, seq, detail)


_tls_contexts = {}


def tls_context(ca_file):
    """One verifying client context per CA file (certificate and host name checked)."""
    if ca_file not in _tls_contexts:
        _tls_contexts[ca_file] = ssl.create_default_context(cafile=ca_file)
    return _tls_contexts[ca_file]


def jittered(interval_ms):
    """Independent clients are not phase-locked: each pause is 0.5x to 1.5x the interval."""
    return interval_ms * random.uniform(0.5, 1.5) / 1000.0


async def keepalive_client(args, rec, cid, deadline, counts):
    while now_ms() < deadline and not stop_requested(args):
        writer = None
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(args.addr, args.port), args.timeout_ms / 1000.0)
            counts["connections"] += 1
            while now_ms() < deadline and not stop_requested(args):
                start = now_ms()
                try:
                    writer.write(build_request(args.host, args.path, False))
                    await writer.drain()
                    status, headers, _ = await asyncio.wait_for(read_response(reader),
                                                                args.timeout_ms / 1000.0)
                except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError) as e:
                    counts["resets"] += 1
                    rec.add(start, now_ms(), False, None, cid, "reset:" + type(e).__name__)
                    break
                rec.add(start, now_ms(), status == 200, headers.get("x-served-by"), cid,
                        f"HTTP{status}")
                if headers.get("connection", "").lower() == "close":
                    counts["clean_closes"] += 1
                    # Like a browser: the next connection is opened for the next request, on
                    # the client's own schedule, not straight away.
                    await asyncio.sleep(jittered(args.ka_interval_ms))
                    break
                await asyncio.sleep(jittered(args.ka_interval_ms))
        except (OSError, asyncio.TimeoutError) as e:
            rec.add(now_ms(), now_ms(), False, None, cid, "connect:" + type(e).__name__)
            await asyncio.sleep(args.ka_interval_ms / 1000.0)
        finally:
            if writer is not None:
                writer.close()


ASSET_RE = None


async def fetch(args, path):
    """One GET on a new connection: (status, headers, body)."""
    writer = None
    try:
        reader, writer = await asyncio.open_connection(args.addr, args.port)
        writer.write(build_request(args.host, path, True))
        await writer.drain()
        return await read_response(reader)
    finally:
        if writer is not None:
            writer.close()


async def one_page(args, rec, seq):
    """The page and every /assets/ reference in it, each on a new connection. ok = all 200;
    detail = the page's lab generation marker (gen1 when absent), or what broke."""
    import re
    global ASSET_RE
    if ASSET_RE is None:
        ASSET_RE = re.compile(r'(?:href|src)="(/assets/[^"#?]+)"')
    start = now_ms()
    served, ok, detail = None, False, ""
    try:
        async def go():
            try:
                status, headers, body = await fetch(args, args.path)
            except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as e:
                return None, f"page:{args.path}:{type(e).__name__}"
            if status != 200:
                return None, f"page:HTTP{status}"
            text = body.decode("utf-8", "replace")
            m = re.search(r'<meta name="lab-generation" content="(\d+)"', text)
            gen = "gen" + (m.group(1) if m else "1")
            for asset in sorted(set(ASSET_RE.findall(text))):
                try:
                    st, h, _ = await fetch(args, asset)
                except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as e:
                    return headers.get("x-served-by"), f"asset:{gen}:{asset}:{type(e).__name__}"
                if st != 200:
                    return headers.get("x-served-by"), f"mixed:{gen}:{asset}:HTTP{st}"
            return headers.get("x-served-by"), gen
        served, detail = await asyncio.wait_for(go(), args.timeout_ms / 1000.0)
        ok = detail.startswith("gen")
    except asyncio.TimeoutError:
        detail = "timeout"
    except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as e:
        detail = type(e).__name__
    rec.add(start, now_ms(), ok, served, seq, detail)


def stop_requested(args):
    return args.stop_file and os.path.exists(args.stop_file)


async def run(args):
    rec = Recorder(args.out)
    deadline = now_ms() + args.duration_s * 1000.0
    counts = {"connections": 0, "resets": 0, "clean_closes": 0}
    if args.keepalive:
        await asyncio.gather(*(keepalive_client(args, rec, i, deadline, counts)
                               for i in range(args.keepalive)))
    else:
        tasks = set()
        seq = 0
        nxt = now_ms()
        while now_ms() < deadline and not stop_requested(args):
            t = asyncio.ensure_future((one_page if args.page else one_request)(args, rec, seq))
            tasks.add(t)
            t.add_done_callback(tasks.discard)
            seq += 1
            nxt += args.interval_ms
            await asyncio.sleep(max(0.0, (nxt - now_ms()) / 1000.0))
        if tasks:
            await asyncio.wait(tasks, timeout=args.timeout_ms / 1000.0 + 1)
    if args.keepalive:
        with open(args.out + ".counts", "w") as f:
            json.dump(counts, f)


def load(path):
    rows = []
    with open(path) as f:
        for line in f:
            p = line.split()
            if len(p) < 6:
                continue
            rows.append({"start": float(p[0]), "end": float(p[1]), "ok": p[2] == "1",
                         "node": p[3], "conn": p[4], "detail": p[5]})
    rows.sort(key=lambda r: r["start"])
    return rows


def failover(path, from_node):
    rows = load(path)
    out = {"requests": len(rows), "failed": sum(1 for r in rows if not r["ok"])}
    first_fail = next((r for r in rows if not r["ok"]), None)
    if first_fail is None:
        # No failure at all: the move happened without a failed request; measure the switch.
        last_old = max((r["end"] for r in rows if r["ok"] and r["node"] == from_node), default=None)
        first_new = next((r for r in rows if r["ok"] and r["node"] != from_node), None)
        out.update({"first_failure_ms": None, "outage_ms": 0.0,
                    "moved_to": first_new["node"] if first_new else None,
                    "switch_ms": round(first_new["end"] - last_old, 1)
                    if first_new and last_old is not None else None})
        return out
    succ = next((r for r in rows if r["ok"] and r["node"] != from_node
                 and r["start"] >= first_fail["start"]), None)
    last_old = max((r["end"] for r in rows if r["ok"] and r["node"] == from_node), default=None)
    out["switch_ms"] = round(succ["end"] - last_old, 1) if succ and last_old is not None else None
    out["first_failure_ms"] = first_fail["start"]
    out["first_failure"] = first_fail["detail"]
    if succ is None:
        out.update({"outage_ms": None, "moved_to": None})
    else:
        out.update({"outage_ms": round(succ["end"] - first_fail["start"], 1),
                    "moved_to": succ["node"],
                    "failed_before_move": sum(1 for r in rows if not r["ok"]
                                              and r["start"] < succ["start"]),
                    "failed_after_move": sum(1 for r in rows if not r["ok"]
                                             and r["start"] >= succ["start"])})
    return out


def tally(rows):
    """Requests, failures (by kind) and the nodes that answered, for some probe rows."""
    ok = [r for r in rows if r["ok"]]
    failed = [r for r in rows if not r["ok"]]
    return {"requests": len(rows), "failed": len(failed),
            "by_node": dict(Counter(r["node"] for r in ok)),
            "failures": dict(Counter(r["detail"] for r in failed))}


def summary(path):
    rows = load(path)
    out = tally(rows)
    out["generations"] = dict(Counter(r["detail"] for r in rows
                                      if r["ok"] and r["detail"].startswith("gen")))
    if os.path.exists(path + ".counts"):
        with open(path + ".counts") as f:
            out.update(json.load(f))
    return out


def window(paths, t_from, t_to, slow_ms):
    rows = [r for p in paths for r in load(p)]
    inside = [r for r in rows if (t_from is None or r["start"] >= t_from)
              and (t_to is None or r["start"] < t_to)]
    before = [r for r in rows if t_from is not None and r["start"] < t_from and r["ok"]]

    def p50(xs):
        xs = sorted(xs)
        return round(xs[len(xs) // 2], 1) if xs else None

    lat = [r["end"] - r["start"] for r in inside if r["ok"]]
    base = p50([r["end"] - r["start"] for r in before])
    mx = round(max(lat), 1) if lat else None
    out = tally(inside)
    out.update({"p50_ms": p50(lat), "max_ms": mx, "slow": sum(1 for x in lat if x > slow_ms),
                "baseline_p50_ms": base,
                "max_added_ms": round(mx - base, 1) if mx is not None and base is not None
                else None})
    return out


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--addr", required=True)
    r.add_argument("--port", type=int, default=80)
    r.add_argument("--host", default="blog.example")
    r.add_argument("--path", default="/")
    r.add_argument("--out", required=True)
    r.add_argument("--duration-s", type=float, required=True)
    r.add_argument("--interval-ms", type=float, default=20)
    r.add_argument("--timeout-ms", type=float, default=500)
    r.add_argument("--stop-file", default="")
    r.add_argument("--tls-ca", default="")
    r.add_argument("--keepalive", type=int, default=0)
    r.add_argument("--ka-interval-ms", type=float, default=50)
    r.add_argument("--page", action="store_true",
                   help="fetch the page and its /assets/ each time (generation check)")
    f = sub.add_parser("failover")
    f.add_argument("file")
    f.add_argument("--from", dest="from_node", required=True)
    s = sub.add_parser("summary")
    s.add_argument("file")
    w = sub.add_parser("window")
    w.add_argument("files", nargs="+")
    w.add_argument("--from", dest="t_from", type=float, default=None)
    w.add_argument("--to", dest="t_to", type=float, default=None)
    w.add_argument("--slow-ms", type=float, default=900)
    args = ap.parse_args()
    if args.cmd == "run":
        args.duration_s = min(args.duration_s, 120.0)  # hard bound
        asyncio.run(run(args))
    elif args.cmd == "failover":
        print(json.dumps(failover(args.file, args.from_node)))
    elif args.cmd == "window":
        print(json.dumps(window(args.files, args.t_from, args.t_to, args.slow_ms)))
    else:
        print(json.dumps(summary(args.file)))


if __name__ == "__main__":
    sys.exit(main())
