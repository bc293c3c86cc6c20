#!/usr/bin/env python3
"""GPU benchmark of the transformer toxicity stage against PyTorch run the way Detoxify runs it.

For each model shape (BERT-base as in Detoxify 'original', XLM-R-base as in 'multilingual') it
builds a classifier with random weights and a tokenizer trained on the benchmark texts (no
downloads: the machine has no internet), exports both to ONNX in fp32 and fp16, and times

  PyTorch   batches of --batch texts in file order, tokenized with truncation at 512 tokens
            and padding to the longest text of the batch, sigmoid of the logits copied to the
            host per batch (what Detoxify.predict does), in fp32, fp32 with TF32 matmuls
            allowed, and fp16 (model.half());
  ours      `toxicity bench --device cuda` on the same texts with the exported model: long
            texts are split into overlapping 512-token windows, so it does more work than
            PyTorch's truncation (see the split-texts column and the tokens counts).

Random weights time exactly like trained ones; the scores themselves mean nothing here.

Writes, under --out:
  toxicity_gpu.json          every number (rewritten after each step, so a cut run keeps
                             what it measured)
  toxicity_gpu.md            the Markdown table that is also printed at the end
and under --work (default OUT/work):
  texts.jsonl                the --limit texts both sides score
  models/<model>-<precision>/ model.onnx, tokenizer.json, config.toml for `toxicity`

A part that fails (an export, a PyTorch run, our stage's CUDA registration) is reported and the
rest still runs; the exit status is 1 when anything failed or was skipped for lack of time.

Usually started through bench/toxicity_gpu.sh, which sets ORT_DYLIB_PATH and LD_LIBRARY_PATH.
"""

from __future__ import annotations

import argparse
import collections
import copy
import inspect
import json
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
import warnings
from pathlib import Path

START = time.monotonic()

LABELS = [
    "toxicity",
    "severe_toxicity",
    "obscene",
    "threat",
    "insult",
    "identity_attack",
    "sexual_explicit",
]
MODELS = ("bert", "xlmr")
MODEL_TITLES = {"bert": "BERT-base", "xlmr": "XLM-R-base"}
# Model rows in the embedding tables: a trained tokenizer may use fewer, never more.
MODEL_VOCAB = {"bert": 30522, "xlmr": 250002}
TOKENIZER_VOCAB = {"bert": 30522, "xlmr": 30000}
INPUT_NAMES = {
    "bert": ["input_ids", "attention_mask", "token_type_ids"],
    "xlmr": ["input_ids", "attention_mask"],
}
BERT_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]  # ids 0..4
XLMR_SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]  # ids 0..3
MAX_LENGTH = 512
# PyTorch variants: row name -> (torch dtype name, TF32 matmuls allowed, our precision to compare).
TORCH_VARIANTS = {
    "fp32": ("float32", False, "fp32"),
    "fp32-tf32": ("float32", True, "fp32"),
    "fp16": ("float16", False, "fp16"),
}
OUR_PRECISIONS = ("fp32", "fp16")
# Short texts of different lengths: the traced export example has padding in it.
EXAMPLE_TEXTS = [
    "Thanks, that answer helped a lot.",
    "Could you rewrite the second paragraph so that it sounds less formal and a bit shorter, "
    "keeping the list of dates as it is?",
]


def log(message: str) -> None:
    stamp = time.strftime("%H:%M:%S")
    print(f"[{stamp} +{time.monotonic() - START:6.1f}s] {message}", flush=True)


# ---------------------------------------------------------------------------------------------
# Texts and tokenizers (no torch needed)


def read_texts(path: Path, limit: int) -> list[str]:
    """The first `limit` {"text": ...} lines of a JSON-lines file, in file order."""
    texts: list[str] = []
    with path.open(encoding="utf-8") as file:
        for number, line in enumerate(file, 1):
            if not line.strip():
                continue
            value = json.loads(line)
            text = value.get("text") if isinstance(value, dict) else None
            if not isinstance(text, str):
                raise ValueError(f"{path} line {number}: no string field text")
            texts.append(text)
            if len(texts) >= limit:
                break
    if not texts:
        raise ValueError(f"{path} has no texts")
    return texts


def write_texts(texts: list[str], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as file:
        for text in texts:
            file.write(json.dumps({"text": text}, ensure_ascii=False) + "\n")


def train_tokenizer(kind: str, texts: list[str]):
    """A `tokenizers.Tokenizer` of the model's kind trained on `texts`: WordPiece for BERT,
    Unigram with Metaspace for XLM-R, the usual special tokens at the usual ids, a template
    post-processor adding them, and no truncation or padding."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    if kind == "bert":
        tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]", continuing_subword_prefix="##"))
        tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
        tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tokenizer.decoder = decoders.WordPiece(prefix="##")
        trainer = trainers.WordPieceTrainer(
            vocab_size=TOKENIZER_VOCAB[kind],
            special_tokens=BERT_SPECIALS,
            # Multilingual texts hold thousands of distinct characters; the alphabet must leave
            # room for merges and never push the vocabulary past the model's embedding rows.
            limit_alphabet=1000,
            continuing_subword_prefix="##",
            show_progress=False,
        )
        specials, (first, last) = BERT_SPECIALS, ("[CLS]", "[SEP]")
        pair = "[CLS] $A [SEP] $B:1 [SEP]:1"
    elif kind == "xlmr":
        tokenizer = Tokenizer(models.Unigram())
        tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")])
        tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
        tokenizer.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always")
        trainer = trainers.UnigramTrainer(
            vocab_size=TOKENIZER_VOCAB[kind],
            special_tokens=XLMR_SPECIALS,
            unk_token="<unk>",
            max_piece_length=16,
            show_progress=False,
        )
        specials, (first, last) = XLMR_SPECIALS, ("<s>", "</s>")
        pair = "<s> $A </s> </s> $B </s>"
    else:
        raise ValueError(f"unknown model kind {kind!r}")
    tokenizer.train_from_iterator(texts, trainer=trainer, length=len(texts))
    for expected, token in enumerate(specials):
        if tokenizer.token_to_id(token) != expected:
            raise RuntimeError(f"{kind} tokenizer: {token} has id {tokenizer.token_to_id(token)}, not {expected}")
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{first} $A {last}",
        pair=pair,
        special_tokens=[(first, tokenizer.token_to_id(first)), (last, tokenizer.token_to_id(last))],
    )
    tokenizer.no_truncation()
    tokenizer.no_padding()
    if tokenizer.get_vocab_size() > MODEL_VOCAB[kind]:
        raise RuntimeError(f"{kind} tokenizer has {tokenizer.get_vocab_size()} tokens, more than the model's "
                           f"{MODEL_VOCAB[kind]} embedding rows")
    return tokenizer


def hf_tokenizer(kind: str, tokenizer):
    """The trained tokenizer as a transformers fast tokenizer, for the PyTorch side."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer.from_str(tokenizer.to_str())  # a copy: transformers may set truncation on it
    if kind == "bert":
        specials = dict(unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]",
                        mask_token="[MASK]")
        names = ["input_ids", "token_type_ids", "attention_mask"]
    else:
        specials = dict(bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>",
                        cls_token="<s>", sep_token="</s>")
        names = ["input_ids", "attention_mask"]
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        model_max_length=MAX_LENGTH,
        model_input_names=names,
        padding_side="right",
        truncation_side="right",
        **specials,
    )


def check_hf_tokenizer(kind: str, tokenizer, wrapped, texts: list[str]) -> None:
    """The transformers wrapper must give the ids of tokenizer.json (which our stage reads)."""
    for text in EXAMPLE_TEXTS + texts[:20]:
        expected = tokenizer.encode(text).ids
        if len(expected) > MAX_LENGTH:
            expected = expected[:MAX_LENGTH - 1] + expected[-1:]
        got = wrapped(text, truncation=True, max_length=MAX_LENGTH)["input_ids"]
        if got != expected:
            raise RuntimeError(f"{kind}: the transformers tokenizer gives {got[:8]}...{got[-3:]} where "
                               f"tokenizer.json gives {expected[:8]}...{expected[-3:]}")


def write_config(directory: Path, name: str) -> Path:
    path = directory / "config.toml"
    lines = [
        "# Written by bench/toxicity_gpu.py: random weights, for timing only.",
        'kind = "transformer"',
        f'name = "{name}"',
        'model = "model.onnx"',
        'tokenizer = "tokenizer.json"',
        "labels = [" + ", ".join(f'"{label}"' for label in LABELS) + "]",
        f"max_length = {MAX_LENGTH}",
        "stride = 64",
        'aggregate = "max"',
        "batch_tokens = 65536",
        "max_batch = 256",
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------
# Our stage (no torch needed)


def run_ours(binary: Path, config: Path, texts_path: Path, timeout: float) -> dict:
    """Runs `toxicity bench` once; its stderr is echoed as it comes, its JSON line returned."""
    command = [str(binary), "bench", "--config", str(config), "--device", "cuda", "--texts", str(texts_path),
               "--repeat", "1"]
    log("  $ " + " ".join(command))
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               errors="replace")
    stdout: list[str] = []
    tail: collections.deque[str] = collections.deque(maxlen=30)

    def pump_stderr() -> None:
        for line in process.stderr:
            tail.append(line.rstrip())
            print(f"    ours| {line.rstrip()}", flush=True)

    def pump_stdout() -> None:
        stdout.extend(process.stdout)

    readers = [threading.Thread(target=pump_stderr, daemon=True), threading.Thread(target=pump_stdout, daemon=True)]
    for reader in readers:
        reader.start()
    try:
        code = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise RuntimeError(f"our stage ran past {timeout:.0f}s and was stopped") from None
    finally:
        for reader in readers:
            reader.join(timeout=5)
    wall = time.monotonic() - started
    if code != 0:
        raise RuntimeError(f"our stage exited with {code}: " + " | ".join(list(tail)[-6:]))
    lines = [line.strip() for line in stdout if line.strip().startswith("{")]
    if not lines:
        raise RuntimeError("our stage printed no JSON summary; stdout was: " + "".join(stdout)[-500:])
    summary = json.loads(lines[-1])
    summary["wall_seconds"] = wall
    return summary


# ---------------------------------------------------------------------------------------------
# Report (no torch needed)


def table_rows(models: dict) -> list[dict]:
    """One row per model and PyTorch variant, with our numbers at the matching precision."""
    rows = []
    for kind, result in models.items():
        torch_runs = result.get("torch", {})
        ours_runs = result.get("ours", {})
        for variant, (_, _, ours_precision) in TORCH_VARIANTS.items():
            pytorch = torch_runs.get(variant)
            ours = ours_runs.get(ours_precision)
            if pytorch is None and ours is None:
                continue
            row = {
                "model": kind,
                "precision": variant,
                "pytorch_turns_per_s": pytorch and pytorch.get("turns_per_s"),
                "ours_turns_per_s": ours and ours.get("turns_per_s"),
                "pytorch_tokens_per_s": pytorch and pytorch.get("tokens_per_s"),
                "ours_tokens_per_s": ours and ours.get("tokens_per_s"),
                "split_texts": ours and ours.get("split_texts"),
            }
            if row["pytorch_turns_per_s"] and row["ours_turns_per_s"]:
                row["ratio"] = row["ours_turns_per_s"] / row["pytorch_turns_per_s"]
            else:
                row["ratio"] = None
            rows.append(row)
    return rows


def _number(value, digits: int = 1) -> str:
    if value is None:
        return "n/a"
    if digits == 0:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def markdown_report(results: dict) -> str:
    rows = table_rows(results.get("models", {}))
    texts = results.get("texts", {})
    lines = [
        "# Toxicity stage on GPU: ours against PyTorch",
        "",
        f"- GPU: {results.get('gpu', 'unknown')}; torch {results.get('versions', {}).get('torch', '?')}, "
        f"transformers {results.get('versions', {}).get('transformers', '?')}",
        f"- Texts: {texts.get('count', '?')} from `{texts.get('source', '?')}`, mean "
        f"{_number(texts.get('mean_bytes'), 0)} bytes; PyTorch batches of {results.get('batch', '?')} in file order",
        "- Random weights (timing only). PyTorch truncates every text at 512 tokens; ours splits longer "
        "texts into overlapping 512-token windows and scores them all, so it processes more tokens.",
        "- ratio = ours turns/s / PyTorch turns/s. The fp32-tf32 row is PyTorch with TF32 matmuls "
        "allowed against the same fp32 run of ours (ONNX Runtime's CUDA provider allows TF32 unless its use_tf32 "
        "option is turned off).",
        "",
        "| model | precision | PyTorch turns/s | ours turns/s | ratio | PyTorch tokens/s | ours tokens/s | split texts |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        lines.append(
            f"| {MODEL_TITLES.get(row['model'], row['model'])} | {row['precision']} "
            f"| {_number(row['pytorch_turns_per_s'])} | {_number(row['ours_turns_per_s'])} "
            f"| {_number(row['ratio'], 2)}{'x' if row['ratio'] is not None else ''} "
            f"| {_number(row['pytorch_tokens_per_s'], 0)} | {_number(row['ours_tokens_per_s'], 0)} "
            f"| {row['split_texts'] if row['split_texts'] is not None else 'n/a'} |"
        )
    if not rows:
        lines.append("| (no measurements) | | | | | | | |")
    errors = results.get("errors", [])
    if errors:
        lines += ["", "Failed or skipped:", ""] + [f"- {error}" for error in errors]
    notes = results.get("notes", [])
    if notes:
        lines += ["", "Notes (failures made up for by a later step):", ""] + [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"


def save(results: dict, out: Path) -> None:
    results["elapsed_seconds"] = time.monotonic() - START
    results["rows"] = table_rows(results.get("models", {}))
    (out / "toxicity_gpu.json").write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    (out / "toxicity_gpu.md").write_text(markdown_report(results), encoding="utf-8")


class Steps:
    """Runs the parts of the benchmark: each one timed, its failure recorded, none started once
    the time budget is spent."""

    FAILED = object()

    def __init__(self, budget: float, results: dict):
        self.deadline = START + budget
        self.results = results

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def fail(self, message: str, soft: bool = False) -> None:
        """Records a failure; a soft one (that a later step makes up for) only as a note."""
        log(f"{'note: failed' if soft else 'FAILED'} {message}")
        self.results.setdefault("notes" if soft else "errors", []).append(message)

    def run(self, name: str, function, *args, needs: float = 0.0, soft: bool = False, **kwargs):
        if self.left() < needs:
            self.fail(f"{name}: skipped, {max(self.left(), 0):.0f}s of the time budget left (needs ~{needs:.0f}s)",
                      soft)
            return Steps.FAILED
        log(f"{name} ...")
        started = time.monotonic()
        try:
            value = function(*args, **kwargs)
        except Exception as error:  # one part failing must not stop the others
            traceback.print_exc(file=sys.stdout)
            self.fail(f"{name}: {type(error).__name__}: {str(error)[:600]}", soft)
            return Steps.FAILED
        log(f"{name}: done in {time.monotonic() - started:.1f}s")
        return value


# ---------------------------------------------------------------------------------------------
# Models, export, PyTorch baseline (torch needed)


def build_model(kind: str, seed: int):
    """A random-weight sequence classifier of the model's shape, on the CPU, eager attention."""
    import torch
    from transformers import AutoModelForSequenceClassification, BertConfig, XLMRobertaConfig

    common = dict(
        num_labels=len(LABELS),
        problem_type="multi_label_classification",
        id2label=dict(enumerate(LABELS)),
        label2id={label: index for index, label in enumerate(LABELS)},
    )
    if kind == "bert":
        config = BertConfig(**common)
    else:
        config = XLMRobertaConfig(
            vocab_size=250002, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
            intermediate_size=3072, max_position_embeddings=514, type_vocab_size=1, pad_token_id=1,
            bos_token_id=0, eos_token_id=2, **common,
        )
    torch.manual_seed(seed)
    try:
        model = AutoModelForSequenceClassification.from_config(config, attn_implementation="eager")
    except TypeError:  # a transformers without the argument
        config._attn_implementation = "eager"
        model = AutoModelForSequenceClassification.from_config(config)
    return model.eval()


def set_attention(model, implementation: str) -> str:
    """Switches the attention implementation where transformers allows it; returns the one in use."""
    setter = getattr(model, "set_attn_implementation", None)
    if setter is not None:
        try:
            setter(implementation)
        except Exception as error:
            log(f"  note: cannot switch attention to {implementation} ({error}); keeping "
                f"{model.config._attn_implementation}")
    return str(getattr(model.config, "_attn_implementation", "?"))


def export_onnx(model, wrapped, names: list[str], path: Path, exporter: str) -> dict:
    """Exports `model` (on its device, in its dtype) with float32 logits; returns what was done."""
    import torch

    class LogitsOnly(torch.nn.Module):
        def __init__(self, inner, input_names):
            super().__init__()
            self.inner = inner
            self.input_names = input_names

        def forward(self, *tensors):
            return self.inner(**dict(zip(self.input_names, tensors)), return_dict=False)[0].float()

    device = next(model.parameters()).device
    wrapper = LogitsOnly(model, names).eval()
    example = wrapped(EXAMPLE_TEXTS, padding=True, return_tensors="pt")
    tensors = tuple(example[name].to(device) for name in names)
    dynamic = {name: {0: "batch", 1: "sequence"} for name in names}
    dynamic["logits"] = {0: "batch"}
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in [path, *path.parent.glob("*.data")]:
        stale.unlink(missing_ok=True)
    parameters = inspect.signature(torch.onnx.export).parameters
    options: dict = {}
    opset = 17
    if exporter == "torchscript":
        if "dynamo" in parameters:
            options["dynamo"] = False
    else:
        options["dynamo"] = True
        opset = 18
        if "external_data" in parameters:
            options["external_data"] = False  # our stage loads the model from one file's bytes
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapper,
            tensors,
            str(path),
            input_names=names,
            output_names=["logits"],
            dynamic_axes=dynamic,
            opset_version=opset,
            do_constant_folding=True,
            **options,
        )
    extra = [p.name for p in path.parent.iterdir() if p.name not in ("model.onnx", "tokenizer.json", "config.toml")]
    if extra:
        raise RuntimeError(f"the export wrote external data ({extra}); our stage needs one self-contained file")
    return {"exporter": exporter, "opset": opset, "bytes": path.stat().st_size}


def check_graph(path: Path, names: list[str]) -> dict:
    """Inputs, output name and type of an exported graph, as our stage expects them."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    inputs = {i.name: i.type.tensor_type.elem_type for i in model.graph.input}
    outputs = {o.name: o.type.tensor_type.elem_type for o in model.graph.output}
    if list(inputs) != names or any(t != onnx.TensorProto.INT64 for t in inputs.values()):
        raise RuntimeError(f"graph inputs {inputs}, expected int64 {names}")
    if list(outputs) != ["logits"] or outputs["logits"] not in (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16):
        raise RuntimeError(f"graph outputs {outputs}, expected logits float")
    return {"inputs": list(inputs), "logits_type": onnx.TensorProto.DataType.Name(outputs["logits"]),
            "nodes": len(model.graph.node)}


def verify_onnx(model, wrapped, names: list[str], path: Path, texts: list[str]) -> dict:
    """The fp32 graph on onnxruntime's CPU provider against the PyTorch model, padded and not,
    at lengths other than the traced example's (a frozen sequence length shows up here)."""
    import numpy as np
    import torch

    try:
        import onnxruntime as ort
    except ImportError:
        log("  note: no onnxruntime in this python; the fp32 export is not checked numerically")
        return {"checked": False}
    long_text = max(texts[:200], key=len)
    sample = ["ok thanks", texts[0], long_text]
    batch = wrapped(sample, truncation=True, max_length=300, padding=True, return_tensors="np")
    feeds = {name: batch[name].astype(np.int64) for name in names}
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # quick to load
    options.intra_op_num_threads = min(8, os.cpu_count() or 1)
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    (padded,) = session.run(["logits"], feeds)
    singles = []
    for row in range(len(sample)):
        length = int(feeds["attention_mask"][row].sum())
        singles.append(session.run(["logits"], {n: feeds[n][row:row + 1, :length] for n in names})[0][0])
    singles = np.stack(singles)
    device = next(model.parameters()).device
    with torch.inference_mode():
        reference = model(**{n: torch.from_numpy(feeds[n]).to(device) for n in names}).logits.float().cpu().numpy()
    scale = float(np.abs(reference).max())
    tolerance = 1e-3 + 1e-3 * scale
    against_torch = float(np.abs(padded - reference).max())
    against_unpadded = float(np.abs(padded - singles).max())
    lengths = [int(m.sum()) for m in feeds["attention_mask"]]
    log(f"  onnx vs torch {against_torch:.2e}, padded vs unpadded {against_unpadded:.2e} "
        f"(lengths {lengths}, tolerance {tolerance:.1e})")
    if against_torch > tolerance or against_unpadded > tolerance:
        raise RuntimeError(f"the ONNX graph disagrees: {against_torch:.2e} against torch, "
                           f"{against_unpadded:.2e} padded against unpadded (tolerance {tolerance:.1e})")
    return {"checked": True, "max_diff_torch": against_torch, "max_diff_unpadded": against_unpadded,
            "lengths": lengths}


def bench_torch(model, wrapped, texts: list[str], batch_size: int, tf32: bool) -> dict:
    """Detoxify's way: tokenize a batch (truncate at 512, pad to its longest), run, sigmoid, to host."""
    import torch

    torch.set_float32_matmul_precision("high" if tf32 else "highest")
    device = next(model.parameters()).device
    batches = [texts[start:start + batch_size] for start in range(0, len(texts), batch_size)]

    def one(batch: list[str]) -> tuple[int, int]:
        inputs = wrapped(batch, return_tensors="pt", truncation=True, max_length=MAX_LENGTH, padding=True)
        tokens = int(inputs["attention_mask"].sum())
        padded = int(inputs["attention_mask"].numel())
        inputs = {name: tensor.to(device) for name, tensor in inputs.items()}
        scores = torch.sigmoid(model(**inputs).logits).cpu()
        assert scores.shape == (len(batch), len(LABELS))
        return tokens, padded

    try:
        with torch.inference_mode():
            one(batches[0])  # warm-up
            torch.cuda.synchronize()
            started = time.perf_counter()
            tokens = padded = 0
            report = max(1, len(batches) // 4)
            for index, batch in enumerate(batches, 1):
                real, total = one(batch)
                tokens += real
                padded += total
                if index % report == 0 and index < len(batches):
                    log(f"    {index}/{len(batches)} batches, {time.perf_counter() - started:.1f}s")
            torch.cuda.synchronize()
            seconds = time.perf_counter() - started
    finally:
        torch.set_float32_matmul_precision("highest")
    return {
        "texts": len(texts),
        "batches": len(batches),
        "batch_size": batch_size,
        "seconds": seconds,
        "turns_per_s": len(texts) / seconds,
        "tokens": tokens,
        "padded_tokens": padded,
        "tokens_per_s": tokens / seconds,
        "dtype": str(next(model.parameters()).dtype).replace("torch.", ""),
        "tf32": tf32,
        "attention": str(getattr(model.config, "_attn_implementation", "?")),
        "truncated_texts": None,  # filled in by the caller
    }


# ---------------------------------------------------------------------------------------------


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0].replace("\n", " "),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
    )
    parser.add_argument("--bin", type=Path, help="the `toxicity` binary (needed unless --skip-ours)")
    parser.add_argument("--texts", type=Path, required=True, help='JSON lines with a "text" field')
    parser.add_argument("--out", type=Path, required=True,
                        help="output folder for toxicity_gpu.json and toxicity_gpu.md (created)")
    parser.add_argument("--work", type=Path,
                        help="folder for texts.jsonl and the exported models, about 2.5 GB with both "
                             "models (default: OUT/work)")
    parser.add_argument("--models", default="bert,xlmr", help="comma-separated: bert, xlmr (default both)")
    parser.add_argument("--limit", type=int, default=4000, help="texts to score, from the top of --texts (default 4000)")
    parser.add_argument("--batch", type=int, default=64, help="PyTorch texts per batch (default 64)")
    parser.add_argument("--skip-ours", action="store_true", help="no ONNX export, no runs of our stage")
    parser.add_argument("--skip-torch", action="store_true", help="no PyTorch timing runs (models are still built)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights (default 0)")
    parser.add_argument("--budget", type=float, default=320.0,
                        help="seconds after which no new part starts (default 320, for a 6-minute slot)")
    args = parser.parse_args(argv)
    args.models = [name.strip() for name in args.models.split(",") if name.strip()]
    unknown = [name for name in args.models if name not in MODELS]
    if unknown or not args.models:
        parser.error(f"--models: unknown {unknown}; choose from {', '.join(MODELS)}")
    if args.limit < 1 or args.batch < 1:
        parser.error("--limit and --batch must be at least 1")
    if not args.skip_ours and args.bin is None:
        parser.error("--bin is needed unless --skip-ours")
    return args


def bench_model(kind: str, args, texts: list[str], texts_path: Path, steps: Steps, results: dict) -> None:
    import torch

    result = results["models"].setdefault(kind, {"torch": {}, "ours": {}, "export": {}})
    out = args.out

    def persist() -> None:
        save(results, out)

    tokenizer = steps.run(f"{kind}: train tokenizer", train_tokenizer, kind, texts, needs=10)
    if tokenizer is Steps.FAILED:
        return persist()
    result["tokenizer_vocab"] = tokenizer.get_vocab_size()
    wrapped = steps.run(f"{kind}: wrap tokenizer for transformers", hf_tokenizer, kind, tokenizer)
    if wrapped is Steps.FAILED:
        return persist()
    if steps.run(f"{kind}: compare tokenizers", check_hf_tokenizer, kind, tokenizer, wrapped, texts) is Steps.FAILED:
        log("  continuing: the two sides may tokenize a little differently")
    lengths = [len(encoding.ids) for encoding in tokenizer.encode_batch(texts)]
    result["texts_over_512_tokens"] = sum(length > MAX_LENGTH for length in lengths)
    result["untruncated_tokens"] = sum(lengths)
    log(f"  {kind}: {result['tokenizer_vocab']} tokens in the vocabulary; {result['texts_over_512_tokens']} of "
        f"{len(texts)} texts over {MAX_LENGTH} tokens; {sum(lengths):,} tokens untruncated")

    model = steps.run(f"{kind}: build random-weight model", build_model, kind, args.seed, needs=15)
    if model is Steps.FAILED:
        return persist()
    model = model.to("cuda")
    result["parameters"] = sum(parameter.numel() for parameter in model.parameters())
    names = INPUT_NAMES[kind]
    half = None

    # --- ONNX exports (eager attention) ---
    configs: dict[str, Path] = {}
    if not args.skip_ours:
        exporter = "torchscript"
        directory = args.work / "models" / f"{kind}-fp32"
        path = directory / "model.onnx"
        # Failures here are notes: the dynamo exporter below is tried next, and its failures count.
        exported = steps.run(f"{kind}: export fp32 ({exporter})", export_onnx, model, wrapped, names, path, exporter,
                             needs=40, soft=True)
        checked = Steps.FAILED
        if exported is not Steps.FAILED:
            checked = steps.run(f"{kind}: check fp32 export", verify_onnx, model, wrapped, names, path, texts,
                                soft=True)
        if checked is Steps.FAILED:
            # The TorchScript exporter failed or its graph is wrong: try the dynamo exporter beside
            # it, and keep its graph if it is better (verified, or the only one there is).
            log(f"  {kind}: trying the dynamo exporter")
            alternative = args.work / "models" / f"{kind}-fp32-dynamo" / "model.onnx"
            other = steps.run(f"{kind}: export fp32 (dynamo)", export_onnx, model, wrapped, names, alternative,
                              "dynamo", needs=60)
            other_checked = Steps.FAILED
            if other is not Steps.FAILED:
                other_checked = steps.run(f"{kind}: check fp32 export (dynamo)", verify_onnx, model, wrapped, names,
                                          alternative, texts)
            if other is not Steps.FAILED and (other_checked is not Steps.FAILED or exported is Steps.FAILED):
                directory.mkdir(parents=True, exist_ok=True)
                os.replace(alternative, path)
                exporter, exported, checked = "dynamo", other, other_checked
            for leftover in alternative.parent.glob("*"):
                leftover.unlink()
            if alternative.parent.is_dir():
                alternative.parent.rmdir()
        if exported is not Steps.FAILED:
            result["export"]["fp32"] = {**exported, "check": None if checked is Steps.FAILED else checked}
            tokenizer.save(str(directory / "tokenizer.json"))
            configs["fp32"] = write_config(directory, f"random-{kind}-base-fp32")
            graph = steps.run(f"{kind}: inspect fp32 graph", check_graph, path, names)
            if graph is not Steps.FAILED:
                result["export"]["fp32"]["graph"] = graph
        persist()

        half = copy.deepcopy(model).half()
        directory = args.work / "models" / f"{kind}-fp16"
        path = directory / "model.onnx"
        exported = steps.run(f"{kind}: export fp16 ({exporter})", export_onnx, half, wrapped, names, path, exporter,
                             needs=40)
        if exported is not Steps.FAILED:
            result["export"]["fp16"] = exported
            tokenizer.save(str(directory / "tokenizer.json"))
            configs["fp16"] = write_config(directory, f"random-{kind}-base-fp16")
            graph = steps.run(f"{kind}: inspect fp16 graph", check_graph, path, names)
            if graph is not Steps.FAILED:
                result["export"]["fp16"]["graph"] = graph
        persist()

    # --- PyTorch baseline (default attention, as Detoxify loads models) ---
    if not args.skip_torch:
        result["torch_attention"] = set_attention(model, "sdpa")
        for variant, (dtype, tf32, _) in TORCH_VARIANTS.items():
            if dtype == "float16":
                if half is None:
                    half = copy.deepcopy(model).half()
                set_attention(half, "sdpa")
                subject = half
            else:
                subject = model
            measured = steps.run(f"{kind}: PyTorch {variant}", bench_torch, subject, wrapped, texts, args.batch, tf32,
                                 needs=25)
            if measured is not Steps.FAILED:
                measured["truncated_texts"] = result["texts_over_512_tokens"]
                result["torch"][variant] = measured
                log(f"  {kind} PyTorch {variant}: {measured['turns_per_s']:.1f} turns/s, "
                    f"{measured['tokens_per_s']:,.0f} tokens/s")
            persist()

    del model, half
    import gc

    gc.collect()
    torch.cuda.empty_cache()

    # --- our stage ---
    if not args.skip_ours:
        for precision in OUR_PRECISIONS:
            config = configs.get(precision)
            if config is None:
                steps.fail(f"{kind}: ours {precision}: skipped, no exported model")
                continue
            timeout = max(30.0, steps.left())
            measured = steps.run(f"{kind}: ours {precision}", run_ours, args.bin, config, texts_path, timeout,
                                 needs=25)
            if measured is not Steps.FAILED:
                result["ours"][precision] = measured
                log(f"  {kind} ours {precision}: {measured.get('turns_per_s', 0):.1f} turns/s, "
                    f"{measured.get('tokens_per_s', 0):,.0f} tokens/s, {measured.get('split_texts')} split texts, "
                    f"{measured.get('windows')} windows, load {measured.get('load_seconds', 0):.1f}s")
                if measured.get("texts") != len(texts):
                    steps.fail(f"{kind}: ours {precision} scored {measured.get('texts')} texts, not {len(texts)}")
            persist()
    persist()


def main(argv=None) -> int:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.work is None:
        args.work = args.out / "work"
    args.work.mkdir(parents=True, exist_ok=True)
    results: dict = {
        "models": {},
        "errors": [],
        "notes": [],
        "batch": args.batch,
        "limit": args.limit,
        "seed": args.seed,
        "bin": str(args.bin) if args.bin else None,
        "work": str(args.work),
        "ort_dylib_path": os.environ.get("ORT_DYLIB_PATH"),
        "argv": sys.argv,
    }
    steps = Steps(args.budget, results)

    def stopped(signum, frame) -> None:
        # A time limit outside (timeout(1) in toxicity_gpu.sh): keep what was measured.
        steps.fail(f"stopped by signal {signum} after {time.monotonic() - START:.0f}s")
        save(results, args.out)
        print(markdown_report(results), flush=True)
        os._exit(1)

    signal.signal(signal.SIGTERM, stopped)
    log(f"toxicity_gpu: models {','.join(args.models)}, limit {args.limit}, out {args.out}")

    try:
        texts = read_texts(args.texts, args.limit)
    except Exception as error:
        steps.fail(f"reading {args.texts}: {error}")
        save(results, args.out)
        return 1
    texts_path = (args.work / "texts.jsonl").resolve()
    write_texts(texts, texts_path)
    results["texts"] = {
        "source": str(args.texts),
        "path": str(texts_path),
        "count": len(texts),
        "mean_bytes": sum(len(text.encode("utf-8")) for text in texts) / len(texts),
    }
    log(f"{len(texts)} texts, mean {results['texts']['mean_bytes']:.0f} bytes -> {texts_path}")

    if not args.skip_ours:
        if not args.bin.is_file() or not os.access(args.bin, os.X_OK):
            steps.fail(f"our stage: {args.bin} is not an executable file; its runs are skipped")
            args.skip_ours = True
        else:
            args.bin = args.bin.resolve()
        dylib = os.environ.get("ORT_DYLIB_PATH")
        if not dylib:
            log("  warning: ORT_DYLIB_PATH is not set; our stage will look in its default place")
        elif not Path(dylib).is_file():
            log(f"  warning: ORT_DYLIB_PATH={dylib} does not exist")

    try:
        import torch
        import transformers

        results["versions"] = {
            "python": sys.version.split()[0],
            "torch": torch.__version__,
            "torch_cuda": torch.version.cuda,
            "transformers": transformers.__version__,
        }
        for module in ("tokenizers", "onnx", "onnxruntime", "numpy"):
            try:
                results["versions"][module] = __import__(module).__version__
            except Exception:
                results["versions"][module] = None
        if not torch.cuda.is_available():
            raise RuntimeError("torch sees no CUDA device")
        results["gpu"] = torch.cuda.get_device_name(0)
        results["cudnn"] = torch.backends.cudnn.version()
    except Exception as error:
        traceback.print_exc(file=sys.stdout)
        steps.fail(f"torch/CUDA set-up: {type(error).__name__}: {error}")
        save(results, args.out)
        return 1
    log(f"GPU {results['gpu']}; {json.dumps(results['versions'])}")
    save(results, args.out)

    for kind in args.models:
        try:
            bench_model(kind, args, texts, texts_path, steps, results)
        except Exception as error:  # a bug or an out-of-memory outside the guarded steps
            traceback.print_exc(file=sys.stdout)
            steps.fail(f"{kind}: {type(error).__name__}: {str(error)[:600]}")
            try:
                torch.cuda.empty_cache()
            except Exception:
                pass
        save(results, args.out)

    report = markdown_report(results)
    save(results, args.out)
    print()
    print(report, flush=True)
    log(f"wrote {args.out / 'toxicity_gpu.json'} and {args.out / 'toxicity_gpu.md'}")
    if results["errors"]:
        log(f"{len(results['errors'])} part(s) failed or were skipped")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
