"""Run .tflite artifacts with the LiteRT interpreter (ai-edge-litert)."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import numpy as np

from edgeforge.errors import InputError
from edgeforge.runtime.base import Runner, dequantize, quantize


class LiteRTRunner(Runner):
    """A .tflite model opened through its serving signature, so tensors are matched by name."""

    runtime = "litert"

    def __init__(self, path: str | Path, *, threads: int):
        from ai_edge_litert.interpreter import Interpreter

        self.version = metadata.version("ai-edge-litert")
        try:
            self._interpreter = Interpreter(model_path=str(path), num_threads=threads)
        except ValueError as err:
            raise InputError(f"LiteRT cannot open {path}: {err}") from err
        signatures = self._interpreter.get_signature_list()
        if len(signatures) != 1:
            raise InputError(f"{path} has {len(signatures)} signatures; edgeforge runs models with exactly one")
        key = next(iter(signatures))
        self._interpreter.allocate_tensors()
        runner = self._interpreter.get_signature_runner(key)
        self._inputs = runner.get_input_details()
        self._outputs = runner.get_output_details()
        # The signature runner keeps views into the interpreter, which would block
        # resize_tensor_input; tensors are set and read by index from here on.
        del runner
        self.input_names = list(self._inputs)
        self.output_names = list(self._outputs)

    def input_shape(self, name: str) -> tuple[int, ...]:
        return tuple(int(d) for d in self._inputs[name]["shape"])

    def output_shape(self, name: str) -> tuple[int, ...]:
        return tuple(int(d) for d in self._outputs[name]["shape"])

    def tensor_names(self) -> dict[str, str]:
        """Map each signature input and output name to the flatbuffer's tensor name."""
        names = {detail["index"]: detail["name"] for detail in self._interpreter.get_tensor_details()}
        return {name: names[detail["index"]] for name, detail in {**self._inputs, **self._outputs}.items()}

    def _set(self, inputs: dict[str, np.ndarray]) -> None:
        for name, detail in self._inputs.items():
            values = inputs[name]
            scale, zero_point = detail["quantization"]
            if np.issubdtype(detail["dtype"], np.integer):
                values = quantize(values, detail["dtype"], scale, zero_point)
            else:
                values = values.astype(detail["dtype"])
            if tuple(self._tensor_shape(detail["index"])) != values.shape:
                self._interpreter.resize_tensor_input(detail["index"], list(values.shape))
                self._interpreter.allocate_tensors()
            self._interpreter.set_tensor(detail["index"], values)

    def _tensor_shape(self, index: int) -> np.ndarray:
        return self._interpreter.get_tensor(index).shape

    def _invoke(self) -> None:
        self._interpreter.invoke()

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self._set(inputs)
        self._interpreter.invoke()
        results = {}
        for name, detail in self._outputs.items():
            values = self._interpreter.get_tensor(detail["index"])
            if np.issubdtype(values.dtype, np.integer):
                values = dequantize(values, *detail["quantization"])
            results[name] = values.astype(np.float32)
        return results
