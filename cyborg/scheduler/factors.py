"""Learned corrections of the roofline: one multiplicative factor per (op type, model).

The roofline assumes peak throughput; real kernels reach a fraction of it that depends
on the operator and the device. Two pure update rules turn measurements into factors
(the conductor persists them; ``cyborg-plan`` reads and writes a JSON file):

* :func:`update_from_ops` -- per-operator timings, an exponential moving average of the
  measured/predicted ratio in log space (robust to one odd sample).
* :func:`fit_step_times` -- whole step times per device (the usual measurement): a
  ridge least-squares fit ``measured ~ sum_op factor_op * predicted_op``, pulled
  towards the current factors so that op types seen rarely do not swing.

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


def fit_step_times(factors: Factors, samples: Iterable[StepSample], ridge: float = 0.1) -> dict:
    """Least-squares factors per device model, regularised towards ``factors``.

    Minimises ``sum_s (sum_o f_o p_so - m_s)^2 + ridge * sum_o (f_o - prior_o)^2 * P_o``
    where ``P_o`` is the mean squared prediction of op type ``o`` (so the pull has the
    same units as the data), per device model, then clips to [0.05, 50].
    """
    result = dict(factors)
    by_model: dict[str, list[StepSample]] = {}
    for sample in samples:
        by_model.setdefault(sample.device_model, []).append(sample)
    for model, rows in by_model.items():
        ops = sorted({op for row in rows for op in row.predicted_by_op})
        p = np.array([[row.predicted_by_op.get(op, 0.0) for op in ops] for row in rows])
        m = np.array([row.measured_s for row in rows])
        prior = np.array([result.get((op, model), 1.0) for op in ops])
        scale = ridge * np.maximum((p**2).mean(axis=0), 1e-30)
        lhs = p.T @ p + np.diag(scale)
        rhs = p.T @ m + scale * prior
        solved = np.linalg.solve(lhs, rhs)
        for op, value in zip(ops, solved, strict=True):
            result[(op, model)] = _clip(float(value))
    return result


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
