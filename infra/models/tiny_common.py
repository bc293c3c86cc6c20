"""What the tiny random-weight test models share (tiny_classifier/build.py, tiny_ner/build.py).

A BERT-shaped encoder built node by node with the onnx helper API (embeddings, attention
mask, encoder layers), the onnxruntime session and padded runs the references use, the
window rule of the Rust side, and atomic file writes. Each build adds its own head (pooler and
sequence classifier, or token classifier), texts and reference; their outputs stay byte for
byte what they were when each script carried its own copy.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper


@dataclass(frozen=True)
class Encoder:
    """The shape and weight scales of a BERT-shaped encoder."""

    hidden: int
    heads: int
    ffn: int
    layers: int
    max_positions: int
    type_vocab: int = 2
    ln_eps: float = 1e-12
    # Embeddings go through LayerNorm, so their scale hardly matters. The query and key scale
    # makes attention sharper than uniform, so outputs depend on the text.
    embed_std: float = 0.5
    attn_qk_std: float = 0.6
    attn_vo_std: float = 0.25
    ffn_std: float = 0.25
    attention_mask_fill: float = -1.0e9

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads


class GraphBuilder:
    """Collects nodes and initializers; names every intermediate value uniquely."""

    def __init__(self, hidden: int, ln_eps: float) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.counter = 0
        self.hidden = hidden
        self.ln_eps = ln_eps

    def const(self, name: str, array: np.ndarray) -> str:
        self.initializers.append(numpy_helper.from_array(array, name=name))
        return name

    def op(self, op_type: str, inputs: list[str], name: str, **attrs) -> str:
        self.counter += 1
        self.nodes.append(helper.make_node(op_type, inputs, [name], name=f"{op_type}_{self.counter}_{name}", **attrs))
        return name

    def dense(self, x: str, weight: np.ndarray, bias: np.ndarray, prefix: str) -> str:
        w = self.const(f"{prefix}.weight", weight)
        b = self.const(f"{prefix}.bias", bias)
        return self.op("Add", [self.op("MatMul", [x, w], f"{prefix}.matmul"), b], f"{prefix}.out")

    def layer_norm(self, x: str, prefix: str) -> str:
        scale = self.const(f"{prefix}.weight", np.ones(self.hidden, dtype=np.float32))
        bias = self.const(f"{prefix}.bias", np.zeros(self.hidden, dtype=np.float32))
        return self.op("LayerNormalization", [x, scale, bias], f"{prefix}.out", axis=-1, epsilon=self.ln_eps)


def normal(rng: np.random.Generator, shape: tuple[int, ...], std: float) -> np.ndarray:
    return (rng.standard_normal(shape) * std).astype(np.float32)


def encoder_constants(g: GraphBuilder, dims: Encoder) -> dict[str, str]:
    """The constants the encoder uses, as initializers (first in the graph, in this order)."""
    return {
        "heads_shape": g.const("const.heads_shape", np.array([0, 0, dims.heads, dims.head_dim], dtype=np.int64)),
        "hidden_shape": g.const("const.hidden_shape", np.array([0, 0, dims.hidden], dtype=np.int64)),
        "mask_axes": g.const("const.mask_axes", np.array([1, 2], dtype=np.int64)),
        "one": g.const("const.one", np.array(1.0, dtype=np.float32)),
        "fill": g.const("const.mask_fill", np.array(dims.attention_mask_fill, dtype=np.float32)),
        "inv_sqrt_head": g.const("const.inv_sqrt_head_dim", np.array(1.0 / math.sqrt(dims.head_dim), dtype=np.float32)),
        "inv_sqrt2": g.const("const.inv_sqrt2", np.array(1.0 / math.sqrt(2.0), dtype=np.float32)),
        "half": g.const("const.half", np.array(0.5, dtype=np.float32)),
        "zero_i": g.const("const.zero_i64", np.array([0], dtype=np.int64)),
    }


def encoder(g: GraphBuilder, rng: np.random.Generator, c: dict[str, str], dims: Encoder, vocab_size: int) -> str:
    """Embeddings, attention mask and encoder layers over the graph inputs `input_ids`,
    `attention_mask` and `token_type_ids`; returns the hidden states [batch, seq, hidden]."""
    hidden_size = dims.hidden
    # Embeddings: word + position + token type, then LayerNorm.
    word = g.const("embeddings.word", normal(rng, (vocab_size, hidden_size), dims.embed_std))
    position = g.const("embeddings.position", normal(rng, (dims.max_positions, hidden_size), dims.embed_std))
    token_type = g.const("embeddings.token_type", normal(rng, (dims.type_vocab, hidden_size), dims.embed_std))
    words = g.op("Gather", [word, "input_ids"], "embeddings.words", axis=0)
    types = g.op("Gather", [token_type, "token_type_ids"], "embeddings.types", axis=0)
    # Positions 0..seq-1: a slice of the table, broadcast over the batch. A sequence longer than
    # the table leaves the slice short and the Add fails, which is the wanted outcome.
    input_shape = g.op("Shape", ["input_ids"], "embeddings.input_shape")
    seq_len = g.op("Slice", [input_shape, g.const("const.one_i64", np.array([1], dtype=np.int64)),
                             g.const("const.two_i64", np.array([2], dtype=np.int64))], "embeddings.seq_len")
    positions = g.op("Slice", [position, c["zero_i"], seq_len, c["zero_i"]], "embeddings.positions")
    summed = g.op("Add", [g.op("Add", [words, types], "embeddings.words_types"), positions], "embeddings.sum")
    hidden = g.layer_norm(summed, "embeddings.layer_norm")

    # Additive attention mask [batch, 1, 1, seq]: 0 where attention_mask is 1, a large negative
    # number where it is 0.
    mask_f = g.op("Cast", ["attention_mask"], "mask.float", to=TensorProto.FLOAT)
    mask_4d = g.op("Unsqueeze", [mask_f, c["mask_axes"]], "mask.4d")
    additive_mask = g.op("Mul", [g.op("Sub", [c["one"], mask_4d], "mask.inverted"), c["fill"]], "mask.additive")

    for layer in range(dims.layers):
        p = f"encoder.{layer}"
        x = hidden

        def heads(name: str, std: float, perm: list[int]) -> str:
            proj = g.dense(x, normal(rng, (hidden_size, hidden_size), std), normal(rng, (hidden_size,), 0.1),
                           f"{p}.attention.{name}")
            split = g.op("Reshape", [proj, c["heads_shape"]], f"{p}.attention.{name}.split")
            return g.op("Transpose", [split], f"{p}.attention.{name}.heads", perm=perm)

        q = heads("query", dims.attn_qk_std, [0, 2, 1, 3])  # [batch, heads, seq, head_dim]
        k = heads("key", dims.attn_qk_std, [0, 2, 3, 1])  # [batch, heads, head_dim, seq]
        v = heads("value", dims.attn_vo_std, [0, 2, 1, 3])  # [batch, heads, seq, head_dim]
        scores = g.op("Mul", [g.op("MatMul", [q, k], f"{p}.attention.qk"), c["inv_sqrt_head"]], f"{p}.attention.scaled")
        scores = g.op("Add", [scores, additive_mask], f"{p}.attention.masked")
        probs = g.op("Softmax", [scores], f"{p}.attention.probs", axis=-1)
        context = g.op("MatMul", [probs, v], f"{p}.attention.context")
        context = g.op("Transpose", [context], f"{p}.attention.context.seq_major", perm=[0, 2, 1, 3])
        context = g.op("Reshape", [context, c["hidden_shape"]], f"{p}.attention.context.merged")
        attn_out = g.dense(context, normal(rng, (hidden_size, hidden_size), dims.attn_vo_std),
                           normal(rng, (hidden_size,), 0.1), f"{p}.attention.output")
        x = g.layer_norm(g.op("Add", [attn_out, x], f"{p}.attention.residual"), f"{p}.attention.layer_norm")

        inner = g.dense(x, normal(rng, (hidden_size, dims.ffn), dims.ffn_std), normal(rng, (dims.ffn,), 0.1),
                        f"{p}.ffn.intermediate")
        # GELU (erf form): 0.5 * x * (1 + erf(x / sqrt(2))).
        erf = g.op("Erf", [g.op("Mul", [inner, c["inv_sqrt2"]], f"{p}.ffn.gelu.scaled")], f"{p}.ffn.gelu.erf")
        gate = g.op("Mul", [g.op("Add", [erf, c["one"]], f"{p}.ffn.gelu.plus_one"), c["half"]], f"{p}.ffn.gelu.gate")
        activated = g.op("Mul", [inner, gate], f"{p}.ffn.gelu.out")
        ffn_out = g.dense(activated, normal(rng, (dims.ffn, hidden_size), dims.ffn_std), normal(rng, (hidden_size,), 0.1),
                          f"{p}.ffn.output")
        hidden = g.layer_norm(g.op("Add", [ffn_out, x], f"{p}.ffn.residual"), f"{p}.ffn.layer_norm")
    return hidden


def single_thread_session(model_bytes: bytes) -> ort.InferenceSession:
    """An onnxruntime CPU session on one thread: the reference the Rust side is compared with."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])


def run_padded(session: ort.InferenceSession, rows: list[list[int]], pad: int, pad_to: int | None = None) -> np.ndarray:
    """The `logits` output for rows of full token ids (specials included), padded with `pad`
    to `pad_to` or to the longest row; attention mask 1 on the rows' tokens, type ids 0."""
    length = pad_to or max(len(r) for r in rows)
    input_ids = np.full((len(rows), length), pad, dtype=np.int64)
    attention = np.zeros((len(rows), length), dtype=np.int64)
    for i, row in enumerate(rows):
        input_ids[i, : len(row)] = row
        attention[i, : len(row)] = 1
    feeds = {"input_ids": input_ids, "attention_mask": attention, "token_type_ids": np.zeros_like(input_ids)}
    (logits,) = session.run(["logits"], feeds)
    return logits


def window_starts(n: int, width: int, step: int) -> list[int]:
    """Window starts for n content tokens, as `transformer::window_starts` in Rust."""
    starts = [0]
    start = 0
    while start + width < n:
        start += step
        starts.append(start)
    return starts


def write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(data)
    os.replace(tmp, path)
