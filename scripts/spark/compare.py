"""Compares the index of two otto-rec bundles: one built by `otto-rec build-index`, one
imported from the Spark job. Exits 1 on any difference beyond float summation order.

    python compare.py EXPECTED_BUNDLE ACTUAL_BUNDLE [--tolerance 1e-4]

Tables: per aid_x the same number of neighbours, and at every rank weights equal within
the relative tolerance. The neighbour at a rank may differ only where weights tie within
the tolerance: a neighbour on one side must be on the other with a tying weight, or, when
the row is full (top K), be cut there at a weight that ties with the row's last one.
Item statistics: counts equal, shares and mean hours within 1e-6. Popular items: equal.
"""

import argparse
import json
import math
import os
import sys
from collections import defaultdict

import pyarrow.parquet as pq


def close(a, b, tol):
    return abs(a - b) <= tol * max(abs(a), abs(b), 1e-30)


def rows(path):
    t = pq.read_table(path).to_pydict()
    out = defaultdict(list)
    for x, y, w in zip(t["aid_x"], t["aid_y"], t["weight"]):
        out[x].append((y, w))
    return out


def compare_table(expected, actual, top_k, tol):
    """(aids compared, rows identical, rows equal up to ties, aids that differ, problems)."""
    problems = []
    identical = tied = different = 0
    for x in sorted(set(expected) | set(actual)):
        a, b = expected.get(x, []), actual.get(x, [])
        if a == b:
            identical += 1
            continue
        where = f"aid_x {x}"
        if len(a) != len(b):
            problems.append(f"{where}: {len(a)} neighbours expected, {len(b)} found")
            continue
        ok = True
        for r, ((ya, wa), (yb, wb)) in enumerate(zip(a, b)):
            if not close(wa, wb, tol):
                problems.append(f"{where} rank {r}: weight {wa} expected, {wb} found")
                ok = False
                break
        if not ok:
            continue
        for one, other, side in [(a, b, "expected"), (b, a, "found")]:
            weights = dict(other)
            for r, (y, w) in enumerate(one):
                if y in weights:
                    if not close(weights[y], w, tol):
                        problems.append(f"{where}: aid_y {y} weighs {w} and {weights[y]}")
                        ok = False
                elif not (len(other) == top_k and close(w, other[-1][1], tol)):
                    problems.append(f"{where}: aid_y {y} (rank {r}, weight {w}) only {side}, "
                                    "and not a tie at the cut")
                    ok = False
        tied += ok
    different = len(set(expected) | set(actual)) - identical - tied
    return len(set(expected) | set(actual)), identical, tied, different, problems


def main(argv):
    p = argparse.ArgumentParser()
    p.add_argument("expected")
    p.add_argument("actual")
    p.add_argument("--tolerance", type=float, default=1e-4)
    args = p.parse_args(argv)
    manifests = [json.load(open(os.path.join(d, "manifest.json")))
                 for d in (args.expected, args.actual)]
    specs = manifests[0]["parameters"]["tables"]
    if specs != manifests[1]["parameters"]["tables"]:
        print("compare: the bundles were built with different table parameters", file=sys.stderr)
        return 1
    names = ["clicks", "carts_orders", "buy2buy", "click_to_buy", "next"]
    failed = False
    print(f"{'table':<14}{'aids':>9}{'identical':>11}{'tie-swapped':>13}{'different':>11}")
    for name, spec in zip(names, specs):
        file = f"covisit_{name}.parquet"
        n, same, tied, different, problems = compare_table(
            rows(os.path.join(args.expected, file)), rows(os.path.join(args.actual, file)),
            spec["top_k"], args.tolerance)
        print(f"{name:<14}{n:>9}{same:>11}{tied:>13}{different:>11}")
        for line in problems[:5]:
            print(f"  {line}")
        failed |= bool(problems)

    a = pq.read_table(os.path.join(args.expected, "item_stats.parquet")).to_pydict()
    b = pq.read_table(os.path.join(args.actual, "item_stats.parquet")).to_pydict()
    stats_problems = []
    if a.keys() != b.keys() or len(a["aid"]) != len(b["aid"]):
        stats_problems.append(f"columns or rows differ: {sorted(a)} / {len(a['aid'])} rows vs "
                              f"{sorted(b)} / {len(b['aid'])} rows")
    else:
        for col in a:
            floats = col in ("weekend_share", "mean_hour")
            for i, (u, v) in enumerate(zip(a[col], b[col])):
                if (not math.isclose(u, v, abs_tol=1e-6)) if floats else u != v:
                    stats_problems.append(f"aid {a['aid'][i]}: {col} {u} expected, {v} found")
                    break
    print(f"item_stats: {len(a['aid'])} aids, "
          f"{'equal' if not stats_problems else 'DIFFERENT'}")
    for line in stats_problems:
        print(f"  {line}")
    pa_ = pq.read_table(os.path.join(args.expected, "popular.parquet")).to_pydict()
    pb = pq.read_table(os.path.join(args.actual, "popular.parquet")).to_pydict()
    same_popular = pa_ == pb
    print(f"popular: {len(pa_['aid'])} rows, {'equal' if same_popular else 'DIFFERENT'}")
    failed |= bool(stats_problems) or not same_popular
    print("parity: " + ("FAILED" if failed else "ok"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
