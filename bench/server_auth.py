"""What authentication costs per request, end to end over loopback: ``asynctrack server`` without and with
``--auth`` (HTTP basic, and a bearer API token), next to ``mlflow server`` 3.17.2 without and with its
basic-auth app, measured in the same run on the same workload.

    python bench/server_auth.py [--requests 300] [--mlflow-requests 60]

The workload, one client per mode, one request at a time: ``runs/get`` of one run (a read) and
``runs/log-batch`` of 100 metrics (a write), alternating; both servers of a kind run at once and their rounds
are interleaved, so load drifting on the machine hits every mode alike. Prints milliseconds per request
(medians of the rounds) for each server and mode, the added cost of authentication, and asynctrack's time as
a ratio of MLflow's in the same mode.
"""

from __future__ import annotations

import argparse
import base64
import os
import subprocess
import sys
import tempfile
import time

import httpx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))
from _common import fmt, median, serving, tracking_server  # noqa: E402
from servers import mlflow_auth_python  # noqa: E402

ADMIN, ADMIN_PASSWORD = "admin", "bench-admin-password"
API = "/api/2.0/mlflow"


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


class _Client:
    """One client of one server and mode, with its own experiment and run."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.c = httpx.Client(base_url=url, headers=headers, timeout=120)
        eid = self.c.post(API + "/experiments/create", json={"name": f"bench-{time.time_ns()}"}).json()
        run = self.c.post(API + "/runs/create", json={"experiment_id": eid["experiment_id"]}).json()
        self.run = run["run"]["info"]["run_id"]
        self.step = 0
        self.rounds: list[float] = []

    def round(self, n: int) -> None:
        start = time.perf_counter()
        for i in range(n):
            if i % 2:
                self.c.get(API + "/runs/get", params={"run_id": self.run}).raise_for_status()
            else:
                metrics = [
                    {"key": "m", "value": 1.0, "timestamp": 1, "step": self.step + k} for k in range(100)
                ]
                self.step += 100
                self.c.post(
                    API + "/runs/log-batch", json={"run_id": self.run, "metrics": metrics}
                ).raise_for_status()
        self.rounds.append((time.perf_counter() - start) * 1000 / n)


def _interleaved(clients: dict[str, _Client], n: int, rounds: int) -> dict[str, float]:
    """Rounds of every mode in turn (the machine's load drifts: each mode sees the same drift); medians."""
    for _ in range(rounds):
        for c in clients.values():
            c.round(n)
    out = {mode: median(c.rounds) or 0.0 for mode, c in clients.items()}
    for c in clients.values():
        c.c.close()
    return out


def _asynctrack(n: int, rounds: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as plain_dir, tempfile.TemporaryDirectory() as auth_dir:
        plain = tracking_server("asynctrack", plain_dir, 1)
        secured = tracking_server("asynctrack", auth_dir, 1)
        secured.argv += ["--auth"]
        os.environ["ASYNCTRACK_AUTH_ADMIN_PASSWORD"] = ADMIN_PASSWORD
        with serving(plain), serving(secured):
            token = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "asynctrack",
                    "users",
                    "--backend-store-uri",
                    f"sqlite:///{auth_dir}/asynctrack.db",
                    "tokens",
                    "create",
                    ADMIN,
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            clients = {
                "none": _Client(plain.url, {}),
                "basic": _Client(secured.url, _basic(ADMIN, ADMIN_PASSWORD)),
                "bearer": _Client(secured.url, {"Authorization": f"Bearer {token}"}),
            }
            return _interleaved(clients, n, rounds)


def _mlflow(n: int, rounds: int) -> dict[str, float]:
    python = str(mlflow_auth_python())
    with tempfile.TemporaryDirectory() as plain_dir, tempfile.TemporaryDirectory() as auth_dir:
        plain = tracking_server("mlflow", plain_dir, 1, python=python)
        secured = tracking_server("mlflow", auth_dir, 1, python=python)
        ini = os.path.join(auth_dir, "basic_auth.ini")
        with open(ini, "w") as f:
            f.write(
                f"[mlflow]\ndefault_permission = READ\ndatabase_uri = sqlite:///{auth_dir}/basic_auth.db\n"
                f"admin_username = {ADMIN}\n"
            )
        os.environ.update(
            {
                "MLFLOW_AUTH_CONFIG_PATH": ini,
                "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN_PASSWORD,
                "MLFLOW_FLASK_SERVER_SECRET_KEY": "bench",
            }
        )
        secured.argv += ["--app-name", "basic-auth"]
        with serving(plain), serving(secured):
            clients = {
                "none": _Client(plain.url, {}),
                "basic": _Client(secured.url, _basic(ADMIN, ADMIN_PASSWORD)),
            }
            return _interleaved(clients, n, rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--mlflow-requests", type=int, default=60, help="fewer: MLflow hashes per request")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-mlflow", action="store_true", help="asynctrack only (no ratios)")
    args = parser.parse_args()
    results = {"asynctrack": _asynctrack(args.requests, args.rounds)}
    if not args.no_mlflow:
        results["mlflow"] = _mlflow(args.mlflow_requests, args.rounds)
    print(
        "ms per request (runs/get and 100-metric log-batch alternating; modes interleaved; medians of rounds)"
    )
    for kind, modes in results.items():
        for mode, ms in modes.items():
            added = ms - modes["none"] if mode != "none" else 0.0
            print(f"  {kind:10} auth={mode:6} {fmt(ms)} ms  (+{fmt(added)} ms for auth)")
    for mode in ("none", "basic") if "mlflow" in results else ():
        ratio = results["asynctrack"][mode] / results["mlflow"][mode]
        print(f"  asynctrack / mlflow, auth={mode}: {ratio:.2f}x")


if __name__ == "__main__":
    main()
