"""otto-rec from Python: session-based recommendations in the OTTO setting.

The same library as the ``otto-rec`` binary, loaded into the interpreter::

    import otto_rec

    otto_rec.build_index(events, "model")            # co-visitation tables, session index
    otto_rec.train(events, "model")                  # LightGBM rankers
    rec = otto_rec.Recommender("model")
    items, scores = rec.recommend([1, 2], [1661724000, 1661724060], [0, 0], type="clicks")
    frame = otto_rec.predict(test_events, "model", output="submission.csv")

``events`` is a path (JSONL, Parquet, or a log format ``convert`` reads) or a DataFrame
(polars or pandas) with the columns ``session``, ``aid``, ``ts`` and ``type``. ``ts`` is in
seconds, as in the Kaggle Parquet files and the HTTP API (``ts_unit="ms"`` for
milliseconds, as in the Kaggle JSONL); ``type`` is 0/1/2 or "clicks"/"carts"/"orders".

Keyword options are the command's flags: ``train(events, "m", knn=0, folds=4)`` runs
``otto-rec train --input … --model-dir m --knn 0 --folds 4``; ``True`` passes a switch
(``embeddings=True`` → ``--embeddings``). Long work releases the GIL. Every error is an
:class:`OttoRecError` whose ``code`` is the one the CLI and the HTTP API use.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator, Optional, Union

from ._native import OttoRecError, Recommender, __version__, run

__all__ = [
    "OttoRecError",
    "Recommender",
    "__version__",
    "build_index",
    "generate",
    "predict",
    "run",
    "train",
]

EVENT_COLUMNS = ("session", "aid", "ts", "type")
OBJECTIVES = ("clicks", "carts", "orders")


def _flags(options: dict[str, Any]) -> list[str]:
    """Keyword options as command-line flags: ``knn_query=5`` → ``--knn-query 5``."""
    out: list[str] = []
    for name, value in options.items():
        flag = "--" + name.replace("_", "-")
        if value is True:
            out.append(flag)
        elif value is False or value is None:
            continue
        elif isinstance(value, (list, tuple)):
            for item in value:
                out += [flag, str(item)]
        else:
            out += [flag, str(value)]
    return out


def _to_polars(events: Any):
    """A polars DataFrame of ``events``' event columns (polars itself, or pandas through
    numpy); columns it lacks are left for the caller to report."""
    import polars as pl

    if isinstance(events, pl.DataFrame):
        return events
    if type(events).__module__.split(".")[0] == "pandas":
        return pl.DataFrame({c: events[c].to_numpy() for c in EVENT_COLUMNS if c in events})
    raise TypeError(
        "events must be a path, a polars DataFrame or a pandas DataFrame, "
        f"not {type(events).__name__}"
    )


def _error(code: str, message: str) -> OttoRecError:
    err = OttoRecError(message)
    err.code = code
    return err


@contextlib.contextmanager
def _events_file(events: Any, ts_unit: str) -> Iterator[str]:
    """A path otto-rec reads ``events`` from: the path itself, or the DataFrame written as
    event-per-row Parquet into a temporary directory, removed afterwards."""
    if isinstance(events, (str, os.PathLike)):
        yield os.fspath(events)
        return
    import polars as pl

    frame = _to_polars(events)
    missing = [c for c in EVENT_COLUMNS if c not in frame.columns]
    if missing:
        raise _error("missing_column", f"events: missing column(s) {', '.join(missing)}")
    if ts_unit == "s":
        ts = pl.col("ts").cast(pl.Int32, strict=True)  # int32 seconds
    elif ts_unit == "ms":
        ts = pl.col("ts").cast(pl.Int64, strict=True)  # int64 milliseconds
    else:
        raise ValueError(f'ts_unit must be "s" or "ms", not {ts_unit!r}')
    kind = pl.col("type")
    if frame.schema["type"] != pl.Utf8:
        kind = kind.cast(pl.UInt8, strict=True)
    with tempfile.TemporaryDirectory(prefix="otto-rec-") as tmp:
        path = os.path.join(tmp, "events.parquet")
        frame.select(
            pl.col("session").cast(pl.Int64, strict=True),
            pl.col("aid").cast(pl.Int64, strict=True),
            ts,
            kind,
        ).write_parquet(path)
        yield path


def _command(name: str, path: str, model_dir: Union[str, os.PathLike],
             options: dict[str, Any], extra: Optional[list[str]] = None) -> None:
    run([name, "--input", path, "--model-dir", os.fspath(model_dir)]
        + (extra or []) + _flags(options))


def generate(out: Union[str, os.PathLike], sessions: int = 20000, seed: int = 42,
             **options: Any) -> Path:
    """A synthetic OTTO-like world in ``out`` (train.jsonl, test.jsonl, test_labels.jsonl)."""
    run(["generate", "--out", os.fspath(out), "--sessions", str(sessions), "--seed", str(seed)]
        + _flags(options))
    return Path(out)


def build_index(events: Any, model_dir: Union[str, os.PathLike], *, ts_unit: str = "s",
                **options: Any) -> None:
    """Builds the bundle's index (co-visitation tables, item statistics, session index)
    from ``events`` into ``model_dir``, as ``otto-rec build-index`` does."""
    with _events_file(events, ts_unit) as path:
        _command("build-index", path, model_dir, options)


def train(events: Any, model_dir: Union[str, os.PathLike], *, ts_unit: str = "s",
          **options: Any) -> dict[str, Any]:
    """Trains the rankers on ``events`` into ``model_dir`` (building the index first when the
    directory has none), as ``otto-rec train`` does; returns the training report of the
    bundle's manifest (objectives, trees, validation figures)."""
    with _events_file(events, ts_unit) as path:
        _command("train", path, model_dir, options)
    with open(os.path.join(os.fspath(model_dir), "manifest.json")) as f:
        return json.load(f).get("training", {})


def predict(events: Any, model_dir: Union[str, os.PathLike], *,
            output: Optional[Union[str, os.PathLike]] = None, k: int = 20,
            ts_unit: str = "s", **options: Any):
    """Recommends ``k`` items per objective for every session of ``events``, as ``otto-rec
    predict`` does. Returns a polars DataFrame with one row per session and objective
    (``session``, ``type``, ``aids``, ``scores``, best first); with ``output`` it also
    writes that file (``.csv``: a Kaggle submission; ``.jsonl``: items and scores)."""
    import polars as pl

    with _events_file(events, ts_unit) as path, tempfile.TemporaryDirectory(
        prefix="otto-rec-"
    ) as tmp:
        # One run when the caller asks for JSONL; a submission CSV holds no scores, so the
        # frame comes from a JSONL run of its own.
        wants_jsonl = output is not None and os.fspath(output).endswith(".jsonl")
        jsonl = os.fspath(output) if wants_jsonl else os.path.join(tmp, "predictions.jsonl")
        _command("predict", path, model_dir, options, ["--output", jsonl, "--k", str(k)])
        if output is not None and not wants_jsonl:
            _command("predict", path, model_dir, options,
                     ["--output", os.fspath(output), "--k", str(k)])
        rows: dict[str, list] = {"session": [], "type": [], "aids": [], "scores": []}
        with open(jsonl) as f:
            for line in f:
                record = json.loads(line)
                for objective in OBJECTIVES:
                    if objective in record:
                        rows["session"].append(record["session"])
                        rows["type"].append(objective)
                        rows["aids"].append(record[objective]["recommendation"])
                        rows["scores"].append(record[objective]["scores"])
    return pl.DataFrame(
        rows,
        schema={"session": pl.Int64, "type": pl.Utf8, "aids": pl.List(pl.UInt32),
                "scores": pl.List(pl.Float32)},
    )
