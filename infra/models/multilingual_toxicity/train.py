"""Trains the multilingual toxicity model: hashed words and character n-grams (features.py), an
averaged embedding bag and one sigmoid head per Detoxify key, each head learning only from the
sets that label its key (masked loss). Plain minibatch SGD in numpy, seeded: the same data and
settings give the same weights.

    python train.py --data DATA_FOLDER --out OUTPUT_FOLDER   (build.sh runs it, then export.py)

writes model.onnx, config.toml, golden.jsonl (texts with their features and scores, which the
Rust stage must reproduce), data.json (sources, rows, licences, sha256) and training.log
(the settings, the loss per epoch and the development ROC-AUC per set and key).
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np

import data as datasets
from features import MAX_CHARS, MAX_FEATURES, MAX_N, MIN_N, feature_ids

KEYS = datasets.KEYS


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float | None:
    positives = int(labels.sum())
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        return None
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    # Average ranks over ties.
    start = 0
    while start < len(sorted_scores):
        end = start
        while end + 1 < len(sorted_scores) and sorted_scores[end + 1] == sorted_scores[start]:
            end += 1
        ranks[order[start : end + 1]] = (start + end) / 2 + 1
        start = end + 1
    return float((ranks[labels == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


class Bags:
    """Feature ids of many texts in CSR form."""

    def __init__(self, texts: list[str], buckets: int, cache: Path | None = None):
        if cache is not None:
            import hashlib

            digest = hashlib.sha256(("\x00".join(texts) + f"|{buckets}").encode("utf-8", "surrogatepass")).hexdigest()[:16]
            path = cache / f"bags-{digest}.npz"
            if path.exists():
                stored = np.load(path)
                self.indptr, self.ids = stored["indptr"], stored["ids"]
                return
        self._compute(texts, buckets)
        if cache is not None:
            cache.mkdir(parents=True, exist_ok=True)
            np.savez(path, indptr=self.indptr, ids=self.ids)

    def _compute(self, texts: list[str], buckets: int) -> None:
        lengths = []
        ids = []
        for text in texts:
            features = feature_ids(text, buckets)
            lengths.append(len(features))
            ids.extend(features)
        self.indptr = np.zeros(len(texts) + 1, dtype=np.int64)
        np.cumsum(lengths, out=self.indptr[1:])
        self.ids = np.asarray(ids, dtype=np.int64)

    def batch(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(feature ids, the row each belongs to, 1/len of that row)."""
        starts, ends = self.indptr[rows], self.indptr[rows + 1]
        lengths = ends - starts
        segment = np.repeat(np.arange(len(rows)), lengths)
        offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        ids = self.ids[np.repeat(starts, lengths) + offsets]
        inverse = 1.0 / np.maximum(lengths, 1)
        return ids, segment, inverse


class Model:
    def __init__(self, buckets: int, dim: int, rng: np.random.Generator):
        self.embeddings = rng.uniform(-1.0 / dim, 1.0 / dim, size=(buckets, dim)).astype(np.float32)
        self.weights = np.zeros((dim, len(KEYS)), dtype=np.float32)
        self.bias = np.zeros(len(KEYS), dtype=np.float32)

    def hidden(self, bags: Bags, rows: np.ndarray):
        ids, segment, inverse = bags.batch(rows)
        gathered = self.embeddings[ids]
        summed = np.zeros((len(rows), self.embeddings.shape[1]), dtype=np.float32)
        for column in range(self.embeddings.shape[1]):
            summed[:, column] = np.bincount(segment, weights=gathered[:, column], minlength=len(rows))
        return summed * inverse[:, None].astype(np.float32), ids, segment, inverse

    def predict(self, bags: Bags, rows: np.ndarray) -> np.ndarray:
        hidden, *_ = self.hidden(bags, rows)
        return 1.0 / (1.0 + np.exp(-(hidden @ self.weights + self.bias)))

    def step(self, bags: Bags, rows: np.ndarray, targets: np.ndarray, mask: np.ndarray, weight: np.ndarray, rate: float, l2: float) -> float:
        hidden, ids, segment, inverse = self.hidden(bags, rows)
        logits = hidden @ self.weights + self.bias
        probabilities = 1.0 / (1.0 + np.exp(-logits))
        scale = mask * weight[:, None]
        loss = -(scale * (targets * np.log(probabilities + 1e-7) + (1 - targets) * np.log(1 - probabilities + 1e-7))).sum()
        gradient_logits = (probabilities - targets) * scale
        gradient_hidden = gradient_logits @ self.weights.T
        self.weights -= rate * (hidden.T @ gradient_logits + l2 * self.weights)
        self.bias -= rate * gradient_logits.sum(axis=0)
        # Each feature of a row gets the row's hidden gradient over the row's length.
        per_feature = gradient_hidden[segment] * inverse[segment, None].astype(np.float32)
        unique, where = np.unique(ids, return_inverse=True)
        update = np.empty((len(unique), self.embeddings.shape[1]), dtype=np.float32)
        for column in range(self.embeddings.shape[1]):
            update[:, column] = np.bincount(where, weights=per_feature[:, column], minlength=len(unique))
        # L2 on the rows this batch touched (lazy weight decay): no feature's vector, and so no
        # single word of a short text, can grow to decide alone.
        self.embeddings[unique] -= rate * (update + l2 * self.embeddings[unique])
        return float(loss)


def label_arrays(examples: list[datasets.Example]) -> tuple[np.ndarray, np.ndarray]:
    targets = np.zeros((len(examples), len(KEYS)), dtype=np.float32)
    mask = np.zeros((len(examples), len(KEYS)), dtype=np.float32)
    for row, example in enumerate(examples):
        for column, key in enumerate(KEYS):
            if key in example.labels:
                targets[row, column] = example.labels[key]
                mask[row, column] = 1.0
    return targets, mask


def benign_texts(data: Path) -> list[str]:
    """Real benign chat prompts: MT-bench's questions and the user turns of FastChat's dummy
    conversations (development only, never trained on)."""
    texts = []
    for line in (data / "conversations/mt_bench.question.jsonl").read_text(encoding="utf-8").splitlines():
        texts.extend(json.loads(line)["turns"])
    for conversation in json.loads((data / "conversations/dummy_conversation.json").read_text(encoding="utf-8")):
        texts.extend(turn["value"] for turn in conversation["conversations"] if turn["from"] == "human")
    return [text for text in texts if text.strip()]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--buckets", type=int, default=1 << 17)
    parser.add_argument("--dim", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--rate", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--max-benign-flagged", type=float, default=0.005)
    parser.add_argument("--toxic-share", type=float, default=0.2)
    parser.add_argument("--l2", type=float, default=1e-3)
    parser.add_argument("--cache", type=Path, help="keep the texts' features here between runs")
    arguments = parser.parse_args()
    arguments.out.mkdir(parents=True, exist_ok=True)
    log_lines: list[str] = []

    def log(message: str) -> None:
        print(message, flush=True)
        log_lines.append(message)

    started = time.time()
    examples, manifest = datasets.load(arguments.data)
    train = [example for example in examples if not example.dev]
    dev = [example for example in examples if example.dev]
    log(f"settings: buckets {arguments.buckets}, dim {arguments.dim}, epochs {arguments.epochs}, batch {arguments.batch}, "
        f"rate {arguments.rate} (linear decay), l2 {arguments.l2}, seed {arguments.seed}, features: words + char {MIN_N}-{MAX_N}-grams of "
        f"the first {MAX_CHARS} characters, at most {MAX_FEATURES}")
    log(f"examples: {len(train)} train, {len(dev)} dev")
    train_bags = Bags([example.text for example in train], arguments.buckets, arguments.cache)
    dev_bags = Bags([example.text for example in dev], arguments.buckets, arguments.cache)
    targets, mask = label_arrays(train)
    # Each set weighs about the same in total, within a factor of 4 of one weight per row; within
    # a set, toxic and non-toxic rows are weighed to the same share of toxic ones
    # (--toxic-share), so that no language's prior is learnt from how its set was collected
    # (MLMA's tweets are mostly offensive, real chat mostly not).
    sizes: dict[str, int] = {}
    positives: dict[str, int] = {}
    labelled: dict[str, int] = {}
    for example in train:
        sizes[example.source] = sizes.get(example.source, 0) + 1
        if "toxicity" in example.labels:
            labelled[example.source] = labelled.get(example.source, 0) + 1
            positives[example.source] = positives.get(example.source, 0) + example.labels["toxicity"]
    mean_size = len(train) / len(sizes)
    share = arguments.toxic_share

    def row_weight(example: datasets.Example) -> float:
        weight = min(4.0, max(0.25, mean_size / sizes[example.source]))
        if "toxicity" in example.labels and 0 < positives[example.source] < labelled[example.source]:
            rate = positives[example.source] / labelled[example.source]
            weight *= share / rate if example.labels["toxicity"] else (1 - share) / (1 - rate)
        return weight

    weight = np.asarray([row_weight(example) for example in train], dtype=np.float32)
    log("sets (rows, toxic share): " + ", ".join(
        f"{name} {size} {positives.get(name, 0) / max(1, labelled.get(name, 0)):.2f}" for name, size in sorted(sizes.items())))

    rng = np.random.default_rng(arguments.seed)
    model = Model(arguments.buckets, arguments.dim, rng)
    steps_total = arguments.epochs * ((len(train) + arguments.batch - 1) // arguments.batch)
    step = 0
    for epoch in range(arguments.epochs):
        order = rng.permutation(len(train))
        total = 0.0
        for start in range(0, len(order), arguments.batch):
            rows = order[start : start + arguments.batch]
            rate = arguments.rate * (1.0 - step / steps_total)
            total += model.step(train_bags, rows, targets[rows], mask[rows], weight[rows], rate, arguments.l2)
            step += 1
        log(f"epoch {epoch + 1}: loss {total / mask.sum():.4f} ({time.time() - started:.0f}s)")

    scores = model.predict(dev_bags, np.arange(len(dev)))
    dev_targets, dev_mask = label_arrays(dev)
    log("dev ROC-AUC (rows, positives):")
    for source in sorted({example.source for example in dev}):
        rows = np.asarray([index for index, example in enumerate(dev) if example.source == source])
        parts = []
        for column, key in enumerate(KEYS):
            labelled = rows[dev_mask[rows, column] == 1]
            auc = roc_auc(scores[labelled, column], dev_targets[labelled, column]) if len(labelled) else None
            if auc is not None:
                parts.append(f"{key} {auc:.3f} ({len(labelled)}, {int(dev_targets[labelled, column].sum())})")
        log(f"  {source}: " + "; ".join(parts))

    # The model serves the languages other than English (the routed default sends turns labelled
    # English to the English model), so its threshold is chosen on benign text in those
    # languages: the lowest at which at most this share of the held-out lingua sentences of every
    # language but English is flagged.
    held_out_sentences = datasets.lingua_dev_sentences()
    sentences = [text for language, text in held_out_sentences if language != "english"]
    sentence_bags = Bags(sentences, arguments.buckets, arguments.cache)
    sentence_scores = model.predict(sentence_bags, np.arange(len(sentences)))[:, 0]
    threshold = float(np.quantile(sentence_scores, 1.0 - arguments.max_benign_flagged))
    # Scores are probabilities: a threshold of 1 would flag nothing, so it is capped at 0.99.
    threshold = min(0.99, float(np.ceil(threshold * 100) / 100))
    flagged = float((sentence_scores > threshold).mean())
    log(f"benign sentences in {len({language for language, _ in held_out_sentences}) - 1} languages other than English: "
        f"{len(sentences)}, toxicity p50 {np.median(sentence_scores):.3f}, p99 {np.quantile(sentence_scores, 0.99):.3f}; "
        f"threshold {threshold:.2f} flags {100 * flagged:.2f} %")
    # English chat prompts, for the record: alone, this model misjudges short English questions,
    # which is why the default routes English elsewhere.
    benign = sorted(set(benign_texts(arguments.data)))
    benign_bags = Bags(benign, arguments.buckets, arguments.cache)
    benign_scores = model.predict(benign_bags, np.arange(len(benign)))[:, 0]
    log(f"benign English chat prompts (not this model's to judge when routed): {len(benign)}, toxicity p50 "
        f"{np.median(benign_scores):.3f}, p99 {np.quantile(benign_scores, 0.99):.3f}, "
        f"{100 * float((benign_scores > threshold).mean()):.2f} % above {threshold:.2f}")
    toxic = dev_targets[:, 0] == 1
    labelled = dev_mask[:, 0] == 1
    recall = float((scores[toxic & labelled, 0] > threshold).mean())
    false_positive = float((scores[~toxic & labelled, 0] > threshold).mean())
    log(f"at {threshold:.2f}, over every dev set: recall {recall:.3f}, false-positive rate {false_positive:.3f}")
    log(f"trained in {time.time() - started:.0f}s")

    np.save(arguments.out / "embeddings.npy", model.embeddings)
    np.save(arguments.out / "heads.npy", np.vstack([model.weights, model.bias[None, :]]))
    (arguments.out / "training.log").write_text("\n".join(log_lines) + "\n", encoding="utf-8")
    (arguments.out / "data.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    (arguments.out / "threshold.json").write_text(json.dumps({"toxic_threshold": threshold}) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
