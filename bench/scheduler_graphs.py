"""Graphs and device sets for bench/scheduler.py.

* the models shipped inside the onnx wheel (``onnx/backend/test/data/light``);
* transformer blocks written as ONNX with ``onnx.helper`` (through the same importer);
* transformers exported from PyTorch when torch is installed (skipped otherwise);
* seeded random DAGs (:func:`cyborg.scheduler.synthetic.random_dag`).
"""

import pathlib
import sys
import tempfile
from collections.abc import Callable

import onnx
from onnx import TensorProto, helper

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from cyborg.scheduler import synthetic
from cyborg.scheduler.devices import DeviceSet
from cyborg.scheduler.graph import Graph
from cyborg.scheduler.onnx_import import graph_from_onnx, load_onnx_graph

H100, A100, T4, FPGA = "H100-SXM5-80GB", "A100-SXM4-80GB", "T4", "FPGA-HBM"

# name -> (models, hosts, peer links): 2-8 devices of 2-3 models, 1 or 2 hosts.
DEVICE_SETS: dict[str, tuple[list[str], int, bool]] = {
    "H100+T4": ([H100, T4], 1, False),
    "A100+T4+FPGA": ([A100, T4, FPGA], 1, False),
    "2H100+2T4 link": ([H100, H100, T4, T4], 1, True),
    "2A100+2FPGA 2hosts": ([A100, FPGA, A100, FPGA], 2, False),
    "4H100+4A100 link": ([H100] * 4 + [A100] * 4, 1, True),
    "2H100+2A100+4T4 2hosts link": ([H100, A100, H100, A100, T4, T4, T4, T4], 2, True),
    "8 mixed 2hosts": ([H100, A100, T4, FPGA, H100, A100, T4, FPGA], 2, False),
}
SMALL_SETS = ("H100+T4", "A100+T4+FPGA", "2H100+2T4 link", "2A100+2FPGA 2hosts")


def device_set(name: str) -> DeviceSet:
    models, hosts, links = DEVICE_SETS[name]
    return synthetic.device_set(models, hosts=hosts, peer_links=links)


def light_models() -> dict[str, Callable[[], Graph]]:
    folder = pathlib.Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"
    return {p.stem.removeprefix("light_"): _loader(p) for p in sorted(folder.glob("*.onnx"))}


def _loader(path: pathlib.Path) -> Callable[[], Graph]:
    return lambda: load_onnx_graph(path)


def transformer_onnx(
    layers: int, hidden: int = 1024, heads: int = 16, seq: int = 512, batch: int = 4
) -> onnx.ModelProto:
    """A pre-LN encoder written with onnx.helper; weights as ConstantOfShape (folded
    by the importer into parameters, like the light models)."""
    nodes, inits = [], []
    dh = hidden // heads

    def weight(name: str, *shape: int) -> str:
        inits.append(helper.make_tensor(f"{name}.shape", TensorProto.INT64, [len(shape)], shape))
        value = helper.make_tensor("v", TensorProto.FLOAT, [1], [0.01])
        nodes.append(helper.make_node("ConstantOfShape", [f"{name}.shape"], [name], value=value))
        return name

    def const(name: str, values: list[int]) -> str:
        inits.append(helper.make_tensor(name, TensorProto.INT64, [len(values)], values))
        return name

    def op(kind: str, inputs: list[str], out: str, **attrs: object) -> str:
        nodes.append(helper.make_node(kind, inputs, [out], **attrs))
        return out

    split = const("split_heads", [batch, seq, heads, dh])
    merge = const("merge_heads", [batch, seq, hidden])
    x = "x"
    for i in range(layers):
        p = f"l{i}"
        h = op(
            "LayerNormalization",
            [x, weight(f"{p}.ln1.g", hidden), weight(f"{p}.ln1.b", hidden)],
            f"{p}.h1",
            axis=-1,
        )
        qkv = []
        for name in "qkv":
            t = op("MatMul", [h, weight(f"{p}.w{name}", hidden, hidden)], f"{p}.{name}")
            t = op("Reshape", [t, split], f"{p}.{name}4")
            perm = [0, 2, 3, 1] if name == "k" else [0, 2, 1, 3]
            qkv.append(op("Transpose", [t], f"{p}.{name}t", perm=perm))
        s = op("MatMul", [qkv[0], qkv[1]], f"{p}.scores")
        s = op("Mul", [s, weight(f"{p}.scale", 1)], f"{p}.scaled")
        s = op("Softmax", [s], f"{p}.probs", axis=-1)
        c = op("MatMul", [s, qkv[2]], f"{p}.ctx")
        c = op("Transpose", [c], f"{p}.ctxt", perm=[0, 2, 1, 3])
        c = op("Reshape", [c, merge], f"{p}.ctx3")
        o = op("MatMul", [c, weight(f"{p}.wo", hidden, hidden)], f"{p}.attn")
        x = op("Add", [x, o], f"{p}.res1")
        h = op(
            "LayerNormalization",
            [x, weight(f"{p}.ln2.g", hidden), weight(f"{p}.ln2.b", hidden)],
            f"{p}.h2",
            axis=-1,
        )
        u = op("MatMul", [h, weight(f"{p}.w1", hidden, 4 * hidden)], f"{p}.up")
        u = op("Gelu", [u], f"{p}.gelu")
        d = op("MatMul", [u, weight(f"{p}.w2", 4 * hidden, hidden)], f"{p}.down")
        x = op("Add", [x, d], f"{p}.res2")
    graph = helper.make_graph(
        nodes,
        f"transformer{layers}",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, seq, hidden])],
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, None)],
        initializer=inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])


def transformer_graph(layers: int, **kwargs: int) -> Graph:
    return graph_from_onnx(transformer_onnx(layers, **kwargs), name=f"onnx-transformer-{layers}")


def torch_transformer(layers: int) -> Graph | None:
    """An nn.TransformerEncoder exported by torch.onnx, or None without torch."""
    try:
        import torch
    except ImportError:
        return None
    layer = torch.nn.TransformerEncoderLayer(d_model=512, nhead=8, batch_first=True)
    model = torch.nn.TransformerEncoder(layer, num_layers=layers).eval()
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / f"torch-transformer-{layers}.onnx"
        torch.onnx.export(model, (torch.zeros(4, 256, 512),), str(path), dynamo=False)
        return load_onnx_graph(path)
