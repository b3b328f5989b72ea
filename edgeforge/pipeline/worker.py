"""The build child process: every TensorFlow step of a compile runs here.

Run as `python -m edgeforge.pipeline.worker REQUEST.json`. It loads the model
and data, checks the data against the model before any other work, runs the
recipe's passes, converts, and writes what validation needs into the work
folder. A converter that crashes takes only this process down; the parent
reads the last stage from `stage.txt` and reports that step as failed.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

from edgeforge.data.dataset import Dataset
from edgeforge.data.loading import load_data, split_dataset
from edgeforge.data.matching import match_inputs
from edgeforge.errors import DataError, EdgeforgeError, UnsupportedError
from edgeforge.models.spec import ModelSignature

log = logging.getLogger("edgeforge.pipeline.worker")

# A pass that costs more than this many top-1 points on the pass holdout is reverted. The
# holdout comes from the data the input model was trained on, so its accuracy reads high
# and a sound half-width student may score a few points lower there than on held-out data.
MAX_PASS_DROP = 8.0

STAGE_FILE = "stage.txt"
RESPONSE_FILE = "response.json"
EVAL_FILE = "eval.npz"
BASELINE_FILE = "baseline_outputs.npz"


class _Stages:
    def __init__(self, work_dir: Path):
        self.path = work_dir / STAGE_FILE
        self.timings: dict[str, float] = {}
        self._name: str | None = None
        self._start = 0.0

    def begin(self, name: str) -> None:
        self.end()
        self._name, self._start = name, time.perf_counter()
        self.path.write_text(name, encoding="utf-8")
        log.info("stage: %s", name)

    def end(self) -> None:
        if self._name is not None:
            self.timings[self._name] = round(time.perf_counter() - self._start, 3)
            self._name = None


def run(request: dict[str, Any]) -> dict[str, Any]:
    """Carry out one build request; return the response dictionary."""
    work_dir = Path(request["work_dir"])
    stages = _Stages(work_dir)

    raw = None
    if Path(request["data_path"]).suffix == ".npz":
        stages.begin("read data")
        raw = load_data(request["data_path"])

    stages.begin("load model")
    # A Keras 3 rebuild is checked on data only after the data has been matched to the model below.
    source = _open_source(request, None)
    signature = source.signature

    stages.begin("match data to the model")
    training, calibration, evaluation = _load_splits(request, signature, raw)
    _check_labels_fit(signature, training, evaluation)
    if source.info.needs_rebuild and source.rebuild_check is None:
        stages.begin("load model (check the Keras 3 rebuild on the data)")
        source = _open_source(request, training)
    np.savez(work_dir / EVAL_FILE, **_as_npz(evaluation))

    stages.begin("passes")
    model, pass_records, pass_notes = _run_passes(source, request, training)

    artifacts = []
    exports = _SavedModels(work_dir)
    for job in request["conversions"]:
        stages.begin(f"convert {job['role']} ({job['format']} {job['precision']})")
        # The float reference is always the unoptimized original, so every report compares against it.
        converted = source.convertible if job["role"] == "float-reference" else model
        artifacts.append(_convert(converted, job, calibration, source, exports))

    if request.get("predict_baseline", True):
        stages.begin("baseline predictions")
        np.savez(work_dir / BASELINE_FILE, **source.predict(evaluation))
    stages.end()

    return {
        "ok": True,
        "signature": signature.to_dict(),
        "model_info": dict(source.info.to_dict(), notes=source.notes, rebuild_check=source.rebuild_check),
        "parameters": int(source.keras_model.count_params()) if source.trainable else None,
        "samples": {"calibration": len(calibration), "evaluation": len(evaluation)},
        "data_notes": calibration.notes,
        "passes": pass_records,
        "pass_notes": pass_notes,
        "artifacts": artifacts,
        "timings": stages.timings,
    }


def _open_source(request: dict[str, Any], sample_data: Dataset | None):
    from edgeforge.models.sources import open_model

    check_data = None
    if sample_data is not None:
        head = sample_data.head(64).inputs
        check_data = next(iter(head.values())) if len(head) == 1 else head
    return open_model(
        request["model_path"],
        safe_mode=request.get("safe_mode", True),
        custom_objects_module=request.get("custom_objects_module"),
        check_data=check_data,
    )


def _load_splits(request: dict[str, Any], signature: ModelSignature,
                 raw: Dataset | None) -> tuple[Dataset, Dataset, Dataset]:
    """Return (training, calibration, evaluation); calibration is a seeded subset of training."""
    image_size, channels = _image_geometry(signature)
    data = raw if raw is not None else load_data(request["data_path"], image_size=image_size, channels=channels)
    data = match_inputs(data, signature)
    if request.get("eval_path"):
        evaluation = match_inputs(load_data(request["eval_path"], image_size=image_size, channels=channels), signature)
        training = data
    else:
        training, evaluation = split_dataset(data, eval_fraction=request["eval_fraction"], seed=request["seed"])
    order = np.random.default_rng(request["seed"]).permutation(len(training))
    calibration = training.take(np.sort(order[: request["calibration_samples"]]))
    calibration.notes = list(data.notes)
    if len(evaluation) < 100:
        calibration.notes.append(f"evaluation uses only {len(evaluation)} sample(s), so one sample moves top-1 "
                                 f"accuracy by {100 / len(evaluation):.1f} points; pass more data or --eval-data")
    if len(calibration) < 50:
        calibration.notes.append(f"calibration uses only {len(calibration)} sample(s), so int8 ranges may not "
                                 "cover real inputs; 100 or more are usual")
    for note in calibration.notes[len(data.notes):]:
        log.warning("%s", note)
    return training, calibration, evaluation


def _check_labels_fit(signature: ModelSignature, *datasets: Dataset) -> None:
    """Raise DataError when a label is not a class index of the classifier output."""
    from edgeforge.validate.accuracy import primary_output

    primary = primary_output({spec.name: spec.shape for spec in signature.outputs})
    classes = next(spec.shape[-1] for spec in signature.outputs if spec.name == primary)
    if classes in (None, 1):
        return
    for dataset in datasets:
        if dataset.labels is None or len(dataset.labels) == 0:
            continue
        low, high = int(dataset.labels.min()), int(dataset.labels.max())
        if low < 0 or high >= classes:
            raise DataError(
                f"{dataset.source}: labels must be class indices in [0, {classes}) for output {primary!r}, "
                f"found values from {low} to {high}; check that 'y' belongs to this model"
            )


def _image_geometry(signature: ModelSignature) -> tuple[tuple[int, int] | None, int | None]:
    if len(signature.inputs) != 1 or len(signature.inputs[0].shape) != 4:
        return None, None
    _, height, width, channels = signature.inputs[0].shape
    if height is None or width is None:
        return None, None
    return (height, width), channels


def _as_npz(dataset: Dataset) -> dict[str, np.ndarray]:
    arrays = {f"input:{name}": array for name, array in dataset.inputs.items()}
    if dataset.labels is not None:
        arrays["labels"] = dataset.labels
    return arrays


def _run_passes(source, request: dict[str, Any], training: Dataset):
    """Return (model to convert, pass records, notes on passes that were skipped).

    Passes train on the training split less a seeded 10% that they use for
    their own decisions (sensitivity, QAT fallback), so the evaluation split
    that the report's accuracy comes from never steers a pass.
    """
    from edgeforge.passes.base import PassContext
    from edgeforge.recipes import read_recipe
    from edgeforge.targets import TargetProfile

    recipe = read_recipe(Path(request["recipe_path"]))
    if not recipe.steps:
        return source.convertible, [], []
    names = [step.name for step in recipe.steps]
    if not source.trainable:
        reason = f"recipe passes {names} skipped: the model is a {source.info.format} file, so {source.info.reason}"
        if request.get("strict"):
            raise UnsupportedError(reason + "; run without --strict to build with post-training quantization only")
        log.warning("%s", reason)
        return source.convertible, [], [reason]
    target = request["target"]
    fit, holdout = split_dataset(training, eval_fraction=0.1, seed=request["seed"] + 1)
    context = PassContext(
        target=TargetProfile(target["name"], Path(target["path"]), target["data"]),
        train=fit, eval=holdout, seed=request["seed"], strict=request.get("strict", False),
        work_dir=Path(request["work_dir"]), teacher=source.keras_model,
    )
    from edgeforge.recipes import run_passes

    model, records = run_passes(source.keras_model, recipe, context, max_pass_drop=MAX_PASS_DROP)
    return _restore_output_names(model, source.signature), records, []


def _with_batch_one(model: Any, signature: ModelSignature) -> Any:
    """Wrap `model` behind inputs of batch size 1, for targets that need static shapes."""
    from edgeforge._tf import keras

    inputs = [keras().Input(shape=spec.shape[1:], batch_size=1, name=spec.name, dtype=spec.dtype)
              for spec in signature.inputs]
    outputs = model(inputs if len(inputs) > 1 else inputs[0])
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    named = [keras().layers.Activation("linear", name=spec.name)(tensor)
             for spec, tensor in zip(signature.outputs, outputs)]
    return keras().Model(inputs, named, name=f"{model.name}_batch1")


def _restore_output_names(model: Any, signature: ModelSignature) -> Any:
    """Give the passed model's outputs the original names, so the artifact's outputs match by name.

    Passes keep the order of outputs but may rename their layers (QAT adds a
    `quant_` prefix). A linear Activation named after the original output is
    an identity that the converter folds away.
    """
    wanted = [spec.name for spec in signature.outputs]
    if list(model.output_names) == wanted:
        return model
    from edgeforge._tf import keras

    taken = {layer.name for layer in model.layers}
    outputs = []
    for tensor, current, name in zip(model.outputs, model.output_names, wanted):
        if current == name:
            outputs.append(tensor)
            continue
        if name in taken:
            raise UnsupportedError(
                f"the passes renamed output {name!r} to {current!r} and another layer is called {name!r}; "
                "rename that layer in the model"
            )
        outputs.append(keras().layers.Activation("linear", name=name)(tensor))
    return keras().Model(model.inputs, outputs, name=model.name)


class _SavedModels:
    """One SavedModel export per Keras model, shared by all its TFLite conversions.

    `TFLiteConverter.from_keras_model` traces the model again for every
    conversion; converting from one export saved about 0.8 s per build on the
    reference CNN. If the export fails, the converter takes the Keras model.
    """

    def __init__(self, work_dir: Path):
        self.work_dir = work_dir
        self._exports: dict[int, tuple[Any, Any]] = {}
        self._batch_one: dict[int, tuple[Any, Any]] = {}

    def batch_one(self, model: Any, signature: ModelSignature) -> Any:
        if id(model) not in self._batch_one:
            self._batch_one[id(model)] = (model, _with_batch_one(model, signature))
        return self._batch_one[id(model)][1]

    def source_for(self, model: Any) -> Any:
        if isinstance(model, (str, Path)):
            return model
        if id(model) not in self._exports:
            path = self.work_dir / f"savedmodel-{len(self._exports)}"
            try:
                model.save(str(path), save_format="tf", include_optimizer=False)
                exported: Any = path
            except Exception as err:  # noqa: BLE001 - any export failure falls back to the Keras path
                log.info("SavedModel export failed (%s: %s); converting the Keras model directly",
                         type(err).__name__, err)
                exported = model
            self._exports[id(model)] = (model, exported)
        return self._exports[id(model)][1]


def _convert(model: Any, job: dict[str, Any], calibration: Dataset, source, exports: _SavedModels) -> dict[str, Any]:
    signature = source.signature
    if job["format"] == "tflite":
        from edgeforge.emit.tflite import convert_tflite

        if job.get("static_batch") and not isinstance(model, (str, Path)):
            model = exports.batch_one(model, signature)
        result = convert_tflite(
            exports.source_for(model),
            precision=job["precision"],
            out_path=job["path"],
            calibration=calibration,
            io_dtype=job.get("io_dtype", "float32"),
            per_tensor_weights=job.get("per_tensor_weights", False),
            allow_float_fallback=job.get("allow_float_fallback", False),
        )
    elif job["format"] == "openvino-ir":
        from edgeforge.emit.openvino import convert_openvino

        result = convert_openvino(
            model,
            precision=job["precision"],
            out_xml=job["path"],
            signature=signature,
            calibration=calibration,
            static_batch=job.get("static_batch", False),
            tensor_names=source.tensor_names,
        )
    else:
        raise EdgeforgeError(f"unknown artifact format {job['format']!r}")
    result["role"] = job["role"]
    return result


def main(argv: list[str]) -> int:
    # Only edgeforge's own messages carry the prefix the parent shows; TensorFlow's go to debug output.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("worker: %(message)s"))
    package_log = logging.getLogger("edgeforge")
    package_log.addHandler(handler)
    package_log.setLevel(logging.INFO)
    package_log.propagate = False
    request_path = Path(argv[0])
    request = json.loads(request_path.read_text(encoding="utf-8"))
    response_path = Path(request["work_dir"]) / RESPONSE_FILE
    try:
        response = run(request)
    except EdgeforgeError as err:
        response = {"ok": False, "error_type": type(err).__name__, "message": str(err)}
    except Exception as err:  # noqa: BLE001 - reported to the parent as an internal error
        response = {"ok": False, "error_type": "EdgeforgeError",
                    "message": f"internal error in the build process: {type(err).__name__}: {err}",
                    "traceback": traceback.format_exc()}
    response_path.write_text(json.dumps(response), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
