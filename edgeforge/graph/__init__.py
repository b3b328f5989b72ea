"""Read compiled artifacts into operator lists that the estimator and the checks share."""

from edgeforge.graph.tflite import OpInfo, TensorInfo, TFLiteGraph, read_tflite

__all__ = ["OpInfo", "TensorInfo", "TFLiteGraph", "read_tflite"]
