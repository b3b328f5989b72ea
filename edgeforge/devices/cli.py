"""Click commands `bench`, `check` and `calibrate`, for the lead's main group to attach.

Each command raises EdgeforgeError subclasses; `exit_on_error` turns them into the
documented exit codes when the commands run on their own.
"""

from __future__ import annotations

import functools
import json
import logging
from pathlib import Path

import click

from edgeforge._files import write_text_atomic
from edgeforge.errors import EdgeforgeError, UnsupportedError

log = logging.getLogger(__name__)


def exit_on_error(command):
    """Print an EdgeforgeError as 'error: ...' and exit with its class's exit code."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except EdgeforgeError as err:
            click.echo(f"error: {err}", err=True)
            raise SystemExit(err.exit_code) from err

    return wrapper


def ssh_options(function):
    """Add the ssh and adb options shared by `bench` and `calibrate`."""
    options = [
        click.option("--known-hosts", type=click.Path(dir_okay=False, path_type=Path), default=None,
                     help="known_hosts file that lists the ssh host key (default ~/.ssh/known_hosts)."),
        click.option("--identity", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
                     help="ssh private key file."),
        click.option("--remote-python", default="python3", show_default=True,
                     help="Python on the ssh host that has ai-edge-litert or openvino."),
        click.option("--connect-timeout", type=float, default=10.0, show_default=True,
                     help="ssh connection timeout in seconds."),
        click.option("--run-timeout", type=float, default=600.0, show_default=True,
                     help="limit in seconds for one benchmark run on the device."),
        click.option("--benchmark-binary", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     default=None, help="LiteRT benchmark_model built for the adb device."),
        click.option("--adb", "adb_path", default="adb", show_default=True, help="adb executable."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def make_device_options(known_hosts, identity, remote_python, connect_timeout, run_timeout, benchmark_binary, adb_path):
    from edgeforge.devices import AdbOptions, SshOptions

    ssh = SshOptions(known_hosts=known_hosts, identity_file=identity, remote_python=remote_python,
                     connect_timeout_s=connect_timeout, run_timeout_s=run_timeout)
    adb = AdbOptions(benchmark_binary=benchmark_binary, adb_path=adb_path, timeout_s=run_timeout)
    return ssh, adb


def _write_json(path: Path | None, content) -> None:
    if path is not None:
        write_text_atomic(path, json.dumps(content, indent=2) + "\n")


@click.command("bench")
@click.argument("artifact", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--device", default="local", show_default=True,
              help="local, ssh://user@host[:port] or adb://SERIAL.")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True, help="Inference threads.")
@click.option("--warmup", type=click.IntRange(min=0), default=10, show_default=True, help="Untimed runs first.")
@click.option("--runs", type=click.IntRange(min=1), default=50, show_default=True, help="Timed runs.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the latency record to this JSON file.")
@ssh_options
@exit_on_error
def bench_command(artifact, device, threads, warmup, runs, json_path, **device_options):
    """Measure the latency of ARTIFACT (.tflite or OpenVINO .xml) on a device."""
    from edgeforge.devices import bench_artifact

    ssh, adb = make_device_options(**device_options)
    record = bench_artifact(artifact, device=device, threads=threads, warmup=warmup, runs=runs, ssh=ssh, adb=adb)
    median = "n/a" if record["median_ms"] is None else f"{record['median_ms']:.3f} ms"
    p90 = "n/a" if record["p90_ms"] is None else f"{record['p90_ms']:.3f} ms"
    click.echo(f"measured on {record['device']} ({record['cpu']}), {record['runtime']} {record['runtime_version']}, "
               f"{threads} thread(s), {record['runs']} runs after {warmup} warm-up runs")
    click.echo(f"median {median}  p90 {p90}  mean {record['mean_ms']:.3f} ms  std {record['std_ms']:.3f} ms")
    _write_json(json_path, record)


@click.command("check")
@click.argument("artifact", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--target", "target_name", required=True, help="Target profile name.")
@click.option("--targets-dir", multiple=True, type=click.Path(file_okay=False, path_type=Path),
              help="Extra folder of target profiles; repeatable.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the report to this JSON file.")
@exit_on_error
def check_command(artifact, target_name, targets_dir, json_path):
    """Check ARTIFACT against a target's operators, precisions and memory, operator by operator."""
    from edgeforge.compat import check_artifact
    from edgeforge.targets import load_target

    report = check_artifact(artifact, load_target(target_name, targets_dir))
    for line in report.log_lines():
        click.echo(line)
    _write_json(json_path, report.as_dict())
    if not report.passed:
        raise UnsupportedError(
            f"{artifact} breaks {len(report.errors)} rule(s) of target {target_name}: "
            + ", ".join(sorted({f.rule for f in report.errors}))
        )


@click.command("calibrate")
@click.option("--device", default="local", show_default=True,
              help="local, ssh://user@host[:port] or adb://SERIAL.")
@click.option("--target", "target_name", required=True, help="Profile to copy the fitted cost model into.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Where to write the calibrated profile copy (its file name becomes the target name).")
@click.option("--targets-dir", multiple=True, type=click.Path(file_okay=False, path_type=Path),
              help="Extra folder of target profiles; repeatable.")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="Inference threads (default: the target's).")
@click.option("--work-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder that keeps the converted benchmark models for reruns.")
@ssh_options
@exit_on_error
def calibrate_command(device, target_name, output, targets_dir, threads, work_dir, **device_options):
    """Fit the latency cost model on a device and write it into a copy of a target profile."""
    from edgeforge.estimate import calibrate
    from edgeforge.targets import load_target

    profile = load_target(target_name, targets_dir)
    ssh, adb = make_device_options(**device_options)
    result = calibrate(device, threads=threads or profile.threads, base_profile=profile, output_profile=output,
                       work_dir=work_dir, ssh=ssh, adb=adb, progress=lambda name: log.info("measured %s", name))
    error = result.error
    click.echo(f"fitted on {len(result.calibration)} models measured on {device}; wrote {result.profile_path}")
    click.echo(f"estimate error on {error['models']} held-out models: median {error['median_abs_pct']:.1f}%, "
               f"p90 {error['p90_abs_pct']:.1f}%, within 10%: {error['within_10pct_share'] * 100:.0f}%")
    for note in result.notes:
        click.echo(note)
