#!/usr/bin/env python3
"""HTTP fuzzing of `otto-rec serve` on loopback: mutated and random request bodies.

usage: fuzz_http.py [--requests N] [--seconds S] [--procs P] [--seed SEED]
                    [--url http://127.0.0.1:PORT | --bin BIN --model-dir DIR]

Without --url it starts `BIN serve --model-dir DIR --port 0` itself (default: the release
binary and models/default) and stops it at the end. Each client process keeps one
keep-alive connection and sends POST /predict bodies: valid sessions of items the model
knows, the same mutated (bytes flipped, inserted, deleted, truncated, spliced; values
replaced by huge, negative, fractional, string, null or nested ones; fields dropped,
renamed or repeated), and random bytes or JSON; a few go to other routes and methods, and
a few exceed the body limit. A sixth of the cases are live-session requests: POST /events
batches (valid, with values mutated, with bytes mutated, or oversized), GET and DELETE
/sessions/{id} with ids of any bytes, and /predict bodies naming a session. Every answer is
checked: a 200 must carry at most k unique
items with finite scores sorted descending; every 4xx a JSON body with a code. Prints the
count per status and exits 1 on any 5xx, dropped connection (closed or reset before a
whole answer) or malformed answer. Stops at N requests or S seconds, whichever first.
"""
import argparse
import json
import math
import multiprocessing as mp
import os
import random
import socket
import subprocess
import sys
import time
from collections import Counter

NUMBERS = [0, -1, 1, 2, 3, 100, 101, 500, 501, 2**31, 2**32, 2**32 - 1, 2**53, 2**63 - 1,
           -(2**63), 2**64, 10**30, 1.5, -0.0, 1e308, "1", None, True, [], {}]
FIELDS = ["aids", "timestamps", "event_types", "type", "k"]
TYPES = ["clicks", "carts", "orders", "", "CLICKS", "order", "\u00e9", "x" * 300]


def valid_body(rng, items):
    n = rng.choice([1, 1, 2, 3, 5, 10, 30, 60, 200, 500])
    t = rng.randrange(1_659_304_800, 1_662_328_000)
    aids, ts = [], []
    for _ in range(n):
        aids.append(rng.randrange(items))
        t += rng.randrange(0, 600)
        ts.append(t)
    body = {"aids": aids, "timestamps": ts,
            "event_types": [rng.choice([0, 0, 0, 1, 2]) for _ in range(n)]}
    if rng.random() < 0.8:
        body["type"] = rng.choice(TYPES[:3])
    if rng.random() < 0.5:
        body["k"] = rng.randrange(1, 101)
    return body


SESSIONS = ["a81f", "visitor-1", "x" * 128, "x" * 129, "", "caf\u00e9", "a\nb", " ", "~"]


def valid_events(rng, items):
    n = rng.choice([1, 1, 2, 10, 100, 1000, 1001])
    t = rng.randrange(1_659_304_800, 1_662_328_000)
    return {"events": [{"session": rng.choice(SESSIONS[:3]), "aid": rng.randrange(items),
                        "ts": t + i, "type": rng.choice([0, 1, 2, "clicks", "carts", "orders"])}
                       for i in range(n)]}


def mutate_event(rng, body):
    events = [dict(e) for e in body["events"]]
    e = events[rng.randrange(len(events))]
    field = rng.choice(["session", "aid", "ts", "type"])
    r = rng.random()
    if r < 0.2:
        del e[field]
    elif r < 0.6:
        e[field] = rng.choice(NUMBERS + TYPES + SESSIONS)
    else:
        e[field] = random_json(rng)
    return {"events": events}


def events_request(rng, items):
    """A live-session case: (method, path, body, content type, kind)."""
    r = rng.random()
    if r < 0.3:
        return "POST", "/events", json.dumps(valid_events(rng, items)).encode(), "application/json", "events"
    if r < 0.6:
        body = json.dumps(mutate_event(rng, valid_events(rng, items))).encode()
        return "POST", "/events", body, "application/json", "events-value"
    if r < 0.8:
        body = mutate_bytes(rng, json.dumps(valid_events(rng, items)).encode())
        return "POST", "/events", body, "application/json", "events-bytes"
    if r < 0.9:
        sid = rng.choice(SESSIONS) if rng.random() < 0.7 else "".join(
            "%{:02X}".format(rng.randrange(256)) for _ in range(rng.randrange(1, 20)))
        sid = "".join(c if c.isascii() and c.isalnum() else "%{:02X}".format(ord(c) % 256) for c in sid) or "%00"
        return rng.choice(["GET", "DELETE", "PUT"]), f"/sessions/{sid}", b"", "application/json", "session"
    body = valid_body(rng, items)
    body["session"] = rng.choice(SESSIONS + [None, 5, []])
    if rng.random() < 0.5:
        body = {k: v for k, v in body.items() if k not in ("aids", "timestamps", "event_types")}
    return "POST", "/predict", json.dumps(body).encode(), "application/json", "by-session"


def mutate_value(rng, body):
    body = dict(body)
    field = rng.choice(FIELDS)
    choice = rng.random()
    if choice < 0.3 and isinstance(body.get(field), list) and body[field]:
        values = list(body[field])
        values[rng.randrange(len(values))] = rng.choice(NUMBERS)
        body[field] = values
    elif choice < 0.45:
        body.pop(field, None)
    elif choice < 0.55:
        body[field + rng.choice(["", "_", "s", "X"])] = body.pop(field, 1)
    elif choice < 0.65:
        body[field] = rng.choice(NUMBERS + TYPES)
    elif choice < 0.75 and isinstance(body.get(field), list):
        body[field] = body[field] + body[field]
    elif choice < 0.85:
        body["extra" + str(rng.randrange(10))] = rng.choice(NUMBERS)
    else:
        depth = rng.randrange(1, 300)
        body[field] = json.loads("[" * depth + "]" * depth)
    return body


def mutate_bytes(rng, data):
    data = bytearray(data)
    for _ in range(rng.randrange(1, 6)):
        op = rng.random()
        if not data:
            data += bytes(rng.randrange(256) for _ in range(rng.randrange(1, 20)))
            continue
        i = rng.randrange(len(data))
        if op < 0.3:
            data[i] = rng.randrange(256)
        elif op < 0.5:
            data[i:i] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 8)))
        elif op < 0.65:
            del data[i:i + rng.randrange(1, 16)]
        elif op < 0.75:
            data = data[:i]
        elif op < 0.85:
            j = rng.randrange(len(data))
            data[i:i] = data[j:j + rng.randrange(1, 64)]
        else:
            data[i:i] = rng.choice([b"{", b"}", b"[", b"]", b",", b":", b'"', b"\\", b"\\u",
                                    b"\\ud800", b"-", b"e999", b"null", b"\x00", b"\xff"])
    return bytes(data)


def random_json(rng, depth=0):
    r = rng.random()
    if depth > 4 or r < 0.3:
        return rng.choice(NUMBERS + TYPES)
    if r < 0.6:
        return [random_json(rng, depth + 1) for _ in range(rng.randrange(6))]
    return {rng.choice(FIELDS + ["a", ""]): random_json(rng, depth + 1) for _ in range(rng.randrange(6))}


def make_request(rng, items, limit):
    """(method, path, body, content type) of one fuzz case, and its kind."""
    if rng.random() < 1 / 6:
        return events_request(rng, items)
    r = rng.random()
    if r < 0.15:
        kind, body = "valid", json.dumps(valid_body(rng, items)).encode()
    elif r < 0.45:
        kind, body = "value", json.dumps(mutate_value(rng, valid_body(rng, items))).encode()
    elif r < 0.8:
        kind, body = "bytes", mutate_bytes(rng, json.dumps(valid_body(rng, items)).encode())
    elif r < 0.9:
        kind, body = "json", json.dumps(random_json(rng)).encode()
    elif r < 0.98:
        kind, body = "random", bytes(rng.randrange(256) for _ in range(rng.randrange(0, 200)))
    elif r < 0.999:
        method, path = rng.choice([("GET", "/predict"), ("PUT", "/predict"), ("POST", "/health"),
                                   ("GET", "/nope"), ("POST", "/predict/x"), ("DELETE", "/readyz"),
                                   ("GET", "/livez"), ("GET", "/metrics"), ("POST", "/admin/reload")])
        return method, path, json.dumps(valid_body(rng, items)).encode(), "application/json", "route"
    else:
        kind, body = "oversized", b'{"aids":[' + b"1," * (limit // 2 + 10) + b'1]}'
    ctype = "application/json" if rng.random() < 0.95 else rng.choice(["text/plain", "", "application/xml"])
    return "POST", "/predict", body, ctype, kind


class Dropped(Exception):
    pass


def read_response(sock, buf):
    """Reads one response; returns (status, headers, body, rest of buffer)."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise Dropped("closed before the response head")
        buf += chunk
    head, buf = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(buf) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise Dropped("closed inside the response body")
        buf += chunk
    return status, headers, buf[:length], buf[length:]


def check_answer(status, headers, body, request_body):
    """None when the answer is well-formed, else what is wrong with it."""
    if status >= 500:
        return f"a {status}"
    if headers.get("content-type", "").startswith("application/json"):
        try:
            doc = json.loads(body)
        except ValueError:
            return "a JSON answer that does not parse"
    else:
        return None if status in (200, 204) else f"{status} without a JSON body"
    if status == 200 and "recommendation" in doc:
        # The server reads JSON strings it ignores without checking their UTF-8 (serde_json),
        # so read the request the same way to learn its k.
        try:
            k = json.loads(request_body.decode("utf-8", "replace")).get("k") or 20
        except (ValueError, AttributeError):
            k = 20
        items, scores = doc["recommendation"], doc["scores"]
        if len(items) > k or len(set(items)) != len(items) or len(scores) != len(items):
            return "a 200 with too many or repeated items"
        if any(not math.isfinite(s) for s in scores) or scores != sorted(scores, reverse=True):
            return "a 200 with scores not finite or not sorted"
    elif status >= 400 and not (isinstance(doc, dict) and doc.get("code") and doc.get("status") == "error"):
        return f"a {status} without an error code"
    return None


def client(args):
    host, port, items, limit, seed, count, deadline = args
    rng = random.Random(seed)
    statuses, kinds, problems = Counter(), Counter(), Counter()
    examples = []
    sock, buf, done = None, b"", 0
    while done < count and time.time() < deadline:
        if sock is None:
            sock = socket.create_connection((host, port))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            buf = b""
        method, path, body, ctype, kind = make_request(rng, items, limit)
        head = f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len(body)}\r\n"
        if ctype:
            head += f"Content-Type: {ctype}\r\n"
        try:
            sock.sendall(head.encode() + b"\r\n" + body)
            status, headers, answer, buf = read_response(sock, buf)
        except (Dropped, ConnectionError, OSError) as e:
            problems["dropped connection"] += 1
            if len(examples) < 5:
                examples.append((kind, repr(e), body[:200]))
            sock.close()
            sock = None
            done += 1
            continue
        statuses[status] += 1
        kinds[kind] += 1
        problem = check_answer(status, headers, answer, body)
        if problem:
            problems[problem] += 1
            if len(examples) < 5:
                examples.append((kind, problem, body[:200]))
        if headers.get("connection", "").lower() == "close":
            sock.close()
            sock = None
        done += 1
    if sock is not None:
        sock.close()
    return statuses, kinds, problems, examples


def start_server(binary, model_dir):
    proc = subprocess.Popen([binary, "serve", "--model-dir", model_dir, "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    if "http://" not in line:
        proc.kill()
        sys.exit(f"fuzz_http: the server did not start: {line!r}")
    return proc, line.split("http://", 1)[1].split()[0]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--requests", type=int, default=1_000_000)
    p.add_argument("--seconds", type=float, default=1800)
    p.add_argument("--procs", type=int, default=2)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--url")
    p.add_argument("--bin", default="target/release/otto-rec")
    p.add_argument("--model-dir", default="models/default")
    p.add_argument("--body-limit", type=int, default=256 * 1024)
    args = p.parse_args()
    server = None
    if args.url:
        addr = args.url.split("://", 1)[-1].rstrip("/")
        if not (addr.startswith("127.") or addr.startswith("localhost")):
            sys.exit("fuzz_http: only loopback targets are allowed")
    else:
        server, addr = start_server(args.bin, args.model_dir)
    host, port = addr.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port))) as s:
            s.sendall(f"GET /health HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
            _, _, body, _ = read_response(s, b"")
        items = max(1, json.loads(body)["model"]["items"])
        started = time.time()
        deadline = started + args.seconds
        per = [args.requests // args.procs + (i < args.requests % args.procs) for i in range(args.procs)]
        jobs = [(host, int(port), items, args.body_limit, args.seed * 1000 + i, per[i], deadline)
                for i in range(args.procs)]
        with mp.Pool(args.procs) as pool:
            results = pool.map(client, jobs)
        elapsed = time.time() - started
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
    statuses, kinds, problems = Counter(), Counter(), Counter()
    examples = []
    for s, k, pr, ex in results:
        statuses.update(s)
        kinds.update(k)
        problems.update(pr)
        examples.extend(ex)
    total = sum(statuses.values()) + problems["dropped connection"]
    print(f"{total} requests in {elapsed:.0f} s ({total / elapsed:.0f}/s), {args.procs} connections, seed {args.seed}")
    print("by kind:   " + "  ".join(f"{k} {v}" for k, v in sorted(kinds.items())))
    print("by status: " + "  ".join(f"{k}: {v}" for k, v in sorted(statuses.items())))
    fivexx = sum(v for k, v in statuses.items() if k >= 500)
    print(f"5xx: {fivexx}   dropped connections: {problems['dropped connection']}   "
          f"malformed answers: {sum(problems.values()) - problems['dropped connection']}")
    for kind, problem, body in examples[:5]:
        print(f"  e.g. {kind}: {problem}: {body!r}")
    if total < args.requests:
        print(f"stopped by the time bound after {total} of {args.requests} requests")
    sys.exit(1 if sum(problems.values()) else 0)


if __name__ == "__main__":
    main()
