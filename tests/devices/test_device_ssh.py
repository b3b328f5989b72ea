"""The ssh device against a real sshd on 127.0.0.1."""

from __future__ import annotations

import subprocess

import pytest

from edgeforge.devices import SshOptions, bench_artifact
from edgeforge.errors import DeviceError, InputError


def options(server, python, **overrides) -> SshOptions:
    values = dict(known_hosts=server.known_hosts, identity_file=server.identity_file, remote_python=python,
                  connect_timeout_s=5, run_timeout_s=120)
    values.update(overrides)
    return SshOptions(**values)


def remote_folders(server) -> list[str]:
    listing = subprocess.run(["sh", "-c", "ls -d /tmp/edgeforge-bench.* 2>/dev/null || true"],
                             capture_output=True, text=True, check=True)
    return listing.stdout.split()


def test_ssh_bench_measures_tiny_model(ssh_server, remote_python, tiny_tflite):
    before = remote_folders(ssh_server)
    record = bench_artifact(tiny_tflite, device=ssh_server.device, threads=1, warmup=2, runs=15,
                            ssh=options(ssh_server, remote_python))
    assert record["kind"] == "measured"
    assert record["device"] == ssh_server.device
    assert record["runtime"] == "litert"
    assert record["runtime_version"]
    assert record["runs"] == 15
    assert 0 < record["min_ms"] <= record["median_ms"] <= record["p90_ms"]
    assert record["median_ms"] < 1000
    assert record["std_ms"] >= 0
    assert remote_folders(ssh_server) == before, "the remote temporary folder was not removed"


def test_ssh_unreachable_port(ssh_server, remote_python, tiny_tflite, unused_port):
    closed = unused_port
    with pytest.raises(DeviceError, match=r"cannot reach ssh://.*:%d over ssh" % closed):
        bench_artifact(tiny_tflite, device=f"ssh://{ssh_server.user}@127.0.0.1:{closed}", threads=1,
                       warmup=0, runs=1, ssh=options(ssh_server, remote_python))


def test_ssh_wrong_host_key_rejected(ssh_server, remote_python, tiny_tflite, tmp_path):
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    kind, key = (tmp_path / "other_key.pub").read_text().split()[:2]
    wrong = tmp_path / "known_hosts"
    wrong.write_text(f"[127.0.0.1]:{ssh_server.port} {kind} {key}\n")
    with pytest.raises(DeviceError, match="host key verification failed"):
        bench_artifact(tiny_tflite, device=ssh_server.device, threads=1, warmup=0, runs=1,
                       ssh=options(ssh_server, remote_python, known_hosts=wrong))


def test_ssh_unknown_host_key_rejected(ssh_server, remote_python, tiny_tflite, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    with pytest.raises(DeviceError, match="host key verification failed"):
        bench_artifact(tiny_tflite, device=ssh_server.device, threads=1, warmup=0, runs=1,
                       ssh=options(ssh_server, remote_python, known_hosts=empty))


def test_ssh_missing_known_hosts(ssh_server, remote_python, tiny_tflite, tmp_path):
    with pytest.raises(InputError, match="known_hosts file .* not found"):
        bench_artifact(tiny_tflite, device=ssh_server.device, threads=1, warmup=0, runs=1,
                       ssh=options(ssh_server, remote_python, known_hosts=tmp_path / "absent"))


def test_ssh_remote_python_without_litert(ssh_server, tiny_tflite):
    # The system python3 has no ai-edge-litert installed.
    before = remote_folders(ssh_server)
    with pytest.raises(DeviceError, match="runtime is missing on ssh://.*cannot import ai_edge_litert"):
        bench_artifact(tiny_tflite, device=ssh_server.device, threads=1, warmup=0, runs=1,
                       ssh=options(ssh_server, "/usr/bin/python3"))
    assert remote_folders(ssh_server) == before


def test_ssh_remote_python_not_found(ssh_server, tiny_tflite):
    with pytest.raises(DeviceError, match="remote python '/nonexistent/python' not found"):
        bench_artifact(tiny_tflite, device=ssh_server.device, threads=1, warmup=0, runs=1,
                       ssh=options(ssh_server, "/nonexistent/python"))


def test_ssh_run_killed_part_way(ssh_server, remote_python, tiny_tflite, tmp_path):
    # A remote "python" that starts the real runner and kills it with SIGKILL while it runs.
    wrapper = tmp_path / "dying-python"
    wrapper.write_text(f"#!/bin/sh\n{remote_python} \"$@\" &\nchild=$!\nsleep 1\nkill -9 $child\nwait $child\n")
    wrapper.chmod(0o755)
    with pytest.raises(DeviceError, match=r"died part-way \(exit code 137\)"):
        bench_artifact(tiny_tflite, device=ssh_server.device, threads=1, warmup=0, runs=10_000_000,
                       ssh=options(ssh_server, str(wrapper)))


def test_ssh_session_killed_part_way(ssh_server, remote_python, tiny_tflite, tmp_path):
    # The remote shell itself dies by a signal, so ssh exits with 255 after the connection worked.
    wrapper = tmp_path / "killed-shell"
    wrapper.write_text("#!/bin/sh\nkill -9 $$\n")
    wrapper.chmod(0o755)
    with pytest.raises(DeviceError, match="the benchmark run on ssh://.* died part-way"):
        bench_artifact(tiny_tflite, device=ssh_server.device, threads=1, warmup=0, runs=1,
                       ssh=options(ssh_server, str(wrapper)))


def test_ssh_run_timeout(ssh_server, remote_python, tiny_tflite):
    with pytest.raises(DeviceError, match="passed its 1 s limit"):
        bench_artifact(tiny_tflite, device=ssh_server.device, threads=1, warmup=0, runs=10_000_000,
                       ssh=options(ssh_server, remote_python, run_timeout_s=1))


def test_compile_measures_on_ssh_device(ssh_server, remote_python, digits_cnn, digits_npz, tmp_path):
    from edgeforge.pipeline.build import compile_model

    result = compile_model(digits_cnn, target="arm-cortex-a72", recipe="ptq-int8", data=digits_npz,
                           out_dir=tmp_path, latency_runs=10, robustness=False, device=ssh_server.device,
                           ssh=options(ssh_server, remote_python), budgets={"max_latency_ms": 500})
    target = result.report["target_latency"]
    assert target["kind"] == "measured"
    assert target["device"] == ssh_server.device
    assert target["median_ms"] > 0
    budget = next(b for b in result.report["budgets"] if b["name"] == "max_latency_ms")
    assert budget["value"] == pytest.approx(target["median_ms"], abs=1e-4)
    assert budget["basis"].startswith(f"measured on {ssh_server.device}")
    assert budget["passed"] is True
