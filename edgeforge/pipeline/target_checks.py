"""Checks of a staged artifact against its target: compatibility, target latency and energy."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from edgeforge.errors import InputError, ProfileError
from edgeforge.targets import TargetProfile

log = logging.getLogger(__name__)


def check_compatibility(profile: TargetProfile, artifact_path: Path) -> dict[str, Any]:
    """Run the target's compatibility rules on the artifact and log each finding."""
    from edgeforge.compat import check_artifact

    report = check_artifact(artifact_path, profile)
    for finding in report.findings:
        log.warning("compatibility %s", finding)
    for line in report.log_lines():
        log.debug("%s", line)
    return report.as_dict()


def target_latency(
    profile: TargetProfile,
    artifact_path: Path,
    *,
    device: str | None,
    ssh: Any = None,
    adb: Any = None,
) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """Return (latency record, budget figure) for the target itself, not this host.

    With `device`, the artifact runs there. Without one, the host target is
    measured by validation, and other targets get the profile's calibrated
    cost-model estimate; a profile without one gets no figure, with the reason.
    """
    if device is not None:
        from edgeforge.devices import bench_artifact

        record = bench_artifact(artifact_path, device=device, threads=profile.threads, warmup=10, runs=50,
                                ssh=ssh, adb=adb)
        value = record.get("median_ms") if record.get("median_ms") is not None else record.get("mean_ms")
        statistic = "median" if record.get("median_ms") is not None else "mean"
        return record, {"value": value, "basis": f"measured on {device} ({statistic})"}
    if profile.data.get("host", False):
        return None, {}
    if not profile.data.get("cost_model"):
        return None, {"value": None, "basis": (
            f"not checked: no device given and {profile.name} has no calibrated cost model; pass --device, "
            f"or fit one with 'edgeforge calibrate --device DEVICE --target {profile.name}'")}
    from edgeforge.estimate import estimate_latency

    try:
        record = estimate_latency(artifact_path, profile=profile)
    except (ProfileError, InputError) as err:
        return None, {"value": None, "basis": f"not checked: the estimate failed: {err}"}
    error = record["estimator"].get("held_out_error") or {}
    return record, {"value": record["median_ms"],
                    "basis": f"estimated by the cost model calibrated on {record['estimator']['calibrated_on']} "
                             f"(held-out error {error})"}


def energy_estimate(profile: TargetProfile, artifact_path: Path, latency_ms: float | None) -> dict[str, Any] | None:
    """Return the profile-based energy estimate per inference, or None when the profile has no energy figures."""
    if not profile.data.get("energy") or artifact_path.suffix != ".tflite":
        return None
    from edgeforge.estimate import estimate_energy

    try:
        return estimate_energy(artifact_path, profile, latency_ms=latency_ms)
    except ProfileError as err:
        log.warning("no energy estimate: %s", err)
        return None
