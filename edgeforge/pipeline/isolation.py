"""Run the build worker in a child process and turn its outcome into a result or an error."""

from __future__ import annotations

import collections
import json
import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from edgeforge.errors import ConversionError, EdgeforgeError, error_class
from edgeforge.pipeline.worker import RESPONSE_FILE, STAGE_FILE

log = logging.getLogger(__name__)

_TAIL_LINES = 25


def run_worker(request: dict[str, Any]) -> dict[str, Any]:
    """Run `python -m edgeforge.pipeline.worker` on `request`; return its response or raise.

    An error raised in the child comes back as the same edgeforge error class.
    A child killed by a signal or exiting without a response becomes a
    ConversionError (if it died while converting) naming the stage and the
    last lines it printed.
    """
    work_dir = Path(request["work_dir"])
    request_path = work_dir / "request.json"
    request_path.write_text(json.dumps(request, indent=1), encoding="utf-8")
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"))
    command = [sys.executable, "-m", "edgeforge.pipeline.worker", str(request_path)]
    tail: collections.deque[str] = collections.deque(maxlen=_TAIL_LINES)
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    reader = threading.Thread(target=_relay, args=(process.stderr, tail), daemon=True)
    reader.start()
    try:
        returncode = process.wait()
    except KeyboardInterrupt:
        process.send_signal(signal.SIGINT)
        process.wait()
        raise
    reader.join(timeout=5)

    response_path = work_dir / RESPONSE_FILE
    if response_path.exists():
        response = json.loads(response_path.read_text(encoding="utf-8"))
        if response["ok"]:
            return response
        if "traceback" in response:
            log.debug("worker traceback:\n%s", response["traceback"])
        raise error_class(response["error_type"])(response["message"])

    stage_path = work_dir / STAGE_FILE
    stage = stage_path.read_text(encoding="utf-8") if stage_path.exists() else "start"
    how = f"killed by signal {signal.Signals(-returncode).name}" if returncode < 0 else f"exited with code {returncode}"
    last = "\n  ".join(tail) or "(no output)"
    cls = ConversionError if stage.startswith("convert") else EdgeforgeError
    raise cls(
        f"the build process {how} during stage {stage!r}; the model may use an operation the converter "
        f"cannot handle. Last output:\n  {last}"
    )


def _relay(stream, tail: collections.deque[str]) -> None:
    for line in stream:
        line = line.rstrip()
        if not line:
            continue
        tail.append(line)
        if line.startswith("worker: "):
            log.info("%s", line[len("worker: "):])
        else:
            log.debug("%s", line)
