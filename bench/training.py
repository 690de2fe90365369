"""What logging costs inside real training on CPU, through each framework integration, against no logging and
against MLflow 3.17.2's own integration for the same framework, in the same run.

    python bench/training.py                      # all three frameworks, 7 rounds each
    python bench/training.py --pairs 3 --frameworks lightning
    python bench/training.py --pairs 3 --quads 200 --epoch-steps 50 --frameworks lightning keras

Frameworks and what each job trains (~10 metrics per step; the model's own compute is about a millisecond a
step, so the framework's per-step machinery dominates the step time, as it does in small real jobs):
- lightning: an MLP (128-256-256-10) on synthetic data, 10 values ``self.log``-ged per step,
  ``log_every_n_steps=1``. asynctrack: ``AsynctrackLogger``; MLflow: Lightning's ``MLFlowLogger``.
- transformers: a tiny BERT (random weights from a config, no download), ``logging_steps=1``; each on_log
  dict carries loss, grad_norm, learning_rate, epoch and 6 more values. asynctrack: ``AsynctrackCallback``;
  MLflow: Transformers' ``MLflowCallback``.
- keras (torch backend): the same MLP, per-batch metrics (loss, accuracy, top-2..9 accuracy). asynctrack:
  ``AsynctrackCallback(log_every_n_step=1)``; MLflow: ``mlflow.keras.MlflowCallback(log_every_n_steps=1)``.

asynctrack runs with system metrics on (sampled every second, ten times MLflow's default rate); MLflow's
loggers start no system metrics. Both log to a SQLite file in a fresh temporary directory.

Method: each (framework, library) is a fresh subprocess (asynctrack in this interpreter, MLflow in its own
venv with torch==2.13.0 from this machine's disk, built on first use). It warms up (one fit each way, which
also creates the database), then runs ``--pairs`` rounds of three fits, each position in turn: logging off,
on, and through a no-op logger (the floor: the framework's own logging machinery, which any logger pays).
A fit's time includes everything the integration does inside ``fit`` (asynctrack's final flush included).
The slowdown is the median over rounds of on/off - 1; the noise is the spread (interquartile range) of the
"off" fits. Afterwards the asynctrack worker reads back every point it logged and counts them.

Then, in each worker, one fit of ``--quads`` quads of ``--epoch-steps``-step epochs with logging switched on
and off epoch by epoch (off-on-on-off, on-off-off-on; ``_common.switched_epochs``): adjacent epochs share
the machine's speed far better than whole fits do. Off epochs: Lightning's trainer has no logger (as
``logger=False``); Transformers' and Keras's callbacks receive the framework's logs and drop them (the
floor). The logging threads' CPU in off epochs (what on epochs left to the pipeline, the sampler) is the
spill, which the bound counts as if it had stopped the training thread. Identical epochs of these fits
differ far more than a numpy loop's on this VM (Lightning, 50 steps, no logger: 255-464 ms, interquartile
21 %, against 1.8 % for scenario 5's matmuls): Python-heavy steps feel other tenants' memory traffic.

Verdicts (slowdown <= 1 %) come from a distribution-free 90 % interval of the median over the rounds. Fit
against fit, a VM's CPU speed drifts by 10-25 % (another tenant on the core's sibling), so the wall clock
rarely decides. The within-fit estimate does not compare fits: in each fit with logging, the hooks' share of
the training thread's CPU plus the share of the fit the training thread stood still (wall - its CPU: waits
for the GIL, preemption), less that share in the round's fit without logging. It is a model (it leaves out
cache effects and the framework's own logging machinery), robust to the drift because both of its parts
are measured against their own fit.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import venv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import (  # noqa: E402
    changes,
    compiled_calls,
    fmt,
    interleaved_result,
    median_interval,
    switched_epochs,
    verdict,
    voluntary_switches,
)

ROOT = Path(__file__).resolve().parent.parent
MLFLOW_VERSION = "3.17.2"
FRAMEWORKS = ("lightning", "transformers", "keras")
N_METRICS = 10
TARGET_PCT = 1.0  # issue 17: slowdown vs no logging

Result = dict[str, Any]


def mlflow_training_python() -> Path:
    """A venv with mlflow==3.17.2, torch==2.13.0 (first, so pip takes the CPU build from this machine's disk
    and nothing pulls a CUDA build), lightning, transformers, accelerate and keras; built on first use."""
    root = Path(
        os.environ.get("ASYNCTRACK_BENCH_MLFLOW_TRAINING_VENV")
        or Path.home() / ".cache" / "asynctrack-bench" / f"mlflow-{MLFLOW_VERSION}-training"
    )
    python = root / "bin" / "python"
    marker = root / ".installed-keras"
    if marker.exists():
        return python
    if not python.exists():
        venv.create(root, with_pip=True, clear=True)
    for packages in (
        ["torch==2.13.0"],
        [f"mlflow=={MLFLOW_VERSION}", "lightning", "transformers", "accelerate", "keras", "psutil"],
    ):
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *packages], check=True)
    marker.write_text(MLFLOW_VERSION)
    return python


# -- the jobs (imported inside the worker only)


def _lightning_job(steps: int) -> Any:
    import lightning.pytorch as pl
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    class Net(pl.LightningModule):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Sequential(
                nn.Linear(128, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10)
            )

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            x, y = batch
            logits = self.net(x)
            loss = nn.functional.cross_entropy(logits, y)
            with torch.no_grad():
                acc = (logits.argmax(1) == y).float().mean()
            values = {"loss": loss, "acc": acc}
            values.update({f"aux_{i}": loss.detach() * (i + 1) for i in range(N_METRICS - 2)})
            self.log_dict(values, on_step=True, on_epoch=False)
            return loss

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.01)

    g = torch.Generator().manual_seed(0)
    data = TensorDataset(
        torch.randn(steps * 32, 128, generator=g), torch.randint(0, 10, (steps * 32,), generator=g)
    )
    train = DataLoader(data, batch_size=32)

    def trainer(logger: Any, epochs: int, callbacks: list[Any]) -> Any:
        return pl.Trainer(
            max_epochs=epochs,
            logger=logger if logger is not None else False,
            callbacks=callbacks,
            log_every_n_steps=1,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            accelerator="cpu",
            devices=1,
        )

    def fit(logger: Any) -> None:
        trainer(logger, 1, []).fit(Net(), train)

    def fit_switched(logger: Any, switches: list[bool], epoch_steps: int, marks: list[Mark]) -> None:
        # Off epochs have no logger at all: Lightning's logger connector skips its work when the trainer
        # has no loggers, as in a fit with logger=False.
        class Switch(pl.Callback):  # type: ignore[misc]
            def on_train_epoch_start(self, trainer: Any, module: Any) -> None:
                marks.append(_mark())
                trainer.loggers = [logger] if switches[trainer.current_epoch] else []

            def on_train_end(self, trainer: Any, module: Any) -> None:
                marks.append(_mark())
                trainer.loggers = [logger]  # for finalize

        epoch = DataLoader(TensorDataset(*(t[: epoch_steps * 32] for t in data.tensors)), batch_size=32)
        trainer(logger, len(switches), [Switch()]).fit(Net(), epoch)

    def make_logger(lib: str, tmp: str) -> Any:
        if lib == "asynctrack":
            from asynctrack.integrations.lightning import AsynctrackLogger

            return AsynctrackLogger(log_system_metrics=True)
        from lightning.pytorch.loggers import MLFlowLogger

        return MLFlowLogger(tracking_uri=f"sqlite:///{tmp}/mlflow.db")

    class NoOpLogger(pl.loggers.Logger):  # type: ignore[misc]
        """Lightning's logger machinery with nothing at the end of it: what any logger costs a fit."""

        name, version = "noop", 0

        def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
            pass

        def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
            pass

    return fit, make_logger, NoOpLogger, fit_switched


def _transformers_job(steps: int) -> Any:
    import torch
    import transformers

    transformers.logging.set_verbosity_error()
    config = transformers.BertConfig(
        vocab_size=1000,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=128,
        max_position_embeddings=64,
        num_labels=2,
    )

    class Data(torch.utils.data.Dataset):  # type: ignore[misc]
        def __init__(self, n: int) -> None:
            g = torch.Generator().manual_seed(0)
            self.ids = torch.randint(1, 1000, (n, 32), generator=g)
            self.labels = torch.randint(0, 2, (n,), generator=g)

        def __len__(self) -> int:
            return len(self.ids)

        def __getitem__(self, i: int) -> dict[str, Any]:
            return {"input_ids": self.ids[i], "labels": self.labels[i]}

    class Trainer(transformers.Trainer):  # type: ignore[misc]
        def log(self, logs: dict[str, float], *args: Any, **kwargs: Any) -> None:
            if "loss" in logs:  # ~10 values per step, as the other jobs
                logs.update({f"aux_{i}": logs["loss"] * (i + 1) for i in range(N_METRICS - 4)})
            super().log(logs, *args, **kwargs)

    data = Data(steps * 16)

    def train(callbacks: list[Any], epochs: int, dataset: Any) -> None:
        transformers.set_seed(0)
        args = transformers.TrainingArguments(
            output_dir=tempfile.mkdtemp(),
            num_train_epochs=epochs,
            per_device_train_batch_size=16,
            logging_steps=1,
            report_to="none",
            save_strategy="no",
            use_cpu=True,
            disable_tqdm=True,
        )
        Trainer(
            model=transformers.BertForSequenceClassification(config),
            args=args,
            train_dataset=dataset,
            callbacks=callbacks,
        ).train()

    def fit(callback: Any) -> None:
        train([callback] if callback is not None else [], 1, data)

    def fit_switched(callback: Any, switches: list[bool], epoch_steps: int, marks: list[Mark]) -> None:
        # Off epochs keep a callback that receives each on_log dict and drops it: the floor (the Trainer
        # builds its logs every logging_steps with or without callbacks).
        events = [name for name in dir(transformers.TrainerCallback) if name.startswith("on_")]
        lifecycle = {"on_init_end", "on_train_begin", "on_train_end"}
        epoch = [0]

        def forward(name: str) -> Any:
            def event(self: Any, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
                if name == "on_epoch_begin":
                    marks.append(_mark())
                elif name == "on_train_end":
                    marks.append(_mark())
                # After the last epoch the Trainer logs its run summary (train_runtime, ...): forwarded.
                if name in lifecycle or epoch[0] >= len(switches) or switches[epoch[0]]:
                    out = getattr(callback, name)(args, state, control, **kwargs)
                else:
                    out = None
                if name == "on_epoch_end":
                    epoch[0] += 1
                return out

            return event

        switch = type("Switch", (transformers.TrainerCallback,), {name: forward(name) for name in events})
        train([switch()], len(switches), Data(epoch_steps * 16))

    def make_logger(lib: str, tmp: str) -> Any:
        if lib == "asynctrack":
            from asynctrack.integrations.transformers import AsynctrackCallback

            return AsynctrackCallback(log_system_metrics=True)
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp}/mlflow.db"
        from transformers.integrations import MLflowCallback

        return MLflowCallback()

    class NoOpCallback(transformers.TrainerCallback):  # type: ignore[misc]
        """A callback that receives every on_log dict and keeps nothing: what any logging callback costs."""

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
            pass

    return fit, make_logger, NoOpCallback, fit_switched


@contextlib.contextmanager
def _mlflow_run(callback: Any) -> Iterator[None]:
    """An active MLflow run around a Keras fit with MLflow's callback, which needs one."""
    if not type(callback).__module__.startswith("mlflow"):
        yield
        return
    import mlflow  # type: ignore[import-not-found]  # the MLflow venv only

    with mlflow.start_run():
        yield


def _keras_job(steps: int) -> Any:
    import keras
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.normal(size=(steps * 32, 128)).astype("float32")
    y = rng.integers(0, 10, size=(steps * 32,))

    def compiled_model() -> Any:
        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [
                keras.Input((128,)),
                keras.layers.Dense(256, activation="relu"),
                keras.layers.Dense(256, activation="relu"),
                keras.layers.Dense(10),
            ]
        )
        metrics: list[Any] = ["accuracy"]
        metrics += [keras.metrics.SparseTopKCategoricalAccuracy(k=k, name=f"top{k}") for k in range(2, 10)]
        model.compile(
            optimizer=keras.optimizers.SGD(0.01),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=metrics,
        )
        return model

    def fit(callback: Any) -> None:
        model = compiled_model()
        with _mlflow_run(callback):
            model.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=[callback] if callback else [])

    def fit_switched(callback: Any, switches: list[bool], epoch_steps: int, marks: list[Mark]) -> None:
        # Off epochs keep a per-batch hook that drops the logs: the floor (Keras converts each batch's logs
        # for any callback with such a hook).
        epoch = [0]

        class Switch(keras.callbacks.Callback):  # type: ignore[misc]
            def set_model(self, model: Any) -> None:
                super().set_model(model)
                callback.set_model(model)

            def set_params(self, params: Any) -> None:
                super().set_params(params)
                callback.set_params(params)

            def on_train_begin(self, logs: Any = None) -> None:
                callback.on_train_begin(logs)

            def on_train_end(self, logs: Any = None) -> None:
                marks.append(_mark())
                callback.on_train_end(logs)

            def on_epoch_begin(self, n: int, logs: Any = None) -> None:
                marks.append(_mark())
                epoch[0] = n
                if switches[n]:
                    callback.on_epoch_begin(n, logs)

            def on_epoch_end(self, n: int, logs: Any = None) -> None:
                if switches[n]:
                    callback.on_epoch_end(n, logs)

            def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
                if switches[epoch[0]]:
                    callback.on_train_batch_begin(batch, logs)

            def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
                if switches[epoch[0]]:
                    callback.on_train_batch_end(batch, logs)

        n = epoch_steps * 32
        model = compiled_model()
        with _mlflow_run(callback):
            model.fit(x[:n], y[:n], batch_size=32, epochs=len(switches), verbose=0, callbacks=[Switch()])

    def make_logger(lib: str, tmp: str) -> Any:
        if lib == "asynctrack":
            from asynctrack.integrations.keras import AsynctrackCallback

            return AsynctrackCallback(log_every_n_step=1, log_system_metrics=True)
        import mlflow

        mlflow.set_tracking_uri(f"sqlite:///{tmp}/mlflow.db")
        return mlflow.keras.MlflowCallback(log_every_n_steps=1)

    class NoOpCallback(keras.callbacks.Callback):  # type: ignore[misc]
        """A callback with a per-batch hook that keeps nothing: Keras hands it each batch's logs (on the torch
        backend, converting them to Python numbers), as it does for any per-batch logging callback."""

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            pass

    return fit, make_logger, NoOpCallback, fit_switched


JOBS = {"lightning": _lightning_job, "transformers": _transformers_job, "keras": _keras_job}

# The methods through which each framework hands an integration its data on the training thread.
HOOKS = (
    "log_metrics",
    "log_hyperparams",
    "finalize",
    "after_save_checkpoint",
    "on_train_begin",
    "on_log",
    "on_train_end",
    "on_train_batch_end",
    "on_batch_end",
    "on_epoch_end",
)


def _time_hooks(cls: type, spent: list[float]) -> None:
    """Count the training thread's CPU seconds inside ``cls``'s hook methods into ``spent[0]``: the direct
    cost of the integration, measured where it is paid and much less sensitive to other tenants' load than
    a whole fit's time."""
    import functools

    for name in HOOKS:
        original = getattr(cls, name, None)
        if original is None or not callable(original):
            continue

        def timed(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
            t0 = time.thread_time()
            try:
                return _original(*args, **kwargs)
            finally:
                spent[0] += time.thread_time() - t0

        setattr(cls, name, functools.wraps(original)(timed))


# Threads that log: asynctrack's event loop, system-metrics sampler, aiosqlite connections and anyio worker
# threads (only asynctrack's loop uses anyio in these jobs); MLflow's async-logging threads.
_LOGGING_THREADS = ("asynctrack-", "AnyIO worker thread", "_connection_worker_thread", "Mlflow", "mlflow")

Mark = tuple[float, float, dict[int, float]]


def _mark() -> Mark:
    """Now: wall clock, the calling (training) thread's CPU, and each logging thread's CPU (by thread id);
    taken at each epoch's start and at the fit's end by the switched fits."""
    logging_cpu = {
        t.ident: time.clock_gettime(time.pthread_getcpuclockid(t.ident))
        for t in threading.enumerate()
        if t.ident is not None and t.is_alive() and any(name in t.name for name in _LOGGING_THREADS)
    }
    return time.perf_counter(), time.thread_time(), logging_cpu


def _spill(start: Mark, end: Mark) -> float:
    """The logging threads' CPU seconds between two marks (a thread started meanwhile counts from zero)."""
    return sum(cpu - start[2].get(ident, 0.0) for ident, cpu in end[2].items())


def _interleaved(a: argparse.Namespace, fit_switched: Any, logger: Any) -> Result:
    """One fit of ``--quads`` quads of ``--epoch-steps``-step epochs with logging switched on and off epoch
    by epoch (``_common.switched_epochs``: why), through ``logger`` in the on epochs.

    What errs which way: off epochs carry what the on epochs left to the logging threads (the pipeline's
    writes, which asynctrack's integrations do not wait for at an epoch's end) and the system-metrics
    sampler, which runs all fit long: those threads' CPU in off epochs is the spill, counted in the bound
    as if all of it had stopped the training thread (the framework's own threads are not counted: they
    run in both kinds of epoch; Transformers' spent 41 us a step). An on epoch after an off one starts
    with the logging code's caches cold, which a fit logging every epoch does not pay (against
    asynctrack)."""
    switches = switched_epochs(a.quads)
    marks: list[Mark] = []
    fit_switched(logger, switches, a.epoch_steps, marks)
    if len(marks) != len(switches) + 1:
        raise RuntimeError(f"expected {len(switches) + 1} epoch marks, got {len(marks)}")
    epochs = [
        (on, end[0] - start[0], 0.0 if on else _spill(start, end))
        for on, start, end in zip(switches, marks, marks[1:], strict=False)
    ]
    return {
        **interleaved_result(epochs, a.epoch_steps),
        "epoch_s_off": statistics.median(w for on, w, _ in epochs if not on),
    }


def _iqr(values: list[float]) -> float:
    if len(values) < 4:
        return max(values) - min(values)
    q = statistics.quantiles(values, n=4)
    return q[2] - q[0]


def worker(a: argparse.Namespace) -> Result:
    import warnings

    warnings.simplefilter("ignore")
    os.environ.setdefault("KERAS_BACKEND", "torch")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import logging

    logging.disable(logging.WARNING)
    tmp = os.getcwd()
    if a.lib == "asynctrack":
        import asynctrack

        asynctrack.set_tracking_uri(f"sqlite:///{tmp}/asynctrack.db")
        os.environ["MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL"] = "1"
    import torch

    torch.set_num_threads(1)
    fit, make_logger, make_floor, fit_switched = JOBS[a.framework](a.steps)
    fit(None)  # warm-up: imports, first-call costs
    fit(make_floor())
    first = make_logger(a.lib, tmp)
    fit(first)  # ... and the database's creation
    interleaved: Result = {}
    if a.quads:  # before the hooks are timed: the timing would cost the on epochs
        interleaved = _interleaved(a, fit_switched, make_logger(a.lib, tmp))
        if a.lib == "asynctrack":
            asynctrack.flush_async_logging()
    hook_cpu = [0.0]
    _time_hooks(type(first), hook_cpu)
    off: list[float] = []
    on: list[float] = []
    # The floor: the framework's own logging machinery feeding a logger that keeps nothing, which any
    # logger pays (Lightning's logger connector, Transformers' on_log, Keras's per-batch logs). The
    # slowdown against it is what the logger itself adds.
    floor: list[float] = []
    cpu_floor: list[float] = []
    # CPU seconds of the training thread (what a step pays on the caller's side, robust to other tenants'
    # load, which only stretches wall time) and of the whole process (the pipeline's worker and the
    # sampler included).
    cpu_off: list[float] = []
    cpu_on: list[float] = []
    proc_off: list[float] = []
    proc_on: list[float] = []
    switches_on: list[int] = []
    switches_off: list[int] = []
    hook_share: list[float] = []
    stalled_on: list[float] = []
    stalled_off: list[float] = []
    after_fit: list[float] = []
    variants = ("off", "on", "floor")
    for p in range(a.pairs):
        for variant in variants[p % 3 :] + variants[: p % 3]:  # each position in turn
            logger = (
                None if variant == "off" else make_floor() if variant == "floor" else make_logger(a.lib, tmp)
            )
            v0, h0 = voluntary_switches(), hook_cpu[0]
            c0, pc0, t0 = time.thread_time(), time.process_time(), time.perf_counter()
            fit(logger)
            wall, cpu, proc = time.perf_counter() - t0, time.thread_time() - c0, time.process_time() - pc0
            switches = voluntary_switches() - v0
            if variant == "on" and a.lib == "asynctrack":
                # asynctrack's integrations end the run without waiting for the store (the write goes on
                # in the background after the fit): it is finished here, outside the fit's time, so that
                # it never lands in the next fit; its wall time is reported, its CPU counted in "process".
                pa0, ta0 = time.process_time(), time.perf_counter()
                asynctrack.flush_async_logging()
                after_fit.append(time.perf_counter() - ta0)
                proc += time.process_time() - pa0
            if variant == "floor":
                floor.append(wall)
                cpu_floor.append(cpu)
                continue
            logging_on = variant == "on"
            # Shares within one fit, which a change of the CPU's speed (another tenant on the core's
            # sibling, a frequency change) moves little, unlike fit against fit: the hooks' share of the
            # training thread's CPU, and the share of the fit it spent not running (waiting for the GIL,
            # preempted).
            if logging_on:
                hook_share.append((hook_cpu[0] - h0) / cpu * 100.0)
            (stalled_on if logging_on else stalled_off).append((wall - cpu) / wall * 100.0)
            (on if logging_on else off).append(wall)
            (cpu_on if logging_on else cpu_off).append(cpu)
            (proc_on if logging_on else proc_off).append(proc)
            (switches_on if logging_on else switches_off).append(switches)

    def ratio(xs: list[float], ys: list[float]) -> float:
        return statistics.median(changes(xs, ys))

    slowdowns = changes(on, off)

    result: Result = {
        # the integration's own hooks on the training thread, per step and relative to a fit without it
        "hook_ms_per_step": hook_cpu[0] / (a.pairs * a.steps) * 1e3,
        "hook_pct": hook_cpu[0] / a.pairs / statistics.median(cpu_off) * 100.0,
        "thread_cpu_pct": ratio(cpu_on, cpu_off),
        "thread_cpu_noise_pct": _iqr(cpu_off) / statistics.median(cpu_off) * 100.0,
        # Against the no-op logger: the training thread's extra CPU that the framework's own logging
        # machinery does not explain (the hooks' share is part of it).
        "thread_cpu_vs_floor_pct": ratio(cpu_on, cpu_floor),
        "thread_cpu_vs_floor_pct_samples": changes(cpu_on, cpu_floor),
        "process_cpu_pct": ratio(proc_on, proc_off),
        # CPU of every other thread (the pipeline, the sampler) per step, and the training thread's waits
        # per step: what a loop holding the GIL feels, counted rather than timed
        "background_cpu_ms_per_step": statistics.median(p - c for p, c in zip(proc_on, cpu_on, strict=True))
        / a.steps
        * 1e3,
        "switches_per_step": statistics.median(switches_on) / a.steps,
        "switches_per_step_off": statistics.median(switches_off) / a.steps,
        "slowdown_pct": statistics.median(slowdowns),
        "slowdown_pct_samples": slowdowns,
        "slowdown_vs_floor_pct_samples": changes(on, floor),
        # What the logger adds to a fit, estimated from within-fit shares: its hooks' CPU plus the extra
        # time the training thread stood still, each against its own fit (round by round). A model, not
        # a timing: it leaves out effects on caches, and the framework's own logging machinery (the floor).
        "within_fit_estimate_pct_samples": [
            h + s_on - s_off for h, s_on, s_off in zip(hook_share, stalled_on, stalled_off, strict=True)
        ],
        "hook_share_pct": statistics.median(hook_share),
        "stalled_on_pct": statistics.median(stalled_on),
        "stalled_off_pct": statistics.median(stalled_off),
        "slowdown_best_pct": (min(on) / min(off) - 1.0) * 100.0,
        "floor_pct": ratio(floor, off),
        "floor_pct_samples": changes(floor, off),
        "slowdown_vs_floor_pct": ratio(on, floor),
        "noise_pct": _iqr(off) / statistics.median(off) * 100.0,
        "fit_s_off": statistics.median(off),
        "step_ms_off": statistics.median(off) / a.steps * 1e3,
        "step_ms_on": statistics.median(on) / a.steps * 1e3,
        **interleaved,
    }
    if a.lib == "asynctrack":
        from asynctrack.system_metrics._sampler import totals

        client = asynctrack.MlflowClient()
        runs = asynctrack.search_runs(output_format="list")
        steps_logged = 0
        for run in runs:
            for key in run.data.metrics:
                if not key.startswith("system/"):
                    steps_logged += len(client.get_metric_history(run.info.run_id, key))
        # from the fit's return until its run's end and last points were durable (written meanwhile)
        result["after_fit_ms"] = statistics.median(after_fit) * 1e3
        result["runs"] = len(runs)
        result["points"] = steps_logged
        result["sampler_cpu_pct"] = totals["cpu_seconds"] / max(totals["wall_seconds"], 1e-9) * 100.0
        result["sampler_threads"] = totals["samplers"]
    return result


def run_worker(framework: str, lib: str, a: argparse.Namespace, python: str) -> Result:
    tmp = tempfile.mkdtemp(prefix=f"bench-training-{framework}-{lib}-")
    env = dict(os.environ, PYTHONPATH=str(ROOT) if lib == "asynctrack" else "")
    env["KERAS_BACKEND"] = "torch"
    env["HF_HUB_OFFLINE"] = "1"
    cmd = [
        python,
        os.path.abspath(__file__),
        "--worker",
        "--framework",
        framework,
        "--lib",
        lib,
        "--pairs",
        str(a.pairs),
        "--steps",
        str(a.steps),
        "--quads",
        str(a.quads if lib == "asynctrack" else min(a.quads, 2)),  # MLflow's fits are 2-4x slower
        "--epoch-steps",
        str(a.epoch_steps),
    ]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp, env=env, timeout=3600)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if done.returncode != 0:
        return {
            "error": done.stderr.strip().splitlines()[-1]
            if done.stderr.strip()
            else f"exit {done.returncode}"
        }
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def parent(a: argparse.Namespace) -> None:
    ml_python = str(mlflow_training_python())
    print(
        f"bench/training.py: {a.pairs} rounds of 3 fits (off, on, floor) per framework and library, "
        f"{a.steps} steps per fit, {N_METRICS} metrics per step; asynctrack {compiled_calls()}; MLflow "
        f"{MLFLOW_VERSION} in {ml_python}"
    )
    everything: dict[str, Any] = {}
    rows = []
    for framework in a.frameworks:
        ours = run_worker(framework, "asynctrack", a, sys.executable)
        theirs = run_worker(framework, "mlflow", a, ml_python)
        everything[framework] = {"asynctrack": ours, "mlflow": theirs}
        rows.append((framework, ours, theirs))
        print(json.dumps({framework: everything[framework]}))
    print()
    print("wall-clock slowdown of a fit (other tenants' load stretches wall time; see the noise columns):")
    print(
        f"{'framework':<13}{'step ms (off)':>14}{'asynctrack':>12}{'noise':>8}{'MLflow':>10}{'noise':>8}"
        f"{'sampler CPU':>13}{'points':>9}{'floor':>9}{'asynctrack vs floor':>21}{'MLflow vs floor':>17}"
    )
    for framework, ours, theirs in rows:

        def pct(r: Result, k: str) -> str:
            return f"{r[k]:+.1f} %" if k in r else "error"

        print(
            f"{framework:<13}{fmt(ours.get('step_ms_off')):>14}{pct(ours, 'slowdown_pct'):>12}"
            f"{fmt(ours.get('noise_pct')):>7}%{pct(theirs, 'slowdown_pct'):>10}"
            f"{fmt(theirs.get('noise_pct')):>7}%"
            f"{fmt(ours.get('sampler_cpu_pct')):>11} %{ours.get('points', '-'):>9}"
            f"{pct(ours, 'floor_pct'):>9}{pct(ours, 'slowdown_vs_floor_pct'):>21}"
            f"{pct(theirs, 'slowdown_vs_floor_pct'):>17}"
        )
    print(f"asynctrack against the target (slowdown vs no logger <= {TARGET_PCT:g} %), over the rounds:")
    for framework, ours, theirs in rows:
        if "slowdown_pct_samples" in ours:
            print(f"{framework:<13}vs no logger: {verdict(ours['slowdown_pct_samples'], '<=', TARGET_PCT)}")
            if median_interval(ours["floor_pct_samples"])[1] < 0:
                print(
                    f"{'':<13}  (but a fit with a no-op logger is faster than one without: the framework runs"
                    " differently without a logger, so this comparison flatters; judge against the floor)"
                )
            print(f"{'':<13}vs the floor: {verdict(ours['slowdown_vs_floor_pct_samples'], '<=', TARGET_PCT)}")
            print(
                f"{'':<13}within-fit estimate (hooks {fmt(ours['hook_share_pct'])} % of the thread's CPU; "
                f"stood still {fmt(ours['stalled_on_pct'])} % of a fit, {fmt(ours['stalled_off_pct'])} % "
                f"without): {verdict(ours['within_fit_estimate_pct_samples'], '<=', TARGET_PCT)}"
            )
        if "interleaved_pct_samples" in ours:
            theirs_txt = f"{theirs['interleaved_pct']:+.0f} %" if "interleaved_pct" in theirs else "error"
            print(
                f"{'':<13}epochs switched within one fit ({a.quads} quads of {a.epoch_steps}-step epochs; "
                f"MLflow {theirs_txt}): {verdict(ours['interleaved_pct_samples'], '<=', TARGET_PCT)}"
            )
            print(
                f"{'':<13}  with the spill counted ({fmt(ours['spill_us_per_step'])} us a step of the "
                "logging threads' CPU in off epochs, as if all of it had stopped the training thread): "
                f"{verdict(ours['interleaved_bound_pct_samples'], '<=', TARGET_PCT)}"
            )
    print(
        "training-thread CPU inside the integration's hooks (ms per step; % of a fit's thread CPU without):"
    )
    print(f"{'framework':<13}{'asynctrack':>12}{'':>10}{'MLflow':>12}")
    for framework, ours, theirs in rows:
        print(
            f"{framework:<13}{fmt(ours.get('hook_ms_per_step')):>9} ms{fmt(ours.get('hook_pct')):>8} %"
            f"{fmt(theirs.get('hook_ms_per_step')):>9} ms{fmt(theirs.get('hook_pct')):>8} %"
        )
    print(
        "training-thread CPU time added by logging (median over pairs; process: CPU incl. background threads;"
        " vs floor: the training thread's against fits with the no-op logger):"
    )
    print(
        f"{'framework':<13}{'asynctrack':>12}{'noise':>8}{'process':>10}{'vs floor':>10}{'MLflow':>10}"
        f"{'noise':>8}{'process':>10}{'vs floor':>10}"
    )
    for framework, ours, theirs in rows:

        def cpu(r: Result, k: str) -> str:
            return f"{r[k]:+.1f} %" if k in r else "error"

        print(
            f"{framework:<13}{cpu(ours, 'thread_cpu_pct'):>12}{fmt(ours.get('thread_cpu_noise_pct')):>7}%"
            f"{cpu(ours, 'process_cpu_pct'):>10}{cpu(ours, 'thread_cpu_vs_floor_pct'):>10}"
            f"{cpu(theirs, 'thread_cpu_pct'):>10}"
            f"{fmt(theirs.get('thread_cpu_noise_pct')):>7}%{cpu(theirs, 'process_cpu_pct'):>10}"
            f"{cpu(theirs, 'thread_cpu_vs_floor_pct'):>10}"
        )
    print(
        "counted, not timed (median fits): other threads' CPU per step with logging; the training thread's"
        " waits per step with logging (and without)"
    )
    print(f"{'framework':<13}{'asynctrack':>14}{'waits':>16}{'MLflow':>12}{'waits':>16}")

    def waits(r: Result) -> str:
        return f"{fmt(r.get('switches_per_step'))} ({fmt(r.get('switches_per_step_off'))})"

    for framework, ours, theirs in rows:
        print(
            f"{framework:<13}{fmt(ours.get('background_cpu_ms_per_step')):>11} ms{waits(ours):>16}"
            f"{fmt(theirs.get('background_cpu_ms_per_step')):>9} ms{waits(theirs):>16}"
        )
    for framework, ours, _theirs in rows:
        if "after_fit_ms" in ours:
            print(
                f"{framework:<13}asynctrack ends the run without waiting: durable "
                f"{fmt(ours['after_fit_ms'])} ms after the fit returned (median; flushed between fits, "
                "outside their time)"
            )
    print(
        "slowdown: median over rounds of (fit with logging / fit without) - 1; noise: interquartile range of"
        " the fits without logging, in % of their median; sampler CPU: system metrics thread, % of one core;"
        " floor: a fit with a logger that keeps nothing (the framework's own logging machinery, which any"
        " logger pays), against no logger; vs floor: a fit with the logger against that."
    )
    if a.json:
        Path(a.json).write_text(json.dumps(everything, indent=2))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", type=int, default=7)
    ap.add_argument("--steps", type=int, default=200, help="training steps per fit")
    ap.add_argument("--frameworks", nargs="+", choices=FRAMEWORKS, default=list(FRAMEWORKS))
    ap.add_argument(
        "--quads", type=int, default=30, help="quads of epochs switched on and off in one fit (0: none)"
    )
    ap.add_argument("--epoch-steps", type=int, default=100, help="steps per switched epoch (<= --steps)")
    ap.add_argument("--json", help="also write the figures to this file")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--framework", choices=FRAMEWORKS, help=argparse.SUPPRESS)
    ap.add_argument("--lib", choices=("asynctrack", "mlflow"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.quads and not 0 < a.epoch_steps <= a.steps:
        ap.error(
            f"--epoch-steps {a.epoch_steps} must be between 1 and --steps ({a.steps}): the data is sized "
            "by --steps"
        )
    if a.worker:
        print(json.dumps(worker(a)))
    else:
        parent(a)


if __name__ == "__main__":
    main()
