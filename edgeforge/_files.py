"""Atomic file writes: a reader never sees a half-written output file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from edgeforge.errors import OutputError


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write `data` to `path` through a temporary file in the same folder and `os.replace`.

    The temporary file has a unique name, so parallel builds writing into one folder never
    share it. Raises OutputError when the folder cannot be created or written.
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as err:
        raise OutputError(
            f"cannot write {target}: {err.strerror}; check that the folder {target.parent} is writable"
        ) from err
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        # mkstemp creates the file private (0600); outputs are meant to be shared.
        os.chmod(temp_name, 0o644)
        os.replace(temp_name, target)
    except OSError as err:
        Path(temp_name).unlink(missing_ok=True)
        raise OutputError(f"cannot write {target}: {err.strerror}; check free space and permissions") from err
    return target


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write `text` as UTF-8 to `path` atomically, like `write_bytes_atomic`."""
    return write_bytes_atomic(path, text.encode("utf-8"))
