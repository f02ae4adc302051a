"""The reliability soak of live sessions (scripts/live-soak.sh runs it; README.md, "Live
sessions").

    python3 scripts/live_soak.py BIN MODEL_DIR WORLD_JSONL WORK --store redis|memory
        [--duration 300]

Mixed traffic for DURATION seconds: two threads send POST /events (batches of 20 new
events, each session up to 25 events so that every event stays within the store's bound),
two ask POST /predict by session id, and one hot-reloads the model (POST /admin/reload)
every 20 s. Every batch answered 2xx is remembered; a batch answered 503 or not answered
is sent again (as a browser's tracker would: a resent event is not kept twice).

- redis: two replicas share one Redis server (append-only file, fsync on every write).
  At 35% of the run Redis is killed (SIGKILL) and started again 10 s later from its file;
  at 70% replica 2 is killed (SIGKILL) and started again 5 s later. During the outage
  POST /events answers 503 (the documented answer) and /predict by session answers from
  the body's events with `"session_store": "unavailable"`; while replica 2 is down its
  traffic goes to replica 1 (what nginx does, scripts/replicas.sh).
- memory: one server with `--session-snapshot`; at 50% it is stopped (SIGTERM: the
  snapshot is written) and started again, reading it back.

At the end every session is read back (GET /sessions/{id}, from each replica): an event
acknowledged 2xx and not found is lost. Prints a table; exits 1 on a lost event, on a
non-2xx answer other than the outage's 503s, or on a connection error outside a planned
stop.
"""

import argparse
import collections
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time

TOKEN = "soak-token"
EVENTS_PER_SESSION = 25
BATCH = 20


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_listening(port, proc, what, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"live-soak: {what} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"live-soak: {what} did not listen on port {port} within {timeout} s")


class Redis:
    def __init__(self, work):
        self.port = free_port()
        self.dir = os.path.join(work, "redis")
        os.makedirs(self.dir, exist_ok=True)
        self.proc = None

    def start(self):
        self.log = open(os.path.join(self.dir, "log"), "a")
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
             "--save", "", "--appendonly", "yes", "--appendfsync", "always"],
            stdout=self.log, stderr=subprocess.STDOUT)
        wait_listening(self.port, self.proc, "redis-server")
        # Listening is not loaded: wait until the append-only file is read back.
        while True:
            out = subprocess.run(["redis-cli", "-p", str(self.port), "ping"],
                                 capture_output=True, text=True).stdout
            if out.strip() == "PONG":
                return
            time.sleep(0.1)

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait()


class Server:
    def __init__(self, name, bin_, model, work, flags):
        self.name, self.bin, self.model, self.work, self.flags = name, bin_, model, work, flags
        self.port = free_port()
        self.proc = None

    def start(self):
        env = dict(os.environ, OTTO_ADMIN_TOKEN=TOKEN, RUST_LOG="warn")
        err = open(os.path.join(self.work, f"{self.name}.err"), "a")
        self.proc = subprocess.Popen(
            [self.bin, "serve", "--model-dir", self.model, "--port", str(self.port), *self.flags],
            stdout=subprocess.DEVNULL, stderr=err, env=env)
        wait_listening(self.port, self.proc, self.name)

    def signal(self, sig):
        self.proc.send_signal(sig)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.signal(signal.SIGTERM)


class Tally:
    """Counts by kind of request and outcome, under one lock."""

    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {}
        self.failures = []

    def add(self, key, n=1):
        with self.lock:
            self.counts[key] = self.counts.get(key, 0) + n

    def fail(self, message):
        with self.lock:
            self.add_unlocked("failure")
            if len(self.failures) < 20:
                self.failures.append(message)

    def add_unlocked(self, key):
        self.counts[key] = self.counts.get(key, 0) + 1


class Plan:
    """What is planned to be down when: outages during which 503s are the documented answer,
    and stops during which a server does not accept connections."""

    def __init__(self):
        self.lock = threading.Lock()
        self.outage = False  # the session store is down (or just back)
        self.down = set()  # servers stopped on purpose

    def in_outage(self):
        with self.lock:
            return self.outage

    def is_down(self, server):
        with self.lock:
            return server in self.down


def call(conns, server, method, path, body=None, headers=None):
    """(status, parsed body) or None when the connection failed. One kept-alive connection
    per server and thread."""
    conn = conns.get(server.name)
    for attempt in range(2):
        if conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            conns[server.name] = conn
        try:
            data = None if body is None else json.dumps(body)
            h = {"Content-Type": "application/json", **(headers or {})}
            conn.request(method, path, body=data, headers=h)
            r = conn.getresponse()
            raw = r.read()
            return r.status, (json.loads(raw) if raw else None)
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = None
            conns.pop(server.name, None)
            # A kept-alive connection the server closed between requests: one fresh try.
            if attempt == 1:
                return None
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bin")
    ap.add_argument("model")
    ap.add_argument("world")
    ap.add_argument("work")
    ap.add_argument("--store", choices=["redis", "memory"], required=True)
    ap.add_argument("--duration", type=float, default=300)
    args = ap.parse_args()

    aids = []
    with open(args.world) as f:
        for line in f:
            aids.extend(e["aid"] for e in json.loads(line)["events"])
            if len(aids) > 50_000:
                break
    if not aids:
        sys.exit(f"live-soak: no events in {args.world}")

    redis = None
    servers = []
    if args.store == "redis":
        redis = Redis(args.work)
        redis.start()
        flags = ["--session-store", f"redis://127.0.0.1:{redis.port}"]
        servers = [Server(f"replica{i}", args.bin, args.model, args.work, flags) for i in (1, 2)]
    else:
        snapshot = os.path.join(args.work, "sessions.snapshot")
        servers = [Server("server", args.bin, args.model, args.work,
                          ["--session-snapshot", snapshot])]
    for s in servers:
        s.start()

    tally = Tally()
    plan = Plan()
    acked = {}  # session → set of (aid, ts, type) acknowledged
    recent = collections.deque(maxlen=500)  # the sessions acknowledged last, asked for
    acked_lock = threading.Lock()
    stop = threading.Event()
    started = time.time()

    def pick(rng):
        """A server that is up (planned stops are routed around, as nginx would)."""
        up = [s for s in servers if not plan.is_down(s)]
        return rng.choice(up or servers)

    def refused(server, request, planned):
        """A connection that failed: counted as `planned` when the server was stopped on
        purpose, as a failure otherwise; then a short pause before the next try."""
        if plan.is_down(server):
            tally.add(planned)
        else:
            tally.fail(f"{request} to {server.name}: connection failed")
        time.sleep(0.05)

    def ingest(worker):
        rng = random.Random(worker)
        conns = {}
        sessions = {}  # session → events sent so far
        next_id = 0
        ts = 1_700_000_000
        while not stop.is_set():
            batch = []
            for _ in range(BATCH):
                if len(sessions) < 50:
                    sessions[f"soak-{worker}-{next_id}"] = 0
                    next_id += 1
                sid = rng.choice(list(sessions))
                ts += 1
                batch.append({"session": sid, "aid": rng.choice(aids), "ts": ts,
                              "type": rng.choice([0, 0, 0, 1, 2])})
                sessions[sid] += 1
                if sessions[sid] >= EVENTS_PER_SESSION:
                    del sessions[sid]
            # Until acknowledged: a 503 or a lost connection is retried, as a tracker does.
            while True:
                server = pick(rng)
                answer = call(conns, server, "POST", "/events", {"events": batch})
                if answer is None:
                    refused(server, "POST /events", "events: refused by a stopped server, resent")
                    continue
                status, body = answer
                if status == 200:
                    tally.add("events: 200")
                    tally.add("events acknowledged", len(batch))
                    tally.add("duplicates (resent events not kept twice)", body["duplicates"])
                    with acked_lock:
                        for e in batch:
                            if e["session"] not in acked:
                                recent.append(e["session"])
                            acked.setdefault(e["session"], set()).add((e["aid"], e["ts"], e["type"]))
                    break
                if status == 503 and plan.in_outage():
                    tally.add("events: 503 during the outage, resent")
                    time.sleep(0.2)
                    continue
                if status == 503 and body.get("code") == "draining" and plan.is_down(server):
                    tally.add("events: 503 from a server stopping, resent")
                    continue
                tally.fail(f"POST /events to {server.name}: {status} {body}")
                time.sleep(0.2)
                if stop.is_set():
                    break

    def predict(worker):
        rng = random.Random(1000 + worker)
        conns = {}
        while not stop.is_set():
            with acked_lock:
                sid = rng.choice(recent) if recent else "soak-none"
            body = {"session": sid, "type": rng.choice(["clicks", "carts", "orders"]), "k": 20}
            if rng.random() < 0.3:  # some requests carry events of their own too
                body.update(aids=[rng.choice(aids)], timestamps=[1_700_000_000],
                            event_types=[0])
            server = pick(rng)
            answer = call(conns, server, "POST", "/predict", body)
            if answer is None:
                refused(server, "POST /predict", "predict: refused by a stopped server")
                continue
            status, reply = answer
            if status == 503 and reply.get("code") == "draining" and plan.is_down(server):
                tally.add("predict: 503 from a server stopping")
            elif status != 200:
                tally.fail(f"POST /predict to {server.name}: {status} {reply}")
            elif reply.get("session_store") == "unavailable":
                if plan.in_outage():
                    tally.add("predict: 200 from the body's events, store marked unavailable")
                else:
                    tally.fail(f"POST /predict to {server.name}: store unavailable outside the outage")
            elif not reply["recommendation"]:
                tally.fail(f"POST /predict to {server.name}: no recommendation")
            else:
                tally.add("predict: 200")

    def reload_loop():
        conns = {}
        rng = random.Random(7)
        while not stop.wait(20):
            server = pick(rng)
            answer = call(conns, server, "POST", "/admin/reload", None,
                          {"Authorization": f"Bearer {TOKEN}"})
            if answer is not None and answer[0] == 200:
                tally.add("hot reloads: 200")
            elif answer is None and plan.is_down(server):
                continue
            else:
                tally.fail(f"POST /admin/reload to {server.name}: {answer}")

    threads = [threading.Thread(target=ingest, args=(w,)) for w in range(2)]
    threads += [threading.Thread(target=predict, args=(w,)) for w in range(2)]
    threads += [threading.Thread(target=reload_loop)]
    for t in threads:
        t.start()

    def at(fraction):
        stop.wait(max(0.0, started + fraction * args.duration - time.time()))

    timeline = []
    if args.store == "redis":
        at(0.35)
        with plan.lock:
            plan.outage = True
        redis.kill()
        timeline.append(f"{time.time() - started:.0f} s: Redis killed (SIGKILL)")
        stop.wait(10)
        redis.start()
        timeline.append(f"{time.time() - started:.0f} s: Redis started again from its file")
        # A replica retries a failed store after a second; allow it that and a margin.
        stop.wait(3)
        with plan.lock:
            plan.outage = False
        at(0.70)
        with plan.lock:
            plan.down.add(servers[1])
        servers[1].signal(signal.SIGKILL)
        timeline.append(f"{time.time() - started:.0f} s: replica2 killed (SIGKILL)")
        stop.wait(5)
        servers[1].start()
        with plan.lock:
            plan.down.discard(servers[1])
        timeline.append(f"{time.time() - started:.0f} s: replica2 started again")
    else:
        at(0.5)
        with plan.lock:
            plan.down.add(servers[0])
        servers[0].signal(signal.SIGTERM)
        timeline.append(f"{time.time() - started:.0f} s: server stopped (SIGTERM, snapshot written)")
        servers[0].start()
        with plan.lock:
            plan.down.discard(servers[0])
        timeline.append(f"{time.time() - started:.0f} s: server started again from the snapshot")
    at(1.0)
    stop.set()
    for t in threads:
        t.join()

    # Count back: every acknowledged event must be held, by every server.
    lost = 0
    held = 0
    conns = {}
    for sid, events in acked.items():
        for server in servers:
            answer = call(conns, server, "GET", f"/sessions/{sid}")
            stored = set()
            if answer is not None and answer[0] == 200:
                b = answer[1]
                stored = set(zip(b["aids"], b["timestamps"], b["event_types"]))
            elif answer is None or answer[0] != 404:
                tally.fail(f"GET /sessions/{sid} from {server.name}: {answer}")
            missing = events - stored
            lost += len(missing)
            held += len(events & stored)
            if missing and len(tally.failures) < 20:
                tally.failures.append(f"{sid} on {server.name}: {len(missing)} events lost")

    for s in servers:
        if s.proc.poll() is not None:
            tally.fail(f"{s.name} exited with {s.proc.returncode} during the soak")
        s.stop()
    if redis:
        redis.stop()

    row = lambda k, v: print(f"{k:<62} {v:>10}")
    print(f"live soak, {args.store} store, {args.duration:.0f} s of mixed traffic")
    for line in timeline:
        print("  " + line)
    for key in sorted(tally.counts):
        if key != "failure":
            row(key, tally.counts[key])
    row("sessions counted back", len(acked))
    row(f"acknowledged events found back (x{len(servers)} servers)", held)
    row("acknowledged events lost", lost)
    failures = tally.counts.get("failure", 0)
    row("undocumented failures (non-2xx, connection errors)", failures)
    for f in tally.failures:
        print("  " + f, file=sys.stderr)
    if lost or failures or not acked:
        sys.exit(1)


if __name__ == "__main__":
    main()
