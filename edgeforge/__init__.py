"""edgeforge: compile trained Keras models for edge targets and validate them on real data."""

from edgeforge.errors import EdgeforgeError

__all__ = ["EdgeforgeError", "compile_model"]


def __getattr__(name: str):
    # Imported on first use so `import edgeforge` stays cheap and TensorFlow-free.
    if name == "compile_model":
        from edgeforge.pipeline.build import compile_model

        return compile_model
    raise AttributeError(f"module 'edgeforge' has no attribute {name!r}")
