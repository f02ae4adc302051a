#!/usr/bin/env python3
"""Turns sessions of a Kaggle-format JSONL file into POST /predict bodies, one per line.

usage: make_requests.py SESSIONS.jsonl OUT.txt LENGTH [LIMIT]
LENGTH "mixed": every session as it is (1 to 500 events); a number N: sessions with at
least N events, cut to their last N events.
"""
import json
import sys

src, out, length = sys.argv[1], sys.argv[2], sys.argv[3]
limit = int(sys.argv[4]) if len(sys.argv) > 4 else 20000
codes = {"clicks": 0, "carts": 1, "orders": 2}
types = ["clicks", "carts", "orders"]
n = 0
with open(src) as f, open(out, "w") as w:
    for line in f:
        events = json.loads(line)["events"]
        if length != "mixed":
            k = int(length)
            if len(events) < k:
                continue
            events = events[-k:]
        body = {
            "aids": [e["aid"] for e in events],
            "timestamps": [e["ts"] // 1000 for e in events],
            "event_types": [codes[e["type"]] for e in events],
            "type": types[n % 3],
        }
        w.write(json.dumps(body, separators=(",", ":")) + "\n")
        n += 1
        if n >= limit:
            break
print(f"{n} request bodies ({length} events) in {out}", file=sys.stderr)
