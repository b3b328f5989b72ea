"""Import TensorFlow with Keras 2 (tf_keras), which tfmot requires.

`TF_USE_LEGACY_KERAS=1` only takes effect if it is set before TensorFlow is
first imported, so every module of edgeforge imports TensorFlow through here.
"""

from __future__ import annotations

import os
import sys

from edgeforge.errors import EdgeforgeError


def import_tf():
    """Return the `tensorflow` module with `tf.keras` bound to tf_keras."""
    if "tensorflow" not in sys.modules:
        os.environ["TF_USE_LEGACY_KERAS"] = "1"
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    if not tf.keras.__name__.startswith("tf_keras"):
        raise EdgeforgeError(
            "TensorFlow was imported before edgeforge with Keras 3 as tf.keras; "
            "set TF_USE_LEGACY_KERAS=1 before importing TensorFlow, or import edgeforge first"
        )
    return tf


def keras():
    """Return the tf_keras module (Keras 2), the engine tfmot and the converter use."""
    return import_tf().keras
