"""The adb device: parsing recorded benchmark_model logs, and real adb failures."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from edgeforge.devices import AdbOptions, bench_artifact, parse_benchmark_model_output
from edgeforge.errors import DeviceError, InputError


# Log layout of LiteRT benchmark_model (warm-up statistics first, then the timed runs).
RECORDED_LOG = """\
INFO: STARTING!
INFO: Num runs: [50]
INFO: Graph: [/data/local/tmp/edgeforge-1a2b3c4d/model.tflite]
INFO: #threads used for CPU inference: [4]
INFO: Loaded model /data/local/tmp/edgeforge-1a2b3c4d/model.tflite
INFO: Created TensorFlow Lite XNNPACK delegate for CPU.
INFO: The input model file size (MB): 3.57766
INFO: Initialized session in 41.2ms.
INFO: Running benchmark for at least 5 iterations and at least 0 seconds but terminate if exceeding 600 seconds.
INFO: count=5 first=21410 curr=11828 min=11801 max=21410 avg=13771.8 std=3812

INFO: Running benchmark for at least 50 iterations and at least 0 seconds but terminate if exceeding 600 seconds.
INFO: count=50 first=11950 curr=11702 min=11514 max=13002 avg=11820.4 std=262

INFO: Inference timings in us: Init: 41210, First inference: 21410, Warmup (avg): 13771.8, Inference (avg): 11820.4
INFO: Memory footprint delta from the start of the tool (MB): init=5.6 overall=9.1
"""


def test_parse_benchmark_model_log():
    record = parse_benchmark_model_output(RECORDED_LOG)
    assert record["runs"] == 50
    assert record["mean_ms"] == pytest.approx(11.8204)
    assert record["min_ms"] == pytest.approx(11.514)
    assert record["max_ms"] == pytest.approx(13.002)
    assert record["std_ms"] == pytest.approx(0.262)
    assert record["init_ms"] == pytest.approx(41.21)
    assert record["first_ms"] == pytest.approx(21.41)
    assert record["median_ms"] is None
    assert record["p90_ms"] is None


def test_parse_log_all_same_runs():
    text = ("INFO: count=3 curr=900(all same)\n\n"
            "INFO: Inference timings in us: Init: 10, First inference: 950, Warmup (avg): 950, Inference (avg): 900\n")
    record = parse_benchmark_model_output(text)
    assert record["runs"] == 3
    assert record["std_ms"] == 0.0
    assert record["median_ms"] == pytest.approx(0.9)


def test_parse_failed_run():
    with pytest.raises(DeviceError, match="no 'Inference timings in us' line.*Failed to allocate"):
        parse_benchmark_model_output("ERROR: Failed to allocate tensors!\nBenchmarking failed.\n")


def test_adb_binary_missing(tiny_tflite, tmp_path):
    binary = tmp_path / "benchmark_model"
    binary.write_bytes(b"\x7fELF")
    with pytest.raises(DeviceError, match="adb not found at '/nonexistent/adb'"):
        bench_artifact(tiny_tflite, device="adb://emulator-5554", threads=1, warmup=1, runs=5,
                       adb=AdbOptions(benchmark_binary=binary, adb_path="/nonexistent/adb"))


def test_adb_benchmark_binary_required(tiny_tflite):
    with pytest.raises(InputError, match="need the LiteRT benchmark_model binary"):
        bench_artifact(tiny_tflite, device="adb://emulator-5554", threads=1, warmup=1, runs=5)


@pytest.fixture()
def adb_server_port(unused_port):
    """A private adb server port, so the test neither uses nor stops another adb server."""
    if shutil.which("adb") is None:
        pytest.skip("adb not found; run .ci/install-sshd.sh as root to install it")
    port = unused_port
    yield port
    subprocess.run(["adb", "-P", str(port), "kill-server"], capture_output=True, timeout=30, check=False)


def test_adb_no_device(tiny_tflite, tmp_path, adb_server_port):
    binary = tmp_path / "benchmark_model"
    binary.write_bytes(b"\x7fELF")
    with pytest.raises(DeviceError, match=r"(?s)checking the device state on adb://no-such-serial failed.*not found.*adb devices"):
        bench_artifact(tiny_tflite, device="adb://no-such-serial", threads=1, warmup=1, runs=5,
                       adb=AdbOptions(benchmark_binary=binary, server_port=adb_server_port, timeout_s=60))
