"""Learned corrections of the roofline: one multiplicative factor per (op type, model).

The roofline assumes peak throughput; real kernels reach a fraction of it that depends
on the operator and the device. Two pure update rules turn measurements into factors
(the conductor persists them; ``cyborg-plan`` reads and writes a JSON file):

* :func:`update_from_ops` -- per-operator timings, an exponential moving average of the
  measured/predicted ratio in log space (robust to one odd sample).
* :func:`fit_step_times` -- whole step times per device (the usual measurement): a
  ridge least-squares fit ``measured ~ sum_op factor_op * predicted_op``, pulled
  towards the current factors so that op types seen rarely do not swing (an op type
  new to a model starts from that model's other factors).

JSON::

    {"factors": [{"op_type": "MatMul", "device_model": "T4", "factor": 1.8}]}
"""

import dataclasses
import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from cyborg.scheduler import json_input

Factors = Mapping[tuple[str, str], float]  # (op_type, device_model) -> factor
MIN_FACTOR, MAX_FACTOR = 0.05, 50.0


def factor_for(factors: Factors, op_type: str, device_model: str) -> float:
    return factors.get((op_type, device_model), 1.0)


def _clip(value: float) -> float:
    return min(max(value, MIN_FACTOR), MAX_FACTOR)


@dataclasses.dataclass(frozen=True)
class OpSample:
    """One operator timing: predicted is the uncorrected roofline time."""

    op_type: str
    device_model: str
    predicted_s: float
    measured_s: float


def update_from_ops(factors: Factors, samples: Iterable[OpSample], alpha: float = 0.3) -> dict:
    """New factors after ``samples``: log f <- (1 - alpha) log f + alpha log ratio."""
    result = dict(factors)
    for sample in samples:
        if sample.predicted_s <= 0 or sample.measured_s <= 0:
            continue
        key = (sample.op_type, sample.device_model)
        old = math.log(result.get(key, 1.0))
        ratio = math.log(sample.measured_s / sample.predicted_s)
        result[key] = _clip(math.exp((1 - alpha) * old + alpha * ratio))
    return result


@dataclasses.dataclass(frozen=True)
class StepSample:
    """One measured step of one device: uncorrected roofline seconds per op type."""

    device_model: str
    predicted_by_op: Mapping[str, float]
    measured_s: float


def model_factor(factors: Factors, device_model: str) -> float:
    """The geometric mean of a model's factors (1.0 without any): what an op type never
    measured on that model starts from when it is fitted."""
    logs = [math.log(v) for (_, model), v in factors.items() if model == device_model]
    return math.exp(sum(logs) / len(logs)) if logs else 1.0


def fit_step_times(factors: Factors, samples: Iterable[StepSample], ridge: float = 0.1) -> dict:
    """Least-squares factors per device model, regularised towards ``factors``.

    Per device model, minimises ``sum_s (sum_o f_o p_so - m_s)^2
    + ridge * T * sum_o c_o ((f_o - prior_o) / prior_o)^2``, where ``prior_o`` is the
    current factor (:func:`model_factor` for an op type without one), ``c_o = prior_o *
    mean_s p_so`` is op type ``o``'s corrected seconds and ``T = sum_o c_o``, then clips
    to [0.05, 50]. Op types with no predicted time keep their factor.
    """
    result = dict(factors)
    by_model: dict[str, list[StepSample]] = {}
    for sample in samples:
        by_model.setdefault(sample.device_model, []).append(sample)
    for model, rows in by_model.items():
        ops = sorted({op for row in rows for op, s in row.predicted_by_op.items() if s > 0})
        if not ops:
            continue
        # A model's error is often the device's as a whole (clocks, the roofline's peak):
        # starting a new op type at 1.0 next to known ones at 0.5 left it half-fitted,
        # and the planner then kept it off that model for good.
        default = model_factor(factors, model)
        prior = np.array([result.get((op, model), default) for op in ops])
        p = np.array([[row.predicted_by_op.get(op, 0.0) for op in ops] for row in rows])
        m = np.array([row.measured_s for row in rows])
        for op, value in zip(ops, _fit(p, m, prior, ridge), strict=True):
            result[(op, model)] = _clip(float(value))
    return result


def _fit(p: np.ndarray, m: np.ndarray, prior: np.ndarray, ridge: float) -> np.ndarray:
    """argmin_f |p f - m|^2 + ridge * T * sum_o c_o ((f_o - prior_o) / prior_o)^2."""
    mean_p = p.mean(axis=0)
    # The pull is relative and weighted by each op type's share of the time, so a step
    # that cannot tell its op types apart scales them all by one ratio. A pull in
    # absolute seconds split the error equally in seconds instead: an op type of a few
    # microseconds took a huge factor and plans flipped back and forth.
    weight = ridge * float((prior * mean_p).sum()) * mean_p / prior
    return np.linalg.solve(p.T @ p + np.diag(weight), p.T @ m + weight * prior)


FACTORS_SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "required": ["factors"],
    "additionalProperties": False,
    "properties": {
        "factors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["op_type", "device_model", "factor"],
                "additionalProperties": False,
                "properties": {
                    "op_type": {"type": "string"},
                    "device_model": {"type": "string"},
                    "factor": json_input.POSITIVE,
                },
            },
        }
    },
}


def factors_from_dict(document: Any, what: str = "factors") -> dict[tuple[str, str], float]:
    json_input.validate(document, FACTORS_SCHEMA, what)
    return {(f["op_type"], f["device_model"]): float(f["factor"]) for f in document["factors"]}


def factors_to_dict(factors: Factors) -> dict[str, Any]:
    return {
        "factors": [
            {"op_type": op, "device_model": model, "factor": round(value, 6)}
            for (op, model), value in sorted(factors.items())
        ]
    }


def load_factors(path: str) -> dict[tuple[str, str], float]:
    return factors_from_dict(json_input.read_json(path, "factors"), f"factors {path}")
