"""Rewrites the skl2onnx graph of the default toxicity model into an equivalent sparse form.

The converted graph (model.onnx) tokenizes inside ONNX Runtime (the RE2-based Tokenizer op)
and builds a dense [N, 15442] TF-IDF matrix before five dense linear classifiers; on one core
that runs at about 6k turns/s of 2 kB, bounded by the tokenizer and the dense vocabulary-wide
ops. The sparse form (model-sparse.onnx) keeps the same weights and the same calibration tail,
but takes each text's distinct tokens and their counts:

    tokens  string [N, K]   distinct tokens of the lowercased text ("" pads)
    counts  float  [N, K]   how often each occurs (0 pads)

and computes, with the vocabulary lookup still inside the graph (LabelEncoder),
    ids = vocab(tokens) (out-of-vocabulary -> V), g = idf[ids] * counts,
    x = g / max(||g||, tiny), scores_c = sum_k x_k * W_c[ids_k] + b_c
which is exactly TF-IDF (raw counts, smoothed idf), L2 normalisation and the linear SVMs'
decision values, summed over present features only. The caller tokenizes with the pattern
[\\p{L}\\p{N}\\p{M}_]{2,} on lowercased text, as the dense graph does.

Usage: python sparse.py model.onnx model-sparse.onnx golden.jsonl
It verifies the sparse model against golden.jsonl (sklearn's probabilities) and fails loudly.
"""
import json
import sys

import numpy as np
import onnx
import onnxruntime
import regex
from onnx import TensorProto, helper, numpy_helper

TOKEN = regex.compile(r"[\p{L}\p{N}\p{M}_]{2,}")


def attributes(node):
    return {attribute.name: helper.get_attribute_value(attribute) for attribute in node.attribute}


def build(dense_path, sparse_path):
    model = onnx.load(dense_path)
    graph = model.graph
    initializers = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    nodes = list(graph.node)
    tfidf = next(node for node in nodes if node.op_type == "TfIdfVectorizer")
    tfidf_attributes = attributes(tfidf)
    assert tfidf_attributes["mode"] == b"TF" and tfidf_attributes["max_gram_length"] == 1
    assert all(weight == 1.0 for weight in tfidf_attributes.get("weights", [1.0]))
    pool = [token.decode("utf-8") for token in tfidf_attributes["pool_strings"]]
    indexes = list(tfidf_attributes["ngram_indexes"])
    vocabulary_size = max(indexes) + 1
    multiply = next(node for node in nodes if node.op_type == "Mul" and node.input[0] == tfidf.output[0])
    idf = initializers[multiply.input[1]].astype(np.float32).reshape(-1)
    assert idf.shape == (vocabulary_size,)
    normalizer = next(node for node in nodes if node.op_type == "Normalizer")
    assert attributes(normalizer)["norm"] == b"L2"
    classifiers = [node for node in nodes if node.op_type == "LinearClassifier"]
    columns, intercepts = [], []
    for classifier in classifiers:
        values = attributes(classifier)
        assert values["post_transform"] == b"NONE" and list(values["classlabels_ints"]) == [0, 1]
        coefficients = np.asarray(values["coefficients"], dtype=np.float32).reshape(2, vocabulary_size)
        columns.extend([coefficients[0], coefficients[1]])
        intercepts.extend(values["intercepts"])
    weights = np.zeros((vocabulary_size + 1, len(columns)), dtype=np.float32)
    weights[:vocabulary_size] = np.stack(columns, axis=1)
    idf_extended = np.concatenate([idf, np.zeros(1, dtype=np.float32)])

    # The calibration tail, unchanged: every node after the linear classifiers.
    tail_start = max(nodes.index(classifier) for classifier in classifiers) + 1
    tail = nodes[tail_start:]
    tail_inputs = {name for node in tail for name in node.input}
    front = [
        helper.make_node(
            "LabelEncoder", ["tokens"], ["ids"], domain="ai.onnx.ml",
            keys_strings=pool, values_int64s=indexes, default_int64=vocabulary_size,
        ),
        helper.make_node("Gather", ["idf_extended", "ids"], ["idf_of_tokens"]),
        helper.make_node("Mul", ["idf_of_tokens", "counts"], ["tfidf"]),
        helper.make_node("Mul", ["tfidf", "tfidf"], ["tfidf_squared"]),
        helper.make_node("ReduceSum", ["tfidf_squared", "axis_one"], ["norm_squared"], keepdims=1),
        helper.make_node("Sqrt", ["norm_squared"], ["norm"]),
        helper.make_node("Max", ["norm", "tiny"], ["safe_norm"]),
        helper.make_node("Div", ["tfidf", "safe_norm"], ["normalized"]),
        helper.make_node("Unsqueeze", ["normalized", "axis_one"], ["normalized_row"]),
        helper.make_node("Gather", ["weights", "ids"], ["weights_of_tokens"]),
        helper.make_node("MatMul", ["normalized_row", "weights_of_tokens"], ["decision_row"]),
        helper.make_node("Squeeze", ["decision_row", "axis_one"], ["decision_plain"]),
        helper.make_node("Add", ["decision_plain", "intercepts"], ["decision"]),
        helper.make_node(
            "Split", ["decision", "split_sizes"], [classifier.output[1] for classifier in classifiers], axis=1,
        ),
    ]
    kept_initializers = [init for init in graph.initializer if init.name in tail_inputs]
    new_initializers = [
        numpy_helper.from_array(idf_extended, "idf_extended"),
        numpy_helper.from_array(weights, "weights"),
        numpy_helper.from_array(np.asarray(intercepts, dtype=np.float32), "intercepts"),
        numpy_helper.from_array(np.asarray([1], dtype=np.int64), "axis_one"),
        numpy_helper.from_array(np.asarray(np.finfo(np.float32).tiny, dtype=np.float32), "tiny"),
        numpy_helper.from_array(np.asarray([2] * len(classifiers), dtype=np.int64), "split_sizes"),
    ]
    sparse_graph = helper.make_graph(
        front + tail,
        "toxicity_linear_sparse",
        [
            helper.make_tensor_value_info("tokens", TensorProto.STRING, ["N", "K"]),
            helper.make_tensor_value_info("counts", TensorProto.FLOAT, ["N", "K"]),
        ],
        [output for output in graph.output],
        initializer=kept_initializers + new_initializers,
    )
    opsets = sorted(
        {(opset.domain, opset.version) for opset in model.opset_import if opset.domain != "com.microsoft"}
        | {("ai.onnx.ml", 3)}
    )
    merged = {}
    for domain, version in opsets:
        merged[domain] = max(version, merged.get(domain, 0))
    sparse = helper.make_model(
        sparse_graph,
        opset_imports=[helper.make_opsetid(domain, version) for domain, version in sorted(merged.items())],
        producer_name="wildchat-infra-models-sparse",
    )
    sparse.ir_version = model.ir_version
    onnx.checker.check_model(sparse)
    onnx.save(sparse, sparse_path)


def sparse_inputs(texts):
    rows = []
    for text in texts:
        counts = {}
        for token in TOKEN.findall(text.lower()):
            counts[token] = counts.get(token, 0) + 1
        rows.append(counts)
    width = max(1, max(len(row) for row in rows))
    tokens = np.full((len(rows), width), "", dtype=object)
    counts = np.zeros((len(rows), width), dtype=np.float32)
    for index, row in enumerate(rows):
        for column, (token, count) in enumerate(row.items()):
            tokens[index, column] = token
            counts[index, column] = count
    return {"tokens": tokens, "counts": counts}


def describe(sparse_path, worst, count):
    """Appends the sparse form's section to MODEL.md beside the model (build.py writes the rest)."""
    import hashlib
    import os

    data = open(sparse_path, "rb").read()
    section = f"""
## The sparse form (`model-sparse.onnx`, what the pipeline runs)

`sparse.py` rewrites the graph above into an equivalent one without the Tokenizer op and without
the dense [N, 15442] TF-IDF matrix: same vocabulary, idf, weights and calibration tail.

- Inputs `tokens`: string `[N, K]`, the distinct tokens of each lowercased text (the matches of
  `[\\p{{L}}\\p{{N}}\\p{{M}}_]{{2,}}`, found by the caller), `""` as padding; `counts`: float `[N, K]`,
  how often each occurs (0 as padding).
- Inside: `LabelEncoder` (vocabulary lookup, unknown tokens to a zero row), idf x count, L2
  normalisation over the present features, one gathered `[K, 10]` weight block per text for the
  five SVMs' two decision columns, then the original calibration and averaging nodes.
- Outputs as above. Size: {len(data)} bytes; sha256 `{hashlib.sha256(data).hexdigest()}`.
- On the same {count} golden strings (tokenized in Python with the `regex` module): max
  |onnx - sklearn| = {worst:.3e}.
"""
    with open(os.path.join(os.path.dirname(sparse_path), "MODEL.md"), "a", encoding="utf-8") as out:
        out.write(section)


def verify(sparse_path, golden_path):
    lines = [json.loads(line) for line in open(golden_path, encoding="utf-8")]
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    session = onnxruntime.InferenceSession(sparse_path, options, providers=["CPUExecutionProvider"])
    worst = 0.0
    for start in range(0, len(lines), 64):
        chunk = lines[start:start + 64]
        probabilities = session.run(["probabilities"], sparse_inputs([line["text"] for line in chunk]))[0]
        for line, row in zip(chunk, probabilities):
            worst = max(worst, abs(float(row[1]) - line["toxicity"]))
    if worst > 1e-6:
        raise SystemExit(f"sparse model differs from sklearn by {worst:.3e} (> 1e-6)")
    print(f"sparse model: {len(lines)} golden strings, max |onnx - sklearn| = {worst:.3e}")
    return worst, len(lines)


if __name__ == "__main__":
    dense, sparse, golden = sys.argv[1:4]
    build(dense, sparse)
    describe(sparse, *verify(sparse, golden))
