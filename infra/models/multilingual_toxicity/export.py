"""Writes the trained weights (train.py's embeddings.npy and heads.npy) as the ONNX model the
toxicity stage runs, its config.toml, and golden.jsonl: texts with their feature ids (features.py)
and the scores onnxruntime gives, which the Rust stage must reproduce exactly (ids) and within
1e-5 (scores).

The trained model is linear up to the sigmoid: scores = sigmoid(mean_i(E[id_i]) H + b). The
heads are folded into the table once here, T = E H ([buckets, K], float32, computed in float64),
so inference gathers K numbers per feature instead of the embedding's D. The graph: ids [N, L]
int64 and weights [N, L] float (each id's share of the text's features, 0 for padding) -> Gather T ->
weighted sum over L (a batched MatMul) -> [N, K] -> + b -> Sigmoid -> scores [N, K],
K = data.KEYS in order.
"""

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
from onnx import TensorProto, helper, numpy_helper

import data as datasets
from features import MAX_CHARS, MAX_FEATURES, MAX_N, MIN_N, feature_ids

OPSET = 17


def build_graph(embeddings: np.ndarray, heads: np.ndarray) -> onnx.ModelProto:
    dim = embeddings.shape[1]
    keys = len(datasets.KEYS)
    folded = (embeddings.astype(np.float64) @ heads[:-1].astype(np.float64)).astype(np.float32)
    initializers = [
        numpy_helper.from_array(folded, "feature_logits"),
        numpy_helper.from_array(heads[-1].astype(np.float32), "head_bias"),
        numpy_helper.from_array(np.asarray([1], dtype=np.int64), "axis_1"),
    ]
    nodes = [
        helper.make_node("Gather", ["feature_logits", "ids"], ["gathered"], axis=0),
        # [N, 1, L] x [N, L, K] -> [N, 1, K]: the weighted sum in one batched product.
        helper.make_node("Unsqueeze", ["weights", "axis_1"], ["weights_row"]),
        helper.make_node("MatMul", ["weights_row", "gathered"], ["summed"]),
        helper.make_node("Squeeze", ["summed", "axis_1"], ["projected"]),
        helper.make_node("Add", ["projected", "head_bias"], ["logits"]),
        helper.make_node("Sigmoid", ["logits"], ["scores"]),
    ]
    graph = helper.make_graph(
        nodes,
        "hashed_toxicity",
        [
            helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", "features"]),
            helper.make_tensor_value_info("weights", TensorProto.FLOAT, ["batch", "features"]),
        ],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", keys])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="wildchat-pipeline")
    model.ir_version = 8
    model.doc_string = f"hashed embedding bag (dim {dim}, heads folded into the table) with sigmoid heads {datasets.KEYS}"
    onnx.checker.check_model(model)
    return model


def run(session: onnxruntime.InferenceSession, texts: list[str], buckets: int) -> tuple[list[list[int]], np.ndarray]:
    all_ids = [feature_ids(text, buckets) for text in texts]
    width = max(1, max(len(ids) for ids in all_ids))
    ids = np.zeros((len(texts), width), dtype=np.int64)
    weights = np.zeros((len(texts), width), dtype=np.float32)
    for row, features in enumerate(all_ids):
        ids[row, : len(features)] = features
        if features:
            weights[row, : len(features)] = np.float32(1.0) / np.float32(len(features))
    return all_ids, session.run(["scores"], {"ids": ids, "weights": weights})[0]


def golden_texts(data: Path) -> list[str]:
    examples, _ = datasets.load(data)
    dev = [example for example in examples if example.dev]
    rng = np.random.default_rng(11)
    picked = [dev[index].text for index in rng.choice(len(dev), size=240, replace=False)]
    conversations = json.loads((data / "conversations/dummy_conversation.json").read_text(encoding="utf-8"))
    picked += [turn["value"] for conversation in conversations[:25] for turn in conversation["conversations"]][:60]
    picked += [
        "",
        "   \t\n ",
        "Hello",
        "HELLO WORLD, ΣΊΣΥΦΟΣ ΟΔΟΣ",
        "İstanbul'da DİKKAT",
        "a\x1cb\x1dc\x1ed\x1ff",  # information separators: not White_Space, so one word
        "x\u00a0y\u2003z\u3000w\u200bv",  # no-break, em and ideographic spaces split; zero-width does not
        "emoji 😀😡🤬 and flags 🇩🇪",
        "你这个傻逼，滚出去",
        "مرحبا بكم في المنتدى",
        "e\u0301te\u0301 cafe\u0301",
        "word " * 3000,
        "z" * 5000,
        "Ünïcödé ÀÉÎÕÜ ẞ ß",
    ]
    return picked


# The release's labels (lingua's English names) of the languages the labelled sets are in.
LANGUAGE_NAMES = {"ar": "Arabic", "de": "German", "en": "English", "fr": "French", "ja": "Japanese",
                  "ko": "Korean", "pt": "Portuguese", "tr": "Turkish", "zh": "Chinese"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trained", type=Path, required=True, help="train.py's output folder")
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    arguments = parser.parse_args()
    embeddings = np.load(arguments.trained / "embeddings.npy")
    heads = np.load(arguments.trained / "heads.npy")
    threshold = json.loads((arguments.trained / "threshold.json").read_text())["toxic_threshold"]
    buckets = embeddings.shape[0]
    arguments.out.mkdir(parents=True, exist_ok=True)
    model = build_graph(embeddings, heads)
    model_bytes = model.SerializeToString()
    (arguments.out / "model.onnx").write_bytes(model_bytes)
    labels = ", ".join(f'"{key}"' for key in datasets.KEYS)
    trained = sorted({LANGUAGE_NAMES[language] for _, language, *_ in datasets.SETS if language in LANGUAGE_NAMES})
    languages = ", ".join(f'"{language}"' for language in trained)
    (arguments.out / "config.toml").write_text(
        "# The multilingual toxicity model, trained by infra/models/multilingual_toxicity/build.sh\n"
        "# (MODEL.md: data, training, quality). Feature settings must match the training.\n"
        'kind = "hashed"\n'
        'model = "model.onnx"\n'
        'name = "multilingual-hashed"\n'
        f"labels = [{labels}]\n"
        f"languages = [{languages}]\n"
        f"buckets = {buckets}\n"
        f"min_n = {MIN_N}\n"
        f"max_n = {MAX_N}\n"
        f"max_chars = {MAX_CHARS}\n"
        f"max_features = {MAX_FEATURES}\n"
        f"toxic_threshold = {threshold}\n",
        encoding="utf-8",
    )
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    session = onnxruntime.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
    texts = golden_texts(arguments.data)
    with open(arguments.out / "golden.jsonl", "w", encoding="utf-8") as golden:
        for text in texts:
            ids, scores = run(session, [text], buckets)
            golden.write(json.dumps({"text": text, "ids": ids[0], "scores": [float(score) for score in scores[0]]}, ensure_ascii=False) + "\n")
    print(f"model.onnx {len(model_bytes)} bytes, sha256 {hashlib.sha256(model_bytes).hexdigest()}; {len(texts)} golden texts")


if __name__ == "__main__":
    main()
