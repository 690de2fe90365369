"""System metrics with real psutil readings: MLflow's names, averaging over samples_before_logging, steps, the
node id, the switches (argument, function, environment variable), stopping with the run (no thread left),
resuming a run, and the last readings logged at end_run."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import asynctrack
from asynctrack.system_metrics import aggregate

# MLflow 3.17.2's names (mlflow/system_metrics/metrics/*.py) plus asynctrack's two process figures.
MLFLOW_NAMES = {
    "cpu_utilization_percentage",
    "system_memory_usage_megabytes",
    "system_memory_usage_percentage",
    "disk_usage_percentage",
    "disk_usage_megabytes",
    "disk_available_megabytes",
    "network_receive_megabytes",
    "network_transmit_megabytes",
}
PROCESS_NAMES = {"process_memory_rss_megabytes", "process_cpu_utilization_percentage"}


@pytest.fixture
def fast_sampling(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING",
        "MLFLOW_SYSTEM_METRICS_NODE_ID",
        "MLFLOW_SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "0.05")


def _sampler_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("asynctrack-system-metrics")]


def _wait_for_steps(run_id: str, key: str, n: int) -> None:
    # The sampler runs on its own clock: poll the store (bounded) until n steps are written.
    client = asynctrack.MlflowClient()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        asynctrack.flush_async_logging()
        if len(client.get_metric_history(run_id, key)) >= n:
            return
        time.sleep(0.05)
    raise AssertionError(f"{key} did not reach {n} steps")


def _run_script(script: str, args: list[str], cwd: Path, **env: str) -> list[str]:
    """Run ``script`` in a fresh interpreter (with ``env`` added to this one's) and return the words it
    printed; it must exit 0 within a minute or two."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, **env),
        cwd=cwd,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_names_steps_and_stop_with_the_run(tmp_tracking: str, fast_sampling: None) -> None:
    with asynctrack.start_run(log_system_metrics=True) as run:
        assert len(_sampler_threads()) == 1 and not _sampler_threads()[0].daemon
        _wait_for_steps(run.info.run_id, "system/cpu_utilization_percentage", 3)
    assert _sampler_threads() == []  # joined by end_run
    client = asynctrack.MlflowClient()
    metrics = client.get_run(run.info.run_id).data.metrics
    assert {k.removeprefix("system/") for k in metrics} == MLFLOW_NAMES | PROCESS_NAMES
    history = client.get_metric_history(run.info.run_id, "system/cpu_utilization_percentage")
    steps = [m.step for m in history]
    assert steps == list(range(len(steps))) and len(steps) >= 3
    assert all(0.0 <= m.value <= 100.0 for m in history)
    rss = client.get_metric_history(run.info.run_id, "system/process_memory_rss_megabytes")
    assert all(v.value > 1 for v in rss)  # a Python process with numpy loaded has more than 1 MB resident
    # Nothing more arrives after the run ended.
    before = len(history)
    time.sleep(0.2)
    assert len(client.get_metric_history(run.info.run_id, "system/cpu_utilization_percentage")) == before


def test_a_run_shorter_than_one_interval_still_gets_one_step(tmp_tracking: str, monkeypatch) -> None:
    """MLflow logs nothing for a run shorter than the interval; asynctrack logs the readings at end_run."""
    monkeypatch.delenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", raising=False)  # 10 s
    with asynctrack.start_run(log_system_metrics=True) as run:
        pass
    history = asynctrack.MlflowClient().get_metric_history(run.info.run_id, "system/disk_usage_megabytes")
    assert [m.step for m in history] == [0] and history[0].value > 0


def test_an_integration_ends_its_run_without_joining_the_sampler(tmp_tracking: str, monkeypatch) -> None:
    """At the end of training the integrations do not wait (``fluent._terminate(wait=False)``): the sampler
    takes its last reading in its own thread, logs it and leaves the registry as it ends; that reading is
    written without a flush (the worker is nudged; the lingers here are a minute)."""
    from asynctrack.integrations._run import TrainingRun
    from asynctrack.pipeline import close_pipelines
    from asynctrack.system_metrics import running

    monkeypatch.delenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", raising=False)  # 10 s: no step before
    monkeypatch.setenv("ASYNCTRACK_LINGER_MS", "60000")
    monkeypatch.setenv("ASYNCTRACK_MAX_LINGER_MS", "60000")
    close_pipelines()
    run = TrainingRun(log_system_metrics=True)
    run.log_metrics({"loss": 1.0}, 0)
    rid = run.run_id
    (thread,) = _sampler_threads()
    run.finish("FINISHED")
    thread.join(30)
    assert not thread.is_alive() and running(rid) is None
    client = asynctrack.MlflowClient()
    deadline = time.monotonic() + 30  # generous; without the nudge: a minute
    key = "system/disk_usage_megabytes"

    def written() -> list[int]:  # read from another thread, which has nothing of its own to wait for
        out: list[list[int]] = []
        reader = threading.Thread(
            target=lambda: out.append([m.step for m in client.get_metric_history(rid, key)])
        )
        reader.start()
        reader.join()
        return out[0]

    while not written() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert written() == [0]
    assert client.get_run(rid).info.status == "FINISHED"


def test_switches(tmp_tracking: str, fast_sampling: None, monkeypatch) -> None:
    with asynctrack.start_run() as run:  # off by default
        assert _sampler_threads() == []
    assert asynctrack.get_run(run.info.run_id).data.metrics == {}

    asynctrack.enable_system_metrics_logging()
    try:
        with asynctrack.start_run():
            assert len(_sampler_threads()) == 1
        with asynctrack.start_run(log_system_metrics=False):
            assert _sampler_threads() == []
    finally:
        asynctrack.disable_system_metrics_logging()
    with asynctrack.start_run():
        assert _sampler_threads() == []

    monkeypatch.setenv("MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING", "true")
    with asynctrack.start_run():
        assert len(_sampler_threads()) == 1


def test_node_id_and_averaging(tmp_tracking: str, fast_sampling: None) -> None:
    asynctrack.set_system_metrics_node_id("node_0")
    asynctrack.set_system_metrics_samples_before_logging(3)
    try:
        with asynctrack.start_run(log_system_metrics=True) as run:
            _wait_for_steps(run.info.run_id, "system/node_0/system_memory_usage_megabytes", 2)
    finally:
        asynctrack.set_system_metrics_node_id(None)
        asynctrack.set_system_metrics_samples_before_logging(None)
    metrics = asynctrack.get_run(run.info.run_id).data.metrics
    assert metrics and all(k.startswith("system/node_0/") for k in metrics)
    # Every averaged value has MLflow's rounding (one decimal), network counters excepted.
    for key, value in metrics.items():
        if "network" not in key:
            assert round(value, 1) == value, key


def test_aggregate_is_mlflows_mean_rounded_and_last_network_reading() -> None:
    samples = [
        {"cpu_utilization_percentage": 10.0, "network_receive_megabytes": 1.25},
        {"cpu_utilization_percentage": 20.05, "network_receive_megabytes": 2.5},
        {"cpu_utilization_percentage": 30.0, "network_receive_megabytes": 3.75},
    ]
    assert aggregate(samples) == {"cpu_utilization_percentage": 20.0, "network_receive_megabytes": 3.75}


def test_resumed_run_continues_the_steps(tmp_tracking: str, fast_sampling: None) -> None:
    with asynctrack.start_run(log_system_metrics=True) as run:
        _wait_for_steps(run.info.run_id, "system/cpu_utilization_percentage", 2)
    first = asynctrack.MlflowClient().get_metric_history(run.info.run_id, "system/cpu_utilization_percentage")
    with asynctrack.start_run(run_id=run.info.run_id, log_system_metrics=True):
        pass
    after = asynctrack.MlflowClient().get_metric_history(run.info.run_id, "system/cpu_utilization_percentage")
    assert [m.step for m in after] == [m.step for m in first] + [first[-1].step + 1]


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="positive number of seconds, got 0"):
        asynctrack.set_system_metrics_sampling_interval(0)
    with pytest.raises(ValueError, match="positive integer, got 0"):
        asynctrack.set_system_metrics_samples_before_logging(0)


def test_no_gpu_here_is_said_in_one_info_line(caplog: pytest.LogCaptureFixture) -> None:
    """This machine has no NVIDIA GPU: the GPU probe is absent and one INFO line per process says why."""
    from asynctrack.system_metrics import _probes

    _probes._said_why.clear()
    with caplog.at_level("INFO", logger="asynctrack"):
        assert _probes.gpu_probe() is None
        assert _probes.gpu_probe() is None
    lines = [r.getMessage() for r in caplog.records if "no GPU system metrics" in r.getMessage()]
    assert len(lines) == 1 and ("nvidia-ml-py is not installed" in lines[0] or "NVML" in lines[0]), lines


def test_exit_without_end_run_stops_the_sampler_and_keeps_its_readings(tmp_path) -> None:
    """A process that never ends its runs (one fluent, one started through a client for another store) exits
    promptly: the exit hook stops the non-daemon sampler threads, and their last readings are written."""
    script = textwrap.dedent(
        """
        import sys, asynctrack
        from asynctrack.integrations._run import TrainingRun
        asynctrack.set_tracking_uri(sys.argv[1])
        run = asynctrack.start_run(log_system_metrics=True)
        other = TrainingRun(tracking_uri=sys.argv[2], log_system_metrics=True)
        print(run.info.run_id, other.run_id)
        """
    )
    a, b = f"sqlite:///{tmp_path}/a.db", f"sqlite:///{tmp_path}/b.db"
    fluent_id, client_id = _run_script(script, [a, b], tmp_path, MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL="30")
    for uri, run_id in ((a, fluent_id), (b, client_id)):
        client = asynctrack.MlflowClient(uri)
        history = client.get_metric_history(run_id, "system/cpu_utilization_percentage")
        assert [m.step for m in history] == [0], uri
    assert asynctrack.MlflowClient(a).get_run(fluent_id).info.status == "FINISHED"


@pytest.mark.slow  # a subprocess
def test_exit_right_after_an_integration_ends_its_run_keeps_everything(tmp_path) -> None:
    """The end of training does not wait (``TrainingRun.finish``): a process that exits right after it, with
    a minute's linger and its sampler still taking its last reading, still writes every point, that last
    reading and the ended run (the exit hook joins the sampler, then flushes)."""
    script = textwrap.dedent(
        """
        import sys, asynctrack
        from asynctrack.integrations._run import TrainingRun
        asynctrack.set_tracking_uri(sys.argv[1])
        for name in ("fluent", "client"):
            if name == "client":
                asynctrack.start_run(run_name="the user's")  # the integration makes its own beside it
            run = TrainingRun(run_name=name, log_system_metrics=True, use_active=name == "fluent")
            for step in range(2000):
                run.log_metrics({"loss": float(step), "acc": step / 2000}, step)
            run.finish("FAILED")
            print(run.run_id)
        """
    )
    uri = f"sqlite:///{tmp_path}/t.db"
    run_ids = _run_script(
        script,
        [uri],
        tmp_path,
        MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL="30",
        ASYNCTRACK_LINGER_MS="60000",
        ASYNCTRACK_MAX_LINGER_MS="60000",
    )
    client = asynctrack.MlflowClient(uri)
    for run_id in run_ids:
        assert client.get_run(run_id).info.status == "FAILED"
        assert [m.step for m in client.get_metric_history(run_id, "loss")] == list(range(2000))
        assert [m.step for m in client.get_metric_history(run_id, "system/disk_usage_megabytes")] == [0]
