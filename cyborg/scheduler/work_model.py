"""A cost model that learns sizes: time against work per (op type, device model).

The roofline with one multiplier per (op type, model) (:mod:`cyborg.scheduler.factors`)
is right at the size it was fitted on and wrong elsewhere: a small kernel is bound by
its launch, a large one by the device's throughput, and one multiplier cannot be both.
Here each (op type, model) has four non-negative coefficients on the features of one
node on one device::

    t = a * launch_s + b * compute_s + c * memory_s + r * max(compute_s, memory_s)

where ``launch_s`` is the device's launch overhead, ``compute_s = flops / peak`` and
``memory_s = bytes / memory bandwidth``. The prior ``(1, 0, 0, 1)`` is the roofline
itself, and an old multiplier ``f`` is ``(f, 0, 0, f)``. The coefficients are
dimensionless (relative to the device's own figures), which is what lets a device model
never measured borrow them from the models nearest to it by peak FLOPs and bandwidth.

The model is linear in its coefficients, so a step time (a sum over the nodes a device
ran) is the same model on the summed features: samples may be per node or per step.
Each sample is kept only as its contribution to the normal equations (a relative error:
rows are divided by the measured time, so a 1 ms step counts as much as a 100 ms one),
which makes a fit after 20 runs the fit over all 20 runs, not a chain of updates. The
fit is a non-negative least squares pulled towards the prior (ridge), so an op type
seen in one step only scales its prior rather than taking any coefficients that happen
to fit. Links: per link kind, ``t = alpha * latency_s + beta * bytes / bandwidth`` over
the link's declared figures, fitted the same way from measured transfers.

JSON (``"version": 2``; :func:`from_dict` also reads the old ``{"factors": [...]}``)::

    {"version": 2,
     "coefficients": [{"op_type": "MatMul", "device_model": "T4",
                       "launch": 1.2, "compute": 0.0, "memory": 0.0, "roofline": 1.6}],
     "devices": [{"device_model": "T4", "peak_tflops": 8.1, "memory_bandwidth_gbps": 320}],
     "links": [{"kind": "pcie", "latency": 1.4, "bandwidth": 0.8}],
     "statistics": [...]}
"""

import dataclasses
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from cyborg.scheduler import factors as factors_mod
from cyborg.scheduler import json_input
from cyborg.scheduler.devices import DeviceSet
from cyborg.scheduler.graph import Graph

FEATURES = ("launch", "compute", "memory", "roofline")
PRIOR = np.array([1.0, 0.0, 0.0, 1.0])
# How far a coefficient may move per unit of evidence, relative to the others: the
# prior's own terms scale freely, the terms the roofline does not have (compute and
# memory apart from their max) only when the samples ask for them.
SCALE = np.array([1.0, 0.25, 0.25, 1.0])
LINK_FEATURES = ("latency", "bandwidth")
LINKS = "links"  # the statistics group of transfers
NEAREST = 2
RIDGE = 0.01
MAX_COEFFICIENT = 50.0

Pair = tuple[str, str]  # (op type, device model)
Vector = Sequence[float] | np.ndarray


@dataclasses.dataclass(frozen=True)
class Profile:
    """A device model's catalog figures: what 'nearest' is measured by."""

    peak_tflops: float  # fp32
    memory_bandwidth_gbps: float

    def distance(self, other: "Profile") -> float:
        return math.hypot(
            math.log(self.peak_tflops / other.peak_tflops),
            math.log(self.memory_bandwidth_gbps / other.memory_bandwidth_gbps),
        )


@dataclasses.dataclass(frozen=True)
class WorkSample:
    """One measured time of one device model: its work summed per op type.

    ``features_by_op[op]`` is the four features (:data:`FEATURES`) of the nodes of that
    op type the device ran, summed; one node's timing is a sample with one op type."""

    device_model: str
    features_by_op: Mapping[str, Sequence[float]]
    measured_s: float


@dataclasses.dataclass(frozen=True)
class TransferSample:
    """One measured transfer: the link's declared latency and seconds per byte."""

    kind: str
    nbytes: float
    latency_s: float  # declared
    per_byte_s: float  # declared
    measured_s: float


@dataclasses.dataclass
class _Statistics:
    """The normal equations of one group's relative-error rows, over named columns."""

    keys: list[str] = dataclasses.field(default_factory=list)
    gram: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0, 0)))
    rhs: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    total: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    count: int = 0

    def add(self, row: Mapping[str, float], measured_s: float) -> None:
        for key in sorted(k for k in row if k not in self.keys):
            self.keys.append(key)
            n = len(self.keys)
            self.gram = np.pad(self.gram, ((0, n - self.gram.shape[0]),) * 2)
            self.rhs = np.pad(self.rhs, (0, n - self.rhs.size))
            self.total = np.pad(self.total, (0, n - self.total.size))
        x = np.array([row.get(k, 0.0) for k in self.keys]) / measured_s
        self.gram += np.outer(x, x)
        self.rhs += x
        self.total += x
        self.count += 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "keys": list(self.keys),
            "gram": self.gram.tolist(),
            "rhs": self.rhs.tolist(),
            "total": self.total.tolist(),
            "count": self.count,
        }

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> "_Statistics":
        n = len(document["keys"])
        gram = np.array(document["gram"], dtype=float).reshape(n, n)
        return cls(
            list(document["keys"]),
            gram,
            np.array(document["rhs"], dtype=float),
            np.array(document["total"], dtype=float),
            int(document["count"]),
        )


def throughput(coefficients: np.ndarray) -> float:
    """How many times the roofline a large kernel takes at most: ``b + c + r`` (at
    scale compute and memory are each at most their max). An old factor ``f``: ``f``."""
    return float(coefficients[1] + coefficients[2] + coefficients[3])


def _geomean(values: Sequence[float]) -> float:
    positive = [v for v in values if v > 0]
    return math.exp(sum(math.log(v) for v in positive) / len(positive)) if positive else 1.0


def nnls_gram(h: np.ndarray, g: np.ndarray, max_iter: int | None = None) -> np.ndarray:
    """argmin_{x >= 0} x'Hx/2 - g'x for positive definite H (Lawson-Hanson active set,
    bounded by iterations: deterministic, no tolerance on time)."""
    n = g.size
    x = np.zeros(n)
    passive = np.zeros(n, dtype=bool)
    tol = 1e-12 * max(1.0, float(np.abs(g).max(initial=0.0)))
    for _ in range(max_iter or 3 * n + 10):
        w = g - h @ x
        free = ~passive & (w > tol)
        if not free.any():
            break
        passive[int(np.argmax(np.where(free, w, -np.inf)))] = True
        for _ in range(n + 1):
            z = np.zeros(n)
            idx = np.flatnonzero(passive)
            z[idx] = np.linalg.solve(h[np.ix_(idx, idx)], g[idx])
            if (z[idx] > 0).all():
                x = z
                break
            bad = idx[z[idx] <= 0]
            alpha = float(np.min(x[bad] / (x[bad] - z[bad])))
            x = x + alpha * (z - x)
            passive &= x > tol
            x[~passive] = 0.0
    return x


def _solve(stats: _Statistics, prior: np.ndarray, scale: np.ndarray, ridge: float) -> np.ndarray:
    """Relative-error NNLS over ``stats``, pulled towards ``prior``.

    Minimises ``sum_s (x_s . k / m_s - 1)^2 + ridge * T * sum_j w_j (k_j - p_j)^2`` with
    ``w_j = mean_s(x_sj / m_s) / s_j`` and ``T = sum_j s_j mean_s(x_sj / m_s)``: a step
    that cannot tell its terms apart moves each by its scale ``s_j`` (the prior's own
    terms by one ratio), as :func:`cyborg.scheduler.factors.fit_step_times` does."""
    mean = stats.total / max(stats.count, 1)
    mean = np.where(mean > 0, mean, 0.0)
    total = float((scale * mean).sum()) or 1.0
    weight = ridge * total * np.maximum(mean, 1e-12 * total) / scale
    h = stats.gram + np.diag(weight)
    g = stats.rhs + weight * prior
    return np.minimum(nnls_gram(h, g), MAX_COEFFICIENT)


class WorkModel(Mapping[Pair, float]):
    """Learned coefficients per (op type, device model), links per kind, and the
    samples they came from (as normal equations).

    As a mapping it is the old factor table: (op type, model) -> the throughput
    multiplier (:func:`throughput`), so code that shows or stores factors keeps
    working; the planner's cost table (:func:`cyborg.scheduler.costs.roofline_table`)
    uses :meth:`node_seconds` instead."""

    def __init__(
        self,
        coefficients: Mapping[Pair, Vector] | None = None,
        profiles: Mapping[str, Profile] | None = None,
        links: Mapping[str, Vector] | None = None,
        statistics: Mapping[str, _Statistics] | None = None,
        ridge: float = RIDGE,
    ) -> None:
        self.coefficients: dict[Pair, np.ndarray] = {
            k: np.asarray(v, dtype=float) for k, v in (coefficients or {}).items()
        }
        self.profiles = dict(profiles or {})
        self.links: dict[str, np.ndarray] = {
            k: np.asarray(v, dtype=float) for k, v in (links or {}).items()
        }
        self.statistics = dict(statistics or {})
        self.ridge = ridge

    @classmethod
    def from_factors(cls, table: factors_mod.Factors) -> "WorkModel":
        """An old multiplier table: ``f * (launch + roofline)``."""
        return cls({pair: f * PRIOR for pair, f in table.items()})

    # -- the Mapping of the old format ------------------------------------------------
    def __getitem__(self, key: Pair) -> float:
        return throughput(self.coefficients[key])

    def __iter__(self) -> Iterator[Pair]:
        return iter(sorted(self.coefficients))

    def __len__(self) -> int:
        return len(self.coefficients)

    # -- estimates --------------------------------------------------------------------
    def coefficients_for(self, op_type: str, model: str, profile: Profile | None) -> np.ndarray:
        """Fitted; else, for a model with other op types fitted, the roofline with
        their launch and throughput multipliers (geometric means: an op type new to a
        model starts from that model's others); else from the nearest fitted models by
        catalog figures; else the roofline."""
        fitted = self.coefficients.get((op_type, model))
        if fitted is not None:
            return fitted
        own = [v for (_, m), v in self.coefficients.items() if m == model]
        if own:
            launch = _geomean([v[0] for v in own])
            return np.array([launch, 0.0, 0.0, _geomean([throughput(v) for v in own])])
        nearest = self.nearest(op_type, profile)
        if not nearest:
            return PRIOR
        weights = np.array([1.0 / (d + 1e-3) for d, _ in nearest])
        values = np.array([self.coefficients[(op_type, m)] for _, m in nearest])
        return (weights[:, None] * values).sum(axis=0) / weights.sum()

    def nearest(self, op_type: str, profile: Profile | None) -> list[tuple[float, str]]:
        """Up to :data:`NEAREST` fitted models with ``op_type``, closest first."""
        if profile is None:
            return []
        known = sorted(
            (profile.distance(self.profiles[m]), m)
            for (op, m) in self.coefficients
            if op == op_type and m in self.profiles
        )
        return known[:NEAREST]

    def node_seconds(
        self,
        op_types: Sequence[str],
        models: Sequence[str],
        profiles: Sequence[Profile],
        compute_s: np.ndarray,
        memory_s: np.ndarray,
        launch_s: np.ndarray,
    ) -> np.ndarray:
        """[node, device] seconds from the per-node features ([node, device] arrays
        and [device] launch overheads)."""
        kinds = sorted(set(op_types))
        by_op = np.array([kinds.index(op) for op in op_types], dtype=int)
        cols = {(m, p) for m, p in zip(models, profiles, strict=True)}
        table = {
            (op, m): self.coefficients_for(op, m, p) for op in kinds for (m, p) in sorted(cols)
        }
        coef = np.array([[table[(op, m)] for m in models] for op in kinds])  # [op, dev, 4]
        k = coef[by_op]  # [node, device, 4]
        features = np.stack(
            [
                np.broadcast_to(launch_s[None, :], compute_s.shape),
                compute_s,
                memory_s,
                np.maximum(compute_s, memory_s),
            ],
            axis=-1,
        )
        return (k * features).sum(axis=-1)

    def link_factors(self, kind: str) -> np.ndarray:
        """(alpha, beta): multipliers of a link kind's declared latency and s/byte."""
        return self.links.get(kind, np.ones(2))

    def scale_links(
        self, kinds: Sequence[Sequence[str]], per_byte: np.ndarray, latency: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """[device, device] seconds per byte and latency with the learned link factors
        (``kinds[a][b]``: the link kind from device a to b)."""
        alpha = np.array([[self.link_factors(k)[0] for k in row] for row in kinds])
        beta = np.array([[self.link_factors(k)[1] for k in row] for row in kinds])
        return per_byte * beta, latency * alpha

    # -- learning ---------------------------------------------------------------------
    def learn(
        self,
        samples: Iterable[WorkSample] = (),
        transfers: Iterable[TransferSample] = (),
        profiles: Mapping[str, Profile] | None = None,
    ) -> "WorkModel":
        """A new model: these samples added to the kept ones, every touched group refit."""
        stats = {k: _Statistics.from_dict(v.to_dict()) for k, v in self.statistics.items()}
        touched: set[str] = set()
        for sample in samples:
            row = {
                f"{op}/{name}": float(value)
                for op, values in sample.features_by_op.items()
                for name, value in zip(FEATURES, values, strict=True)
                if value > 0
            }
            if sample.measured_s > 0 and row:
                stats.setdefault(sample.device_model, _Statistics()).add(row, sample.measured_s)
                touched.add(sample.device_model)
        for transfer in transfers:
            row = {
                f"{transfer.kind}/latency": transfer.latency_s,
                f"{transfer.kind}/bandwidth": transfer.nbytes * transfer.per_byte_s,
            }
            row = {k: v for k, v in row.items() if v > 0}
            if transfer.measured_s > 0 and row:
                stats.setdefault(LINKS, _Statistics()).add(row, transfer.measured_s)
                touched.add(LINKS)
        merged = {**self.profiles, **(profiles or {})}
        work = WorkModel(dict(self.coefficients), merged, dict(self.links), stats, self.ridge)
        for group in sorted(touched):
            if group == LINKS:
                work.links.update(work._fit_links(stats[group]))
            else:
                work.coefficients.update(work._fit_model(group, stats[group]))
        return work

    def _fit_model(self, model: str, stats: _Statistics) -> dict[Pair, np.ndarray]:
        ops = sorted({key.split("/")[0] for key in stats.keys})
        cols = [f"{op}/{name}" for op in ops for name in FEATURES]
        full = _expand(stats, cols)
        prior = np.concatenate([self._prior(op, model) for op in ops])
        x = _solve(full, prior, np.tile(SCALE, len(ops)), self.ridge)
        return {(op, model): x[4 * i : 4 * i + 4] for i, op in enumerate(ops)}

    def _prior(self, op_type: str, model: str) -> np.ndarray:
        """The roofline, or what the nearest other models learned for this op type
        (never this model's own last fit: the kept samples carry what it knew)."""
        others = WorkModel(
            {k: v for k, v in self.coefficients.items() if k[1] != model}, self.profiles
        )
        return others.coefficients_for(op_type, model, self.profiles.get(model))

    def _fit_links(self, stats: _Statistics) -> dict[str, np.ndarray]:
        kinds = sorted({key.split("/")[0] for key in stats.keys})
        cols = [f"{kind}/{name}" for kind in kinds for name in LINK_FEATURES]
        x = _solve(_expand(stats, cols), np.ones(len(cols)), np.ones(len(cols)), self.ridge)
        return {kind: x[2 * i : 2 * i + 2] for i, kind in enumerate(kinds)}


def _expand(stats: _Statistics, cols: Sequence[str]) -> _Statistics:
    """``stats`` over ``cols`` (columns never seen are zero)."""
    idx = [stats.keys.index(c) if c in stats.keys else -1 for c in cols]
    n = len(cols)
    gram, rhs, total = np.zeros((n, n)), np.zeros(n), np.zeros(n)
    for a, i in enumerate(idx):
        if i < 0:
            continue
        rhs[a], total[a] = stats.rhs[i], stats.total[i]
        for b, j in enumerate(idx):
            if j >= 0:
                gram[a, b] = stats.gram[i, j]
    return _Statistics(list(cols), gram, rhs, total, stats.count)


def node_features(
    flops: float, traffic_bytes: float, peak_flops: float, bandwidth: float, launch_s: float
) -> tuple[float, float, float, float]:
    """The four features of one node on one device (zero for a node with no work)."""
    if flops <= 0 and traffic_bytes <= 0:
        return (0.0, 0.0, 0.0, 0.0)
    compute, memory = flops / peak_flops, traffic_bytes / bandwidth
    return (launch_s, compute, memory, max(compute, memory))


def graph_features(graph: Graph, devices: DeviceSet) -> np.ndarray:
    """[node, device, 4] features of every node on every device."""
    result = np.zeros((len(graph.nodes), len(devices.devices), len(FEATURES)))
    for d, device in enumerate(devices.devices):
        bandwidth = device.memory_bandwidth_gbps * 1e9
        launch = device.launch_overhead_us * 1e-6
        for i, node in enumerate(graph.nodes):
            peak = device.peak_flops(node.precision)
            result[i, d] = node_features(node.flops, node.traffic_bytes, peak, bandwidth, launch)
    return result


def work_sample(
    graph: Graph,
    devices: DeviceSet,
    features: np.ndarray,
    d: int,
    nodes: Iterable[int],
    seconds: float,
) -> WorkSample:
    """A measured time of device ``d`` running ``nodes``: their features per op type."""
    by_op: dict[str, np.ndarray] = {}
    for i in nodes:
        op = graph.nodes[i].op_type
        by_op[op] = by_op.get(op, np.zeros(len(FEATURES))) + features[i, d]
    return WorkSample(devices.devices[d].model, {k: v.tolist() for k, v in by_op.items()}, seconds)


def profiles_of(devices: DeviceSet) -> dict[str, Profile]:
    return {d.model: profile_of(d.peak_tflops, d.memory_bandwidth_gbps) for d in devices.devices}


def profile_of(peak_tflops: Mapping[str, float], memory_bandwidth_gbps: float) -> Profile:
    peak = peak_tflops.get("fp32") or max(peak_tflops.values(), default=1.0)
    return Profile(float(peak), float(memory_bandwidth_gbps) or 1.0)


# -- JSON ------------------------------------------------------------------------------
_NUMBER = {"type": "number", "minimum": 0}
SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "required": ["version"],
    "additionalProperties": False,
    "properties": {
        "version": {"const": 2},
        "coefficients": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["op_type", "device_model", *FEATURES],
                "additionalProperties": False,
                "properties": {
                    "op_type": {"type": "string"},
                    "device_model": {"type": "string"},
                    **dict.fromkeys(FEATURES, _NUMBER),
                },
            },
        },
        "devices": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["device_model", "peak_tflops", "memory_bandwidth_gbps"],
                "additionalProperties": False,
                "properties": {
                    "device_model": {"type": "string"},
                    "peak_tflops": json_input.POSITIVE,
                    "memory_bandwidth_gbps": json_input.POSITIVE,
                },
            },
        },
        "links": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["kind", *LINK_FEATURES],
                "additionalProperties": False,
                "properties": {
                    "kind": {"type": "string"},
                    **dict.fromkeys(LINK_FEATURES, _NUMBER),
                },
            },
        },
        "statistics": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["group", "keys", "gram", "rhs", "total", "count"],
                "properties": {
                    "group": {"type": "string"},
                    "keys": {"type": "array", "items": {"type": "string"}},
                    "gram": {"type": "array", "items": {"type": "array"}},
                    "rhs": {"type": "array", "items": {"type": "number"}},
                    "total": {"type": "array", "items": {"type": "number"}},
                    "count": {"type": "integer", "minimum": 0},
                },
            },
        },
    },
}


def from_dict(document: Any, what: str = "factors") -> WorkModel:
    """A version-2 document, or an old ``{"factors": [...]}`` one (multipliers)."""
    if isinstance(document, dict) and "version" not in document:
        return WorkModel.from_factors(factors_mod.factors_from_dict(document, what))
    json_input.validate(document, SCHEMA, what)
    stats = {}
    for entry in document.get("statistics", []):
        n = len(entry["keys"])
        if len(entry["rhs"]) != n or len(entry["total"]) != n or len(entry["gram"]) != n:
            raise json_input.InputFormatError(
                f"{what}: statistics {entry['group']!r} do not match"
            )
        stats[entry["group"]] = _Statistics.from_dict(entry)
    return WorkModel(
        {
            (c["op_type"], c["device_model"]): [c[f] for f in FEATURES]
            for c in document.get("coefficients", [])
        },
        {
            d["device_model"]: Profile(d["peak_tflops"], d["memory_bandwidth_gbps"])
            for d in document.get("devices", [])
        },
        {lk["kind"]: [lk[f] for f in LINK_FEATURES] for lk in document.get("links", [])},
        stats,
    )


def to_dict(model: WorkModel) -> dict[str, Any]:
    return {
        "version": 2,
        "coefficients": [
            {
                "op_type": op,
                "device_model": device_model,
                **{f: round(float(v), 9) for f, v in zip(FEATURES, values, strict=True)},
            }
            for (op, device_model), values in sorted(model.coefficients.items())
        ],
        "devices": [
            {
                "device_model": m,
                "peak_tflops": p.peak_tflops,
                "memory_bandwidth_gbps": p.memory_bandwidth_gbps,
            }
            for m, p in sorted(model.profiles.items())
        ],
        "links": [
            {
                "kind": kind,
                **{f: round(float(v), 9) for f, v in zip(LINK_FEATURES, values, strict=True)},
            }
            for kind, values in sorted(model.links.items())
        ],
        "statistics": [{"group": g, **s.to_dict()} for g, s in sorted(model.statistics.items())],
    }


def load(path: str) -> WorkModel:
    return from_dict(json_input.read_json(path, "factors"), f"factors {path}")
