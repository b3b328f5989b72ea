"""Exception tree of edgeforge and the exit code the CLI maps each class to.

Every error raised on purpose derives from `EdgeforgeError`. The CLI turns the
class into a process exit code, so scripts and CI can tell a missed budget from
bad input without parsing text. The codes are documented in the README and in
`edgeforge --help`.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_INPUT = 3
EXIT_UNSUPPORTED = 4
EXIT_BUDGET = 5
EXIT_OUTPUT = 6
EXIT_DEVICE = 7

EXIT_CODES = {
    EXIT_OK: "success: artifact built and every budget met",
    EXIT_INTERNAL: "internal error: a bug in edgeforge or a library it calls",
    EXIT_USAGE: "usage error: unknown option, command or target name",
    EXIT_INPUT: "bad input: model, data, recipe or target profile file missing or invalid",
    EXIT_UNSUPPORTED: "unsupported: the model cannot be compiled for this target (conversion failed)",
    EXIT_BUDGET: "budget missed: the artifact was built and reported but missed a budget",
    EXIT_OUTPUT: "output error: the output folder cannot be written",
    EXIT_DEVICE: "device error: a benchmark device is unreachable or its run failed",
}


class EdgeforgeError(Exception):
    """Base class of every error edgeforge raises on purpose."""

    exit_code = EXIT_INTERNAL


class UsageError(EdgeforgeError):
    """The request names something that does not exist, such as an unknown target."""

    exit_code = EXIT_USAGE


class InputError(EdgeforgeError):
    """A file the user gave (model, data, recipe, profile) is missing or invalid."""

    exit_code = EXIT_INPUT


class ModelLoadError(InputError):
    """The model file is missing, corrupt or in a format edgeforge does not read."""


class DataError(InputError):
    """Data does not fit the model: names, shapes, dtypes, or non-finite values."""


class ProfileError(InputError):
    """A target profile or recipe file does not match its schema."""


class UnsupportedError(EdgeforgeError):
    """The model is valid but cannot be compiled for the target."""

    exit_code = EXIT_UNSUPPORTED


class ConversionError(UnsupportedError):
    """A converter (TFLite, OpenVINO, NNCF) failed or crashed its process."""


class BudgetError(EdgeforgeError):
    """The artifact was built but missed at least one budget."""

    exit_code = EXIT_BUDGET


class OutputError(EdgeforgeError):
    """The output folder or an artifact file cannot be written."""

    exit_code = EXIT_OUTPUT


class DeviceError(EdgeforgeError):
    """A benchmark device is unreachable, lacks a runtime, or its run failed."""

    exit_code = EXIT_DEVICE


def error_class(name: str) -> type[EdgeforgeError]:
    """Return the error class called `name`, for errors sent back by a child process."""
    for cls in _all_subclasses(EdgeforgeError):
        if cls.__name__ == name:
            return cls
    return EdgeforgeError


def _all_subclasses(cls: type) -> list[type]:
    found = [cls]
    for sub in cls.__subclasses__():
        found.extend(_all_subclasses(sub))
    return found
