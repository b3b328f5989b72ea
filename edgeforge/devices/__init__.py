"""Benchmark devices: this machine, ssh hosts and adb-connected Android devices."""

from edgeforge.devices.adb import AdbOptions, parse_benchmark_model_output
from edgeforge.devices.bench import bench_artifact
from edgeforge.devices.spec import AdbDevice, LocalDevice, SshDevice, parse_device
from edgeforge.devices.ssh import SshOptions

__all__ = [
    "AdbDevice", "AdbOptions", "LocalDevice", "SshDevice", "SshOptions", "bench_artifact",
    "parse_benchmark_model_output", "parse_device",
]
