"""FLOPs of common ONNX operators from their input and output shapes.

One multiply-add counts as two FLOPs. :func:`op_flops` returns ``None`` for an operator
it does not know (or whose shapes are missing): the cost model then charges only the
bytes that operator reads and writes. :data:`VIEW_OPS` produce a view of their input
(no kernel, no new memory).
"""

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

Shape = tuple[int, ...]
Shapes = Sequence[Shape | None]

VIEW_OPS = frozenset(
    {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout", "Shape", "Size"}
)
# Operators that only move data: zero FLOPs, their bytes still cost time.
MOVE_OPS = frozenset(
    {
        "Transpose", "Concat", "Split", "Slice", "Gather", "GatherElements", "GatherND",
        "Pad", "Expand", "Tile", "Cast", "CastLike", "ScatterND", "ScatterElements",
        "DepthToSpace", "SpaceToDepth", "ConstantOfShape", "Range", "NonZero", "OneHot",
        "Resize", "Upsample", "Trilu",
    }
)  # fmt: skip
# FLOPs per output element of elementwise operators.
ELEMENTWISE = {
    **dict.fromkeys(
        ("Add", "Sub", "Mul", "Div", "Neg", "Abs", "Relu", "Max", "Min", "Sign", "Floor",
         "Ceil", "Round", "Reciprocal", "Equal", "Less", "Greater", "LessOrEqual",
         "GreaterOrEqual", "And", "Or", "Not", "Xor", "Where", "Mod", "PRelu",
         "LeakyRelu", "ThresholdedRelu", "Clip", "BitShift", "IsNaN", "IsInf"),
        1,
    ),
    **dict.fromkeys(("Sqrt", "Pow", "Exp", "Log", "HardSigmoid", "HardSwish", "Elu",
                     "Selu", "Celu", "Softsign"), 2),
    **dict.fromkeys(("Sigmoid", "Tanh", "Erf", "Softplus", "Sin", "Cos", "Tan", "Asin",
                     "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh"), 4),
    **dict.fromkeys(("Gelu", "Mish", "Swish", "QuickGelu", "FastGelu"), 8),
}  # fmt: skip
REDUCTIONS = frozenset(
    {
        "ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1",
        "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare",
        "GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool", "ArgMax", "ArgMin", "TopK",
        "CumSum",
    }
)  # fmt: skip
# FLOPs per input element of normalisations (mean, variance, scale, shift...).
NORMALIZATIONS = {
    "BatchNormalization": 2,  # inference: folded into one scale and one shift
    "LayerNormalization": 8,
    "SimplifiedLayerNormalization": 6,
    "RMSNormalization": 6,
    "SkipLayerNormalization": 9,
    "InstanceNormalization": 8,
    "GroupNormalization": 8,
    "MeanVarianceNormalization": 8,
    "LpNormalization": 3,
    "Softmax": 5,  # max, subtract, exp, sum, divide
    "LogSoftmax": 6,
    "Hardmax": 2,
}


def numel(shape: Shape | None) -> int:
    return math.prod(shape) if shape is not None else 0


def op_flops(
    op_type: str, inputs: Shapes, outputs: Shapes, attrs: Mapping[str, Any]
) -> float | None:
    """FLOPs of one operator, or ``None`` when unknown (cost by bytes only)."""
    if op_type in VIEW_OPS or op_type in MOVE_OPS:
        return 0.0
    out = outputs[0] if outputs else None
    first = inputs[0] if inputs else None
    if op_type in ELEMENTWISE:
        per = ELEMENTWISE[op_type]
        return float(per * numel(out)) if out is not None else None
    if op_type in ("Sum", "Mean"):
        return float(max(len(inputs) - 1, 1) * numel(out)) if out is not None else None
    if op_type in REDUCTIONS:
        return float(numel(first)) if first is not None else None
    if op_type in NORMALIZATIONS:
        return float(NORMALIZATIONS[op_type] * numel(first)) if first is not None else None
    rule = _RULES.get(op_type)
    if rule is None:
        return None
    try:
        return rule(inputs, outputs, attrs)
    except (TypeError, IndexError, ValueError, ZeroDivisionError):
        return None  # a shape is missing or malformed: fall back to bytes


def _known(shape: Shape | None) -> Shape:
    if shape is None:
        raise ValueError("unknown shape")
    return shape


def _matmul(inputs: Shapes, outputs: Shapes, attrs: Mapping[str, Any]) -> float:
    a, out = _known(inputs[0]), _known(outputs[0])
    return 2.0 * numel(out) * a[-1]


def _gemm(inputs: Shapes, outputs: Shapes, attrs: Mapping[str, Any]) -> float:
    a, out = _known(inputs[0]), _known(outputs[0])
    k = a[0] if attrs.get("transA", 0) else a[-1]
    bias = numel(out) if len(inputs) > 2 and inputs[2] is not None else 0
    return 2.0 * numel(out) * k + 2.0 * bias


def _conv(inputs: Shapes, outputs: Shapes, attrs: Mapping[str, Any]) -> float:
    weight, out = _known(inputs[1]), _known(outputs[0])
    per_output = weight[1] * math.prod(weight[2:])  # (C / group) x kernel
    bias = numel(out) if len(inputs) > 2 and inputs[2] is not None else 0
    return 2.0 * numel(out) * per_output + bias


def _conv_transpose(inputs: Shapes, outputs: Shapes, attrs: Mapping[str, Any]) -> float:
    x, weight = _known(inputs[0]), _known(inputs[1])
    return 2.0 * numel(x) * weight[1] * math.prod(weight[2:])


def _pool(inputs: Shapes, outputs: Shapes, attrs: Mapping[str, Any]) -> float:
    out = _known(outputs[0])
    return float(numel(out) * math.prod(attrs.get("kernel_shape", (1,))))


def _lrn(inputs: Shapes, outputs: Shapes, attrs: Mapping[str, Any]) -> float:
    return float(numel(_known(outputs[0])) * (int(attrs.get("size", 5)) + 3))


def _attention(inputs: Shapes, outputs: Shapes, attrs: Mapping[str, Any]) -> float:
    """ONNX ``Attention`` (opset 23): Q (B,H,S,D) or (B,S,H*D), K/V likewise."""
    q, k = _known(inputs[0]), _known(inputs[1])
    queries = numel(q)  # B*H*S*D
    keys = k[-2]  # L
    heads = 1 if len(q) == 4 else int(attrs.get("q_num_heads", 1))
    scores = queries // q[-1] * heads * keys  # B*H*S*L
    return 4.0 * queries * keys + 5.0 * scores  # QK^T, softmax, AV


def _einsum(inputs: Shapes, outputs: Shapes, attrs: Mapping[str, Any]) -> float:
    """2 x the product of every index's size (a contraction with one multiply-add each)."""
    equation = str(attrs["equation"]).replace(" ", "")
    operands = equation.split("->")[0].split(",")
    sizes: dict[str, int] = {}
    for letters, shape in zip(operands, inputs, strict=True):
        if "..." in letters:
            return float(2 * max(numel(s) for s in inputs))
        for letter, size in zip(letters, _known(shape), strict=True):
            sizes[letter] = max(sizes.get(letter, 1), size)
    return 2.0 * math.prod(sizes.values())


def _lstm_like(gates: int) -> Callable[[Shapes, Shapes, Mapping[str, Any]], float]:
    def rule(inputs: Shapes, outputs: Shapes, attrs: Mapping[str, Any]) -> float:
        x, w, r = _known(inputs[0]), _known(inputs[1]), _known(inputs[2])
        seq, batch = x[0], x[1]
        directions, hidden = w[0], r[-1]
        per_step = 2 * batch * gates * hidden * (x[2] + hidden) + 8 * batch * gates * hidden
        return float(directions * seq * per_step)

    return rule


_RULES: dict[str, Callable[[Shapes, Shapes, Mapping[str, Any]], float]] = {
    "MatMul": _matmul,
    "MatMulInteger": _matmul,
    "QLinearMatMul": lambda i, o, a: _matmul([i[0], i[3]], o, a),
    "FusedMatMul": _matmul,
    "Gemm": _gemm,
    "Conv": _conv,
    "ConvInteger": _conv,
    "QLinearConv": lambda i, o, a: _conv([i[0], i[3], *i[8:9]], o, a),
    "ConvTranspose": _conv_transpose,
    "MaxPool": _pool,
    "AveragePool": _pool,
    "LpPool": _pool,
    "LRN": _lrn,
    "Attention": _attention,
    "Einsum": _einsum,
    "LSTM": _lstm_like(4),
    "GRU": _lstm_like(3),
    "RNN": _lstm_like(1),
}
