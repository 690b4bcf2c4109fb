"""A seeded ONNX training step (an MLP's forward, backward and updates), for the tests
and the benchmark of co-location groups: the shape of graph whose weights, gradients
and optimizer updates must share a device.

Layer ``i`` (1-based): ``fc{i}`` = MatMul(A{i-1}, W{i}), ``relu{i}`` (not after the
last); ``loss_grad`` = Sub(Y, target) (squared error); backward: ``relu{i}_grad``,
``fc{i}_dw`` = MatMul(Transpose(A{i-1}), dH{i}), ``fc{i}_dx`` = MatMul(dH{i},
Transpose(W{i})); one ``update_W{i}`` per weight (``ai.onnx.preview.training``
Momentum, sharing the learning rate and step count). Weights and momenta are external
data that is never written: the importer needs only their shapes.
"""

import onnx
from onnx import TensorProto, helper

TRAINING_DOMAIN = "ai.onnx.preview.training"


def mlp_training_step(layers: int, width: int = 64, batch: int = 8) -> onnx.ModelProto:
    f = TensorProto.FLOAT
    dims = [width] * (layers + 1)
    inputs = [
        helper.make_tensor_value_info("X", f, [batch, dims[0]]),
        helper.make_tensor_value_info("target", f, [batch, dims[-1]]),
    ]
    inits = [
        helper.make_tensor("R", f, [], [0.1]),
        helper.make_tensor("T", TensorProto.INT64, [], [0]),
    ]
    nodes = []
    act = "X"
    for i in range(1, layers + 1):
        inits += [
            _external(f"W{i}", [dims[i - 1], dims[i]]),
            _external(f"V{i}", [dims[i - 1], dims[i]]),
        ]
        out = "Y" if i == layers else f"H{i}"
        nodes.append(helper.make_node("MatMul", [act, f"W{i}"], [out], name=f"fc{i}"))
        if i < layers:
            nodes.append(helper.make_node("Relu", [out], [f"A{i}"], name=f"relu{i}"))
            act = f"A{i}"
    nodes.append(helper.make_node("Sub", ["Y", "target"], [f"dH{layers}"], name="loss_grad"))
    for i in range(layers, 0, -1):
        before = "X" if i == 1 else f"A{i - 1}"
        nodes += [
            helper.make_node("Transpose", [before], [f"{before}t"], name=f"{before}t"),
            helper.make_node("MatMul", [f"{before}t", f"dH{i}"], [f"G{i}"], name=f"fc{i}_dw"),
        ]
        if i > 1:
            nodes += [
                helper.make_node("Transpose", [f"W{i}"], [f"W{i}t"], name=f"W{i}t"),
                helper.make_node("MatMul", [f"dH{i}", f"W{i}t"], [f"dA{i - 1}"], name=f"fc{i}_dx"),
                helper.make_node(
                    "Mul", [f"dA{i - 1}", f"A{i - 1}"], [f"dH{i - 1}"], name=f"relu{i - 1}_grad"
                ),
            ]
    for i in range(1, layers + 1):
        nodes.append(
            helper.make_node(
                "Momentum",
                ["R", "T", f"W{i}", f"G{i}", f"V{i}"],
                [f"W{i}_new", f"V{i}_new"],
                name=f"update_W{i}",
                domain=TRAINING_DOMAIN,
                alpha=0.9,
                beta=1.0,
                mode="standard",
                norm_coefficient=0.0,
            )
        )
    outputs = [helper.make_tensor_value_info("Y", f, None)] + [
        helper.make_tensor_value_info(f"W{i}_new", f, None) for i in range(1, layers + 1)
    ]
    graph = helper.make_graph(nodes, f"mlp-train-{layers}", inputs, outputs, inits)
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid(TRAINING_DOMAIN, 1)]
    return helper.make_model(graph, opset_imports=opsets)


def _external(name: str, dims: list[int]) -> onnx.TensorProto:
    """A float initializer whose values live in a file that does not exist."""
    tensor = onnx.TensorProto(name=name, data_type=TensorProto.FLOAT, dims=dims)
    tensor.data_location = TensorProto.EXTERNAL
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", f"{name}.bin"
    return tensor
