"""Target registry: hardware profiles read from targets/*.yaml."""

from edgeforge.targets.registry import TargetProfile, list_targets, load_target

__all__ = ["TargetProfile", "list_targets", "load_target"]
