"""Builds the tiny test-only toxicity classifier in models/toxicity/tiny-bert/.

What it writes (all deterministic for the pinned package versions in build.sh):
  tokenizer.json  a WordPiece tokenizer (Hugging Face `tokenizers` format) trained on the
                  comment_text column of the Jigsaw sample, about 2,000 tokens
  model.onnx      a two-layer BERT-shaped sequence classifier with random weights, built node
                  by node with the onnx helper API (opset 17)
  config.toml     the transformer config the Rust toxicity scorer reads
  golden.jsonl    reference scores for a few hundred texts, computed with onnxruntime under the
                  windowing rule the Rust side implements
  MODEL.md        what this model is and how to rebuild it

The weights are random: the scores mean nothing about toxicity. They exist so that the
transformer code path (tokenizer, windowing, batching, padding, ONNX Runtime) can be tested
end to end against a reference computed independently, here in Python.

Run it through build.sh, which makes the virtual environment with pinned versions.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tiny_common import (  # noqa: E402  (the shared helpers sit one folder up)
    Encoder,
    GraphBuilder,
    encoder,
    encoder_constants,
    normal,
    run_padded,
    single_thread_session,
    write_bytes,
)

# The seven Detoxify output keys, in the order of the model's logits.
LABELS = [
    "toxicity",
    "severe_toxicity",
    "obscene",
    "threat",
    "insult",
    "identity_attack",
    "sexual_explicit",
]
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

SEED = 20240611
VOCAB_SIZE = 2000
HIDDEN = 32
HEADS = 4
FFN = 64
LAYERS = 2
MAX_POSITIONS = 64
TYPE_VOCAB = 2
OPSET = 17
IR_VERSION = 8  # the lowest IR version that opset 17 allows; old enough for any recent runtime
LN_EPS = 1e-12

# Windowing parameters written to config.toml and used for golden.jsonl.
MAX_LENGTH = 64
STRIDE = 16

# Weight scales. Embeddings go through LayerNorm, so their scale hardly matters. The query and
# key scale makes attention sharper than uniform, so the first token's output depends on the
# text rather than on its average token. The pooler and classifier scales were picked so that
# logits over the Jigsaw sample spread over roughly [-3, 3].
EMBED_STD = 0.5
ATTN_QK_STD = 0.6
ATTN_VO_STD = 0.25
FFN_STD = 0.25
POOLER_STD = 0.5
CLASSIFIER_STD = 0.35
ATTENTION_MASK_FILL = -1.0e9

DIMS = Encoder(
    hidden=HIDDEN, heads=HEADS, ffn=FFN, layers=LAYERS, max_positions=MAX_POSITIONS, type_vocab=TYPE_VOCAB,
    ln_eps=LN_EPS, embed_std=EMBED_STD, attn_qk_std=ATTN_QK_STD, attn_vo_std=ATTN_VO_STD, ffn_std=FFN_STD,
    attention_mask_fill=ATTENTION_MASK_FILL,
)


# ---------------------------------------------------------------------------------------------
# Tokenizer


def read_comments(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8") as handle:
        return [row["comment_text"] for row in csv.DictReader(handle)]


def bert_style(tokenizer: Tokenizer) -> Tokenizer:
    tokenizer.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True
    )
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece(prefix="##")
    return tokenizer


def wordpiece(vocab: dict[str, int] | None = None) -> models.WordPiece:
    return models.WordPiece(vocab, unk_token="[UNK]", continuing_subword_prefix="##", max_input_chars_per_word=100)


def build_tokenizer(comments: list[str]) -> Tokenizer:
    # The WordPiece trainer hands ids to word-inner characters ("##x") in hash-map order, and
    # merges of equal count are ordered by id, so two runs can learn different vocabularies.
    # Registering every "##x" up front, in code point order, as if it were a special token fixes
    # those ids and makes training reproducible. The learned vocabulary is then loaded into a
    # fresh tokenizer whose only special tokens are the five real ones.
    trainee = bert_style(Tokenizer(wordpiece()))
    inner_chars = set()
    for comment in comments:
        for word, _ in trainee.pre_tokenizer.pre_tokenize_str(trainee.normalizer.normalize_str(comment)):
            inner_chars.update(word[1:])
    pinned = [f"##{char}" for char in sorted(inner_chars)]
    trainer = trainers.WordPieceTrainer(
        vocab_size=VOCAB_SIZE,
        min_frequency=2,
        special_tokens=SPECIAL_TOKENS + pinned,
        continuing_subword_prefix="##",
        show_progress=False,
    )
    trainee.train_from_iterator(comments, trainer=trainer, length=len(comments))
    vocab = trainee.get_vocab(with_added_tokens=False)
    if [vocab.get(token) for token in SPECIAL_TOKENS] != list(range(len(SPECIAL_TOKENS))):
        sys.exit("build.py: special tokens did not get ids 0..4")

    tokenizer = bert_style(Tokenizer(wordpiece(vocab)))
    tokenizer.add_special_tokens(SPECIAL_TOKENS)
    cls_id = tokenizer.token_to_id("[CLS]")
    sep_id = tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    # No truncation and no padding: the scorer windows long texts itself.
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


# ---------------------------------------------------------------------------------------------
# Model


def build_model(vocab_size: int) -> onnx.ModelProto:
    rng = np.random.default_rng(SEED)
    g = GraphBuilder(HIDDEN, LN_EPS)
    constants = encoder_constants(g, DIMS)
    first = g.const("const.first_index", np.array(0, dtype=np.int64))
    hidden = encoder(g, rng, constants, DIMS, vocab_size)

    # Pooler: the first token's vector, dense + tanh. Classifier: dense to the labels.
    cls_vector = g.op("Gather", [hidden, first], "pooler.first_token", axis=1)  # [batch, hidden]
    pooled = g.op(
        "Tanh",
        [g.dense(cls_vector, normal(rng, (HIDDEN, HIDDEN), POOLER_STD), normal(rng, (HIDDEN,), 0.1), "pooler.dense")],
        "pooler.out",
    )
    classifier_w = g.const("classifier.weight", normal(rng, (HIDDEN, len(LABELS)), CLASSIFIER_STD))
    classifier_b = g.const("classifier.bias", normal(rng, (len(LABELS),), 0.5))
    logits_mm = g.op("MatMul", [pooled, classifier_w], "classifier.matmul")
    g.nodes.append(helper.make_node("Add", [logits_mm, classifier_b], ["logits"], name="Add_classifier_out"))

    batch_seq = ["batch", "sequence"]
    graph = helper.make_graph(
        g.nodes,
        "tiny_bert_toxicity",
        inputs=[
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, batch_seq),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, batch_seq),
            helper.make_tensor_value_info("token_type_ids", TensorProto.INT64, batch_seq),
        ],
        outputs=[helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", len(LABELS)])],
        initializer=g.initializers,
    )
    model = helper.make_model(
        graph,
        producer_name="wildchat-pipeline tiny_classifier/build.py",
        producer_version="1",
        opset_imports=[helper.make_opsetid("", OPSET)],
        ir_version=IR_VERSION,
        doc_string="Random-weight BERT-shaped toxicity classifier for tests only; scores are meaningless.",
    )
    helper.set_model_props(model, {"labels": ",".join(LABELS), "seed": str(SEED), "max_position_embeddings": str(MAX_POSITIONS)})
    onnx.checker.check_model(model, full_check=True)
    return model


# ---------------------------------------------------------------------------------------------
# Reference scoring


def windows_of(ids: list[int], max_length: int, stride: int) -> list[list[int]]:
    """The windowing rule the Rust scorer implements, transcribed literally."""
    width = max_length - 2
    step = width - stride
    n = len(ids)
    out = []
    start = 0
    while True:
        out.append(ids[start : min(start + width, n)])
        if start + width >= n:
            break
        start += step
    return out


def expected_window_count(n: int, max_length: int, stride: int) -> int:
    width = max_length - 2
    step = width - stride
    return 1 if n <= width else 1 + math.ceil((n - width) / step)


class Scorer:
    def __init__(self, model_bytes: bytes, tokenizer: Tokenizer) -> None:
        self.session = single_thread_session(model_bytes)
        self.tokenizer = tokenizer
        self.cls = tokenizer.token_to_id("[CLS]")
        self.sep = tokenizer.token_to_id("[SEP]")
        self.pad = tokenizer.token_to_id("[PAD]")

    def logits(self, rows: list[list[int]], pad_to: int | None = None) -> np.ndarray:
        """Logits for rows of full token ids (specials included), padded with [PAD]."""
        logits = run_padded(self.session, rows, self.pad, pad_to)
        assert logits.dtype == np.float32 and logits.shape == (len(rows), len(LABELS)), logits.shape
        return logits

    def wrap(self, window: list[int]) -> list[int]:
        return [self.cls, *window, self.sep]

    def score(self, text: str) -> tuple[dict[str, float], int, int, np.ndarray]:
        ids = self.tokenizer.encode(text, add_special_tokens=False).ids
        windows = windows_of(ids, MAX_LENGTH, STRIDE)
        assert len(windows) == expected_window_count(len(ids), MAX_LENGTH, STRIDE)
        # Each window alone in a batch of one, so padding plays no part in the reference.
        per_window = np.stack([self.logits([self.wrap(w)])[0] for w in windows])
        probabilities = 1.0 / (1.0 + np.exp(-per_window.astype(np.float64)))
        best = probabilities.max(axis=0)
        scores = {label: float(f"{best[i]:.7f}") for i, label in enumerate(LABELS)}
        return scores, len(windows), len(ids), per_window


# ---------------------------------------------------------------------------------------------
# Golden texts


def exact_length_prefix(tokenizer: Tokenizer, texts: list[str], target: int) -> str | None:
    """A word-boundary prefix of one of the texts that encodes to exactly `target` tokens."""
    for text in texts:
        words = text.split(" ")
        for end in range(1, len(words) + 1):
            prefix = " ".join(words[:end])
            n = len(tokenizer.encode(prefix, add_special_tokens=False).ids)
            if n == target:
                return prefix
            if n > target:
                break
    return None


def golden_texts(comments: list[str], tokenizer: Tokenizer) -> list[str]:
    texts = list(comments)
    texts += [
        "",
        " ",
        "\t\n  \r\n",
        "a",
        "OK",
        "you",
        "You are an idiot.",
        "YOU ARE AN IDIOT!!!",
        "thank you so much for the help",
        "😀",
        "😀🔥🤡 lol 💀💀💀",
        "I ❤️ this 👍🏽 so much 🎉🎉",
        "Это просто ужасная статья, удалите её.",
        "这篇文章写得很好，谢谢你的编辑。",
        "この記事はひどいです。",
        "هذا المقال سيء جدا",
        "यह लेख बहुत अच्छा है",
        "Αυτό είναι ένα τεστ.",
        "안녕하세요, 반갑습니다",
        "Café naïve résumé — Zoë’s façade",
        "ＦＵＬＬＷＩＤＴＨ text and ﬁ ligature",
        "zero\u200bwidth\u200bspaces and a soft\u00adhyphen",
        "control\u0007chars\u0000inside",
        "a literal [SEP] and [CLS] in the text",
        "[UNK] [PAD] [MASK]",
        "http://example.com/some/path?query=1&x=2 #hashtag @mention",
        "1234567890 3.14159 -42 1e10",
        "Supercalifragilisticexpialidocious antidisestablishmentarianism",
        "x" * 150,
        "!!!!!!!!!!?????????......",
        "word " * 62,
        "word " * 63,
        "the " * 300,
        " ".join(comments[:6]),
        "\n\n".join(comments[-8:]),
    ]
    # Texts of exactly 0, 61, 62, 63, 107, 108, 109 and 154 tokens: the window boundaries for
    # max_length 64 and stride 16 (width 62, step 46).
    long_comments = sorted((c for c in comments if len(c) > 800), key=len)
    for target in (61, 62, 63, 107, 108, 109, 154, 155):
        prefix = exact_length_prefix(tokenizer, long_comments, target)
        if prefix is None:
            sys.exit(f"build.py: found no prefix of exactly {target} tokens")
        texts.append(prefix)
    return texts


# ---------------------------------------------------------------------------------------------
# Checks


def check_padded_batches(scorer: Scorer, texts: list[str]) -> float:
    """A padded batch must give the logits of batch-of-one runs: the attention mask works."""
    windows = []
    for text in texts:
        ids = scorer.tokenizer.encode(text, add_special_tokens=False).ids
        windows.extend(scorer.wrap(w) for w in windows_of(ids, MAX_LENGTH, STRIDE))
    worst = 0.0
    lengths = sorted({len(w) for w in windows})
    if len(lengths) < 5:
        sys.exit("build.py: the padding check needs windows of several lengths")
    for batch_start in range(0, len(windows), 16):
        batch = windows[batch_start : batch_start + 16]
        together = scorer.logits(batch, pad_to=MAX_LENGTH)  # padded to the full width
        tight = scorer.logits(batch)  # padded to the longest in the batch
        alone = np.stack([scorer.logits([w])[0] for w in batch])
        worst = max(worst, float(np.abs(together - alone).max()), float(np.abs(tight - alone).max()))
    if not worst <= 1e-5:
        sys.exit(f"build.py: padded batches differ from batch-of-one runs by {worst:g} (> 1e-5): the attention mask is broken")
    # Guard against the check passing trivially: padding tokens attended to must change logits.
    sample = min(windows, key=len)
    unmasked_input = [sample + [scorer.pad] * 10]
    ids = np.array(unmasked_input, dtype=np.int64)
    feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
    (unmasked,) = scorer.session.run(["logits"], feeds)
    if float(np.abs(unmasked[0] - scorer.logits([sample])[0]).max()) < 1e-3:
        sys.exit("build.py: attending to padding changes nothing; the padding check proves nothing")
    return worst


def check_spread(all_logits: np.ndarray, scores: list[dict[str, float]]) -> str:
    lo, hi = np.percentile(all_logits, [2, 98])
    stds = all_logits.std(axis=0)
    if not (-5.0 < lo < -1.0 and 1.0 < hi < 5.0) or stds.min() < 0.3:
        sys.exit(f"build.py: logits spread badly (2nd..98th percentile {lo:.2f}..{hi:.2f}, per-label std {[round(float(v), 2) for v in stds]})")
    distinct = min(len({s[label] for s in scores}) for label in LABELS)
    if distinct < 50:
        sys.exit(f"build.py: only {distinct} distinct scores for some label")
    return f"logits 2nd..98th percentile {lo:.2f}..{hi:.2f}, per-label std {[round(float(v), 2) for v in stds]}"


# ---------------------------------------------------------------------------------------------
# Outputs


CONFIG_TOML = f"""# Tiny random-weight BERT-shaped classifier for tests only (see MODEL.md); scores are meaningless.
kind = "transformer"
model = "model.onnx"
tokenizer = "tokenizer.json"
max_length = {MAX_LENGTH}
stride = {STRIDE}
aggregate = "max"
labels = [{", ".join(f'"{label}"' for label in LABELS)}]
"""

MODEL_MD = """# tiny-bert: a random-weight toxicity classifier for tests

This folder holds a very small transformer sequence classifier shaped like BERT, made only
so that the pipeline's transformer toxicity path can be tested without a real checkpoint.
Its weights are random numbers drawn from a fixed seed. **Its scores say nothing about
toxicity; never use it to label data.**

- `model.onnx`: opset 17, inputs `input_ids`, `attention_mask`, `token_type_ids` (int64,
  [batch, sequence], both axes dynamic), output `logits` (float32, [batch, 7]). Two encoder
  layers, hidden size 32, 4 attention heads, feed-forward size 64 (GELU), a pooler on the
  first token and a 7-way classifier. At most 64 positions.
- `tokenizer.json`: a WordPiece tokenizer of about 2,000 entries trained on the comments of
  the Jigsaw sample in `testdata/toxicity/`. BERT normalizer (lowercasing; with
  `strip_accents` unset it also strips accents), BERT pre-tokenizer, `[CLS] $A [SEP]`
  post-processor; no truncation or padding. Ids: `[PAD]` 0, `[UNK]` 1, `[CLS]` 2, `[SEP]` 3,
  `[MASK]` 4.
- `config.toml`: windows of 64 tokens (62 plus `[CLS]` and `[SEP]`), 16 tokens shared by
  consecutive windows, per-label maximum over windows, logits in Detoxify key order.
- `golden.jsonl`: one JSON object per line, `{"text", "scores", "windows", "tokens"}`, where
  `tokens` counts the text's tokens without special tokens, `windows` the windows scored,
  and `scores` the per-label maximum of sigmoid(logit) over windows, each window run alone
  by ONNX Runtime (Python) and rounded to 7 decimals. Use a tolerance when comparing.

## Rebuilding

    infra/models/tiny_classifier/build.sh

It makes a virtual environment in `target/model-venv-tiny` with pinned package versions,
rebuilds every file here and checks that a padded batch gives the same logits as one text at
a time. With the same package versions the output is byte for byte the same; run
`build.sh --check` to rebuild into a temporary folder and compare with what is committed.
"""


def main() -> None:
    repo = Path(__file__).resolve().parents[3]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=repo.parent / "shared" / "data" / "toxicity" / "jigsaw_sample.csv",
                        help="Jigsaw sample CSV with a comment_text column")
    parser.add_argument("--out", type=Path, default=repo / "models" / "toxicity" / "tiny-bert", help="output folder")
    args = parser.parse_args()

    comments = read_comments(args.data)
    tokenizer = build_tokenizer(comments)
    tokenizer_json = (tokenizer.to_str(pretty=True) + "\n").encode("utf-8")
    # Score with the tokenizer as read back from its file, the way the Rust side will.
    tokenizer = Tokenizer.from_str(tokenizer_json.decode("utf-8"))
    model = build_model(tokenizer.get_vocab_size(with_added_tokens=True))
    model_bytes = model.SerializeToString()
    scorer = Scorer(model_bytes, tokenizer)

    texts = golden_texts(comments, tokenizer)
    lines, all_logits, scores, window_counts = [], [], [], []
    for text in texts:
        text_scores, window_count, token_count, per_window = scorer.score(text)
        lines.append(json.dumps({"text": text, "scores": text_scores, "windows": window_count, "tokens": token_count},
                                ensure_ascii=False))
        all_logits.append(per_window)
        scores.append(text_scores)
        window_counts.append(window_count)
    all_logits = np.concatenate(all_logits)
    spread = check_spread(all_logits, scores)
    worst = check_padded_batches(scorer, texts)

    args.out.mkdir(parents=True, exist_ok=True)
    outputs = {
        "tokenizer.json": tokenizer_json,
        "model.onnx": model_bytes,
        "config.toml": CONFIG_TOML.encode("utf-8"),
        "golden.jsonl": ("\n".join(lines) + "\n").encode("utf-8"),
        "MODEL.md": MODEL_MD.encode("utf-8"),
    }
    for name, data in outputs.items():
        write_bytes(args.out / name, data)

    multi = sum(1 for w in window_counts if w >= 2)
    print(f"build.py: vocab {tokenizer.get_vocab_size(with_added_tokens=True)}, "
          f"[CLS]={scorer.cls} [SEP]={scorer.sep} [PAD]={scorer.pad}", file=sys.stderr)
    print(f"build.py: {len(texts)} golden texts, {multi} with 2+ windows, most windows {max(window_counts)}; {spread}",
          file=sys.stderr)
    print(f"build.py: padded batch vs batch-of-one max |diff| {worst:.2e}", file=sys.stderr)
    for name, data in outputs.items():
        print(f"  {name:15s} {len(data):8d} bytes  sha256 {hashlib.sha256(data).hexdigest()[:16]}", file=sys.stderr)


if __name__ == "__main__":
    main()
