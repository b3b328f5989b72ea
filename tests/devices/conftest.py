"""Fixtures for the device tests: a tiny .tflite model and a real sshd on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

SSHD = Path("/usr/sbin/sshd")
INSTALL_HINT = "run .ci/install-sshd.sh as root to install openssh-server"


@pytest.fixture(scope="session")
def tiny_tflite(tmp_path_factory) -> Path:
    """A float conv + dense model of a few kilobytes."""
    from edgeforge._tf import keras
    from edgeforge.estimate.convert import convert_keras

    k = keras()
    model = k.Sequential([
        k.layers.Input((12, 12, 3)), k.layers.Conv2D(8, 3, activation="relu"),
        k.layers.GlobalAveragePooling2D(), k.layers.Dense(4),
    ])
    return convert_keras(model, tmp_path_factory.mktemp("model") / "tiny.tflite", precision="fp32")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def unused_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listened on a moment ago."""
    return free_port()


@dataclass
class SshServer:
    user: str
    port: int
    known_hosts: Path
    identity_file: Path
    folder: Path

    @property
    def device(self) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}"


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


def _wait_for_port(port: int, process: subprocess.Popen, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sshd exited with code {process.returncode}: {process.stderr.read().decode()}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"sshd did not listen on 127.0.0.1:{port} within {timeout_s} s")


@pytest.fixture(scope="session")
def ssh_server(tmp_path_factory) -> SshServer:
    """A real sshd on 127.0.0.1 with a generated host key that accepts one generated user key."""
    if not SSHD.exists() or shutil.which("ssh-keygen") is None:
        pytest.skip(f"{SSHD} or ssh-keygen not found; {INSTALL_HINT}")
    if os.geteuid() != 0:
        pytest.skip("sshd needs root to switch to the login user; run the tests as root")
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)

    folder = tmp_path_factory.mktemp("sshd")
    folder.chmod(0o755)
    host_key, user_key = folder / "host_key", folder / "user_key"
    _keygen(host_key)
    _keygen(user_key)
    authorized = folder / "authorized_keys"
    authorized.write_text((folder / "user_key.pub").read_text())
    authorized.chmod(0o600)

    port = free_port()
    config = folder / "sshd_config"
    config.write_text("\n".join([
        f"Port {port}", "ListenAddress 127.0.0.1", f"HostKey {host_key}", f"AuthorizedKeysFile {authorized}",
        f"PidFile {folder / 'sshd.pid'}", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
        "PubkeyAuthentication yes", "PermitRootLogin prohibit-password", "UsePAM no", "StrictModes no",
        "", ]))

    process = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(config)], stderr=subprocess.PIPE)
    try:
        _wait_for_port(port, process)
        host_public = (folder / "host_key.pub").read_text().split()
        known_hosts = folder / "known_hosts"
        known_hosts.write_text(f"[127.0.0.1]:{port} {host_public[0]} {host_public[1]}\n")
        import getpass
        yield SshServer(getpass.getuser(), port, known_hosts, user_key, folder)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="session")
def remote_python() -> str:
    """The Python the sshd login runs the runner with; it must have ai-edge-litert."""
    return sys.executable
