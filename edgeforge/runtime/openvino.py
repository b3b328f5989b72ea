"""Run OpenVINO IR artifacts with the OpenVINO runtime on the host CPU."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgeforge.errors import InputError
from edgeforge.runtime.base import Runner


class OpenVINORunner(Runner):
    """An IR compiled for the CPU plugin.

    `precision_hint` sets INFERENCE_PRECISION_HINT: 'f32' for accuracy
    comparisons, because on CPUs with bf16 support the default runs in bf16 and
    differs from float by about 1e-2; 'default' leaves the plugin's choice.
    """

    runtime = "openvino"

    def __init__(self, path: str | Path, *, threads: int, precision_hint: str = "f32"):
        import openvino as ov

        self.version = ov.get_version()
        core = ov.Core()
        try:
            model = core.read_model(str(path))
        except RuntimeError as err:
            raise InputError(f"OpenVINO cannot read {path}: {err}") from err
        config = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"}
        if precision_hint != "default":
            config["INFERENCE_PRECISION_HINT"] = precision_hint
        self.precision_hint = precision_hint
        self._compiled = core.compile_model(model, "CPU", config)
        self._request = self._compiled.create_infer_request()
        self.input_names = [port.get_any_name() for port in self._compiled.inputs]
        self._output_ports = {}
        for port in self._compiled.outputs:
            self._output_ports[port.get_any_name()] = port
        self.output_names = list(self._output_ports)

    def _set(self, inputs: dict[str, np.ndarray]) -> None:
        for name in self.input_names:
            self._request.set_tensor(name, _tensor(inputs[name]))

    def _invoke(self) -> None:
        self._request.infer()

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self._set(inputs)
        self._request.infer()
        return {name: np.array(self._request.get_tensor(port).data, dtype=np.float32)
                for name, port in self._output_ports.items()}


def _tensor(values: np.ndarray):
    import openvino as ov

    return ov.Tensor(np.ascontiguousarray(values, dtype=np.float32))
