"""Build the English CPU toxicity model (the default routes English turns to it) from alt-profanity-check.

Run through build.sh, which provides a virtual environment with pinned
packages. The script

1. loads the TF-IDF vectorizer and the calibrated linear SVM that the
   alt-profanity-check wheel ships (it fails on any unpickling warning);
2. builds the reference scikit-learn pipeline: the same fitted vocabulary,
   idf, stop words and classifier, but tokens are matched with the Unicode
   pattern TOKEN_PATTERN and lowercasing is left to the caller;
3. converts that pipeline to ONNX with skl2onnx;
4. writes golden.jsonl (original text, scikit-learn probability of the
   lowercased text) and checks onnxruntime against every golden string;
5. writes MODEL.md.

Everything written is a pure function of the pinned packages and the input
CSV, so two runs give byte-identical files.
"""

import argparse
import copy
import csv
import hashlib
import importlib.metadata
import json
import sys
import unicodedata
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import regex
from onnx import TensorProto, helper
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import StringTensorType
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS
from sklearn.pipeline import Pipeline

# One token: two or more letters, digits, combining marks or underscores.
# The same text is valid for Python's `regex` module, for RE2 (onnxruntime's
# Tokenizer) and for Rust's `regex` crate.
TOKEN_PATTERN = r"[\p{L}\p{N}\p{M}_]{2,}"
TOKEN_RE = regex.compile(TOKEN_PATTERN)

TOLERANCE = 1e-6
MIN_GOLDEN = 1200
MIN_HAND_MADE = 150
INPUT_NAME = "text"
TARGET_OPSET = {"": 21, "ai.onnx.ml": 3}
BATCH = 64
REBUILD_COMMAND = "bash infra/models/profanity_check/build.sh"


def unicode_tokenize(text):
    return TOKEN_RE.findall(text)


def fail(message):
    print(f"build.py: FAILED: {message}", file=sys.stderr)
    sys.exit(1)


# --------------------------------------------------------------------------
# Loading the shipped model
# --------------------------------------------------------------------------


def load_package():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        from profanity_check import profanity_check as pc
    if caught:
        fail(
            "loading alt-profanity-check's pickles raised warnings: "
            + "; ".join(str(w.message) for w in caught)
        )
    vectorizer, model = pc.vectorizer, pc.model
    if type(vectorizer).__name__ != "TfidfVectorizer":
        fail(f"unexpected vectorizer {type(vectorizer)}")
    if type(model).__name__ != "CalibratedClassifierCV":
        fail(f"unexpected classifier {type(model)}")
    params = vectorizer.get_params()
    expected = {
        "analyzer": "word",
        "lowercase": True,
        "ngram_range": (1, 1),
        "stop_words": "english",
        "strip_accents": None,
        "preprocessor": None,
        "tokenizer": None,
        "binary": False,
        "use_idf": True,
        "smooth_idf": True,
        "sublinear_tf": False,
        "norm": "l2",
    }
    for key, value in expected.items():
        if params[key] != value:
            fail(f"vectorizer {key}={params[key]!r}, expected {value!r}")
    if list(model.classes_) != [0, 1]:
        fail(f"unexpected classes {model.classes_}")
    return pc, vectorizer, model


def build_reference(vectorizer, model):
    """The scikit-learn pipeline the ONNX model must reproduce."""
    ref_vec = copy.deepcopy(vectorizer)
    ref_vec.set_params(lowercase=False, tokenizer=unicode_tokenize, token_pattern=None)
    return Pipeline([("tfidf", ref_vec), ("clf", model)])


def build_for_conversion(vectorizer, model):
    """The copy handed to skl2onnx.

    skl2onnx refuses a custom tokenizer, so this copy keeps the fitted
    token_pattern attribute (never used: the `tokenexp` option supplies the
    Tokenizer's regex). Stop words are set to None: no stop word is in the
    fitted vocabulary and the n-gram range is (1, 1), so dropping a stop-word
    token before counting or ignoring it as out-of-vocabulary gives the same
    vector. That is asserted here and checked on every golden string.
    """
    in_vocab = sorted(set(vectorizer.vocabulary_) & ENGLISH_STOP_WORDS)
    if in_vocab:
        fail(f"stop words in the vocabulary: {in_vocab[:10]}")
    conv_vec = copy.deepcopy(vectorizer)
    conv_vec.set_params(lowercase=False, stop_words=None)
    return Pipeline([("tfidf", conv_vec), ("clf", model)]), conv_vec


def convert(pipeline, conv_vec, model):
    onx = convert_sklearn(
        pipeline,
        name="profanity_check",
        initial_types=[(INPUT_NAME, StringTensorType([None]))],
        options={
            id(conv_vec): {"tokenexp": TOKEN_PATTERN},
            id(model): {"zipmap": False},
        },
        target_opset=TARGET_OPSET,
    )
    # skl2onnx fills opset_import from a set, whose order follows Python's
    # string hashing; sort it so the bytes do not depend on PYTHONHASHSEED.
    opsets = sorted((o.domain, o.version) for o in onx.opset_import)
    del onx.opset_import[:]
    onx.opset_import.extend(helper.make_opsetid(d, v) for d, v in opsets)
    onnx.checker.check_model(onx)
    op_types = [n.op_type for n in onx.graph.node]
    if "StringNormalizer" in op_types:
        fail("the graph has a StringNormalizer; lowercasing belongs to the caller")
    tokenizers = [n for n in onx.graph.node if n.op_type == "Tokenizer"]
    if len(tokenizers) != 1:
        fail(f"expected one Tokenizer node, found {len(tokenizers)}")
    attrs = {a.name: helper.get_attribute_value(a) for a in tokenizers[0].attribute}
    if attrs.get("tokenexp") != TOKEN_PATTERN.encode() or "separators" in attrs:
        fail(f"unexpected Tokenizer attributes {attrs}")
    return onx


# --------------------------------------------------------------------------
# Golden strings
# --------------------------------------------------------------------------

HAND_MADE = [
    # empty, whitespace, control characters
    "",
    " ",
    "   ",
    "\t",
    "\n",
    "\r\n",
    " \t\n\r\x0b\x0c ",
    "\u00a0",
    "\u2003\u2009\u202f",
    "\u3000",
    "\u2028\u2029",
    "\u200b\u200c\u200d\ufeff",
    "\x00",
    "\x07\x1b[31m",
    # single letters and short tokens
    "a",
    "I",
    "x",
    "Z",
    "é",
    "É",
    "ß",
    "я",
    "Ж",
    "中",
    "a b c d e f g",
    "I O U",
    "ok",
    "OK",
    "no",
    # digits and underscores
    "0",
    "7",
    "42",
    "000",
    "123456789",
    "3.14159",
    "1,000,000",
    "2016-01-11 21:51",
    "_",
    "__",
    "___init___",
    "snake_case_identifier",
    "__fuck__",
    "shit_head",
    "x_",
    "_x",
    "١٢٣٤",
    "४२",
    "²³",
    "Ⅻ",
    # emoji and symbols
    "😀",
    "🖕",
    "🖕🖕🖕 fuck",
    "👍🏽 great job",
    "👨‍👩‍👧‍👦",
    "🇩🇪🇫🇷",
    "I ❤️ you",
    "💩💩",
    "©®™",
    "→ ← ↑ ↓",
    # punctuation only
    "!",
    "?!",
    "...",
    "!!!???",
    "-- -- --",
    "@#$%^&*()",
    "'\"`",
    "<>[]{}",
    "/\\|",
    "«»„“”",
    "¡¿",
    "。、「」",
    "#",
    "##",
    "###",
    # URLs, markup, contractions
    "http://example.com/fuck",
    "https://en.wikipedia.org/wiki/Talk:Main_Page",
    "user@example.org",
    "<b>bold</b> &amp; <i>italic</i>",
    "== Heading ==",
    "[[Wikipedia:No personal attacks]]",
    "{{unblock|reason=I did nothing}}",
    "don't can't won't shouldn't",
    "you're an idiot",
    "f*ck you",
    "f.u.c.k",
    "s h i t",
    "sh!t",
    "a$$hole",
    # profanity in various casings
    "fuck",
    "FUCK",
    "Fuck",
    "fUcK",
    "FUCK YOU",
    "Fuck you!",
    "fuck off",
    "FUCKING HELL",
    "motherfucker",
    "MotherFucker",
    "shit",
    "SHIT",
    "Shit",
    "Sh1t",
    "sh1t",
    "bullshit",
    "BullSHIT",
    "You IDIOT",
    "you idiot",
    "YOU ARE AN IDIOT",
    "idiot",
    "Idiot",
    "stupid",
    "STUPID",
    "Stupid moron",
    "asshole",
    "ASSHOLE",
    "bitch",
    "BITCH",
    "Son of a bitch",
    "dick",
    "DICK",
    "damn",
    "DAMN IT",
    "crap",
    "CRAP",
    "bastard",
    "Bastard",
    "cunt",
    "CUNT",
    "piss off",
    "PISS OFF",
    "screw you",
    "go to hell",
    "GO TO HELL",
    "die in a fire",
    "I will kill you",
    "I WILL KILL YOU",
    "shut up",
    "SHUT UP",
    "loser",
    "LOSER",
    "dumbass",
    "DumbAss",
    "you suck",
    "YOU SUCK",
    "What the hell is wrong with you?",
    "This is bullshit and you know it.",
    "Stop being such a fucking idiot.",
    "STOP VANDALIZING MY PAGE YOU MORON",
    # English benign sentences
    "Hello, how are you today?",
    "Thank you for your help with the article.",
    "The weather is lovely this afternoon.",
    "Please add a citation for this claim.",
    "I think the second paragraph could be clearer.",
    "Could you review my pull request when you have time?",
    "The meeting has been moved to Thursday at 3 pm.",
    "She baked a chocolate cake for the party.",
    "Water boils at 100 degrees Celsius at sea level.",
    "Thanks for the feedback, I will fix the typo.",
    "The museum opens at nine in the morning.",
    "Our cat likes to sleep on the windowsill.",
    "The train to Edinburgh leaves from platform four.",
    "I appreciate your patience while we investigate.",
    "Welcome to Wikipedia! Feel free to ask questions.",
    "The quick brown fox jumps over the lazy dog.",
    "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG.",
    "Scunthorpe is a town in North Lincolnshire.",
    "Dick Grayson was the first Robin.",
    "The bitch had a litter of six puppies.",
    # Cyrillic
    "Привет, как дела?",
    "ПРИВЕТ МИР",
    "Москва — столица России.",
    "ты идиот",
    "ТЫ ИДИОТ",
    "блядь",
    "Україна",
    "ЁЛКА ёлка",
    # Greek, including word-final capital sigma
    "ΟΔΟΣ",
    "οδος",
    "Οδός",
    "ΟΔΟΣ ΣΟΦΙΑΣ",
    "ΣΑΣ",
    "Σ",
    "ΣΣ",
    "Καλημέρα κόσμε",
    "ΑΘΗΝΑ ΕΙΝΑΙ ΠΟΛΗ",
    "Ὀδυσσεύς",
    "ᾼ ᾈ",
    # Turkish and German casing
    "İSTANBUL",
    "İstanbul",
    "ISTANBUL",
    "istanbul",
    "ıstanbul",
    "DİYARBAKIR",
    "STRASSE",
    "Straße",
    "straße",
    "STRAẞE",
    "Fußball ist schön",
    "GROẞE ÜBUNG",
    "Schöne Grüße aus München",
    # accented Latin capitals
    "ÉCOLE ÉLÉMENTAIRE",
    "À BIENTÔT",
    "ÇA VA",
    "ÅNGSTRÖM",
    "ØRESUND",
    "ÑANDÚ",
    "ĲSSELMEER",
    "Ǆ ǅ ǆ",
    "Ångström",
    "café CAFÉ Café",
    "cafe\u0301 CAFE\u0301",
    "naïve NAÏVE",
    "ŁÓDŹ",
    "ÞORN",
    # Chinese, Japanese, Korean
    "你好世界",
    "我爱北京天安门",
    "这是一个测试。",
    "迷惑",
    "連絡してください",
    "見学",
    "聖やや",
    "日本語のテキストです",
    "カタカナ",
    "안녕하세요",
    "한국어 문장입니다",
    "바보야",
    # Arabic, Hebrew
    "مرحبا بالعالم",
    "السلام عليكم",
    "كتاب",
    "\u0643\u0650\u062a\u064e\u0627\u0628",
    "שלום עולם",
    "\u05e9\u05c1\u05b8\u05dc\u05d5\u05b9\u05dd",
    # Hindi and other scripts with combining marks
    "नमस्ते",
    "हिन्दी",
    "क्षत्रिय",
    "मैं ठीक हूँ",
    "किताब",
    "বাংলা ভাষা",
    "தமிழ்",
    "ภาษาไทย",
    "ውይይት",
    "ετητης",
    "βcommand",
    "μελ",
    # combining-mark edge cases
    "\u0301",
    "\u0301\u0301",
    "a\u0301",
    "\u0301a",
    "e\u0300\u0300\u0300",
    "Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334\u0319\u0324\u031e\u0349\u035a\u032f\u031e\u0320\u034dA\u036b\u0357\u0334\u0362\u0335\u031c\u0330\u0354L\u0368\u0367\u0369\u0358\u0320G\u0311\u0357\u030e\u0305\u035b\u0341\u0334\u033b\u0348\u034d\u0354\u0339O\u0342\u030c\u030c\u0358\u0328\u0335\u0339\u033b\u031d\u0333",
    "i\u0307",
    "\u0130",
    "\u1e9e",
    "\ufb01le \ufb02ow",
    "\uff26\uff35\uff23\uff2b",
    "\U0001d41f\U0001d42e\U0001d41c\U0001d424",
    # mixed scripts
    "Hello Привет Γειά 你好 مرحبا नमस्ते 안녕",
    "FUCK Путин",
    "idiot идиот ηλίθιος",
    "Москва-2016_final",
    "abcабвαβγ",
    "ΟΔΟΣ STRASSE İSTANBUL ÉCOLE",
]


def jigsaw_comments(path):
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [row["comment_text"] for row in rows]


def long_texts(comments):
    mixed = []
    i = 0
    while len(" ".join(mixed).encode()) < 24_000:
        mixed.append(comments[i % len(comments)])
        if i % 7 == 3:
            mixed.append("FUCK YOU İSTANBUL ΟΔΟΣ Straße नमस्ते 你好 😀")
        i += 1
    benign = " ".join(["The committee thanks everyone for their careful review."] * 400)
    toxic = " ".join(["You are a stupid idiot and your edits are shit."] * 450)
    return [
        "\n".join(mixed),
        benign,
        toxic,
        "a" * 25_000,
        "fuck " * 5_000,
        "Straße ΟΔΟΣ İSTANBUL " * 1_200,
        "😀" * 6_000,
    ]


def vocabulary_strings(vectorizer, model):
    """Sentences built around the most and least toxic vocabulary words."""
    coef = np.mean([c.estimator.coef_[0] for c in model.calibrated_classifiers_], axis=0)
    words = np.empty(len(vectorizer.vocabulary_), dtype=object)
    for word, index in vectorizer.vocabulary_.items():
        words[index] = word
    order = np.argsort(coef, kind="stable")
    toxic = [words[i] for i in order[::-1][:70]]
    benign = [words[i] for i in order[:30]]
    out = []
    for w in toxic + benign:
        out.append(f"you are a {w}")
        out.append(f"YOU ARE A {w.upper()}")
        out.append(f"{w.capitalize()}, said the editor.")
    return out


def golden_strings(comments, vectorizer, model):
    hand_made = list(dict.fromkeys(HAND_MADE)) + long_texts(comments)
    if len(hand_made) < MIN_HAND_MADE:
        fail(f"only {len(hand_made)} hand-made strings")
    lines = [ln for c in comments for ln in c.split("\n") if ln.strip()]
    candidates = (
        comments
        + hand_made
        + [c.upper() for c in comments]
        + lines
        + vocabulary_strings(vectorizer, model)
    )
    strings = list(dict.fromkeys(candidates))
    if len(strings) < MIN_GOLDEN:
        fail(f"only {len(strings)} golden strings")
    return strings, len(hand_made)


# --------------------------------------------------------------------------
# Checks with onnxruntime
# --------------------------------------------------------------------------


def ort_session(model_bytes):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(model_bytes, so, providers=["CPUExecutionProvider"])


def onnx_max_diff(sess, texts, expected):
    """Max |onnx - sklearn| over every text, run one by one, in batches of
    BATCH, all at once, and as one batch of the texts without any token
    (where the Tokenizer's output has zero columns)."""

    def run(batch):
        arr = np.array(batch, dtype=object)
        return sess.run(["probabilities"], {INPUT_NAME: arr})[0].astype(np.float64)

    single = np.vstack([run([t]) for t in texts])
    batched = np.vstack([run(texts[i : i + BATCH]) for i in range(0, len(texts), BATCH)])
    whole = run(texts)
    per_text = np.maximum.reduce(
        [np.abs(p - expected).max(axis=1) for p in (single, batched, whole)]
    )
    tokenless = [i for i, t in enumerate(texts) if not TOKEN_RE.search(t)]
    if not tokenless:
        fail("no golden string without tokens")
    empty = np.abs(run([texts[i] for i in tokenless]) - expected[tokenless]).max(axis=1)
    per_text[tokenless] = np.maximum(per_text[tokenless], empty)
    return per_text


def tokenizer_session():
    """A graph holding only the Tokenizer, to compare RE2 with `regex`."""
    node = helper.make_node(
        "Tokenizer",
        ["x"],
        ["y"],
        domain="com.microsoft",
        mark=0,
        mincharnum=1,
        pad_value="#",
        tokenexp=TOKEN_PATTERN,
    )
    graph = helper.make_graph(
        [node],
        "tok",
        [helper.make_tensor_value_info("x", TensorProto.STRING, [None])],
        [helper.make_tensor_value_info("y", TensorProto.STRING, None)],
    )
    m = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid("com.microsoft", 1)],
        ir_version=10,
    )
    return ort_session(m.SerializeToString())


def re2_tokens(sess, text):
    out = sess.run(None, {"x": np.array([text], dtype=object)})[0]
    return [t for t in out.reshape(-1).tolist() if t != "#"]


def code_point_disagreements(tok_sess):
    """Code points that one engine counts as token characters and the other not."""
    cps = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    py = np.array([TOKEN_RE.fullmatch(chr(c) * 2) is not None for c in cps])
    re2 = np.zeros(len(cps), dtype=bool)
    step = 65536
    for i in range(0, len(cps), step):
        chunk = np.array([chr(c) * 2 for c in cps[i : i + step]], dtype=object)
        out = tok_sess.run(None, {"x": chunk})[0].reshape(len(chunk), -1)
        if out.shape[1]:  # a batch without any token comes back as [n, 0]
            re2[i : i + step] = out[:, 0] != "#"
    return [(c, bool(p)) for c, p, r in zip(cps, py, re2) if p != r]


def ranges(points):
    out = []
    for c in points:
        if out and out[-1][1] == c - 1:
            out[-1][1] = c
        else:
            out.append([c, c])
    return ", ".join(
        f"U+{a:04X}" if a == b else f"U+{a:04X}..U+{b:04X}" for a, b in out
    )


# --------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------


def describe_io(onx):
    def dims(t):
        return [d.dim_param or d.dim_value or "N" for d in t.type.tensor_type.shape.dim]

    def dtype(t):
        return TensorProto.DataType.Name(t.type.tensor_type.elem_type).lower()

    return [(v.name, dtype(v), dims(v)) for v in onx.graph.input], [
        (v.name, dtype(v), dims(v)) for v in onx.graph.output
    ]


def write_model_md(path, info):
    ins, outs = info["io"]
    fmt = lambda name, dt, shape: f"`{name}`: {dt} `[{', '.join(map(str, shape))}]`"
    opsets = ", ".join(f"`{d or 'ai.onnx'}` {v}" for d, v in info["opsets"])
    vectorizer_pattern = info["original_pattern"]
    text = f"""# profanity-check (the English toxicity model; the default routes English turns to it)

Rebuild with `{REBUILD_COMMAND}`.

Source: the PyPI package `alt-profanity-check=={info['pkg_version']}`, licence
{info['license']} (package metadata and LICENSE file). Unpickled with
`scikit-learn=={info['sklearn_version']}`, converted with
`skl2onnx=={info['skl2onnx_version']}`, checked with
`onnxruntime=={info['ort_version']}`.

## What it is

A bag-of-words classifier: a TF-IDF vectorizer (unigrams, English stop words,
{info['vocab']} terms, smoothed idf, L2 norm) feeding five linear SVMs, each
calibrated with a sigmoid (scikit-learn's `CalibratedClassifierCV`); the
model's probability is the mean of the five. Vocabulary, idf, stop words and
weights are the package's, unchanged.

## What differs from the package

- Tokens are the matches of `{TOKEN_PATTERN}` (two or more letters, digits,
  combining marks or underscores) instead of `{vectorizer_pattern}`. The graph's
  `com.microsoft` `Tokenizer` node matches tokens with this pattern (RE2).
- The model does not lowercase. **The caller lowercases the text first**
  (Rust: `str::to_lowercase`; Python: `str.lower()`). The graph has no
  `StringNormalizer`. Stop words need no step: none is in the vocabulary, so
  they are ignored like any unknown word, exactly as before.

## Interface

- Input {fmt(*ins[0])}: one lowercased text per row.
- Outputs: {'; '.join(fmt(*o) for o in outs)}.
  `probabilities[:, 1]` is the toxicity score; `label` is the argmax
  (1 only where the score is above 0.5).
- Opsets: {opsets}.
- Size: {info['size']} bytes; sha256 `{info['sha256']}`.

## Checks

`golden.jsonl` has {info['golden']} lines `{{"text": ..., "toxicity": ...}}`:
the original (not lowercased) text and scikit-learn's float64 probability for
`text.lower()`. The texts: the {info['jigsaw']} `comment_text` values of
`testdata/toxicity/jigsaw_sample.csv`, {info['hand_made']} hand-made strings
(empty, whitespace, digits, emoji, punctuation, texts over 20 kB, many scripts
and casings, profanity) and variants of both.

onnxruntime on the lowercased texts (one by one, in batches, all at once)
matches scikit-learn on every one: max |onnx - sklearn| = {info['max_diff']:.3e}
(tolerance {TOLERANCE:g}; the graph computes in float32).

RE2's tokens equal `regex.findall`'s on every golden text. {info['cp_note']}
"""
    path.write_text(text, encoding="utf-8")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--jigsaw", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    pc, vectorizer, model = load_package()
    reference = build_reference(vectorizer, model)
    for_conversion, conv_vec = build_for_conversion(vectorizer, model)
    onx = convert(for_conversion, conv_vec, model)
    model_bytes = onx.SerializeToString()

    comments = jigsaw_comments(args.jigsaw)
    strings, n_hand = golden_strings(comments, vectorizer, model)
    lowered = [s.lower() for s in strings]

    expected = reference.predict_proba(lowered)
    toxicity = expected[:, 1].astype(np.float64)

    # The conversion copy (no stop words) scores the same in scikit-learn.
    conv_check = copy.deepcopy(conv_vec).set_params(
        tokenizer=unicode_tokenize, token_pattern=None
    )
    alt = model.predict_proba(conv_check.transform(lowered))
    if not np.array_equal(alt, expected):
        fail("dropping the stop-word step changed scikit-learn's output")

    # Tokenizer: RE2 against the `regex` module on every golden string.
    tok_sess = tokenizer_session()
    token_mismatch = [s for s in lowered if re2_tokens(tok_sess, s) != TOKEN_RE.findall(s)]
    if token_mismatch:
        print(f"RE2 and regex tokenize {len(token_mismatch)} golden strings differently:")
        for s in token_mismatch[:10]:
            print("  ", ascii(s[:120]))
    disagreements = code_point_disagreements(tok_sess)
    if disagreements:
        only_py = [c for c, p in disagreements if p]
        only_re2 = [c for c, p in disagreements if not p]
        assigned = [c for c, _ in disagreements if unicodedata.category(chr(c)) != "Cn"]
        cp_note = (
            f"Over all code points, {len(disagreements)} are token characters for"
            f" one engine only (`regex` {regex.__version__}: {len(only_py)};"
            f" onnxruntime's RE2: {len(only_re2)}); "
            + (
                f"none is assigned in Unicode {unicodedata.unidata_version}: they are"
                " characters of later Unicode versions missing from RE2's tables."
                if not assigned
                else f"{len(assigned)} are assigned in Unicode {unicodedata.unidata_version}:"
                f" {ranges(assigned)}."
            )
        )
        print(f"code points where RE2 and regex disagree: {ranges(only_py + only_re2)}")
    else:
        cp_note = "Over all code points the two engines agree."

    sess = ort_session(model_bytes)
    per_text = onnx_max_diff(sess, lowered, expected)
    max_diff = float(per_text.max())
    worst = int(np.argmax(per_text))
    print(f"golden strings: {len(strings)} (hand-made {n_hand}, jigsaw {len(comments)})")
    print(f"max |onnx - sklearn| = {max_diff:.3e} (worst: {ascii(strings[worst][:80])})")
    if not np.isfinite(max_diff) or max_diff > TOLERANCE or token_mismatch:
        fail(f"ONNX does not reproduce scikit-learn: max |diff| = {max_diff:.3e}")

    original = pc.predict_prob(lowered)
    changed = int(np.sum(np.abs(original - toxicity) > 1e-12))
    print(f"scores changed by the Unicode tokenizer vs the package: {changed}/{len(strings)}")

    (args.out / "model.onnx").write_bytes(model_bytes)
    with open(args.out / "golden.jsonl", "w", encoding="utf-8", newline="\n") as f:
        for text, p in zip(strings, toxicity):
            f.write(json.dumps({"text": text, "toxicity": float(p)}, ensure_ascii=True) + "\n")

    meta = importlib.metadata.metadata("alt-profanity-check")
    license_name = meta.get("License-Expression") or meta.get("License") or ""
    if not license_name:
        classifiers = [c for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]
        license_name = classifiers[0].split("::")[-1].strip() if classifiers else ""
    if "MIT" not in license_name:
        fail(f"unexpected licence {license_name!r}")
    info = {
        "pkg_version": importlib.metadata.version("alt-profanity-check"),
        "sklearn_version": importlib.metadata.version("scikit-learn"),
        "skl2onnx_version": importlib.metadata.version("skl2onnx"),
        "ort_version": ort.__version__,
        "license": "MIT",
        "vocab": len(vectorizer.vocabulary_),
        "original_pattern": vectorizer.token_pattern,
        "io": describe_io(onx),
        "opsets": sorted((o.domain, o.version) for o in onx.opset_import),
        "size": len(model_bytes),
        "sha256": hashlib.sha256(model_bytes).hexdigest(),
        "golden": len(strings),
        "jigsaw": len(comments),
        "hand_made": n_hand,
        "max_diff": max_diff,
        "cp_note": cp_note,
    }
    write_model_md(args.out / "MODEL.md", info)
    print(f"wrote {args.out}/model.onnx ({len(model_bytes)} bytes), golden.jsonl, MODEL.md")


if __name__ == "__main__":
    main()
