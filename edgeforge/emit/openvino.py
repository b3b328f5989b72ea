"""Convert a tf_keras model to OpenVINO IR (.xml + .bin), int8 through NNCF."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from edgeforge.data.dataset import Dataset
from edgeforge.errors import ConversionError
from edgeforge.models.spec import ModelSignature

log = logging.getLogger(__name__)


def convert_openvino(
    model: Any,
    *,
    precision: str,
    out_xml: str | Path,
    signature: ModelSignature,
    calibration: Dataset | None = None,
    static_batch: bool = False,
    tensor_names: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Convert `model` to IR at `out_xml` (and the .bin beside it).

    `precision`: fp32, fp16 (weights stored as fp16) or int8 (NNCF post-training
    quantization over `calibration`). `model` is a tf_keras model or the path of
    a SavedModel, .tflite or .onnx model. Inputs and outputs are renamed to the
    signature's names so runners can match them by name; `tensor_names` maps a
    signature name to the converter's tensor name where the two differ (TFLite).
    """
    import openvino as ov

    start = time.perf_counter()
    try:
        ov_model = ov.convert_model(str(model) if isinstance(model, Path) else model)
    except Exception as err:  # noqa: BLE001 - the frontend raises many error types
        raise ConversionError(f"OpenVINO conversion failed: {type(err).__name__}: {err}") from err
    _name_ports(ov_model.inputs, [spec.name for spec in signature.inputs], tensor_names or {})
    _name_ports(ov_model.outputs, [spec.name for spec in signature.outputs], tensor_names or {})
    if static_batch:
        ov_model.reshape({port.get_any_name(): [1, *port.get_partial_shape()[1:]] for port in ov_model.inputs})
    if precision == "int8":
        ov_model = _quantize_nncf(ov_model, calibration)
    elif precision not in ("fp32", "fp16"):
        raise ConversionError(f"unknown OpenVINO precision {precision!r}; expected fp32, fp16 or int8")
    out_xml = Path(out_xml)
    files = _save_atomic(ov, ov_model, out_xml, compress_to_fp16=precision == "fp16")
    wall = time.perf_counter() - start
    size = sum(Path(f).stat().st_size for f in files)
    log.info("wrote %s (%d bytes, %s) in %.1f s", out_xml, size, precision, wall)
    return {"path": str(out_xml), "format": "openvino-ir", "precision": precision, "size_bytes": size,
            "files": [str(f) for f in files], "wall_s": round(wall, 3), "io_dtype": "float32"}


def _name_ports(ports: Any, wanted: list[str], tensor_names: dict[str, str]) -> None:
    """Give each IR port its signature name.

    The TF frontend names Keras outputs '<layer>/<op>:0', so a port belongs to
    the name it equals or starts with followed by '/'; `tensor_names` covers
    frontends that keep only the converter's tensor names.
    """
    for port in ports:
        names = port.get_names()
        owners = {
            name for name in wanted for tensor in names
            if tensor == name or tensor.startswith(name + "/") or tensor == tensor_names.get(name)
        }
        if len(owners) != 1:
            raise ConversionError(
                f"cannot match OpenVINO tensor {sorted(names)} to one model tensor of {wanted}; "
                "give each input and output layer a distinct name"
            )
        port.get_tensor().set_names({owners.pop()})


def _quantize_nncf(ov_model: Any, calibration: Dataset | None) -> Any:
    import nncf

    if calibration is None or len(calibration) == 0:
        raise ConversionError("int8 conversion needs calibration samples; pass --data with at least one sample")
    items = [
        {name: array[index:index + 1].astype(np.float32) for name, array in calibration.inputs.items()}
        for index in range(len(calibration))
    ]
    try:
        return nncf.quantize(ov_model, nncf.Dataset(items), subset_size=len(items))
    except Exception as err:  # noqa: BLE001 - NNCF raises many error types
        raise ConversionError(f"NNCF int8 quantization failed: {type(err).__name__}: {err}") from err


def _save_atomic(ov: Any, ov_model: Any, out_xml: Path, *, compress_to_fp16: bool) -> list[Path]:
    """Save to temporary names, then rename the .bin and last the .xml into place.

    OpenVINO reads the weights from the .bin with the .xml's stem, so both are renamed.
    """
    temp_xml = out_xml.with_name(f".{out_xml.stem}.{os.getpid()}.tmp.xml")
    try:
        ov.save_model(ov_model, str(temp_xml), compress_to_fp16=compress_to_fp16)
        out_bin = out_xml.with_suffix(".bin")
        os.replace(temp_xml.with_suffix(".bin"), out_bin)
        os.replace(temp_xml, out_xml)
    except OSError as err:
        raise ConversionError(f"cannot write OpenVINO IR {out_xml}: {err}") from err
    return [out_xml, out_bin]
