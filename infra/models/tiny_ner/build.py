"""Builds the tiny test-only token classifier (NER) in models/pii/tiny-ner/.

What it writes (all deterministic for the pinned package versions in build.sh):
  tokenizer.json  the WordPiece tokenizer of models/toxicity/tiny-bert (built by
                  infra/models/tiny_classifier/build.sh), copied byte for byte
  model.onnx      a two-layer BERT-shaped token classifier with random weights, built node by
                  node with the onnx helper API (opset 17): logits [batch, sequence, 9] over
                  O, B-/I-PER, B-/I-LOC, B-/I-NORP, B-/I-MISC
  config.toml     the config `pii::ner::NerConfig::from_toml_file` reads
  golden.jsonl    for each of a few dozen texts: the per-token probabilities and the decoded
                  spans, computed with onnxruntime (each window run alone) under the windowing
                  and decoding rules the Rust side implements, transcribed here independently
  MODEL.md        what this model is and how to rebuild it

The weights are random: the spans mean nothing about names or places. They exist so that the
NER code path (tokenizer, windowing, batching, padding, ONNX Runtime, BIO decoding, byte to
code point offsets) can be tested end to end against a reference computed in Python.

Run it through build.sh, which makes the virtual environment with pinned versions.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper
from tokenizers import Tokenizer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tiny_common import (  # noqa: E402  (the shared helpers sit one folder up)
    Encoder,
    GraphBuilder,
    encoder,
    encoder_constants,
    normal,
    run_padded,
    single_thread_session,
    window_starts,
    write_bytes,
)

LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-NORP", "I-NORP", "B-MISC", "I-MISC"]
# Label class -> Presidio entity; MISC is left out on purpose (the decoder must ignore it).
ENTITIES = {"PER": "PERSON", "LOC": "LOCATION", "NORP": "NRP"}

SEED = 20240917
HIDDEN = 16
HEADS = 2
FFN = 32
LAYERS = 2
MAX_POSITIONS = 32
TYPE_VOCAB = 2
OPSET = 17
IR_VERSION = 8  # the lowest IR version that opset 17 allows; old enough for any recent runtime
LN_EPS = 1e-12

# Windowing and decoding settings written to config.toml and used for golden.jsonl: windows of
# 32 tokens are 30 content tokens plus [CLS] and [SEP], so texts of 31 tokens and more are split.
MAX_LENGTH = 32
STRIDE = 8
MIN_SCORE = 0.3

# Weight scales: the classifier scale and the O bias were picked so that about half of the
# words come out O and entity probabilities spread over roughly 0.2..0.9.
EMBED_STD = 0.5
ATTN_QK_STD = 0.6
ATTN_VO_STD = 0.25
FFN_STD = 0.25
CLASSIFIER_STD = 0.6
O_BIAS = 1.2
ATTENTION_MASK_FILL = -1.0e9

DIMS = Encoder(
    hidden=HIDDEN, heads=HEADS, ffn=FFN, layers=LAYERS, max_positions=MAX_POSITIONS, type_vocab=TYPE_VOCAB,
    ln_eps=LN_EPS, embed_std=EMBED_STD, attn_qk_std=ATTN_QK_STD, attn_vo_std=ATTN_VO_STD, ffn_std=FFN_STD,
    attention_mask_fill=ATTENTION_MASK_FILL,
)

# Decoding must not hinge on rounding: every word's top label must lead the runner-up, and every
# span score must sit away from MIN_SCORE, by at least this much (Rust computes in float32).
DECISION_MARGIN = 1e-4


# ---------------------------------------------------------------------------------------------
# Model


def build_model(vocab_size: int) -> onnx.ModelProto:
    rng = np.random.default_rng(SEED)
    g = GraphBuilder(HIDDEN, LN_EPS)
    hidden = encoder(g, rng, encoder_constants(g, DIMS), DIMS, vocab_size)

    # Token classifier: one dense layer from every token's vector to the labels.
    classifier_w = g.const("classifier.weight", normal(rng, (HIDDEN, len(LABELS)), CLASSIFIER_STD))
    bias = normal(rng, (len(LABELS),), 0.2)
    bias[0] += O_BIAS
    classifier_b = g.const("classifier.bias", bias)
    logits_mm = g.op("MatMul", [hidden, classifier_w], "classifier.matmul")
    g.nodes.append(helper.make_node("Add", [logits_mm, classifier_b], ["logits"], name="Add_classifier_out"))

    batch_seq = ["batch", "sequence"]
    graph = helper.make_graph(
        g.nodes,
        "tiny_ner",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, batch_seq),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, batch_seq),
            helper.make_tensor_value_info("token_type_ids", TensorProto.INT64, batch_seq),
        ],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", "sequence", len(LABELS)])],
        initializer=g.initializers,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        ir_version=IR_VERSION,
        producer_name="wildchat-tiny-ner",
        producer_version="1",
    )
    onnx.checker.check_model(model, full_check=True)
    return model


# ---------------------------------------------------------------------------------------------
# Reference: windowing and decoding, transcribed from the rules in stages/pii/src/ner.rs


def owner_of(token: int, starts: list[int], lengths: list[int]) -> int:
    """The window whose probabilities a token takes: the one where it has the most context on
    its nearer side; the earlier window on ties."""
    best, best_room = -1, -1
    for index, (start, length) in enumerate(zip(starts, lengths)):
        if start <= token < start + length:
            room = min(token - start, start + length - 1 - token)
            if room > best_room:
                best, best_room = index, room
    assert best >= 0
    return best


def tag_of(label: str) -> tuple[str, str | None]:
    if label == "O":
        return "O", None
    prefix, entity_class = label.split("-", 1)
    entity = ENTITIES.get(entity_class)
    return (prefix, entity) if entity else ("O", None)


class Reference:
    def __init__(self, model_bytes: bytes, tokenizer: Tokenizer) -> None:
        self.session = single_thread_session(model_bytes)
        self.tokenizer = tokenizer
        self.cls = tokenizer.token_to_id("[CLS]")
        self.sep = tokenizer.token_to_id("[SEP]")
        self.pad = tokenizer.token_to_id("[PAD]")
        self.width = MAX_LENGTH - 2
        self.step = self.width - STRIDE

    def logits(self, rows: list[list[int]], pad_to: int | None = None) -> np.ndarray:
        """Logits [rows, length, labels] for rows of full token ids, padded with [PAD]."""
        length = pad_to or max(len(r) for r in rows)
        logits = run_padded(self.session, rows, self.pad, pad_to)
        assert logits.dtype == np.float32 and logits.shape == (len(rows), length, len(LABELS)), logits.shape
        return logits

    def windows(self, ids: list[int]) -> list[tuple[int, int]]:
        if not ids:
            return []
        return [(start, min(self.width, len(ids) - start)) for start in window_starts(len(ids), self.width, self.step)]

    def analyse(self, text: str) -> tuple[dict, list[float]]:
        encoding = self.tokenizer.encode(text, add_special_tokens=False)
        ids, offsets, word_ids = encoding.ids, encoding.offsets, encoding.word_ids
        windows = self.windows(ids)
        starts = [start for start, _ in windows]
        lengths = [length for _, length in windows]
        # Each window alone in a batch of one, so padding plays no part in the reference.
        per_window = []
        for start, length in windows:
            logits = self.logits([[self.cls, *ids[start : start + length], self.sep]])[0, 1 : 1 + length]
            shifted = logits.astype(np.float64) - logits.max(axis=-1, keepdims=True)
            exp = np.exp(shifted)
            per_window.append(exp / exp.sum(axis=-1, keepdims=True))
        probabilities = np.zeros((len(ids), len(LABELS)))
        for token in range(len(ids)):
            owner = owner_of(token, starts, lengths)
            probabilities[token] = per_window[owner][token - starts[owner]]

        # Words: runs of tokens with the same word id; a token without one is a word alone.
        words: list[list[int]] = []
        for token, word_id in enumerate(word_ids):
            if words and word_id is not None and word_ids[words[-1][0]] == word_id:
                words[-1].append(token)
            else:
                words.append([token])

        margins = []
        spans = []
        current = None  # [entity, first token, last token, scores]

        def close() -> None:
            if current is not None:
                score = float(np.mean(current[3]))
                margins.append(abs(score - MIN_SCORE))
                if score >= MIN_SCORE:
                    spans.append({"type": current[0], "start": offsets[current[1]][0], "end": offsets[current[2]][1],
                                  "score": float(f"{score:.7f}")})

        for tokens in words:
            mean = probabilities[tokens].mean(axis=0)
            label = int(np.argmax(mean))
            ranked = np.sort(mean)
            margins.append(float(ranked[-1] - ranked[-2]))
            prefix, entity = tag_of(LABELS[label])
            if entity is None:
                close()
                current = None
            elif prefix == "I" and current is not None and current[0] == entity:
                current[2] = tokens[-1]
                current[3].append(float(mean[label]))
            else:
                close()
                current = [entity, tokens[0], tokens[-1], [float(mean[label])]]
        close()

        line = {
            "text": text,
            "tokens": len(ids),
            "windows": len(windows),
            "probabilities": [[float(f"{p:.7f}") for p in row] for row in probabilities],
            "spans": spans,
        }
        return line, margins


# ---------------------------------------------------------------------------------------------
# Golden texts


SENTENCES = [
    "My name is John Smithson and I live in Zürich with my sister Anna.",
    "Dear Dr. María José García-López, thank you for the invitation to Barcelona.",
    "Please forward this to Wang Xiaoming (王小明) at the Shanghai office.",
    "Контакт: Иван Петров, Москва, ул. Ленина 5.",
    "The Japanese delegation met Angela Merkel in Berlin last Tuesday.",
    "Zoë’s façade café in Saint-Étienne is run by François Müller.",
    "I ❤️ Paris 😀 and my friend Olúwaseun from Lagos 👍🏽",
    "Sincerely, Bob\nSent from Seattle, WA",
    "ask @jdoe or mail jane.doe@example.com about the Dutch contract",
]


def golden_texts(tokenizer: Tokenizer) -> list[str]:
    texts = [
        "",
        " ",
        "\t\n  \r\n",
        "a",
        "Hi",
        "こんにちは、田中さん。",
        "مرحبا أحمد من القاهرة",
        "zero\u200bwidth\u200bspaces and a soft\u00adhyphen in Jürgen",
        *SENTENCES,
        " ".join(SENTENCES[:3]),
        "\n\n".join(SENTENCES),
        " ".join(SENTENCES * 3),
        "Émile " * 40,
    ]
    # Texts of exactly 30, 31, 52 and 53 tokens: the window boundaries for max_length 32 and
    # stride 8 (width 30, step 22).
    words = " ".join(SENTENCES * 2).split(" ")
    for target in (30, 31, 52, 53):
        for end in range(1, len(words) + 1):
            prefix = " ".join(words[:end])
            count = len(tokenizer.encode(prefix, add_special_tokens=False).ids)
            if count >= target:
                break
        if count != target:
            # No word boundary hits the count exactly: drop trailing tokens' characters instead.
            encoding = tokenizer.encode(prefix, add_special_tokens=False)
            prefix = prefix[: encoding.offsets[target - 1][1]]
        if len(tokenizer.encode(prefix, add_special_tokens=False).ids) != target:
            sys.exit(f"build.py: found no prefix of exactly {target} tokens")
        texts.append(prefix)
    return texts


# ---------------------------------------------------------------------------------------------
# Checks


def check_padded_batches(reference: Reference, texts: list[str]) -> float:
    """A padded batch must give the logits of batch-of-one runs: the attention mask works."""
    rows = []
    for text in texts:
        ids = reference.tokenizer.encode(text, add_special_tokens=False).ids
        rows.extend([reference.cls, *ids[start : start + length], reference.sep] for start, length in reference.windows(ids))
    if len({len(row) for row in rows}) < 5:
        sys.exit("build.py: the padding check needs windows of several lengths")
    worst = 0.0
    for begin in range(0, len(rows), 8):
        batch = rows[begin : begin + 8]
        together = reference.logits(batch, pad_to=MAX_LENGTH)
        for i, row in enumerate(batch):
            alone = reference.logits([row])[0]
            worst = max(worst, float(np.abs(together[i, : len(row)] - alone).max()))
    if not worst <= 1e-5:
        sys.exit(f"build.py: padded batches differ from batch-of-one runs by {worst:g}: the attention mask is broken")
    # Guard against the check passing trivially: padding tokens attended to must change logits.
    sample = min(rows, key=len)
    ids = np.array([sample + [reference.pad] * 10], dtype=np.int64)
    feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
    (unmasked,) = reference.session.run(["logits"], feeds)
    if float(np.abs(unmasked[0, : len(sample)] - reference.logits([sample])[0]).max()) < 1e-3:
        sys.exit("build.py: attending to padding changes nothing; the padding check proves nothing")
    return worst


def check_spread(lines: list[dict]) -> str:
    spans = [span for line in lines for span in line["spans"]]
    by_type = {name: sum(1 for span in spans if span["type"] == name) for name in ENTITIES.values()}
    multi_window = sum(1 for line in lines if line["windows"] >= 3)
    if min(by_type.values()) < 5 or multi_window < 3:
        sys.exit(f"build.py: the golden set is too thin: spans by type {by_type}, {multi_window} texts of 3+ windows")
    return f"{len(spans)} spans ({by_type}), {multi_window} texts of 3+ windows"


# ---------------------------------------------------------------------------------------------
# Outputs


CONFIG_TOML = f"""# Tiny random-weight token classifier for tests only (see MODEL.md); its spans are meaningless.
model = "model.onnx"
tokenizer = "tokenizer.json"
labels = [{", ".join(f'"{label}"' for label in LABELS)}]
max_length = {MAX_LENGTH}
stride = {STRIDE}
min_score = {MIN_SCORE}

# Label class -> Presidio entity type; MISC is left out, so MISC words count as O.
[entities]
{chr(10).join(f'{entity_class} = "{entity}"' for entity_class, entity in ENTITIES.items())}
"""

MODEL_MD = f"""# tiny-ner: a random-weight token classifier for tests

This folder holds a very small BERT-shaped token classifier (NER), made only so that the
optional model path of PII detection (`pii::ner`, cargo feature `ner`) can be tested without a
real checkpoint. Its weights are random numbers drawn from a fixed seed. **Its spans say
nothing about names or places; never use it to redact data.**

- `model.onnx`: opset 17, inputs `input_ids`, `attention_mask`, `token_type_ids` (int64,
  [batch, sequence], both axes dynamic), output `logits` (float32, [batch, sequence, 9]) over
  `{'`, `'.join(LABELS)}`. Two encoder layers, hidden size {HIDDEN}, {HEADS} attention heads,
  feed-forward size {FFN} (GELU), a dense classifier on every token. At most {MAX_POSITIONS} positions.
- `tokenizer.json`: a copy of `models/toxicity/tiny-bert/tokenizer.json` (WordPiece, about
  2,000 entries, lowercasing BERT normalizer, `[CLS] $A [SEP]`; `[PAD]` 0, `[CLS]` 2, `[SEP]` 3).
- `config.toml`: windows of {MAX_LENGTH} tokens ({MAX_LENGTH - 2} plus `[CLS]` and `[SEP]`), {STRIDE}
  tokens shared by consecutive windows, spans kept from score {MIN_SCORE}; PER, LOC and NORP map to
  PERSON, LOCATION and NRP, MISC to nothing.
- `golden.jsonl`: one JSON object per line, `{{"text", "tokens", "windows", "probabilities",
  "spans"}}`: `tokens` counts the text's tokens without special tokens, `windows` the windows
  run, `probabilities` the softmax of each token's logits taken from the window where the token
  has the most context (each window run alone by ONNX Runtime in Python, rounded to 7
  decimals), and `spans` the decoded entities `{{"type", "start", "end", "score"}}` with
  code-point offsets. Compare probabilities and scores with a tolerance, offsets exactly. The
  build checks that no word's top label and no span score is within {DECISION_MARGIN:g} of a
  decision boundary, so float32 arithmetic decodes the same spans.

## Rebuilding

    infra/models/tiny_ner/build.sh

It uses the virtual environment `target/model-venv-tiny` with pinned package versions (the
same as `infra/models/tiny_classifier/build.sh`), rebuilds every file here and checks that a
padded batch gives the same logits as one window at a time. With the same package versions the
output is byte for byte the same; `build.sh --check` rebuilds into a temporary folder and
compares with what is committed.
"""


def main() -> None:
    repo = Path(__file__).resolve().parents[3]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokenizer", type=Path, default=repo / "models" / "toxicity" / "tiny-bert" / "tokenizer.json",
                        help="the tokenizer.json to copy")
    parser.add_argument("--out", type=Path, default=repo / "models" / "pii" / "tiny-ner", help="output folder")
    args = parser.parse_args()

    tokenizer_json = args.tokenizer.read_bytes()
    tokenizer = Tokenizer.from_str(tokenizer_json.decode("utf-8"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    model = build_model(tokenizer.get_vocab_size(with_added_tokens=True))
    model_bytes = model.SerializeToString()
    reference = Reference(model_bytes, tokenizer)

    texts = golden_texts(tokenizer)
    lines, margins = [], []
    for text in texts:
        line, text_margins = reference.analyse(text)
        lines.append(line)
        margins.extend(text_margins)
    if min(margins) < DECISION_MARGIN:
        sys.exit(f"build.py: a decision is within {min(margins):g} of its boundary; pick another SEED")
    spread = check_spread(lines)
    worst = check_padded_batches(reference, texts)

    args.out.mkdir(parents=True, exist_ok=True)
    outputs = {
        "tokenizer.json": tokenizer_json,
        "model.onnx": model_bytes,
        "config.toml": CONFIG_TOML.encode("utf-8"),
        "golden.jsonl": "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines).encode("utf-8"),
        "MODEL.md": MODEL_MD.encode("utf-8"),
    }
    for name, data in outputs.items():
        write_bytes(args.out / name, data)

    print(f"build.py: {len(texts)} golden texts, most windows {max(line['windows'] for line in lines)}; {spread}",
          file=sys.stderr)
    print(f"build.py: smallest decision margin {min(margins):.2e}; padded batch vs batch-of-one max |diff| {worst:.2e}",
          file=sys.stderr)
    for name, data in outputs.items():
        print(f"  {name:15s} {len(data):8d} bytes  sha256 {hashlib.sha256(data).hexdigest()[:16]}", file=sys.stderr)


if __name__ == "__main__":
    main()
