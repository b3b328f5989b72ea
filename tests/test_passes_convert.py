"""A model after channel pruning and QAT still converts to a full-integer TFLite file that LiteRT runs."""

from __future__ import annotations

import numpy as np

from edgeforge._tf import import_tf
from edgeforge.passes.common import top1_accuracy
from edgeforge.passes.prune_channels import PruneChannelsConfig, prune_channels
from edgeforge.passes.qat import QatConfig, qat
from passes_models import context, digits, trained_cnn


def _convert_int8(model, samples: np.ndarray) -> bytes:
    tf = import_tf()
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([sample[None]] for sample in samples)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return converter.convert()


def _litert_top1(flatbuffer: bytes, images: np.ndarray, labels: np.ndarray) -> float:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=flatbuffer)
    interpreter.allocate_tensors()
    source = interpreter.get_input_details()[0]
    target = interpreter.get_output_details()[0]
    assert source["dtype"] == np.int8
    scale, zero_point = source["quantization"]
    correct = 0
    for image, label in zip(images, labels):
        quantized = np.clip(np.round(image / scale + zero_point), -128, 127).astype(np.int8)
        interpreter.set_tensor(source["index"], quantized[None])
        interpreter.invoke()
        correct += int(np.argmax(interpreter.get_tensor(target["index"])[0]) == label)
    return correct / len(labels) * 100.0


def test_pruned_qat_model_converts_int8():
    train, held_out = digits()
    pruned = prune_channels(trained_cnn(), PruneChannelsConfig(ratio=0.5, epochs=2, learning_rate=0.005), context()).model
    quantized = qat(pruned, QatConfig(epochs=1), context()).model
    keras_top1 = top1_accuracy(quantized, held_out)
    flatbuffer = _convert_int8(quantized, train.inputs["x"][:100])
    litert_top1 = _litert_top1(flatbuffer, held_out.inputs["x"], held_out.labels)
    assert len(flatbuffer) < 12_000
    assert abs(litert_top1 - keras_top1) < 3.0
