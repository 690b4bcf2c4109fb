"""An ONNX model as a :class:`~cyborg.scheduler.graph.Graph`.

1. ONNX shape inference (with data propagation) gives every tensor a shape and type.
2. Constant folding, where cheap: a node whose inputs are all constants (initializers,
   ``Constant`` outputs, earlier folded outputs) is computed once at load time, so it
   leaves the graph and its outputs become parameters of the nodes that read them.
   Only shapes are needed, never values.
3. Each remaining node gets FLOPs from :mod:`cyborg.scheduler.op_costs`, bytes read and
   written from its tensors, parameter memory (its constant inputs) and activation
   memory (its outputs; none for views such as ``Reshape``). Each tensor from one node
   to another becomes an edge carrying the tensor's bytes (tensors between the same two
   nodes add up). Graph inputs are read from the host and are not nodes.
4. Training graphs: co-location groups tie each parameter to its update. An optimizer
   node (``ai.onnx.preview.training`` Adam, Adagrad, Momentum; onnxruntime's
   SGDOptimizer, AdamOptimizer, AdamWOptimizer, LambOptimizer) joins every node that
   reads the same parameter or optimizer state and the node that computes the gradient
   it takes (not a ``Gradient`` node, which computes every gradient at once); scalars
   (learning rate, step count) tie nothing. A node writing ``W_grad`` (onnxruntime's
   name for the gradient of initializer ``W``) joins the nodes that read ``W``.
"""

import pathlib
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import onnx
from onnx import helper, shape_inference

from cyborg.scheduler import op_costs
from cyborg.scheduler.graph import OPTIMIZERS, Edge, Graph, Node
from cyborg.scheduler.json_input import InputFormatError

_PRECISION: dict[int, str] = {
    onnx.TensorProto.FLOAT: "fp32",
    onnx.TensorProto.DOUBLE: "fp32",
    onnx.TensorProto.FLOAT16: "fp16",
    onnx.TensorProto.BFLOAT16: "bf16",
    onnx.TensorProto.INT8: "int8",
    onnx.TensorProto.UINT8: "int8",
    onnx.TensorProto.FLOAT8E4M3FN: "fp8",
    onnx.TensorProto.FLOAT8E5M2: "fp8",
}


class _Tensors:
    """Shape and element size of every named tensor the model declares or infers."""

    def __init__(self, graph: onnx.GraphProto) -> None:
        self.shape: dict[str, tuple[int, ...] | None] = {}
        self.dtype: dict[str, int] = {}
        for info in [*graph.input, *graph.value_info, *graph.output]:
            tensor_type = info.type.tensor_type
            self.dtype[info.name] = tensor_type.elem_type
            self.shape[info.name] = _shape(tensor_type)
        for init in graph.initializer:
            self.shape[init.name] = tuple(init.dims)
            self.dtype[init.name] = init.data_type

    def nbytes(self, name: str) -> float:
        shape = self.shape.get(name)
        if not name or shape is None:
            return 0.0
        return float(op_costs.numel(shape) * _itemsize(self.dtype.get(name, 0)))


def _shape(tensor_type: onnx.TypeProto.Tensor) -> tuple[int, ...] | None:
    """The static shape, or ``None`` when the rank or a dimension is unknown."""
    if not tensor_type.HasField("shape"):
        return None
    dims = tensor_type.shape.dim
    if not all(d.HasField("dim_value") for d in dims):
        return None
    return tuple(d.dim_value for d in dims)


def _itemsize(elem_type: int) -> int:
    try:
        return max(int(helper.tensor_dtype_to_np_dtype(elem_type).itemsize), 1)
    except (KeyError, TypeError, ValueError):
        return 4


def load_model(path: str | pathlib.Path) -> onnx.ModelProto:
    try:
        return onnx.load(str(path), load_external_data=False)
    except OSError as err:
        raise InputFormatError(f"ONNX model {path}: {err.strerror or err}") from err
    except Exception as err:  # protobuf raises DecodeError and friends on garbage
        raise InputFormatError(f"ONNX model {path}: not a readable ONNX model ({err})") from err


def graph_from_onnx(model: onnx.ModelProto, name: str | None = None) -> Graph:
    """Shape-infer, fold constants and estimate every node of ``model``."""
    try:
        inferred = shape_inference.infer_shapes(model, data_prop=True)
    except Exception as err:  # onnx raises InferenceError, ValidationError, RuntimeError
        raise InputFormatError(f"ONNX shape inference failed: {err}") from err
    g = inferred.graph
    tensors = _Tensors(g)
    constants = {init.name for init in g.initializer}
    producer: dict[str, str] = {}
    nodes: list[Node] = []
    names = _unique_names(g)
    for onnx_node, node_name in zip(g.node, names, strict=True):
        inputs = [i for i in onnx_node.input if i]
        if onnx_node.op_type == "Constant" or (inputs and all(i in constants for i in inputs)):
            constants.update(o for o in onnx_node.output if o)  # folded at load time
            continue
        nodes.append(_node(onnx_node, node_name, tensors, constants))
        for out in onnx_node.output:
            if out:
                producer[out] = node_name
    edge_bytes: dict[tuple[str, str], float] = defaultdict(float)
    carried: dict[tuple[str, str], list[str]] = defaultdict(list)
    for onnx_node, node_name in zip(g.node, names, strict=True):
        for tensor in dict.fromkeys(i for i in onnx_node.input if i in producer):
            edge_bytes[(producer[tensor], node_name)] += tensors.nbytes(tensor)
            carried[(producer[tensor], node_name)].append(tensor)
    # Named by their tensors, so that one tensor read by several consumers on another
    # device moves there once.
    edges = [
        Edge(src, dst, b, "+".join(sorted(carried[(src, dst)])))
        for (src, dst), b in edge_bytes.items()
    ]
    kept = {n.name for n in nodes}
    groups = _training_groups(g, names, kept, producer, tensors)
    return Graph(nodes, edges, name=name or g.name or "onnx", colocate=groups)


def _training_groups(
    g: onnx.GraphProto,
    names: list[str],
    kept: set[str],
    producer: dict[str, str],
    tensors: _Tensors,
) -> list[list[str]]:
    """Parameter, gradient and update nodes that must share a device (see 4. above)."""
    readers: dict[str, list[str]] = defaultdict(list)
    op_of = {}
    for onnx_node, node_name in zip(g.node, names, strict=True):
        op_of[node_name] = onnx_node.op_type
        if node_name in kept:
            for tensor in dict.fromkeys(i for i in onnx_node.input if i):
                readers[tensor].append(node_name)
    groups: list[list[str]] = []
    for onnx_node, node_name in zip(g.node, names, strict=True):
        if onnx_node.op_type not in OPTIMIZERS or node_name not in kept:
            continue
        group = [node_name]
        for tensor in dict.fromkeys(i for i in onnx_node.input if i):
            shape = tensors.shape.get(tensor)
            if shape is not None and op_costs.numel(shape) <= 1:
                continue  # a learning rate or step count, shared by every update
            if tensor in producer:
                if op_of[producer[tensor]] != "Gradient":
                    group.append(producer[tensor])
            else:
                group.extend(readers[tensor])
        groups.append(group)
    initializers = {init.name for init in g.initializer}
    for tensor, node_name in producer.items():
        weight = tensor[: -len("_grad")] if tensor.endswith("_grad") else ""
        if weight in initializers and readers[weight]:
            groups.append([node_name, *readers[weight]])
    return [group for group in groups if len(set(group)) > 1]


def load_onnx_graph(path: str | pathlib.Path) -> Graph:
    """:func:`graph_from_onnx` of the model in ``path``, named after the file."""
    return graph_from_onnx(load_model(path), name=pathlib.Path(path).stem)


def _unique_names(g: onnx.GraphProto) -> list[str]:
    seen: set[str] = set()
    names = []
    for position, node in enumerate(g.node):
        base = node.name or f"{node.op_type}_{position}"
        name, suffix = base, 1
        while name in seen:
            suffix += 1
            name = f"{base}#{suffix}"
        seen.add(name)
        names.append(name)
    return names


def _node(onnx_node: onnx.NodeProto, name: str, tensors: _Tensors, constants: set[str]) -> Node:
    op = onnx_node.op_type
    attrs: Mapping[str, Any] = {a.name: helper.get_attribute_value(a) for a in onnx_node.attribute}
    in_shapes = [tensors.shape.get(i) if i else None for i in onnx_node.input]
    out_shapes = [tensors.shape.get(o) if o else None for o in onnx_node.output]
    flops = op_costs.op_flops(op, in_shapes, out_shapes, attrs)
    read = sum(tensors.nbytes(i) for i in onnx_node.input)
    written = sum(tensors.nbytes(o) for o in onnx_node.output)
    params = sum(tensors.nbytes(i) for i in dict.fromkeys(onnx_node.input) if i in constants)
    view = op in op_costs.VIEW_OPS
    return Node(
        name=name,
        op_type=op,
        flops=flops or 0.0,
        bytes_read=0.0 if view else read,
        bytes_written=0.0 if view else written,
        param_bytes=params,
        activation_bytes=0.0 if view else written,
        precision=_precision(onnx_node, tensors),
    )


def _precision(onnx_node: onnx.NodeProto, tensors: _Tensors) -> str:
    for tensor in [*onnx_node.input, *onnx_node.output]:
        precision = _PRECISION.get(tensors.dtype.get(tensor, 0))
        if precision is not None:
            return precision
    return "fp32"
