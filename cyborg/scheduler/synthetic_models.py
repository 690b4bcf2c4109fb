"""Training steps shaped like ResNet-50, BERT-base and GPT-2 small, for the benchmark of
replicated plans and the tests (:mod:`cyborg.scheduler.replicas`).

Each is a chain of layers: forward ``f{i}``, backward ``b{i}`` (twice the FLOPs, in
reverse order) and one Adam update ``u{i}`` per layer that takes the layer's gradient
(an edge of its weight's bytes) and holds its optimizer state (fp32 master weights and
two moments). ``f{i}``, ``b{i}`` and ``u{i}`` are a co-location group: a weight, its
gradient and its update. Mixed precision: fp16 weights, activations and gradients.
Layer sizes follow the published models' parameter counts and FLOPs per sample
(ResNet-50: 25.6 M parameters, 4.1 GFLOPs per 224x224 image; BERT-base: 110 M, 12
layers of hidden 768; GPT-2 small: 124 M, 12 layers of 768, 50,257-token vocabulary).
"""

import dataclasses

from cyborg.scheduler.graph import Edge, Graph, Node

FP16 = 2
#: Optimizer state per parameter: fp32 master weight and Adam's two moments.
ADAM_STATE = 12


@dataclasses.dataclass(frozen=True)
class Layer:
    name: str
    flops: float  # forward, for the whole batch
    params: float  # parameter count
    output: float  # output elements for the whole batch
    saved: float  # activation elements kept for the backward pass


def training_graph(name: str, layers: list[Layer], precision: str = "fp16") -> Graph:
    """The training step of a chain of ``layers`` (see the module)."""
    nodes: list[Node] = []
    edges: list[Edge] = []
    groups = []
    for k, layer in enumerate(layers):
        weights, out = layer.params * FP16, layer.output * FP16
        read = weights + (layers[k - 1].output * FP16 if k else 0.0)
        nodes.append(
            Node(f"f{k}", "Gemm", layer.flops, read, out, weights, layer.saved * FP16, precision)
        )
        if k:
            edges.append(Edge(f"f{k - 1}", f"f{k}", layers[k - 1].output * FP16))
    for k in reversed(range(len(layers))):
        layer = layers[k]
        grad_in = layers[k - 1].output * FP16 if k else 0.0
        weights = layer.params * FP16
        read = weights + layer.saved * FP16 + layer.output * FP16
        nodes.append(
            Node(
                f"b{k}",
                "Gemm",
                2 * layer.flops,
                read,
                grad_in + weights,
                0.0,
                grad_in + weights,
                precision,
            )
        )
        source = f"b{k + 1}" if k + 1 < len(layers) else f"f{k}"
        edges.append(Edge(source, f"b{k}", layer.output * FP16, tensor="grad_out"))
        edges.append(Edge(f"f{k}", f"b{k}", layer.saved * FP16, tensor="saved"))
    for k, layer in enumerate(layers):
        state = layer.params * ADAM_STATE
        nodes.append(
            Node(
                f"u{k}",
                "Adam",
                10 * layer.params,
                state + layer.params * FP16,
                state,
                state,
                0.0,
                "fp32",
            )
        )
        edges.append(Edge(f"b{k}", f"u{k}", layer.params * FP16, tensor="grad_w"))
        groups.append((f"f{k}", f"b{k}", f"u{k}"))
    return Graph(nodes, edges, name=name, training=True, colocate=groups)


def resnet50_like(batch: int = 64) -> Graph:
    """Stem, 16 bottleneck blocks in four stages, the classifier (224x224 images)."""
    layers = [Layer("stem", 0.118e9 * batch, 9.4e3, 802816 * batch, 3.2e6 * batch)]
    # (blocks, parameters per block, GFLOPs per block, output elements per image)
    for stage, (blocks, params, gflops, out) in enumerate(
        (
            (3, 0.07e6, 0.23e9, 802816),
            (4, 0.28e6, 0.26e9, 401408),
            (6, 1.12e6, 0.26e9, 200704),
            (3, 4.46e6, 0.27e9, 100352),
        )
    ):
        for b in range(blocks):
            layers.append(
                Layer(f"s{stage}b{b}", gflops * batch, params, out * batch, 3 * out * batch)
            )
    layers.append(Layer("fc", 4.1e6 * batch, 2.05e6, 1000 * batch, 2048 * batch))
    return training_graph(f"resnet50-like-b{batch}", layers)


def _encoder(name: str, vocab: int, layers: int, batch: int, seq: int) -> Graph:
    hidden, tokens = 768, batch * seq
    per_layer = 12 * hidden * hidden  # attention 4 h^2, MLP 8 h^2
    blocks = [Layer("embed", 0.0, vocab * hidden + seq * hidden, tokens * hidden, tokens * hidden)]
    for k in range(layers):
        flops = 2 * tokens * per_layer + 4 * batch * seq * seq * hidden
        saved = tokens * hidden * 16 + batch * 12 * seq * seq  # MLP, attention probabilities
        blocks.append(Layer(f"layer{k}", flops, per_layer, tokens * hidden, saved))
    blocks.append(
        Layer(
            "head",
            2 * tokens * hidden * vocab,
            hidden * vocab if vocab else 0.0,
            tokens * max(vocab, 2),
            tokens * hidden,
        )
    )
    return training_graph(name, blocks)


def bert_base_like(batch: int = 32, seq: int = 128) -> Graph:
    """Embeddings, 12 encoder layers of hidden 768, a masked-token head (30,522)."""
    return _encoder(f"bert-base-like-b{batch}", 30522, 12, batch, seq)


def gpt2_small_like(batch: int = 8, seq: int = 1024) -> Graph:
    """Embeddings, 12 decoder layers of hidden 768, the 50,257-token head."""
    return _encoder(f"gpt2-small-like-b{batch}", 50257, 12, batch, seq)
