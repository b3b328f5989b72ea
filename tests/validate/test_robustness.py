"""Robustness evaluation on sklearn digits with a real Keras model, its int8 LiteRT artifact and sklearn."""

from __future__ import annotations

import numpy as np
import pytest

from edgeforge.data.dataset import Dataset
from edgeforge.errors import DataError, InputError
from edgeforge.validate.robustness import IMAGE_PERTURBATIONS, evaluate_robustness, is_image_like, perturb


def litert_predict(path):
    """Return a predict callable that runs a .tflite model in LiteRT, quantizing int8 input as needed."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=1)
    input_detail = interpreter.get_input_details()[0]
    output_detail = interpreter.get_output_details()[0]

    def predict(batch):
        x = batch["x"]
        scale, zero_point = input_detail["quantization"]
        if input_detail["dtype"] == np.int8:
            x = np.clip(np.rint(x / scale + zero_point), -128, 127).astype(np.int8)
        interpreter.resize_tensor_input(input_detail["index"], list(x.shape))
        interpreter.allocate_tensors()
        interpreter.set_tensor(input_detail["index"], x)
        interpreter.invoke()
        out = interpreter.get_tensor(output_detail["index"]).astype(np.float32)
        out_scale, out_zero_point = output_detail["quantization"]
        return (out - out_zero_point) * out_scale if output_detail["dtype"] == np.int8 else out

    return predict


@pytest.fixture(scope="module")
def keras_predict(digits_model):
    return lambda batch: digits_model(batch["x"], training=False).numpy()


def test_robustness_on_digits_int8(digits_split, keras_predict, tflite_models):
    dataset = Dataset({"x": digits_split["x_test"]}, digits_split["y_test"])
    result = evaluate_robustness(keras_predict, litert_predict(tflite_models["int8"]), dataset, seed=0)
    rows = {row["name"]: row for row in result["perturbations"]}

    assert result["data_kind"] == "image"
    assert list(rows) == ["clean", *IMAGE_PERTURBATIONS]
    assert result["samples"] == len(digits_split["y_test"])
    assert rows["clean"]["original_top1"] > 0.75  # chance is 0.10
    assert abs(rows["clean"]["gap_points"]) < 3.0
    for name in IMAGE_PERTURBATIONS:
        row = rows[name]
        assert row["gap_points"] == pytest.approx((row["original_top1"] - row["artifact_top1"]) * 100)
        assert row["original_top1"] < rows["clean"]["original_top1"] + 0.02, name
    assert rows["occlusion"]["original_drop_points"] > 2.0
    assert rows["gaussian_noise"]["original_drop_points"] > 0.0
    assert result["max_gap_points"] == max(row["gap_points"] for row in result["perturbations"][1:])


def test_robustness_is_deterministic(digits_split, keras_predict):
    inputs = {"x": digits_split["x_test"][:200]}
    labels = digits_split["y_test"][:200]
    first = evaluate_robustness(keras_predict, keras_predict, inputs, labels, seed=3)
    second = evaluate_robustness(keras_predict, keras_predict, inputs, labels, seed=3)

    assert first == second
    assert all(row["gap_points"] == 0.0 for row in first["perturbations"])


def test_perturbations_depend_on_seed(digits_split):
    images = digits_split["x_test"][:50]
    same = perturb(images, "gaussian_noise", rng=np.random.default_rng(1))
    again = perturb(images, "gaussian_noise", rng=np.random.default_rng(1))
    other = perturb(images, "gaussian_noise", rng=np.random.default_rng(2))

    assert np.array_equal(same, again)
    assert not np.array_equal(same, other)


def test_image_perturbations_change_data_and_keep_range(digits_split):
    images = digits_split["x_test"][:50]
    original = images.copy()
    for name in IMAGE_PERTURBATIONS:
        result = perturb(images, name, rng=np.random.default_rng(0))
        assert result.shape == images.shape, name
        assert result.dtype == images.dtype, name
        assert not np.array_equal(result, images), name
        assert result.min() >= images.min() - 1e-6, name
        assert result.max() <= images.max() + 1e-6, name
    assert np.array_equal(images, original)


def test_occlusion_fills_one_square_patch(digits_split):
    images = digits_split["x_test"][:20] + 0.5  # lift the background so the patch is the only minimum
    result = perturb(images, "occlusion", rng=np.random.default_rng(0))
    filled = np.isclose(result, images.min()).reshape(20, -1).sum(axis=1)

    # A 0.35 fraction of 8 pixels rounds to a 3x3 patch.
    assert np.all(filled >= 9)


def test_blur_keeps_mean_and_lowers_variation(digits_split):
    images = digits_split["x_test"][:50]
    blurred = perturb(images, "blur", rng=np.random.default_rng(0))

    assert blurred.mean() == pytest.approx(images.mean(), rel=0.05)
    assert np.abs(np.diff(blurred, axis=2)).mean() < np.abs(np.diff(images, axis=2)).mean()


def test_uint8_images_stay_uint8():
    images = np.random.default_rng(0).integers(0, 256, size=(4, 8, 8, 3), dtype=np.uint8)
    result = perturb(images, "brightness", rng=np.random.default_rng(0))

    assert result.dtype == np.uint8
    assert result.astype(int).mean() > images.astype(int).mean()


def test_non_image_data_uses_noise_and_scaling(digits_split):
    from sklearn.linear_model import LogisticRegression

    features_train = digits_split["x_train"].reshape(len(digits_split["x_train"]), -1)
    features_test = digits_split["x_test"].reshape(len(digits_split["x_test"]), -1)
    full = LogisticRegression(max_iter=300).fit(features_train, digits_split["y_train"])
    small = LogisticRegression(max_iter=300, C=0.01).fit(features_train, digits_split["y_train"])
    result = evaluate_robustness(
        lambda batch: full.decision_function(batch["features"]),
        lambda batch: small.decision_function(batch["features"]),
        {"features": features_test},
        digits_split["y_test"],
        seed=0,
    )

    assert not is_image_like(features_test)
    assert result["data_kind"] == "non-image"
    assert [row["name"] for row in result["perturbations"]] == ["clean", "noise", "scaling"]
    assert result["perturbations"][0]["original_top1"] > 0.85


def test_robustness_rejects_bad_arguments(digits_split, keras_predict):
    inputs = {"x": digits_split["x_test"][:10]}
    with pytest.raises(InputError, match=r"unknown perturbation 'blurr'.*did you mean 'blur'\?"):
        evaluate_robustness(keras_predict, keras_predict, inputs, digits_split["y_test"][:10], seed=0, perturbations=["blurr"])
    with pytest.raises(DataError, match=r"input 'x' has 10 samples but there are 9 labels"):
        evaluate_robustness(keras_predict, keras_predict, inputs, digits_split["y_test"][:9], seed=0)
    with pytest.raises(DataError, match=r"predict_artifact returned an array of shape \(10,\)"):
        evaluate_robustness(keras_predict, lambda batch: np.zeros(10), inputs, digits_split["y_test"][:10], seed=0)
    with pytest.raises(InputError, match=r"perturbation 'blur' needs image-like inputs"):
        evaluate_robustness(keras_predict, keras_predict, {"x": np.zeros((10, 5), np.float32)}, digits_split["y_test"][:10],
                            seed=0, perturbations=["blur"])
