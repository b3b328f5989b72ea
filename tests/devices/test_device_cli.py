"""The bench and check click commands, run through click's test runner."""

from __future__ import annotations

import json

import yaml
from click.testing import CliRunner

from edgeforge.devices.cli import bench_command, check_command
from edgeforge.errors import EXIT_DEVICE, EXIT_UNSUPPORTED


def test_bench_command_local(tiny_tflite, tmp_path):
    out = tmp_path / "latency.json"
    result = CliRunner().invoke(bench_command, [str(tiny_tflite), "--runs", "5", "--warmup", "1",
                                                "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "measured on local" in result.output
    assert json.loads(out.read_text())["runs"] == 5


def test_bench_command_device_error_exit_code(tiny_tflite, tmp_path):
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("")
    result = CliRunner().invoke(bench_command, [str(tiny_tflite), "--device", "ssh://nobody@127.0.0.1:1",
                                                "--known-hosts", str(known_hosts), "--connect-timeout", "2"])
    assert result.exit_code == EXIT_DEVICE
    assert "error: cannot reach ssh://nobody@127.0.0.1:1" in result.output


def test_check_command_reports_float_ops(tiny_tflite, tmp_path):
    profile = {
        "name": "int8-only", "description": "test", "device_class": "accelerator", "runtime": "litert",
        "artifact_format": "tflite", "precisions": {"supported": ["int8"], "preferred": "int8"},
        "quantization": {"weights": "per-channel", "io_dtype": "int8", "full_integer": True},
        "operators": {"policy": "any"}, "compute": {"source": "test"}, "memory": {}, "threads": 1,
        "default_recipe": "ptq-int8", "budgets": {},
    }
    (tmp_path / "int8-only.yaml").write_text(yaml.safe_dump(profile))
    result = CliRunner().invoke(check_command, [str(tiny_tflite), "--target", "int8-only",
                                                "--targets-dir", str(tmp_path)])
    assert result.exit_code == EXIT_UNSUPPORTED
    assert "full-int8: op #0 CONV_2D" in result.output
    assert "breaks" in result.output
