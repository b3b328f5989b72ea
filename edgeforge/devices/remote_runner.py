"""Time one model with LiteRT or OpenVINO and print the raw timings as JSON.

This file is copied to remote machines and run there with their Python, so it
imports only the standard library, numpy and the runtime itself, never
edgeforge. Exit codes: 0 success, 3 runtime not installed, 4 model failed to
load or run, 5 the run passed --deadline-s. The last stdout line is one JSON object either way.

Method (like the runtimes' own benchmark tools): random inputs of the model's
dtypes, `warmup` untimed invocations, then `runs` invocations each timed with
`time.perf_counter`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

EXIT_NO_RUNTIME = 3
EXIT_RUN_FAILED = 4
EXIT_DEADLINE = 5


class DeadlineExceeded(Exception):
    """The timed loop ran past --deadline-s; raised so a stuck remote run ends on its own."""


def _check_deadline(deadline: float | None) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise DeadlineExceeded("the benchmark ran past its deadline")


def cpu_name() -> str:
    """Return the CPU model name from /proc/cpuinfo, or the platform string elsewhere."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as stream:
            for line in stream:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Hardware", "Model"):
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _random_input(np, rng, shape, dtype):
    shape = [1 if int(d) < 0 else int(d) for d in shape]
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return rng.uniform(-1.0, 1.0, shape).astype(dtype)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        low, high = max(int(info.min), -128), min(int(info.max), 127)
        return rng.integers(low, high + 1, shape).astype(dtype)
    if dtype.kind == "b":
        return rng.integers(0, 2, shape).astype(dtype)
    raise ValueError(f"input dtype {dtype} is not supported by the runner")


def time_litert(path: str, threads: int, warmup: int, runs: int, deadline: float | None = None) -> dict:
    """Time `path` with the LiteRT interpreter (XNNPACK is its default CPU delegate)."""
    import numpy as np
    from ai_edge_litert import interpreter as litert

    try:
        from importlib.metadata import version
        runtime_version = version("ai-edge-litert")
    except Exception:  # metadata may be absent in vendored installs
        runtime_version = "unknown"
    interp = litert.Interpreter(model_path=path, num_threads=threads)
    interp.allocate_tensors()
    rng = np.random.default_rng(0)
    for detail in interp.get_input_details():
        interp.set_tensor(detail["index"], _random_input(np, rng, detail["shape"], detail["dtype"]))
    for _ in range(warmup):
        _check_deadline(deadline)
        interp.invoke()
    times = []
    for _ in range(runs):
        _check_deadline(deadline)
        start = time.perf_counter()
        interp.invoke()
        times.append((time.perf_counter() - start) * 1000.0)
    return {"runtime": "litert", "runtime_version": runtime_version, "times_ms": times}


def time_openvino(
    path: str, threads: int, warmup: int, runs: int, device: str, precision: str | None,
    deadline: float | None = None,
) -> dict:
    """Time an OpenVINO IR (.xml) or any model file OpenVINO reads, on `device`."""
    import numpy as np
    import openvino as ov

    core = ov.Core()
    config = {"PERFORMANCE_HINT": "LATENCY"}
    if device == "CPU":
        config["INFERENCE_NUM_THREADS"] = threads
    if precision:
        config["INFERENCE_PRECISION_HINT"] = precision
    compiled = core.compile_model(core.read_model(path), device, config)
    request = compiled.create_infer_request()
    rng = np.random.default_rng(0)
    inputs = {}
    for port in compiled.inputs:
        shape = [d if d > 0 else 1 for d in port.get_partial_shape().get_min_shape()]
        inputs[port.any_name] = _random_input(np, rng, shape, port.get_element_type().to_dtype())
    for _ in range(warmup):
        _check_deadline(deadline)
        request.infer(inputs)
    times = []
    for _ in range(runs):
        _check_deadline(deadline)
        start = time.perf_counter()
        request.infer(inputs)
        times.append((time.perf_counter() - start) * 1000.0)
    return {"runtime": "openvino", "runtime_version": ov.__version__, "times_ms": times}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("artifact")
    parser.add_argument("--runtime", choices=["litert", "openvino"], required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--openvino-device", default="CPU")
    parser.add_argument("--openvino-precision", default=None)
    parser.add_argument("--deadline-s", type=float, default=None,
                        help="stop with exit code 5 once the run has taken this many seconds")
    args = parser.parse_args(argv)

    deadline = None if args.deadline_s is None else time.monotonic() + args.deadline_s
    base = {"cpu": cpu_name(), "machine": platform.machine(), "hostname": platform.node(),
            "python": platform.python_version(), "pid": os.getpid()}

    module = "ai_edge_litert" if args.runtime == "litert" else "openvino"
    try:
        __import__(module)
        __import__("numpy")
    except ImportError as err:
        print(json.dumps({**base, "error": "runtime_missing", "message": f"{module}: {err}",
                          "executable": sys.executable}))
        return EXIT_NO_RUNTIME

    try:
        if args.runtime == "litert":
            result = time_litert(args.artifact, args.threads, args.warmup, args.runs, deadline)
        else:
            result = time_openvino(args.artifact, args.threads, args.warmup, args.runs,
                                   args.openvino_device, args.openvino_precision, deadline)
    except DeadlineExceeded as err:
        print(json.dumps({**base, "error": "deadline", "message": str(err)}))
        return EXIT_DEADLINE
    except Exception as err:  # report any runtime failure as JSON for the caller to raise
        print(json.dumps({**base, "error": "run_failed", "message": f"{type(err).__name__}: {err}"}))
        return EXIT_RUN_FAILED
    print(json.dumps({**base, **result}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
