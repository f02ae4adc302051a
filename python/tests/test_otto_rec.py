"""The Python package against the otto-rec binary of the same tree (OTTO_REC_BIN): the same
bundle gives the same answers through `Recommender.recommend` as through `serve`, and the
same predictions through `otto_rec.predict` as through `otto-rec predict`."""

import json
import os
import struct
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd
import polars as pl
import pytest

import otto_rec

CODES = {"clicks": 0, "carts": 1, "orders": 2}


def binary() -> str:
    path = os.environ.get("OTTO_REC_BIN")
    assert path, "OTTO_REC_BIN must name the otto-rec binary built from this tree"
    return path


def f32(values):
    """Python floats rounded to f32, as the server's JSON and the native module carry them."""
    return [struct.unpack("f", struct.pack("f", v))[0] for v in values]


def read_sessions(path: Path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def events_frame(sessions) -> pl.DataFrame:
    """The sessions of a Kaggle JSONL file as one event per row (ts in milliseconds)."""
    rows = {"session": [], "aid": [], "ts": [], "type": []}
    for s in sessions:
        for e in s["events"]:
            rows["session"].append(s["session"])
            rows["aid"].append(e["aid"])
            rows["ts"].append(e["ts"])
            rows["type"].append(e["type"])
    return pl.DataFrame(rows)


@pytest.fixture(scope="session")
def world(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("world")
    otto_rec.generate(out, sessions=4000, seed=7)
    return out


@pytest.fixture(scope="session")
def model(world, tmp_path_factory) -> Path:
    """A bundle trained from a DataFrame (the world's train sessions, ts in ms)."""
    model_dir = tmp_path_factory.mktemp("model")
    frame = events_frame(read_sessions(world / "train.jsonl"))
    report = otto_rec.train(frame, model_dir, ts_unit="ms", folds=1, seed=3)
    assert report["seed"] == 3 and report["folds"] == 1
    assert set(report["trees"]) == {"clicks", "carts", "orders"}
    return model_dir


@pytest.fixture(scope="session")
def server(model):
    proc = subprocess.Popen(
        [binary(), "serve", "--model-dir", str(model), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        url = None
        for line in proc.stdout:
            if "http://" in line:
                url = line[line.index("http://"):].split()[0]
                break
        assert url, "the server did not start"
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def post(url: str, body: dict) -> dict:
    request = urllib.request.Request(
        url + "/predict",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request) as response:
            return json.load(response)
    except urllib.error.HTTPError as e:
        return json.load(e)


def test_recommend_equals_serve(model, server, world):
    rec = otto_rec.Recommender(model)
    assert rec.has_rankers
    sessions = read_sessions(world / "test.jsonl")[:60]
    for n, s in enumerate(sessions):
        events = s["events"][-30:]
        aids = [e["aid"] for e in events]
        ts = [e["ts"] // 1000 for e in events]
        types = [CODES[e["type"]] for e in events]
        objective = ["clicks", "carts", "orders"][n % 3]
        k = [20, 5, 40][n % 3]
        items, scores = rec.recommend(aids, ts, types, type=objective, k=k)
        answer = post(server, {"aids": aids, "timestamps": ts, "event_types": types,
                               "type": objective, "k": k})
        assert answer["status"] == "success"
        assert items == answer["recommendation"], f"session {s['session']}"
        assert f32(scores) == f32(answer["scores"]), f"session {s['session']}"
        assert len(items) == k


def test_recommend_errors_carry_the_api_codes(model, server):
    rec = otto_rec.Recommender(model)
    cases = [
        (dict(aids=[1, 2], timestamps=[1661724000], event_types=[0, 0]), "length_mismatch"),
        (dict(aids=[], timestamps=[], event_types=[]), "empty_session"),
        (dict(aids=[-1], timestamps=[1661724000], event_types=[0]), "invalid_aid"),
        (dict(aids=[1], timestamps=[1661724000], event_types=[3]), "invalid_event_type"),
        (dict(aids=[1], timestamps=[1661724000], event_types=[0], type="views"), "invalid_type"),
        (dict(aids=[1], timestamps=[1661724000], event_types=[0], k=0), "invalid_k"),
    ]
    for kwargs, code in cases:
        with pytest.raises(otto_rec.OttoRecError) as caught:
            rec.recommend(**kwargs)
        assert caught.value.code == code
        body = {"aids": kwargs["aids"], "timestamps": kwargs["timestamps"],
                "event_types": kwargs["event_types"]}
        for key in ("type", "k"):
            if key in kwargs:
                body[key] = kwargs[key]
        assert post(server, body)["code"] == code


def test_open_errors_carry_the_cli_codes(tmp_path):
    with pytest.raises(otto_rec.OttoRecError) as caught:
        otto_rec.Recommender(tmp_path / "nothing-here")
    assert caught.value.code == "bundle_not_found"
    with pytest.raises(otto_rec.OttoRecError) as caught:
        otto_rec.run(["train", "--no-such-flag"])
    assert caught.value.code == "invalid_argument"
    with pytest.raises(otto_rec.OttoRecError) as caught:
        otto_rec.build_index(pl.DataFrame({"session": [1], "aid": [2]}), tmp_path / "m")
    assert caught.value.code == "missing_column"
    assert not (tmp_path / "m").exists()


def cli_predictions(model: Path, sessions: Path, out: Path) -> list:
    subprocess.run(
        [binary(), "predict", "--input", str(sessions), "--model-dir", str(model),
         "--output", str(out)],
        check=True,
        stderr=subprocess.DEVNULL,
    )
    return read_sessions(out)


def frame_records(frame: pl.DataFrame) -> dict:
    out = {}
    for row in frame.iter_rows(named=True):
        out[(row["session"], row["type"])] = (row["aids"], f32(row["scores"]))
    return out


def test_predict_equals_the_cli_from_a_path_and_from_dataframes(model, world, tmp_path):
    expected = {}
    for record in cli_predictions(model, world / "test.jsonl", tmp_path / "cli.jsonl"):
        for objective in ("clicks", "carts", "orders"):
            block = record[objective]
            expected[(record["session"], objective)] = (block["recommendation"],
                                                       f32(block["scores"]))
    from_path = otto_rec.predict(world / "test.jsonl", model)
    assert from_path.columns == ["session", "type", "aids", "scores"]
    assert frame_records(from_path) == expected

    polars_events = events_frame(read_sessions(world / "test.jsonl"))
    assert frame_records(otto_rec.predict(polars_events, model, ts_unit="ms")) == expected
    # pandas, with seconds and integer type codes, as a notebook might hold them.
    converted = polars_events.with_columns(
        (pl.col("ts") // 1000).alias("ts"),
        pl.col("type").replace_strict(CODES, return_dtype=pl.Int64).alias("type"),
    )
    pandas_events = pd.DataFrame({c: converted[c].to_numpy() for c in converted.columns})
    assert isinstance(pandas_events, pd.DataFrame)
    assert frame_records(otto_rec.predict(pandas_events, model)) == expected


def test_predict_writes_the_cli_submission(model, world, tmp_path):
    subprocess.run(
        [binary(), "predict", "--input", str(world / "test.jsonl"), "--model-dir", str(model),
         "--output", str(tmp_path / "cli.csv")],
        check=True,
        stderr=subprocess.DEVNULL,
    )
    frame = otto_rec.predict(world / "test.jsonl", model, output=tmp_path / "py.csv")
    assert (tmp_path / "py.csv").read_bytes() == (tmp_path / "cli.csv").read_bytes()
    assert frame.height == 3 * len(read_sessions(world / "test.jsonl"))


def test_long_work_releases_the_gil(model, world, tmp_path):
    # While a native predict runs in a thread, this thread keeps running Python: it could
    # not if the call held the GIL. Python may switch threads every 5 ms outside native
    # code, so only the call's inside, 20 ms in from either end, counts.
    done = threading.Event()
    span = []
    errors = []

    def work():
        try:
            span.append(time.monotonic())
            otto_rec.run(["predict", "--input", str(world / "train.jsonl"),
                          "--model-dir", str(model), "--output", str(tmp_path / "p.jsonl")])
            span.append(time.monotonic())
        except Exception as e:  # reported below
            errors.append(e)
        finally:
            done.set()

    thread = threading.Thread(target=work)
    stamps = []
    thread.start()
    while not done.is_set():
        stamps.append(time.monotonic())
    thread.join()
    assert not errors, errors
    start, end = span
    assert end - start > 0.1, "the call is too short to tell"
    inside = [t for t in stamps if start + 0.02 < t < end - 0.02]
    assert len(inside) > 1000, f"{len(inside)} steps of Python ran during the native call"
