"""The co-visitation index of otto-rec as an Apache Spark job.

Reads OTTO events (Parquet, one row per event: `session`, `aid`, `ts` as int seconds or
int milliseconds, `type` as 0/1/2 or the names clicks/carts/orders; a file or a directory
of files) and writes what `otto-rec build-index --from-tables DIR` assembles into a
bundle:

    DIR/covisit_<table>.parquet/   the five co-visitation tables (aid_x int32, aid_y int32,
                                   weight float32; sorted by aid_x, then weight descending,
                                   then aid_y)
    DIR/item_stats.parquet/        per-item statistics, one row per aid 0..max
    DIR/popular.parquet/           the most popular items per type
    DIR/index.json                 the parameters (otto-rec's IndexParams) and input summary

The definitions are those of otto-rec's kernel (src/index/covisit.rs):
- the events of a session are in time order; equal timestamps keep the order of the input
  (file name, then row in the file);
- a table takes each session's `tail` most recent events that pass its event filter, forms
  the ordered pairs (x, y) with different aids less than `window` seconds apart (y among
  the events the table accepts as y, and after x for a forward table), and keeps each pair
  once per session with the ts of x and the type of y of its most recent occurrence (the
  latest x, then the latest y);
- weights: time `1 + 3·(ts_x − ts_min)/(ts_max − ts_min)` over all events; type
  {click: 1, cart: 6, order: 3}[type_y]; unit 1; proximity 1/|pos_x − pos_y|;
  each occurrence's weight is a float32, summed over sessions;
- top K aid_y per aid_x by weight, ties by smaller aid_y.

Cost: the pair expansion is a self-join of each session's tail, so shuffle volume grows
with Σ min(n, tail)² over sessions (linear in the number of sessions at a fixed tail) and
the aggregation with the distinct pairs; every stage is partitioned by session or aid and
scales out with executors.

    spark-submit scripts/spark/covisit.py --input EVENTS --out DIR [--tail 30] ...
"""

import argparse
import json
import os
import sys

from pyspark.sql import SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

DAY = 86_400
HOUR = 3_600
TYPE_CODES = {"clicks": 0, "carts": 1, "orders": 2}
TYPE_WEIGHTS = {0: 1.0, 1: 6.0, 2: 3.0}
TABLES = ["clicks", "carts_orders", "buy2buy", "click_to_buy", "next"]


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--input", required=True, help="event Parquet file or directory")
    p.add_argument("--out", required=True, help="output directory (must not exist)")
    p.add_argument("--tail", type=int, default=30)
    p.add_argument("--window-hours", type=int, default=24)
    p.add_argument("--buy2buy-window-days", type=int, default=14)
    p.add_argument("--clicks-top-k", type=int, default=20)
    p.add_argument("--carts-orders-top-k", type=int, default=15)
    p.add_argument("--buy2buy-top-k", type=int, default=15)
    p.add_argument("--recent-days", type=int, default=7)
    p.add_argument("--popular", type=int, default=100)
    p.add_argument("--partitions", type=int, default=0,
                   help="shuffle partitions (default: Spark's setting)")
    args = p.parse_args(argv)
    if not 1 <= args.tail <= 1000:
        p.error("--tail must be between 1 and 1000")
    for name in ["window_hours", "buy2buy_window_days", "clicks_top_k",
                 "carts_orders_top_k", "buy2buy_top_k", "recent_days", "popular"]:
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def specs(args):
    """The tables, in otto-rec's order and serialisation (IndexParams.tables)."""
    def spec(events, window, weighting, top_k, y_events="all", direction="both"):
        return {"events": events, "tail": args.tail, "window_seconds": window,
                "weighting": weighting, "top_k": top_k, "y_events": y_events,
                "direction": direction}
    window = args.window_hours * HOUR
    return [
        spec("all", window, "time", args.clicks_top_k),
        spec("all", window, "type", args.carts_orders_top_k),
        spec("buys", args.buy2buy_window_days * DAY, "unit", args.buy2buy_top_k),
        spec("all", DAY, "type", 20, y_events="buys", direction="forward"),
        spec("all", HOUR, "proximity", 20, direction="forward"),
    ]


def read_events(spark, path):
    """Events with seconds, type codes and each event's position in its session."""
    raw = spark.read.parquet(path).select(
        "session", "aid", "ts", "type",
        F.col("_metadata.file_path").alias("file"),
        F.col("_metadata.row_index").alias("row"))
    missing = {"session", "aid", "ts", "type"} - set(raw.columns)
    if missing:
        sys.exit(f"covisit: {path}: missing columns {sorted(missing)}")
    kind = raw.schema["type"].dataType
    if isinstance(kind, T.StringType):
        code = F.coalesce(*[F.when(F.col("type") == n, F.lit(c)) for n, c in TYPE_CODES.items()],
                          F.lit(-1))
    else:
        code = F.col("type").cast("int")
    ts = F.col("ts").cast("long")
    # A ts above 10^11 is milliseconds; order by the full precision, keep seconds.
    millis = F.when(ts > 100_000_000_000, ts).otherwise(ts * 1000)
    events = raw.select(
        F.col("session").cast("long").alias("session"),
        F.col("aid").cast("int").alias("aid"),
        F.floor(millis / 1000).cast("long").alias("ts"),
        code.alias("type"),
        millis.alias("millis"), "file", "row")
    bad = events.where(~F.col("type").isin(0, 1, 2) | F.col("aid").isNull()
                       | (F.col("aid") < 0) | F.col("session").isNull() | F.col("ts").isNull())
    first_bad = bad.limit(1).collect()
    if first_bad:
        r = first_bad[0]
        sys.exit(f"covisit: {r['file']} row {r['row']}: bad event "
                 f"(session {r['session']}, aid {r['aid']}, ts {r['ts']}, type code {r['type']})")
    in_session = Window.partitionBy("session").orderBy("millis", "file", "row")
    return events.withColumn("pos", F.row_number().over(in_session)).drop("millis", "file", "row")


def table(events, spec, ts_min, ts_max):
    """One co-visitation table: aid_x, aid_y, weight (float), best first per aid_x."""
    chosen = events if spec["events"] == "all" else events.where(F.col("type") > 0)
    newest = Window.partitionBy("session").orderBy(F.col("pos").desc())
    tail = (chosen.withColumn("r", F.row_number().over(newest))
            .where(F.col("r") <= spec["tail"]).drop("r"))
    x = tail.select("session", F.col("aid").alias("aid_x"), F.col("ts").alias("ts_x"),
                    F.col("pos").alias("pos_x"))
    y = tail.select("session", F.col("aid").alias("aid_y"), F.col("ts").alias("ts_y"),
                    F.col("type").alias("type_y"), F.col("pos").alias("pos_y"))
    if spec["y_events"] == "buys":
        y = y.where(F.col("type_y") > 0)
    cond = ((F.col("aid_x") != F.col("aid_y"))
            & (F.abs(F.col("ts_x") - F.col("ts_y")) < spec["window_seconds"]))
    if spec["direction"] == "forward":
        cond = cond & (F.col("pos_y") > F.col("pos_x"))
    pairs = x.join(y, "session").where(cond)
    # Once per session: the most recent x, then the most recent y (a struct compares its
    # fields in order).
    kept = (pairs.groupBy("session", "aid_x", "aid_y")
            .agg(F.max(F.struct("pos_x", "pos_y", "ts_x", "type_y")).alias("o"))
            .select("aid_x", "aid_y", "o.*"))
    weighting = spec["weighting"]
    if weighting == "time":
        span = ts_max - ts_min
        w = (F.lit(1.0) + F.lit(3.0) * (F.col("ts_x") - ts_min).cast("double") / float(span)
             if span > 0 else F.lit(1.0))
    elif weighting == "type":
        w = F.element_at(F.create_map(*[F.lit(v) for kv in TYPE_WEIGHTS.items() for v in kv]),
                         F.col("type_y"))
    elif weighting == "unit":
        w = F.lit(1.0)
    else:
        w = F.lit(1.0) / F.greatest(F.abs(F.col("pos_x") - F.col("pos_y")), F.lit(1)).cast("double")
    summed = (kept.withColumn("w", w.cast("float").cast("double"))
              .groupBy("aid_x", "aid_y").agg(F.sum("w").cast("float").alias("weight")))
    best = Window.partitionBy("aid_x").orderBy(F.col("weight").desc(), F.col("aid_y"))
    return (summed.withColumn("rank", F.row_number().over(best))
            .where(F.col("rank") <= spec["top_k"])
            .select(F.col("aid_x").cast("int"), F.col("aid_y").cast("int"), "weight"))


def item_stats(spark, events, ts_max, recent_days):
    """otto-rec's item statistics (src/index/stats.rs), one row per aid 0..max aid."""
    recent_from = max(ts_max - recent_days * DAY, 0)
    day_from = max(ts_max - DAY, 0)
    count_if = lambda cond: F.sum(F.when(cond, 1).otherwise(0)).cast("long")
    per_type = []
    for name, code in TYPE_CODES.items():
        is_type = F.col("type") == code
        per_type += [
            count_if(is_type).alias(name),
            count_if(is_type & (F.col("ts") >= recent_from)).alias(f"{name}_recent"),
            count_if(is_type & (F.col("ts") >= day_from)).alias(f"{name}_last_day"),
        ]
    weekday = ((F.floor(F.col("ts") / DAY) + 3) % 7)
    per_item = events.groupBy("aid").agg(
        *per_type,
        count_if(weekday >= 5).alias("weekend"),
        F.sum((F.col("ts") % DAY).cast("double") / DAY).alias("hours"),
        F.count("*").alias("total"))
    per_session = (events.groupBy("aid", "session").count()
                   .groupBy("aid").agg(F.count("*").alias("sessions"),
                                       count_if(F.col("count") >= 2).alias("repeat_sessions")))
    bound = events.agg(F.max("aid")).first()[0] + 1
    aids = spark.range(bound).select(F.col("id").cast("int").alias("aid"))
    joined = aids.join(per_item, "aid", "left").join(per_session, "aid", "left").na.fill(0)
    columns = [F.col("aid")]
    for name in TYPE_CODES:
        for suffix in ["", "_recent", "_last_day"]:
            columns.append(F.col(name + suffix).cast("int").alias(name + suffix))
    # Plain f32 division, as otto-rec's (double division rounded to float is the same).
    share = lambda num: F.when(F.col("total") > 0, (num / F.col("total")).cast("float")) \
        .otherwise(F.lit(0.0).cast("float"))
    columns += [
        F.col("sessions").cast("int").alias("sessions"),
        F.col("repeat_sessions").cast("int").alias("repeat_sessions"),
        share(F.col("weekend").cast("double")).alias("weekend_share"),
        share(F.col("hours")).alias("mean_hour"),
    ]
    order = ["aid", "clicks", "carts", "orders", "clicks_recent", "carts_recent",
             "orders_recent", "clicks_last_day", "carts_last_day", "orders_last_day",
             "sessions", "repeat_sessions", "weekend_share", "mean_hour"]
    frame = joined.select(*columns).select(*order)
    # Counts are non-negative and below 2^31: stored as uint32 by otto-rec, read back
    # from int32 unchanged.
    return frame.orderBy("aid")


def popular(stats, keep):
    """The `keep` most popular aids per type: recent count, then count, then smaller aid."""
    frames = []
    for name, code in TYPE_CODES.items():
        best = Window.orderBy(F.col(f"{name}_recent").desc(), F.col(name).desc(), F.col("aid"))
        frames.append(stats.where(F.col(name) > 0)
                      .withColumn("rank", F.row_number().over(best) - 1)
                      .where(F.col("rank") < keep)
                      .select(F.lit(code).cast("int").alias("type"),
                              F.col("rank").cast("int").alias("rank"), "aid"))
    out = frames[0]
    for f in frames[1:]:
        out = out.unionByName(f)
    return out.orderBy("type", "rank")


def main(argv):
    args = parse_args(argv)
    spark = SparkSession.builder.appName("otto-rec covisit").getOrCreate()
    # The output may be on any filesystem Spark writes to (local, HDFS, S3): go through
    # Hadoop's FileSystem for the existence check and index.json.
    jvm = spark._jvm
    out_path = jvm.org.apache.hadoop.fs.Path(args.out)
    fs = out_path.getFileSystem(spark._jsc.hadoopConfiguration())
    if fs.exists(out_path):
        sys.exit(f"covisit: {args.out} exists; give a new directory")
    if args.partitions:
        spark.conf.set("spark.sql.shuffle.partitions", args.partitions)
    events = read_events(spark, args.input).persist()
    summary = events.agg(F.count("*").alias("events"),
                         F.countDistinct("session").alias("sessions"),
                         F.min("ts").alias("ts_min"), F.max("ts").alias("ts_max")).first()
    if summary["events"] == 0:
        sys.exit(f"covisit: {args.input}: no events")
    ts_min, ts_max = summary["ts_min"], summary["ts_max"]
    tables = specs(args)
    for name, spec in zip(TABLES, tables):
        print(f"covisit: table {name}", file=sys.stderr)
        (table(events, spec, ts_min, ts_max)
         .orderBy("aid_x", F.col("weight").desc(), "aid_y")
         .write.parquet(os.path.join(args.out, f"covisit_{name}.parquet")))
    print("covisit: item statistics and popular items", file=sys.stderr)
    stats = item_stats(spark, events, ts_max, args.recent_days).persist()
    stats.write.parquet(os.path.join(args.out, "item_stats.parquet"))
    popular(stats, args.popular).write.parquet(os.path.join(args.out, "popular.parquet"))
    index = {
        "parameters": {"tables": tables, "recent_days": args.recent_days,
                       "popular": args.popular, "pairs_per_pass": 150_000_000,
                       "embedding": None},
        "input": {"files": [args.input], "sessions": summary["sessions"],
                  "events": summary["events"], "ts_min": ts_min, "ts_max": ts_max},
    }
    # Written last, so a directory with index.json is a complete job's output.
    stream = fs.create(jvm.org.apache.hadoop.fs.Path(args.out + "/index.json"), True)
    stream.write(bytearray(json.dumps(index, indent=2).encode()))
    stream.close()
    print(f"covisit: wrote {args.out}: {summary['sessions']} sessions, "
          f"{summary['events']} events", file=sys.stderr)
    spark.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
