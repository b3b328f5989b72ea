"""The baseline a user would write by hand: full-integer TFLite conversion of a Keras model.

usage: python bench/plain_int8.py MODEL.keras DATA.npz OUT.tflite [SAMPLES]
"""

import os
import sys

os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

model_path, data_path, out_path = sys.argv[1:4]
samples = int(sys.argv[4]) if len(sys.argv) > 4 else 300

model = tf.keras.models.load_model(model_path, compile=False)
x = np.load(data_path)["x"][:samples].astype(np.float32)


def representative():
    for index in range(len(x)):
        yield [x[index:index + 1]]


converter = tf.lite.TFLiteConverter.from_keras_model(model)
converter.optimizations = [tf.lite.Optimize.DEFAULT]
converter.representative_dataset = representative
converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
converter.inference_input_type = tf.int8
converter.inference_output_type = tf.int8
with open(out_path, "wb") as handle:
    handle.write(converter.convert())
