"""Recipe search with real Optuna studies, real compiles of a tiny digits CNN, and a real PostgreSQL server."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import pytest
import yaml

from edgeforge.errors import InputError, ProfileError
from edgeforge.search import load_space, search_recipe
from edgeforge.search.objectives import HostLatency, TargetLatency
from edgeforge.targets import load_target

ROOT = Path(__file__).resolve().parents[1]
# Tiny compiles: each trial converts and validates the digits CNN once.
FAST = {"latency_runs": 10, "calibration_samples": 50}
PRECISIONS = {"dimensions": [{"path": "quantize.precision", "choices": ["int8", "fp16", "dynamic"]}]}


def _write(path: Path, content: dict) -> Path:
    path.write_text(yaml.safe_dump(content), encoding="utf-8")
    return path


# --- search space files ---------------------------------------------------------------------------------------


def test_default_space_keeps_supported_precisions():
    space = load_space(None, target=load_target("intel-npu"))
    precision = next(d for d in space.dimensions if d.path == "quantize.precision")
    assert precision.choices == ("int8", "fp16")


@pytest.mark.parametrize("dimension, message", [
    ({"path": "quantize.precision", "choices": ["int8"], "low": 1}, r"either 'choices' or 'low' and 'high'"),
    ({"path": "quantize.precision", "choices": ["int4"]}, r"does not support precision int4; it supports"),
    ({"path": "passes[distill].params.width", "low": 0.25, "high": 1.0}, r"no item named 'distill'.*optional: true"),
    ({"path": "passes[0].params.width", "low": 0.25, "high": 1.0}, r"has 0 items, so index 0 does not exist"),
    ({"path": "quantize.precision", "choices": ["int8", "int8"]}, r"lists a value twice"),
    ({"path": "x.y", "low": 1.0, "high": 0.5}, r"'low' must be less than 'high', found low=1.0, high=0.5"),
    ({"path": "x.y", "low": 0.0, "high": 1.0, "log": True}, r"a log range needs 'low' > 0"),
    ({"path": "x..y", "choices": [1]}, r"key 'dimensions.0.path': expected a string matching"),
    ({"path": "x.y", "choises": [1]}, r"unknown key 'choises' \(did you mean 'choices'\?\)"),
])
def test_space_errors_name_key_and_fix(tmp_path, dimension, message):
    path = _write(tmp_path / "space.yaml", {"base_recipe": "ptq-int8", "dimensions": [dimension]})
    with pytest.raises(ProfileError, match=message):
        load_space(path, target=load_target("arm-cortex-a72"))


def test_space_error_names_file(tmp_path):
    path = _write(tmp_path / "space.yaml", {"dimensions": []})
    with pytest.raises(ProfileError, match=re.escape(str(path)) + r": key 'dimensions'"):
        load_space(path, target=load_target("host"))


def test_space_paths_set_and_remove_passes():
    base = {"name": "base", "passes": [{"name": "distill", "params": {"width": 0.5}}, {"name": "qat"}],
            "quantize": {"precision": "int8"}}
    space = load_space({"dimensions": [
        {"path": "passes[distill].params.width", "low": 0.25, "high": 1.0, "step": 0.25},
        {"path": "passes[qat].params.epochs", "low": 1, "high": 3},
        {"path": "passes[qat].enabled", "choices": [True, False]},
        {"path": "quantize.precision", "choices": ["int8", "fp16"]},
    ]}, target=load_target("arm-cortex-a72"), base_recipe=base)
    assert space.base_params() == {"passes[distill].params.width": 0.5, "passes[qat].enabled": True,
                                   "quantize.precision": "int8"}
    assert space.grid()["passes[distill].params.width"] == [0.25, 0.5, 0.75, 1.0]

    recipe = space.build_recipe({"passes[distill].params.width": 0.75, "passes[qat].params.epochs": 2,
                                 "passes[qat].enabled": True, "quantize.precision": "fp16"}, name="t", description="d")
    assert recipe["passes"] == [{"name": "distill", "params": {"width": 0.75}},
                                {"name": "qat", "params": {"epochs": 2}}]
    assert recipe["quantize"] == {"precision": "fp16"}
    removed = space.build_recipe({"passes[qat].enabled": False}, name="t", description="d")
    assert [p["name"] for p in removed["passes"]] == ["distill"]
    assert base["passes"][1] == {"name": "qat"}


# --- searches with real compiles ------------------------------------------------------------------------------


def test_search_writes_front_recipe_and_build(digits_cnn, digits_npz, tmp_path):
    result = search_recipe(digits_cnn, target="arm-cortex-a72", data=digits_npz, space=PRECISIONS, n_trials=3,
                           base_recipe="ptq-int8", out_dir=tmp_path, seed=1, **FAST)

    assert [t["state"] for t in result.trials] == ["COMPLETE"] * 3
    assert {t["params"]["quantize.precision"] for t in result.trials} == {"int8", "fp16", "dynamic"}
    assert result.trials[0]["baseline"] and result.trials[0]["params"] == {"quantize.precision": "int8"}

    summary = json.loads(result.pareto_path.read_text())
    assert summary["trial_counts"] == {"COMPLETE": 3}
    assert [t["trial"] for t in summary["trials"]] == [0, 1, 2]
    assert [o["name"] for o in summary["objectives"]] == ["accuracy_drop", "latency_ms", "size_kib"]
    assert 1 <= len(summary["pareto_front"]) <= 3
    latency_budget = next(b for b in summary["budgets"] if b["name"] == "max_latency_ms")
    assert latency_budget["applied"] is False
    for entry in summary["pareto_front"]:
        assert entry["metrics"]["latency_ms"]["kind"] == "measured"
        assert "host latency" in entry["metrics"]["latency_ms"]["basis"]
        assert "not on arm-cortex-a72" in entry["metrics"]["latency_ms"]["basis"]
        assert entry["metrics"]["size_kib"]["value"] > 1.0
    assert summary["chosen"]["trial"] == result.chosen["trial"]
    assert result.plot_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    recipe = yaml.safe_load(result.recipe_path.read_text())
    assert recipe["name"] == "search-arm-cortex-a72"
    assert recipe["quantize"]["precision"] == result.chosen["params"]["quantize.precision"]
    # The final build reads the recipe file the way `compile --recipe FILE` does.
    assert result.build.report["recipe"]["path"] == str(result.recipe_path)
    assert result.build.report["recipe"]["precision"] == recipe["quantize"]["precision"]
    assert (result.build.out_dir / "report.json").is_file()


def test_search_resumes_study(digits_cnn, digits_npz, tmp_path):
    options = dict(target="host", data=digits_npz, space=PRECISIONS, out_dir=tmp_path, build_chosen=False,
                   sampler="tpe", **FAST)
    first = search_recipe(digits_cnn, n_trials=2, **options)
    assert first.new_trials == [0, 1]
    assert first.storage == f"sqlite:///{tmp_path.resolve() / 'study.db'}"

    second = search_recipe(digits_cnn, n_trials=3, **options)
    assert second.new_trials == [2]
    assert [t["trial"] for t in second.trials] == [0, 1, 2]
    assert [t["params"] for t in second.trials[:2]] == [t["params"] for t in first.trials]

    third = search_recipe(digits_cnn, n_trials=3, **options)
    assert third.new_trials == []
    assert len(third.trials) == 3


def test_search_rejects_study_of_other_target(digits_cnn, digits_npz, tmp_path):
    space = {"dimensions": [{"path": "quantize.precision", "choices": ["dynamic"]}]}
    created = search_recipe(digits_cnn, target="host", data=digits_npz, space=space, n_trials=0, out_dir=tmp_path,
                            study_name="shared", build_chosen=False, **FAST)
    assert [t["state"] for t in created.trials] == ["WAITING"]
    assert created.chosen is None
    with pytest.raises(InputError, match=r"study 'shared' .* was made for target 'host', not 'arm-cortex-a72'"):
        search_recipe(digits_cnn, target="arm-cortex-a72", data=digits_npz, space=space, n_trials=2,
                      out_dir=tmp_path, study_name="shared", build_chosen=False, **FAST)


def test_failed_trial_recorded_and_search_goes_on(digits_cnn, digits_npz, tmp_path):
    # The base recipe names a pass that does not exist, so the trials that keep it fail.
    base = {"name": "broken", "passes": [{"name": "no_such_pass"}], "quantize": {"precision": "int8"}}
    space = {"dimensions": [{"path": "passes[no_such_pass].enabled", "choices": [True, False]}]}
    result = search_recipe(digits_cnn, target="host", data=digits_npz, space=space, base_recipe=base, n_trials=2,
                           sampler="grid", out_dir=tmp_path, build_chosen=False, **FAST)

    by_switch = {t["params"]["passes[no_such_pass].enabled"]: t for t in result.trials}
    failed, done = by_switch[True], by_switch[False]
    assert failed["state"] == "FAIL"
    assert failed["error_type"]
    assert "pass" in failed["error"]
    assert done["state"] == "COMPLETE"
    assert done["recipe"]["passes"] == []

    summary = json.loads(result.pareto_path.read_text())
    assert summary["failed"] == [{"trial": failed["trial"], "error_type": failed["error_type"],
                                  "error": failed["error"]}]
    assert [e["trial"] for e in summary["pareto_front"]] == [done["trial"]]
    assert result.chosen["trial"] == done["trial"]


def test_host_latency_labels_target():
    source = HostLatency()
    assert source.represents_target(load_target("host"))
    assert not source.represents_target(load_target("arm-cortex-a72"))


def test_target_latency_needs_device_or_estimate(digits_cnn, digits_npz, tmp_path):
    space = {"dimensions": [{"path": "quantize.precision", "choices": ["int8"]}]}
    options = dict(target="arm-cortex-a72", data=digits_npz, space=space, base_recipe="ptq-int8", n_trials=1,
                   build_chosen=False, latency_source=TargetLatency(), **FAST)
    missing = search_recipe(digits_cnn, out_dir=tmp_path / "none", **options)
    assert missing.trials[0]["state"] == "FAIL"
    assert "has no latency figure for arm-cortex-a72" in missing.trials[0]["error"]

    # "local" runs the device benchmark on this machine, so the figure counts as measured on a device.
    local = search_recipe(digits_cnn, out_dir=tmp_path / "local", device="local", **options)
    latency = local.chosen["metrics"]["latency_ms"]
    assert latency["kind"] == "measured"
    assert latency["basis"].startswith("measured on local")
    assert latency["value"] > 0
    summary = json.loads(local.pareto_path.read_text())
    assert next(b for b in summary["budgets"] if b["name"] == "max_latency_ms")["applied"] is True


# --- two workers, one PostgreSQL study ------------------------------------------------------------------------


def _postgres_bin() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return candidates[-1].parent if candidates else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def postgres_url():
    """A PostgreSQL server of its own in a temporary folder, listening on 127.0.0.1 only."""
    bin_dir = _postgres_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found; run .ci/install-postgres.sh")
    folder = Path(tempfile.mkdtemp(prefix="edgeforge-pg-"))
    data_dir = folder / "data"
    # The server refuses to run as root, so as root it runs as the postgres user.
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(folder, user="postgres")
        folder.chmod(0o700)
        as_user = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    subprocess.run([*as_user, str(bin_dir / "initdb"), "-D", str(data_dir), "-U", "edgeforge", "-A", "trust",
                    "--no-sync"], check=True, capture_output=True)
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data_dir), "-o", options, "-l",
                    str(folder / "server.log"), "-w", "start"], check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg2://edgeforge@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data_dir), "-m", "fast", "stop"],
                       capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def test_two_workers_share_postgres_study(digits_cnn, digits_npz, tmp_path, postgres_url):
    space = _write(tmp_path / "space.yaml",
                   {"dimensions": [{"path": "quantize.precision", "choices": ["int8", "fp16", "dynamic", "fp32"]}]})
    out = tmp_path / "search"
    command = [sys.executable, "-m", "edgeforge.cli", "-q", "search", str(digits_cnn), "--target", "host",
               "--data", str(digits_npz), "--space", str(space), "--storage", postgres_url, "--study-name", "shared",
               "--trials", "4", "--out", str(out), "--no-build", "--latency-runs", "10",
               "--calibration-samples", "50"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    workers = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
               for _ in range(2)]
    outputs = [worker.communicate(timeout=300) for worker in workers]
    for worker, (stdout, stderr) in zip(workers, outputs):
        assert worker.returncode == 0, stderr[-3000:]

    study = optuna.load_study(study_name="shared", storage=postgres_url)
    trials = study.get_trials(deepcopy=False)
    numbers = [t.number for t in trials]
    assert sorted(numbers) == list(range(len(trials)))
    # Each worker stops once the study contains 4 trials. Workers that start together may both enqueue
    # the 4 grid points. A duplicate takes its figures from the first and is not built again (checked
    # below), but it counts as a trial, so the total stays within 4 plus one grid per extra worker.
    assert 4 <= len(trials) <= 8
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)

    host = socket.gethostname()
    per_worker = [sum(t.user_attrs.get("worker") == f"{host}:{w.pid}" for t in trials) for w in workers]
    ran_now = [int(re.search(r"(\d+) run now", stdout).group(1)) for stdout, _ in outputs]
    assert per_worker == ran_now
    assert sum(per_worker) == len(trials)
    assert all(count >= 1 for count in per_worker)

    built = [t.user_attrs["build_dir"] for t in trials if "cached_from" not in t.user_attrs]
    assert len(built) == len(set(built))
    assert all((Path(d) / "build" / "report.json").is_file() for d in built)


def test_interrupted_trial_runs_again(digits_cnn, digits_npz, tmp_path):
    space = _write(tmp_path / "space.yaml", PRECISIONS)
    out = tmp_path / "search"
    command = [sys.executable, "-m", "edgeforge.cli", "-q", "search", str(digits_cnn), "--target", "host",
               "--data", str(digits_npz), "--space", str(space), "--trials", "1", "--out", str(out), "--no-build",
               "--latency-runs", "10", "--calibration-samples", "50"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 60
    while not (out / "trials" / "0000" / "recipe.yaml").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)
    first.send_signal(signal.SIGINT)
    _, stderr = first.communicate(timeout=120)
    assert first.returncode == 130, stderr[-2000:]

    second = subprocess.run(command, capture_output=True, text=True, env=env, timeout=180)
    assert second.returncode == 0, second.stderr[-2000:]
    study = optuna.load_study(study_name="host-digits_cnn", storage=f"sqlite:///{out.resolve() / 'study.db'}")
    interrupted, retry = study.get_trials(deepcopy=False)
    assert interrupted.state == optuna.trial.TrialState.FAIL
    assert interrupted.user_attrs["interrupted"] is True
    assert retry.state == optuna.trial.TrialState.COMPLETE
    assert retry.user_attrs["retry_of"] == interrupted.number
    assert retry.params == interrupted.params
