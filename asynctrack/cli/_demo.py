"""``asynctrack demo``: a small but real training loop that logs to the embedded store.

A logistic-regression classifier is trained with mini-batch SGD on synthetic data. Params and tags are
logged at the start; every step logs four metrics with ``synchronous=False``; each epoch's operations
are combined and awaited at the epoch's end, so a logging failure would surface there.
"""

from __future__ import annotations

import os
import time

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

import asynctrack as mlflow
from asynctrack.pipeline import RunOperations

__all__ = ["DEMO_EXPERIMENT", "run_demo"]

#: The experiment the demo logs to (named in its output, with the command that lists its runs).
DEMO_EXPERIMENT = "asynctrack-demo"


def _data(rng: np.random.Generator, n: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    true_w = rng.normal(size=d)
    x = rng.normal(size=(n, d))
    y = (x @ true_w + 0.5 * rng.normal(size=n) > 0).astype(np.float64)
    return x, y


def run_demo(epochs: int, steps: int, tracking_uri: str | None, *, progress: bool = True) -> int:
    """Train, log, and print a summary; returns the process exit code."""
    console = Console()
    if epochs <= 0 or steps <= 0:
        console.print("[red]--epochs and --steps must be positive[/red]")
        return 2
    if tracking_uri:
        mlflow.set_tracking_uri(tracking_uri)
    rng = np.random.default_rng(0)
    dim, batch, lr = 32, 64, 0.05
    x, y = _data(rng, 20_000, dim)
    w = np.zeros(dim)
    experiment = mlflow.set_experiment(DEMO_EXPERIMENT)
    n_metrics = 0
    wait_seconds = 0.0
    started = time.perf_counter()
    with mlflow.start_run(run_name="demo") as run:
        mlflow.log_params(
            {
                "epochs": epochs,
                "steps_per_epoch": steps,
                "batch_size": batch,
                "learning_rate": lr,
                "features": dim,
                "model": "logistic-regression",
            }
        )
        mlflow.set_tags({"purpose": "demo", "framework": "numpy"})
        columns = (
            TextColumn("[bold]epoch {task.fields[epoch]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.4f}"),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console, disable=not progress, transient=False) as bar:
            task = bar.add_task("train", total=epochs * steps, epoch=1, loss=float("nan"))
            for epoch in range(epochs):
                epoch_ops: list[RunOperations | None] = []
                for s in range(steps):
                    idx = rng.integers(0, len(x), batch)
                    xb, yb = x[idx], y[idx]
                    p = 1.0 / (1.0 + np.exp(-(xb @ w)))
                    grad = xb.T @ (p - yb) / batch
                    w -= lr * grad
                    loss = float(-np.mean(yb * np.log(p + 1e-12) + (1 - yb) * np.log(1 - p + 1e-12)))
                    acc = float(np.mean((p > 0.5) == (yb > 0.5)))
                    step = epoch * steps + s
                    for key, value in (
                        ("train/loss", loss),
                        ("train/accuracy", acc),
                        ("train/grad_norm", float(np.linalg.norm(grad))),
                        ("train/lr", lr),
                    ):
                        epoch_ops.append(mlflow.log_metric(key, value, step=step, synchronous=False))
                    n_metrics += 4
                    if s % 200 == 0:
                        bar.update(task, advance=200 if s else 1, epoch=epoch + 1, loss=loss)
                t = time.perf_counter()
                combined = RunOperations.combine(epoch_ops)
                if combined is not None:
                    combined.wait()  # the epoch's metrics are durable (or this raises)
                wait_seconds += time.perf_counter() - t
                val = float(np.mean(((x @ w) > 0) == (y > 0.5)))
                mlflow.log_metric("val/accuracy", val, step=(epoch + 1) * steps, synchronous=True)
                n_metrics += 1
                bar.update(task, completed=(epoch + 1) * steps, epoch=epoch + 1)
        run_id = run.info.run_id
    elapsed = time.perf_counter() - started
    final = mlflow.get_run(run_id)
    history = mlflow.MlflowClient().get_metric_history(run_id, "train/loss")

    table = Table(title="asynctrack demo: done", show_header=False, title_justify="left")
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")
    table.add_row("experiment", f"{DEMO_EXPERIMENT} (id {experiment.experiment_id})")
    table.add_row("run id", run_id)
    table.add_row("run name", str(final.info.run_name))
    table.add_row("status", final.info.status)
    table.add_row(
        "logged", f"{len(final.data.params)} params, {len(final.data.tags)} tags, {n_metrics:,} metric points"
    )
    table.add_row("read back", f"train/loss has {len(history):,} points (expected {epochs * steps:,})")
    table.add_row(
        "speed",
        f"{n_metrics / elapsed:,.0f} metrics/s including training; "
        f"{wait_seconds * 1000:.1f} ms spent waiting for the store in total",
    )
    table.add_row("final metrics", ", ".join(f"{k}={v:.4f}" for k, v in sorted(final.data.metrics.items())))
    console.print(table)
    # Paths and commands are printed whole (soft_wrap: the terminal may wrap them, they are never cut).
    console.print(f"Data: {mlflow.get_tracking_uri()}", soft_wrap=True, highlight=False)
    uri_option = f" --tracking-uri {tracking_uri}" if tracking_uri else ""
    console.print("List its runs:", highlight=False)
    console.print(
        f"  asynctrack{uri_option} runs list --experiment-id {experiment.experiment_id}",
        soft_wrap=True,
        highlight=False,
    )
    console.print("See its charts in the browser (then open the address it prints):", highlight=False)
    console.print(f"  asynctrack{uri_option} ui", soft_wrap=True, highlight=False)
    console.print(f"  and go to #/experiments/{experiment.experiment_id}/runs/{run_id}", soft_wrap=True)
    console.print("Read it back:", highlight=False)
    console.print(
        f"  python -c \"import asynctrack as mlflow; print(mlflow.get_run('{run_id}').data.metrics)\"",
        soft_wrap=True,
        highlight=False,
    )
    if tracking_uri is None and "MLFLOW_TRACKING_URI" not in os.environ:
        console.print("  (run it from this directory: the embedded store lives in ./mlruns)")
    return 0 if len(history) == epochs * steps else 1
