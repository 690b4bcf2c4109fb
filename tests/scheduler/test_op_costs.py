"""FLOPs of ONNX operators, and ONNX models imported with known totals."""

import onnx
import pytest
from onnx import TensorProto, helper

from cyborg.scheduler import op_costs
from cyborg.scheduler.json_input import InputFormatError
from cyborg.scheduler.onnx_import import graph_from_onnx, load_onnx_graph


@pytest.mark.parametrize(
    ("op", "inputs", "outputs", "attrs", "flops"),
    [
        ("MatMul", [(2, 3), (3, 4)], [(2, 4)], {}, 2 * 2 * 3 * 4),
        ("MatMul", [(8, 2, 3), (3, 5)], [(8, 2, 5)], {}, 2 * 8 * 2 * 3 * 5),
        ("Gemm", [(2, 3), (3, 4)], [(2, 4)], {}, 2 * 2 * 3 * 4),
        ("Gemm", [(3, 2), (3, 4), (4,)], [(2, 4)], {"transA": 1}, 2 * 2 * 3 * 4 + 2 * 8),
        # 1x3x8x8 input, 16 3x3 filters, no padding: 6x6 outputs, 27 MACs each (+ bias).
        ("Conv", [(1, 3, 8, 8), (16, 3, 3, 3)], [(1, 16, 6, 6)], {}, 2 * 576 * 27),
        ("Conv", [(1, 3, 8, 8), (16, 3, 3, 3), (16,)], [(1, 16, 6, 6)], {}, 2 * 576 * 27 + 576),
        # Depthwise: group = 4, weight (4, 1, 3, 3): 9 MACs per output.
        ("Conv", [(1, 4, 5, 5), (4, 1, 3, 3)], [(1, 4, 3, 3)], {"group": 4}, 2 * 36 * 9),
        ("ConvTranspose", [(1, 2, 4, 4), (2, 3, 2, 2)], [(1, 3, 8, 8)], {}, 2 * 32 * 12),
        ("MaxPool", [(1, 2, 4, 4)], [(1, 2, 2, 2)], {"kernel_shape": [2, 2]}, 32),
        ("Relu", [(10, 10)], [(10, 10)], {}, 100),
        ("Add", [(10, 10), (10,)], [(10, 10)], {}, 100),
        ("Sigmoid", [(5,)], [(5,)], {}, 20),
        ("Sum", [(4,), (4,), (4,)], [(4,)], {}, 8),
        ("ReduceMean", [(6, 7)], [(6, 1)], {}, 42),
        ("Softmax", [(2, 10)], [(2, 10)], {}, 100),
        ("LayerNormalization", [(2, 10), (10,), (10,)], [(2, 10)], {}, 160),
        ("Einsum", [(2, 3), (3, 4)], [(2, 4)], {"equation": "ij,jk->ik"}, 48),
        # Attention (opset 23), Q/K/V (1, 2, 4, 8): QK^T and AV 2*2*4*4*8 each + softmax.
        ("Attention", [(1, 2, 4, 8)] * 3, [(1, 2, 4, 8)], {}, 2 * 256 * 2 + 5 * 32),
        ("Reshape", [(2, 3), (2,)], [(3, 2)], {}, 0),
        ("Transpose", [(2, 3)], [(3, 2)], {}, 0),
    ],
)
def test_op_flops(op: str, inputs: list, outputs: list, attrs: dict, flops: float) -> None:
    assert op_costs.op_flops(op, inputs, outputs, attrs) == flops


def test_unknown_ops_and_missing_shapes_cost_bytes_only() -> None:
    assert op_costs.op_flops("MyCustomOp", [(4,)], [(4,)], {}) is None
    assert op_costs.op_flops("MatMul", [None, (3, 4)], [None], {}) is None
    assert op_costs.op_flops("Relu", [None], [None], {}) is None


def _mlp_model() -> onnx.ModelProto:
    """x (4, 8) -> MatMul W (8, 16, ConstantOfShape) -> Add b -> Relu -> Reshape."""
    shape = helper.make_tensor("w_shape", TensorProto.INT64, [2], [8, 16])
    bias = helper.make_tensor("b", TensorProto.FLOAT, [16], [0.0] * 16)
    target = helper.make_tensor("target", TensorProto.INT64, [1], [64])
    nodes = [
        helper.make_node("ConstantOfShape", ["w_shape"], ["w"], name="weights"),
        helper.make_node("MatMul", ["x", "w"], ["h"], name="mm"),
        helper.make_node("Add", ["h", "b"], ["hb"], name="bias"),
        helper.make_node("Relu", ["hb"], ["r"], name="relu"),
        helper.make_node("Reshape", ["r", "target"], ["y"], name="flat"),
    ]
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        initializer=[shape, bias, target],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_onnx_import_folds_constants_and_estimates_each_node() -> None:
    graph = graph_from_onnx(_mlp_model())
    assert [n.name for n in graph.nodes] == ["mm", "bias", "relu", "flat"]  # weights folded
    mm, add, relu, flat = graph.nodes
    assert mm.flops == 2 * 4 * 8 * 16
    assert mm.param_bytes == 8 * 16 * 4  # the folded ConstantOfShape output
    assert mm.bytes_read == (4 * 8 + 8 * 16) * 4 and mm.bytes_written == 4 * 16 * 4
    assert add.flops == 64 and add.param_bytes == 16 * 4
    assert relu.flops == 64 and relu.activation_bytes == 64 * 4
    assert flat.bytes_read == flat.activation_bytes == 0  # a view
    assert [(e.src, e.dst, e.bytes) for e in graph.edges] == [
        ("mm", "bias", 256.0),
        ("bias", "relu", 256.0),
        ("relu", "flat", 256.0),
    ]
    assert all(n.precision == "fp32" for n in graph.nodes)


def test_onnx_light_model_imports(light_model_path: str) -> None:
    graph = load_onnx_graph(light_model_path)
    assert graph.name == "light_squeezenet"
    assert 50 < len(graph.nodes) < 80
    assert not any(n.op_type == "ConstantOfShape" for n in graph.nodes)
    assert 0.5e9 < sum(n.flops for n in graph.nodes) < 1e9  # SqueezeNet 1.0: ~0.7 GFLOPs


def test_garbage_is_not_an_onnx_model(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "model.onnx"
    path.write_bytes(b"\x00\x01 not a protobuf")
    with pytest.raises(InputFormatError, match=r"model\.onnx"):
        load_onnx_graph(path)
