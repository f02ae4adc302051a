#!/usr/bin/env python3
"""Converts an SR-GNN-format split to otto-rec's files.

The split is the two pickles the SR-GNN, GCE-GNN and later repositories share for
Diginetica, Yoochoose, Tmall and Nowplaying:

- all_train_seq.txt: a list of sessions, each a list of item ids, oldest session first;
- test.txt: a pair (prefixes, targets): every test-session prefix and the item after it.

Neither carries times or event types: every event is a click. Sessions get times in the
order of the file: the train sessions spread evenly over --train-days days, a session's
events one minute apart, and the test prefixes over the --test-days days after them. Each
prefix becomes one test session whose click label is its target.

Writes OUT/train.jsonl, OUT/test.jsonl and OUT/test_labels.jsonl (OTTO JSONL). The pickles
are read with Python's pickle module: only open splits from a source you trust.
"""
import argparse
import json
import os
import pickle
import sys

START = 1451606400  # 2016-01-01 00:00:00 UTC, in seconds
DAY = 86400
STEP = 60  # seconds between a session's events


def is_item_list(value):
    return isinstance(value, (list, tuple)) and all(isinstance(i, int) for i in value)


def load(path, what):
    try:
        with open(path, "rb") as f:
            return pickle.load(f)
    except (OSError, pickle.UnpicklingError, EOFError) as e:
        sys.exit(f"{path}: cannot read {what}: {e}")


def write_atomic(path, lines):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        for line in lines:
            f.write(line)
            f.write("\n")
    os.replace(tmp, path)


def session_line(session_id, items, start):
    events = [
        {"aid": aid, "ts": (start + STEP * i) * 1000, "type": "clicks"}
        for i, aid in enumerate(items)
    ]
    return json.dumps({"session": session_id, "events": events}, separators=(",", ":"))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--train", required=True, help="all_train_seq.txt")
    p.add_argument("--test", required=True, help="test.txt")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--train-days", type=float, default=145.0,
                   help="days the train sessions span (Diginetica's train part: 145)")
    p.add_argument("--test-days", type=float, default=7.0,
                   help="days the test prefixes span after the train sessions")
    args = p.parse_args()

    train = load(args.train, "the train sessions")
    if not isinstance(train, list) or not all(is_item_list(s) for s in train):
        sys.exit(f"{args.train}: expected a list of sessions, each a list of item ids")
    test = load(args.test, "the test prefixes")
    if (not isinstance(test, (list, tuple)) or len(test) != 2
            or len(test[0]) != len(test[1])
            or not all(is_item_list(s) and s for s in test[0])
            or not all(isinstance(t, int) for t in test[1])):
        sys.exit(f"{args.test}: expected (prefixes, targets) of equal length")
    for name, ids in (("train", (a for s in train for a in s)),
                      ("test", (a for s in test[0] for a in s))):
        bad = next((a for a in ids if not 0 <= a < 2**32), None)
        if bad is not None:
            sys.exit(f"{name}: item id {bad} is not an unsigned 32-bit integer")

    os.makedirs(args.out, exist_ok=True)
    train_span = args.train_days * DAY
    gap = train_span / max(len(train), 1)
    write_atomic(os.path.join(args.out, "train.jsonl"),
                 (session_line(i, s, START + int(i * gap)) for i, s in enumerate(train) if s))
    prefixes, targets = test
    test_start = START + int(train_span)
    test_gap = args.test_days * DAY / max(len(prefixes), 1)
    first = len(train)
    write_atomic(os.path.join(args.out, "test.jsonl"),
                 (session_line(first + j, s, test_start + int(j * test_gap))
                  for j, s in enumerate(prefixes)))
    write_atomic(os.path.join(args.out, "test_labels.jsonl"),
                 (json.dumps({"session": first + j, "labels": {"clicks": t}},
                             separators=(",", ":"))
                  for j, t in enumerate(targets)))
    events = sum(len(s) for s in train)
    print(f"{len(train)} train sessions ({events} clicks), {len(prefixes)} test prefixes",
          file=sys.stderr)


if __name__ == "__main__":
    main()
