"""Seeded data for the browser tests and the screenshots: a small, varied store written with asynctrack's
own client into a SQLite file (before the server starts), so every page has something real to show."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from asynctrack import MlflowClient
from asynctrack.entities import Metric, Param

HOSTILE = ["<img src=x onerror=alert(1)>", '"><script>alert(1)</script>']
SPIKE_STEP = 654_321
SPIKE_VALUE = 1000.0
MANY_RUNS = 130
WIDE_METRICS = 30


@dataclass
class Seeded:
    """Ids of what :func:`seed` wrote, for the tests to navigate to."""

    experiment_id: str = ""
    other_experiment_id: str = ""
    hostile_experiment_id: str = ""
    runs: dict[str, str] = field(default_factory=dict)  # run name -> run id
    parent_id: str = ""
    children: list[str] = field(default_factory=list)
    long_run_id: str = ""
    many_experiment_id: str = ""
    wide_run_id: str = ""
    hostile_run_id: str = ""


def _curve(n: int, seed: int, scale: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    steps = np.arange(n, dtype=np.float64)
    return scale * (np.exp(-steps / max(1, n / 4)) + 0.05 * rng.standard_normal(n) + 0.1)


def seed(db: Path, *, long_points: int = 1_000_000, n_runs: int = 12) -> Seeded:
    """Write the test data into ``sqlite:///db``; artifacts go next to it."""
    uri = f"sqlite:///{db}"
    client = MlflowClient(tracking_uri=uri)
    out = Seeded()
    where = str(db.parent / "artifacts")
    out.experiment_id = client.create_experiment("vision-baselines", artifact_location=where)
    out.other_experiment_id = client.create_experiment("nlp-sweeps", artifact_location=where)
    base = 1_764_000_000_000
    for i in range(n_runs):
        name = f"resnet-{i:02d}"
        run = client.create_run(
            out.experiment_id,
            run_name=name,
            start_time=base + i * 60_000,
            tags={"team": "vision" if i % 2 else "core", "mlflow.source.name": "train.py"},
        )
        rid = run.info.run_id
        out.runs[name] = rid
        lr = [0.1, 0.01, 0.001][i % 3]
        client.log_batch(
            rid,
            params=[
                Param("lr", str(lr)),
                Param("batch_size", str(32 * (1 + i % 4))),
                Param("optimizer", "adam" if i % 2 else "sgd"),
            ],
        )
        steps = 200
        loss = _curve(steps, i, 1.0 + i * 0.1)
        acc = 1 - loss / (2 + loss)
        ts = base + i * 60_000 + np.arange(steps) * 1000
        for key, vals in (("loss", loss), ("accuracy", acc)):
            client.log_batch(
                rid,
                metrics=[
                    Metric(key, float(v), int(t), int(s))
                    for s, (v, t) in enumerate(zip(vals, ts, strict=True))
                ],
            )
        client.log_metric(rid, "val_loss", float(loss[-1] * 1.1), timestamp=int(ts[-1]), step=steps - 1)
        if i == 4:
            note = "ResNet-18 baseline: SGD, cosine schedule, no warm-up.\nCompare with resnet-07 (Adam)."
            client.set_tag(rid, "mlflow.note.content", note)
        client.set_terminated(rid, "FINISHED" if i % 5 else "FAILED", end_time=int(ts[-1]) + 500)
    # nested runs
    parent = client.create_run(out.experiment_id, run_name="sweep-parent", start_time=base + 100 * 60_000)
    out.parent_id = parent.info.run_id
    for j in range(3):
        child = client.create_run(
            out.experiment_id,
            run_name=f"sweep-child-{j}",
            start_time=base + (101 + j) * 60_000,
            tags={"mlflow.parentRunId": out.parent_id},
        )
        client.log_metric(child.info.run_id, "loss", 0.5 - j * 0.1, step=0)
        client.set_terminated(child.info.run_id, "FINISHED", end_time=base + (102 + j) * 60_000)
        out.children.append(child.info.run_id)
    client.set_terminated(out.parent_id, "FINISHED", end_time=base + 105 * 60_000)
    # a long history with one spike
    if long_points:
        long = client.create_run(out.experiment_id, run_name="long-history", start_time=base + 200 * 60_000)
        out.long_run_id = long.info.run_id
        vals = np.sin(np.arange(long_points) / 5000.0) * 0.1 + 0.5
        vals[SPIKE_STEP] = SPIKE_VALUE
        steps = np.arange(long_points, dtype=np.int64)
        client.log_metric_array(long.info.run_id, "signal", vals, steps=steps, timestamps=base + steps)
        client.set_terminated(long.info.run_id, "FINISHED", end_time=int(base + long_points))
    # enough runs to page through (the table asks for 100 at a time)
    out.many_experiment_id = client.create_experiment("many-runs", artifact_location=where)
    for i in range(MANY_RUNS):
        r = client.create_run(out.many_experiment_id, run_name=f"many-{i:03d}", start_time=base + i)
        client.log_metric(r.info.run_id, "score", float(i), step=0)
        client.set_terminated(r.info.run_id, "FINISHED", end_time=base + i + 1000)
    # a run with many metrics: its charts page fetches only the charts in view
    wide = client.create_run(out.other_experiment_id, run_name="wide", start_time=base)
    out.wide_run_id = wide.info.run_id
    for k in range(WIDE_METRICS):
        client.log_metric_array(out.wide_run_id, f"w{k:02d}", np.linspace(0, 1, 50) * (k + 1))
    client.set_terminated(out.wide_run_id, "FINISHED", end_time=base + 1000)
    # hostile names everywhere
    out.hostile_experiment_id = client.create_experiment(HOSTILE[0], artifact_location=where)
    hostile = client.create_run(
        out.experiment_id,
        run_name=HOSTILE[0],
        start_time=base + 300 * 60_000,
        tags={
            "note": HOSTILE[0],
            "mlflow.note.content": HOSTILE[1] + HOSTILE[0],
            "mlflow.source.name": HOSTILE[1],
        },
    )
    out.hostile_run_id = hostile.info.run_id
    client.log_param(out.hostile_run_id, "evil", HOSTILE[1])
    client.log_metric(out.hostile_run_id, "loss", 0.3, step=0)
    client.log_metric(out.hostile_run_id, "loss", 0.2, step=1)
    client.set_terminated(out.hostile_run_id, "FINISHED", end_time=base + 301 * 60_000)
    # artifacts on the first run
    first = out.runs["resnet-00"]
    tmp = db.parent / "artifact-src"
    (tmp / "data").mkdir(parents=True, exist_ok=True)
    (tmp / "notes.txt").write_text("hello from the artifact\nsecond line\n")
    (tmp / "config.yaml").write_text("lr: 0.1\nlayers: [64, 64]\n")
    (tmp / "data" / "table.csv").write_text('name,score\n"a, quoted",1.5\nb,2.5\n')
    (tmp / "page.html").write_text("<script>alert(1)</script><b>bold</b>")
    (tmp / "image.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"></svg>')
    client.log_artifacts(first, str(tmp))
    client.log_dict(first, {"columns": ["epoch", "loss"], "data": [[1, 0.5], [2, 0.25]]}, "eval_table.json")
    client.log_dict(first, {"a": 1, "nested": {"b": [1, 2]}}, "meta.json")
    client.log_text(first, HOSTILE[0], HOSTILE[1] + ".txt" if os.name != "nt" else "h.txt")
    try:
        from PIL import Image

        img = Image.new("RGB", (64, 40), (31, 111, 235))
        client.log_image(first, img, "plots/blue.png")
    except ImportError:
        pass
    client.flush()
    return out


if __name__ == "__main__":
    import sys

    print(seed(Path(sys.argv[1]), long_points=int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000))
