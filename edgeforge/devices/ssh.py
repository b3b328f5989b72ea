"""Run the benchmark runner on a remote machine over OpenSSH.

Calls the `ssh` client from argument lists. Host-key checking stays on
(`StrictHostKeyChecking=yes` against the known_hosts file given), passwords
are never sent (`BatchMode=yes`), and every call has a timeout. Files travel
as `cat > FILE` over the same connection, so the remote needs no SFTP server.
"""

from __future__ import annotations

import json
import logging
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeforge.devices.spec import SshDevice
from edgeforge.errors import DeviceError, InputError

log = logging.getLogger(__name__)

RUNNER_PATH = Path(__file__).with_name("remote_runner.py")
_SSH_FAILED = 255


@dataclass(frozen=True)
class SshOptions:
    """How to reach and run on an ssh device. Times are in seconds."""

    known_hosts: Path | None = None
    """known_hosts file that must list the host key; None means ~/.ssh/known_hosts."""
    identity_file: Path | None = None
    """Private key file; None lets ssh use its defaults and agent."""
    remote_python: str = "python3"
    """Python on the remote that has ai-edge-litert or openvino installed."""
    connect_timeout_s: float = 10.0
    run_timeout_s: float = 600.0
    ssh_binary: str = "ssh"


def _known_hosts(options: SshOptions) -> Path:
    path = options.known_hosts or Path.home() / ".ssh" / "known_hosts"
    if not path.is_file():
        raise InputError(
            f"known_hosts file {path} not found; host-key checking needs it. "
            "Add the host key with 'ssh-keyscan -p PORT HOST >> FILE' after checking its fingerprint"
        )
    return path


def _base_command(device: SshDevice, options: SshOptions) -> list[str]:
    command = [
        options.ssh_binary,
        "-o", "BatchMode=yes",
        "-o", "StrictHostKeyChecking=yes",
        "-o", f"UserKnownHostsFile={_known_hosts(options)}",
        "-o", "GlobalKnownHostsFile=/dev/null",
        "-o", f"ConnectTimeout={max(1, int(options.connect_timeout_s))}",
        "-o", "ServerAliveInterval=5",
        "-o", "ServerAliveCountMax=3",
        "-o", "LogLevel=ERROR",
        "-p", str(device.port),
    ]
    if options.identity_file is not None:
        if not Path(options.identity_file).is_file():
            raise InputError(f"identity file {options.identity_file} not found; pass the path of a private key")
        command += ["-i", str(options.identity_file), "-o", "IdentitiesOnly=yes"]
    return command + ["--", f"{device.user}@{device.host}"]


def _connection_error(device: SshDevice, stderr: str, options: SshOptions) -> DeviceError:
    text = stderr.strip() or "no message from ssh"
    if "Host key verification failed" in text or "REMOTE HOST IDENTIFICATION HAS CHANGED" in text:
        return DeviceError(
            f"host key verification failed for {device}: its key is missing from or differs from "
            f"{_known_hosts(options)}. Check the host's fingerprint, then add its key to that file"
        )
    if "Permission denied" in text:
        return DeviceError(f"ssh login to {device} was rejected ({text}); check the user and the identity file")
    return DeviceError(f"cannot reach {device} over ssh: {text}. Check the host, the port and that sshd runs")


def _ssh(
    device: SshDevice, options: SshOptions, remote_command: str, *,
    timeout_s: float, stdin: bytes | None = None, what: str, connected: bool = False,
) -> subprocess.CompletedProcess:
    """Run `remote_command`; with `connected` set (an earlier call reached the host), exit 255 means a lost session."""
    command = _base_command(device, options) + [remote_command]
    log.debug("ssh %s: %s", device, remote_command)
    try:
        result = subprocess.run(command, input=stdin, capture_output=True, timeout=timeout_s, check=False)
    except FileNotFoundError as err:
        raise DeviceError(
            f"ssh client {options.ssh_binary!r} not found; install OpenSSH (apt-get install openssh-client)"
        ) from err
    except subprocess.TimeoutExpired as err:
        raise DeviceError(f"{what} on {device} timed out after {timeout_s:.0f} s") from err
    if result.returncode == _SSH_FAILED and connected:
        # ssh also exits with 255 when the remote command is killed by a signal.
        tail = result.stderr.decode("utf-8", "replace").strip()[-400:] or "no message"
        raise DeviceError(
            f"{what} on {device} died part-way: the connection was lost or the remote process "
            f"was killed by a signal (ssh exit code 255): {tail}"
        )
    if result.returncode == _SSH_FAILED:
        raise _connection_error(device, result.stderr.decode("utf-8", "replace"), options)
    return result


def run_on_ssh(
    device: SshDevice, artifact_files: list[Path], runner_args: list[str], options: SshOptions,
) -> dict[str, Any]:
    """Copy the artifact files and the runner to a temporary folder, run it, delete the folder.

    `artifact_files[0]` is the file the runner opens; the others (an IR's .bin) travel beside it.
    Returns the runner's JSON object; raises DeviceError when the host, the runtime or the run fails.
    """
    connect_s = options.connect_timeout_s + 20.0
    made = _ssh(device, options, "mktemp -d /tmp/edgeforge-bench.XXXXXX", timeout_s=connect_s,
                what="creating a temporary folder")
    folder = made.stdout.decode().strip()
    if made.returncode != 0 or not folder.startswith("/tmp/edgeforge-bench."):
        raise DeviceError(
            f"cannot create a temporary folder on {device}: "
            f"{made.stderr.decode('utf-8', 'replace').strip() or folder!r}"
        )
    try:
        for local in [RUNNER_PATH, *artifact_files]:
            target = shlex.quote(f"{folder}/{local.name}")
            copied = _ssh(device, options, f"cat > {target}", stdin=local.read_bytes(),
                          timeout_s=connect_s + local.stat().st_size / 1e6, what=f"copying {local.name}",
                          connected=True)
            if copied.returncode != 0:
                raise DeviceError(
                    f"copying {local.name} to {device}:{folder} failed: "
                    f"{copied.stderr.decode('utf-8', 'replace').strip()}"
                )
        remote = [options.remote_python, f"{folder}/{RUNNER_PATH.name}", f"{folder}/{artifact_files[0].name}",
                  *runner_args, "--deadline-s", str(options.run_timeout_s)]
        result = _ssh(device, options, shlex.join(remote), timeout_s=options.run_timeout_s + connect_s,
                      what="the benchmark run", connected=True)
        return _parse_runner_output(device, options, result)
    finally:
        _cleanup(device, options, folder, connect_s)


def _cleanup(device: SshDevice, options: SshOptions, folder: str, timeout_s: float) -> None:
    try:
        removed = _ssh(device, options, f"rm -rf {shlex.quote(folder)}", timeout_s=timeout_s,
                       what="removing the temporary folder")
    except (DeviceError, InputError) as err:
        log.warning("could not remove %s on %s: %s", folder, device, err)
        return
    if removed.returncode != 0:
        log.warning("could not remove %s on %s: %s", folder, device, removed.stderr.decode("utf-8", "replace"))


def _parse_runner_output(
    device: SshDevice, options: SshOptions, result: subprocess.CompletedProcess,
) -> dict[str, Any]:
    stdout = result.stdout.decode("utf-8", "replace").strip()
    stderr = result.stderr.decode("utf-8", "replace").strip()
    report = None
    if stdout:
        try:
            report = json.loads(stdout.splitlines()[-1])
        except json.JSONDecodeError:
            report = None
    if result.returncode == 127:
        raise DeviceError(
            f"remote python {options.remote_python!r} not found on {device}; "
            "pass the path of a Python that has ai-edge-litert or openvino"
        )
    if isinstance(report, dict) and report.get("error") == "runtime_missing":
        raise DeviceError(
            f"the runtime is missing on {device}: {options.remote_python} cannot import {report['message']}. "
            "Install ai-edge-litert (or openvino) there, or pass another remote python"
        )
    if isinstance(report, dict) and report.get("error") == "deadline":
        raise DeviceError(f"the benchmark run on {device} passed its {options.run_timeout_s:.0f} s limit")
    if isinstance(report, dict) and report.get("error") == "run_failed":
        raise DeviceError(f"the model failed to run on {device}: {report['message']}")
    if result.returncode != 0 or not isinstance(report, dict) or "times_ms" not in report:
        tail = (stderr or stdout)[-400:] or "no output"
        raise DeviceError(
            f"the benchmark run on {device} died part-way (exit code {result.returncode}): {tail}"
        )
    return report
