#!/usr/bin/env python3
"""The three co-visitation tables of the "Candidate ReRank" baseline (src/index/covisit.rs) as a straightforward polars self-join
(lazy: join on session, filter the window, unique per session, group_by, top-k), the
reference build-index is compared against in BENCHMARKS.md.

usage: selfjoin_baseline.py EVENTS.parquet OUT_DIR
EVENTS.parquet: one row per event (session, aid, ts seconds, type 0/1/2), as written by
`otto-rec convert`.
"""
import os
import sys
import time

import polars as pl

src, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
DAY = 24 * 3600
started = time.time()
events = pl.scan_parquet(src).with_row_index("pos")
bounds = events.select(pl.col("ts").min().alias("lo"), pl.col("ts").max().alias("hi")).collect()
lo, hi = bounds["lo"][0], bounds["hi"][0]


def tail(frame, n=30):
    # Newest first (later position first among equal timestamps), keep the 30 most recent.
    frame = frame.sort(["session", "ts", "pos"], descending=[False, True, True])
    return frame.with_columns(pl.int_range(pl.len()).over("session").alias("n")).filter(pl.col("n") < n)


def pairs(frame, window):
    joined = frame.join(frame, on="session", suffix="_y")
    joined = joined.filter(((pl.col("ts") - pl.col("ts_y")).abs() < window) & (pl.col("aid") != pl.col("aid_y")))
    # Rows come x newest first, then y newest first: keep the first of each pair.
    joined = joined.sort(["session", "n", "n_y"])
    return joined.unique(["session", "aid", "aid_y"], keep="first", maintain_order=True)


def top(frame, weight, k, name):
    table = (
        frame.group_by(["aid", "aid_y"])
        .agg(weight.sum().cast(pl.Float32).alias("weight"))
        .sort(["aid", "weight", "aid_y"], descending=[False, True, False])
        .group_by("aid", maintain_order=True)
        .head(k)
        .rename({"aid": "aid_x"})
    )
    table.collect().write_parquet(os.path.join(out, f"covisit_{name}.parquet"))


everything = pairs(tail(events), DAY)
top(everything, 1 + 3 * (pl.col("ts") - lo) / (hi - lo), 20, "clicks")
type_weight = pl.when(pl.col("type_y") == 0).then(1.0).when(pl.col("type_y") == 1).then(6.0).otherwise(3.0)
top(everything, type_weight, 15, "carts_orders")
buys = pairs(tail(events.filter(pl.col("type") > 0)), 14 * DAY)
top(buys, pl.col("ts") * 0 + 1.0, 15, "buy2buy")
print(f"selfjoin {time.time() - started:.1f} s", file=sys.stderr)
