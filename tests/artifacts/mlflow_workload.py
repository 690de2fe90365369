"""One artifact workload, written against MLflow's API, run by MLflow 3.17.2 and by asynctrack imported as
``mlflow``: ``python mlflow_workload.py {mlflow|asynctrack} WORKDIR OUT.json``.

It logs every kind of artifact into a SQLite-backed run under WORKDIR and writes what is on disk (layout,
file contents, file modes, decoded pixels) and what the API answered (listings, download paths, tags,
errors) to OUT.json, normalised so two runs compare equal: the working directory becomes ``CWD``, new
temporary directories ``TMP``, the run id ``RUN``, and the timestamp and uuid in image-series file names
``T`` and ``UUID``. test_mlflow_parity.py compares the two files.
"""

from __future__ import annotations

import datetime
import hashlib
import importlib
import json
import os
import re
import stat
import sys
import tempfile
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from PIL import Image

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

which, workdir, out_path = sys.argv[1:4]
mlflow: Any = importlib.import_module("asynctrack" if which == "asynctrack" else "mlflow")

os.chdir(workdir)
CWD = os.getcwd()
TMP = os.path.realpath(tempfile.gettempdir())
answers: dict[str, Any] = {}
run_ids: list[str] = []  # each becomes RUN, RUN2, ...
run_id = ""


def norm(value: Any) -> Any:
    if isinstance(value, str):
        value = value.replace(CWD, "CWD")
        value = re.sub(re.escape(TMP) + r"/tmp[^/]+", "TMP", value)
        for i, rid in enumerate(run_ids):
            value = value.replace(rid, "RUN" if i == 0 else f"RUN{i + 1}")
        return re.sub(r"\+timestamp\+\d+\+[0-9a-f-]{36}", "+timestamp+T+UUID", value)
    if isinstance(value, list | tuple):
        return [norm(v) for v in value]
    if isinstance(value, dict):
        return {norm(k): norm(v) for k, v in value.items()}
    return value


def answer(name: str, fn: Any) -> None:
    try:
        answers[name] = norm(fn())
    except Exception as exc:
        answers[name] = {
            "error": type(exc).__name__,
            "code": getattr(exc, "error_code", None),
            "message": norm(str(exc)),
        }


def infos(items: Any) -> list[Any]:
    return [[f.path, f.is_dir, f.file_size] for f in items]


def describe_tree(root: str) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        if not dirnames and not filenames:
            tree[rel_dir + "/"] = "empty dir"
        for name in filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            entry: dict[str, Any] = {"mode": oct(stat.S_IMODE(os.stat(path).st_mode))}
            if name.endswith((".png", ".webp")):
                with Image.open(path) as im:
                    entry.update(format=im.format, mode=im.mode, size=list(im.size))
                    if not rel.startswith("figs/"):
                        entry["pixels"] = hashlib.sha256(im.tobytes()).hexdigest()
            elif name.endswith(".svg"):
                with open(path, encoding="utf-8") as f:
                    entry["first_line"] = f.readline().strip()
            else:
                with open(path, "rb") as f:
                    entry["content"] = f.read().decode("utf-8", "replace")
            tree[norm(rel)] = entry
    return dict(sorted(tree.items()))


os.makedirs("src/sub", exist_ok=True)
os.makedirs("src/empty", exist_ok=True)
with open("src/a.txt", "w") as f:
    f.write("A")
with open("src/sub/b.txt", "w") as f:
    f.write("BB")
os.chmod("src/a.txt", 0o640)
os.utime("src/a.txt", (1_600_000_000, 1_600_000_000))

mlflow.set_tracking_uri("sqlite:///t.db")
client = mlflow.MlflowClient()
with mlflow.start_run() as run:
    run_id = run.info.run_id
    run_ids.append(run_id)
    answer("artifact_uri", lambda: run.info.artifact_uri)
    answer("get_artifact_uri", lambda: [mlflow.get_artifact_uri(), mlflow.get_artifact_uri("a/b.txt")])
    answer("experiment_location", lambda: mlflow.get_experiment(run.info.experiment_id).artifact_location)

    mlflow.log_text("héllo\nworld\n", "texts/t.txt")
    mlflow.log_text("", "texts/empty.txt")
    mlflow.log_dict(
        {"a": 1, "b": [1, 2, {"c": None}], "d": "x", "e": 1.5, "when": datetime.date(2020, 1, 2), "u": "é"},
        "d/dict.json",
    )
    mlflow.log_dict({"b": [1, 2, {"c": None}], "a": 1, "z": "é", "n": {"x": [1.5]}}, "d/dict.yaml")
    mlflow.log_dict({"a": 1}, "d/dict.yml")
    mlflow.log_dict({"a": 1}, "d/dict.txt")

    rgb = np.zeros((4, 6, 3), dtype=np.uint8)
    rgb[1, 2] = [255, 0, 10]
    mlflow.log_image(rgb, "imgs/np.png")
    mlflow.log_image(Image.fromarray(rgb), "imgs/pil.png")
    mlflow.log_image(np.full((5, 5), 0.5), "imgs/gray_float.png")
    mlflow.log_image(np.ones((3, 3, 1), dtype=bool), "imgs/bool.png")
    mlflow.log_image(np.zeros((2, 3, 4), dtype=np.uint8) + 7, "imgs/rgba.png")
    mlflow.log_image(Image.fromarray(rgb), "imgs/pil.jpg")
    mlflow.log_image(rgb, key="my/key", step=3, synchronous=True)
    mlflow.log_image(Image.fromarray(rgb).resize((300, 100)), key="wide", step=0)
    mlflow.flush_artifact_async_logging()
    answer("image_bad_args", lambda: mlflow.log_image(rgb, artifact_file="x.png", key="k"))
    answer("image_no_target", lambda: mlflow.log_image(rgb))
    answer("image_bad_key", lambda: mlflow.log_image(rgb, key="a:b"))
    answer("image_bad_dtype", lambda: mlflow.log_image(np.array([["a"]]), "x.png"))
    answer("image_bad_range", lambda: mlflow.log_image(np.full((2, 2), 300), "x.png"))

    mlflow.log_table({"col": [1, 2], "s": ["a", "b"]}, "tables/t.json")
    mlflow.log_table({"col": [3], "s": ["c"]}, "tables/t.json")
    mlflow.log_table(
        pd.DataFrame({"f": [1.5, None], "dt": pd.to_datetime(["2020-01-01", "2021-02-03"])}), "t2.json"
    )
    mlflow.log_table({"inputs": "What is MLflow?"}, "t3.json")
    answer("table_bad_ext", lambda: mlflow.log_table({"a": [1]}, "t.csv"))
    answer("table_bad_char", lambda: mlflow.log_table({"a": [1]}, "t,1.json"))
    answer("table_bad_data", lambda: mlflow.log_table([1, 2], "t4.json"))

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    mlflow.log_figure(fig, "figs/f.png")
    mlflow.log_figure(fig, "figs/f.svg")
    mlflow.log_figure(fig, "figs/dpi.png", save_kwargs={"dpi": 50})
    answer("figure_bad_type", lambda: mlflow.log_figure(object(), "x.png"))

    mlflow.log_artifact("src/a.txt")
    mlflow.log_artifact("src/a.txt", "p/q")
    mlflow.log_artifact("src", "dircopy")
    mlflow.log_artifacts("src", "all")
    mlflow.log_artifacts("src")
    answer("mtime_kept", lambda: os.stat(os.path.join(run.info.artifact_uri, "a.txt")).st_mtime)

    answer("list_root", lambda: infos(client.list_artifacts(run_id)))
    answer("list_all", lambda: infos(client.list_artifacts(run_id, "all")))
    answer("list_all_slash", lambda: infos(client.list_artifacts(run_id, "all/")))
    answer("list_file", lambda: infos(client.list_artifacts(run_id, "a.txt")))
    answer("list_missing", lambda: infos(client.list_artifacts(run_id, "nope")))
    answer("list_module", lambda: infos(mlflow.artifacts.list_artifacts(run_id=run_id, artifact_path="all")))
    answer(
        "list_uri",
        lambda: infos(mlflow.artifacts.list_artifacts(artifact_uri=run.info.artifact_uri + "/all")),
    )
    answer("download_dir", lambda: client.download_artifacts(run_id, "all"))
    answer("download_file_dst", lambda: client.download_artifacts(run_id, "all/sub/b.txt", "out1"))
    answer("download_new_dst", lambda: client.download_artifacts(run_id, "texts", "out2/deeper"))
    answer("download_missing", lambda: client.download_artifacts(run_id, "nope"))
    answer("download_run_root", lambda: mlflow.artifacts.download_artifacts(run_id=run_id))
    answer(
        "download_run_path",
        lambda: mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="all/sub", dst_path="out3"),
    )
    answer(
        "download_uri_file",
        lambda: mlflow.artifacts.download_artifacts(artifact_uri=run.info.artifact_uri + "/texts/t.txt"),
    )
    answer(
        "download_runs_uri", lambda: mlflow.artifacts.download_artifacts(artifact_uri=f"runs:/{run_id}/texts")
    )
    answer("download_both", lambda: mlflow.artifacts.download_artifacts(artifact_uri="x", run_id=run_id))
    answer("download_neither", lambda: mlflow.artifacts.download_artifacts())
    answer("download_tree", lambda: describe_tree("out3"))
    answer("load_text", lambda: mlflow.artifacts.load_text(run.info.artifact_uri + "/texts/t.txt"))
    answer("load_dict", lambda: mlflow.artifacts.load_dict(f"runs:/{run_id}/d/dict.json"))
    answer("load_dict_yaml", lambda: mlflow.artifacts.load_dict(f"runs:/{run_id}/d/dict.yaml"))
    answer("load_image", lambda: list(mlflow.artifacts.load_image(f"runs:/{run_id}/imgs/np.png").size))
    answer("load_missing", lambda: mlflow.artifacts.load_text(f"runs:/{run_id}/nope.txt"))

exp = mlflow.create_experiment("elsewhere", artifact_location=os.path.join(CWD, "custom_root"))
with mlflow.start_run(experiment_id=exp) as run2:
    run_ids.append(run2.info.run_id)
    mlflow.log_text("x", "x.txt")
    answer("custom_artifact_uri", lambda: run2.info.artifact_uri)

# load_table across runs of the default experiment: run 1's tables and run 3's table of the same name,
# whose own run_id column meets extra_columns=["run_id"]; run 2 is in another experiment.
with mlflow.start_run() as run3:
    run_ids.append(run3.info.run_id)
    mlflow.log_param("lr", "0.1")
    mlflow.log_table({"col": [9], "s": ["z"], "run_id": ["mine"]}, "tables/t.json")


def frame(df: Any) -> Any:
    return df.astype(object).where(df.notna(), None).to_dict(orient="split")


answer("load_table_all", lambda: frame(mlflow.load_table("tables/t.json", extra_columns=["run_id"])))
answer("load_table_ids", lambda: frame(mlflow.load_table("tables/t.json", run_ids=[run_id])))
answer("load_table_params", lambda: frame(mlflow.load_table("tables/t.json", extra_columns=["params.lr"])))
answer("load_table_some_ids", lambda: frame(mlflow.load_table("t3.json", run_ids=[run_id, run3.info.run_id])))
answer("load_table_client", lambda: frame(client.load_table("0", "t2.json", extra_columns=["status"])))
answer("load_table_other_experiment", lambda: mlflow.load_table("x.txt"))
answer("load_table_missing", lambda: mlflow.load_table("nope.json"))
answer("load_table_bad_char", lambda: mlflow.load_table("a,b.json"))

answers["tags"] = norm(
    {k: v for k, v in mlflow.get_run(run_id).data.tags.items() if k.startswith("mlflow.logged")}
)
answers["tree"] = describe_tree(mlflow.get_run(run_id).info.artifact_uri)
answers["custom_tree"] = describe_tree(os.path.join(CWD, "custom_root"))
with open(out_path, "w") as f:
    json.dump(answers, f, indent=1, sort_keys=True, default=str)
