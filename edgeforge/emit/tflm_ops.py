"""TFLite builtin operators that TensorFlow Lite Micro can register, and their resolver method names.

Source: `tensorflow/lite/micro/micro_mutable_op_resolver.h` in github.com/tensorflow/tflite-micro,
where each `Add<Name>()` method of `MicroMutableOpResolver` registers one `BuiltinOperator_<NAME>`.
Most method names are the CamelCase of the builtin name; `_IRREGULAR_NAMES` lists the others.
"""

from __future__ import annotations

TFLM_BUILTINS: frozenset[str] = frozenset(
    {
        "ABS", "ADD", "ADD_N", "ARG_MAX", "ARG_MIN", "ASSIGN_VARIABLE", "AVERAGE_POOL_2D",
        "BATCH_MATMUL", "BATCH_TO_SPACE_ND", "BROADCAST_ARGS", "BROADCAST_TO", "CALL_ONCE", "CAST",
        "CEIL", "CONCATENATION", "CONV_2D", "COS", "CUMSUM", "DEPTH_TO_SPACE", "DEPTHWISE_CONV_2D",
        "DEQUANTIZE", "DIV", "ELU", "EMBEDDING_LOOKUP", "EQUAL", "EXP", "EXPAND_DIMS", "FILL", "FLOOR",
        "FLOOR_DIV", "FLOOR_MOD", "FULLY_CONNECTED", "GATHER", "GATHER_ND", "GREATER", "GREATER_EQUAL",
        "HARD_SWISH", "IF", "L2_NORMALIZATION", "L2_POOL_2D", "LEAKY_RELU", "LESS", "LESS_EQUAL", "LOG",
        "LOG_SOFTMAX", "LOGICAL_AND", "LOGICAL_NOT", "LOGICAL_OR", "LOGISTIC", "MAX_POOL_2D", "MAXIMUM",
        "MEAN", "MINIMUM", "MIRROR_PAD", "MUL", "NEG", "NOT_EQUAL", "PACK", "PAD", "PADV2", "PRELU",
        "QUANTIZE", "READ_VARIABLE", "REDUCE_MAX", "REDUCE_MIN", "RELU", "RELU6", "RESHAPE",
        "RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR", "REVERSE_V2", "ROUND", "RSQRT", "SELECT_V2",
        "SHAPE", "SIN", "SLICE", "SOFTMAX", "SPACE_TO_BATCH_ND", "SPACE_TO_DEPTH", "SPLIT", "SPLIT_V",
        "SQRT", "SQUARE", "SQUARED_DIFFERENCE", "SQUEEZE", "STRIDED_SLICE", "SUB", "SUM", "SVDF", "TANH",
        "TRANSPOSE", "TRANSPOSE_CONV", "UNIDIRECTIONAL_SEQUENCE_LSTM", "UNPACK", "VAR_HANDLE", "WHILE",
        "ZEROS_LIKE",
    }
)

_IRREGULAR_NAMES = {
    "BATCH_MATMUL": "AddBatchMatMul",
    "CUMSUM": "AddCumSum",
    "PADV2": "AddPadV2",
    "UNIDIRECTIONAL_SEQUENCE_LSTM": "AddUnidirectionalSequenceLSTM",
}

# Custom operators that MicroMutableOpResolver registers by name.
_TFLM_CUSTOM = {"TFLite_Detection_PostProcess": "AddDetectionPostprocess", "CIRCULAR_BUFFER": "AddCircularBuffer"}


def resolver_method(builtin_name: str) -> str:
    """Return the `MicroMutableOpResolver` method that registers a builtin, e.g. CONV_2D -> AddConv2D.

    The name is derived even for an operator TFLM lacks; check `TFLM_BUILTINS` for support.
    """
    if builtin_name in _IRREGULAR_NAMES:
        return _IRREGULAR_NAMES[builtin_name]
    words = []
    for word in builtin_name.split("_"):
        # "2D" keeps its capital D (Conv2D, MaxPool2D); other words are capitalized (Nd, V2, Relu6).
        words.append(word if word[:1].isdigit() else word.capitalize())
    return "Add" + "".join(words)


def custom_resolver_method(custom_name: str) -> str | None:
    """Return the resolver method for a custom operator TFLM ships, or None when it has none."""
    return _TFLM_CUSTOM.get(custom_name)
