"""Device strings and the local device."""

from __future__ import annotations

import pytest

from edgeforge.devices import AdbDevice, LocalDevice, SshDevice, bench_artifact, parse_device
from edgeforge.errors import InputError


@pytest.mark.parametrize("text, expected", [
    ("local", LocalDevice()),
    ("ssh://pi@raspberrypi.local", SshDevice("pi", "raspberrypi.local", 22)),
    ("ssh://pi@10.0.0.7:2222", SshDevice("pi", "10.0.0.7", 2222)),
    ("ssh://me@[::1]:2200", SshDevice("me", "::1", 2200)),
    ("adb://emulator-5554", AdbDevice("emulator-5554")),
])
def test_parse_device_valid(text, expected):
    assert parse_device(text) == expected


@pytest.mark.parametrize("text, message", [
    ("", "device string is empty"),
    ("raspberrypi", "expected 'local', 'ssh://user@host"),
    ("http://host", "unknown scheme 'http'"),
    ("ssh://host", "the user is missing"),
    ("ssh://pi@", "the host is missing"),
    ("ssh://pi@host:99999", "port must be an integer from 1 to 65535"),
    ("ssh://pi@host:abc", "port must be an integer from 1 to 65535"),
    ("ssh://pi:secret@host", "passwords are not accepted"),
    ("ssh://pi@host/path", "nothing after the port"),
    ("ssh://-oProxyCommand=x@host", "contains characters ssh does not accept"),
    ("adb://", "adb needs a serial"),
])
def test_parse_device_invalid(text, message):
    with pytest.raises(InputError, match=message):
        parse_device(text)


def test_device_string_round_trip():
    assert str(parse_device("ssh://pi@host")) == "ssh://pi@host:22"


def test_local_bench_record(tiny_tflite):
    record = bench_artifact(tiny_tflite, device="local", threads=1, warmup=2, runs=20)
    assert record["kind"] == "measured"
    assert record["device"] == "local"
    assert record["runtime"] == "litert"
    assert record["runs"] == 20
    assert 0 < record["min_ms"] <= record["median_ms"] <= record["p90_ms"]
    for key in ("cpu", "runtime_version", "mean_ms", "std_ms", "threads", "warmup"):
        assert record[key] is not None, key


def test_local_bench_openvino_reads_tflite_rejected(tiny_tflite, tmp_path):
    wrong = tmp_path / "model.onnx"
    wrong.write_bytes(b"x")
    with pytest.raises(InputError, match="unknown artifact type '.onnx'"):
        bench_artifact(wrong, device="local", threads=1, warmup=0, runs=1)


def test_bench_rejects_bad_counts(tiny_tflite):
    with pytest.raises(InputError, match="runs must be an integer >= 1, got 0"):
        bench_artifact(tiny_tflite, device="local", threads=1, warmup=0, runs=0)
