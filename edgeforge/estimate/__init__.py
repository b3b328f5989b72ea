"""Latency and energy estimates for targets without a reachable device, and the cost-model calibration."""

from edgeforge.estimate.calibration import CalibrationResult, calibrate, write_calibrated_profile
from edgeforge.estimate.cost_model import CostModel, error_summary, feature_vector, fit_cost_model
from edgeforge.estimate.energy import estimate_energy
from edgeforge.estimate.features import OpCost, op_costs
from edgeforge.estimate.latency import PUBLISHED_MODELS, compare_published, estimate_latency

__all__ = [
    "CalibrationResult", "CostModel", "OpCost", "PUBLISHED_MODELS", "calibrate", "compare_published",
    "error_summary", "estimate_energy", "estimate_latency", "feature_vector", "fit_cost_model", "op_costs",
    "write_calibrated_profile",
]
