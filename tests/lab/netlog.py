#!/usr/bin/env python3
"""Reads a Chromium --log-net-log file: prints JSON with every request to ORIGIN_PREFIX, its
HTTP status and protocol, and a verdict (every response 200 or 304, at least MIN requests).

  netlog.py NETLOG_FILE ORIGIN_PREFIX [MIN]
"""
import json
import sys


def load(path):
    text = open(path, encoding="utf-8", errors="replace").read().rstrip()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        # Chromium killed before it closed the file: finish the event list.
        text = text.rstrip(",\n ")
        if not text.endswith("]}"):
            text += "]}"
        return json.loads(text)


def main():
    path, prefix = sys.argv[1], sys.argv[2]
    minimum = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    log = load(path)
    names = {v: k for k, v in log["constants"]["logEventTypes"].items()}
    urls, status, proto = {}, {}, {}
    for ev in log.get("events", []):
        name = names.get(ev.get("type"))
        src = ev.get("source", {}).get("id")
        params = ev.get("params", {}) or {}
        if name == "URL_REQUEST_START_JOB" and "url" in params:
            urls.setdefault(src, params["url"])
        elif name in ("HTTP_TRANSACTION_READ_RESPONSE_HEADERS",
                      "HTTP_TRANSACTION_READ_EARLY_HINTS_RESPONSE_HEADERS"):
            hdrs = params.get("headers", [])
            if hdrs:
                first = hdrs[0]
                parts = first.split()
                if first.startswith(":status"):
                    status[src] = int(parts[-1])
                    proto.setdefault(src, "h2")
                elif len(parts) >= 2 and parts[1].isdigit():
                    status[src] = int(parts[1])
                    proto.setdefault(src, parts[0])
        elif name in ("HTTP2_STREAM", "HTTP_TRANSACTION_HTTP2_SEND_REQUEST_HEADERS") or (
                name or "").startswith("HTTP2_SESSION_SEND_HEADERS"):
            # Chromium logs an h2 response's status line as "HTTP/1.1 200"; the request
            # headers it sent as HTTP/2 say which protocol carried it.
            proto[src] = "h2"
        elif name in ("HTTP_TRANSACTION_QUIC_SEND_REQUEST_HEADERS",
                      "HTTP_STREAM_REQUEST_BOUND_TO_QUIC_SESSION"):
            # Likewise over QUIC: the request went out on a QUIC session, as HTTP/3.
            proto[src] = "h3"
    reqs = []
    for src, url in urls.items():
        if url.startswith(prefix):
            reqs.append({"url": url, "status": status.get(src), "proto": proto.get(src)})
    bad = [r for r in reqs if r["status"] not in (200, 304)]
    print(json.dumps({"requests": len(reqs), "bad": bad, "ok": not bad and len(reqs) >= minimum,
                      "protocols": sorted({str(r["proto"]) for r in reqs}), "list": reqs}))


if __name__ == "__main__":
    main()
