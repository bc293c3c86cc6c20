#!/usr/bin/env python3
"""Exports a Detoxify model, or any Hugging Face sequence classifier, for the pipeline's
transformer toxicity scorer: model.onnx + tokenizer.json + config.toml in one folder.

Needs (not part of the pipeline's own environment; install them in a virtual environment):
    pip install torch transformers onnx onnxruntime   # always
    pip install detoxify                              # for --detoxify and --checkpoint
    pip install sentencepiece protobuf                # for XLM-R ('multilingual') tokenizers
    pip install onnxruntime-gpu                       # instead of onnxruntime, to verify --fp16
Downloading the Detoxify release checkpoints and the base models' configs and tokenizers
needs network access to GitHub and the Hugging Face hub, unless --hf-config-dir points at
local copies. The scorer itself needs none of these packages.

Examples:
    export_detoxify.py --detoxify original --out models/toxicity/detoxify-original
    export_detoxify.py --detoxify multilingual --fp16 --out models/toxicity/detoxify-multilingual-fp16
    export_detoxify.py --checkpoint toxic_debiased-c7548aa0.ckpt --out models/toxicity/unbiased
    export_detoxify.py --hf ./my-finetuned-classifier --out models/toxicity/mine

What it writes into --out:
    model.onnx      inputs input_ids, attention_mask (and token_type_ids where the tokenizer
                    uses them), int64 [batch, sequence], both axes dynamic; output logits,
                    float32 [batch, num_labels]. With --fp16 the weights and arithmetic are
                    half precision and a Cast inside the graph keeps logits float32 (meant for
                    GPU execution providers).
    tokenizer.json  the fast tokenizer (converted from the slow one where needed), with no
                    truncation or padding section: the scorer windows long texts itself.
    config.toml     kind, model, tokenizer, max_length (from the model config), stride,
                    aggregate and labels: each output column's Detoxify key.
Unless --no-verify is given, the ONNX model is run with onnxruntime on a few texts and
compared with PyTorch, padded and unpadded.
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
from pathlib import Path

DETOXIFY_KEYS = [
    "toxicity",
    "severe_toxicity",
    "obscene",
    "threat",
    "insult",
    "identity_attack",
    "sexual_explicit",
]
# Class names seen in Detoxify checkpoints and Hugging Face configs, mapped onto the keys above.
ALIASES = {
    "toxic": "toxicity",
    "toxicity": "toxicity",
    "severe_toxic": "severe_toxicity",
    "severe_toxicity": "severe_toxicity",
    "obscene": "obscene",
    "threat": "threat",
    "insult": "insult",
    "identity_hate": "identity_attack",
    "identity_attack": "identity_attack",
    "sexual_explicit": "sexual_explicit",
    "sexually_explicit": "sexual_explicit",
}
DETOXIFY_MODELS = ["original", "unbiased", "multilingual", "original-small", "unbiased-small"]
# Model types whose position ids start after the padding index, so that max_position_embeddings
# (514) exceeds the usable length (512) by pad_token_id + 1.
OFFSET_POSITION_MODELS = {"roberta", "xlm-roberta", "xlm-roberta-xl", "camembert", "data2vec-text", "longformer"}
SAMPLE_TEXTS = [
    "Thanks for the quick fix, that looks right to me.",
    "You are an idiot and everyone here knows it.",
    "ok",
    "This paragraph is a little longer so that the batch has to pad the other texts: it goes on "
    "about the edit history, the sources and the wording of the lead section for a while.",
]


def fail(message: str) -> None:
    sys.exit(f"export_detoxify: {message}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0].replace("\n", " "),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--detoxify", choices=DETOXIFY_MODELS, help="a Detoxify release model, downloaded by the detoxify package")
    source.add_argument("--checkpoint", type=Path, metavar="CKPT",
                        help="a Detoxify training checkpoint (a torch file with 'config' and 'state_dict'); "
                             "it is unpickled, so only use files you trust")
    source.add_argument("--hf", metavar="DIR_OR_ID",
                        help="a Hugging Face sequence-classification checkpoint: a local directory or a hub id")
    parser.add_argument("--hf-config-dir", type=Path, metavar="DIR",
                        help="with --detoxify/--checkpoint: local directory holding the base model's Hugging Face "
                             "config and tokenizer files, for offline use (Detoxify's huggingface_config_path)")
    parser.add_argument("--out", type=Path, required=True, help="output folder (created if missing)")
    parser.add_argument("--fp16", action="store_true",
                        help="export half-precision weights and arithmetic, float32 logits (for GPU execution)")
    parser.add_argument("--device", help="torch device to trace on (default: cuda when --fp16 and CUDA is available, else cpu)")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    parser.add_argument("--max-length", type=int, help="tokens per window, special tokens included "
                        "(default: from the model config, 512 for BERT- and XLM-R-like models)")
    parser.add_argument("--stride", type=int, default=64, help="tokens shared by consecutive windows (default 64)")
    parser.add_argument("--no-verify", action="store_true", help="skip the onnxruntime-against-PyTorch comparison")
    args = parser.parse_args()
    if args.hf_config_dir and args.hf:
        parser.error("--hf-config-dir goes with --detoxify or --checkpoint; --hf already names the files")
    return args


# ---------------------------------------------------------------------------------------------
# Loading


def load_detoxify(args: argparse.Namespace):
    """Model, tokenizer and per-column class names of a Detoxify checkpoint."""
    import torch
    from detoxify import detoxify as dtx

    if args.detoxify:
        raw = torch.hub.load_state_dict_from_url(dtx.MODEL_URLS[args.detoxify], map_location="cpu")
        kwargs = {"model_type": args.detoxify}
    else:
        raw = torch.load(args.checkpoint, map_location="cpu", weights_only=False)
        kwargs = {"checkpoint": str(args.checkpoint)}
    if args.hf_config_dir:
        kwargs["huggingface_config_path"] = str(args.hf_config_dir)
    model, tokenizer, _ = dtx.load_checkpoint(device="cpu", **kwargs)

    config = raw.get("config", {})
    dataset_args = config.get("dataset", {}).get("args", {})
    arch_args = config.get("arch", {}).get("args", {})
    classes = list(dataset_args.get("classes") or arch_args.get("classes") or [])
    # The 'unbiased' models have 16 outputs: 7 classes, then 9 identity subgroups used only in
    # training; name those columns too so every output has a label.
    classes += list(dataset_args.get("identity_classes") or [])
    return model, tokenizer, classes, f"detoxify {args.detoxify or args.checkpoint}"


def load_hf(args: argparse.Namespace):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    try:
        model = AutoModelForSequenceClassification.from_pretrained(args.hf, attn_implementation="eager")
    except TypeError:  # transformers older than the attn_implementation argument
        model = AutoModelForSequenceClassification.from_pretrained(args.hf)
    tokenizer = AutoTokenizer.from_pretrained(args.hf)
    id2label = getattr(model.config, "id2label", None) or {}
    classes = [id2label.get(i, id2label.get(str(i), f"label_{i}")) for i in range(model.config.num_labels)]
    return model, tokenizer, classes, f"hugging face {args.hf}"


def with_eager_attention(model):
    """The same weights under the plain attention implementation.

    The SDPA code paths in transformers may drop the attention mask when the traced example has
    no padding, which would freeze that choice into the graph; eager attention always applies it.
    """
    from transformers import AutoModelForSequenceClassification

    if getattr(model.config, "_attn_implementation", "eager") == "eager":
        return model
    try:
        fresh = AutoModelForSequenceClassification.from_config(model.config, attn_implementation="eager")
        fresh.load_state_dict(model.state_dict())
        return fresh
    except Exception as error:  # keep the model as loaded; the verification below still runs
        print(f"export_detoxify: could not switch to eager attention ({error}); exporting as loaded", file=sys.stderr)
        return model


# ---------------------------------------------------------------------------------------------
# Labels, lengths, tokenizer


def label_map(classes: list[str], num_labels: int) -> tuple[list[str], list[str]]:
    """Each output column's label: a Detoxify key where the class name maps onto one, else the
    class name itself (returned second so the config can list them)."""
    if len(classes) < num_labels:
        classes = classes + [f"label_{i}" for i in range(len(classes), num_labels)]
    labels, unknown = [], []
    for name in classes[:num_labels]:
        key = ALIASES.get(str(name).strip().lower().replace(" ", "_").replace("-", "_"))
        if key is None:
            key = str(name)
            unknown.append(key)
        labels.append(key)
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        fail(f"several output columns map onto {duplicates}; classes were {classes[:num_labels]}")
    return labels, unknown


def model_max_length(model, tokenizer) -> int:
    config = model.config
    candidates = []
    positions = getattr(config, "max_position_embeddings", None)
    if positions:
        if getattr(config, "model_type", "") in OFFSET_POSITION_MODELS:
            pad = getattr(config, "pad_token_id", None)
            positions -= (1 if pad is None else pad) + 1
        candidates.append(positions)
    declared = getattr(tokenizer, "model_max_length", None)
    if declared and declared < 100_000:  # transformers uses a huge number for "unknown"
        candidates.append(declared)
    return min(candidates) if candidates else 512


def fast_tokenizer(tokenizer):
    """The `tokenizers` object behind a Hugging Face tokenizer, converting a slow one."""
    if getattr(tokenizer, "is_fast", False):
        backend = tokenizer.backend_tokenizer
    else:
        from transformers.convert_slow_tokenizer import convert_slow_tokenizer

        backend = convert_slow_tokenizer(tokenizer)
        backend.add_special_tokens([str(token) for token in tokenizer.all_special_tokens])
    # The scorer windows texts itself: the file must not truncate or pad.
    backend.no_truncation()
    backend.no_padding()
    return backend


def check_tokenizer(backend, tokenizer) -> None:
    for text in SAMPLE_TEXTS:
        expected = tokenizer(text)["input_ids"]
        got = backend.encode(text).ids
        if got != expected:
            print(f"export_detoxify: warning: tokenizer.json gives {got[:12]}... where the original "
                  f"tokenizer gives {expected[:12]}... for {text!r}", file=sys.stderr)


def special_tokens_comment(backend) -> str:
    wrapped = backend.encode("").ids  # the post-processor's tokens around an empty text
    names = [backend.id_to_token(i) for i in wrapped]
    pad = next((t for t in ("[PAD]", "<pad>") if backend.token_to_id(t) is not None), None)
    parts = [f"{name} = {i}" for name, i in zip(names, wrapped)]
    if pad:
        parts.append(f"pad {pad} = {backend.token_to_id(pad)}")
    return "# Special tokens (from tokenizer.json): a window is " + " ... ".join(names or ["(nothing)"]) + \
        "; " + ", ".join(parts)


# ---------------------------------------------------------------------------------------------
# Export and verification


def export(model, tokenizer, input_names: list[str], path: Path, opset: int, device: str) -> None:
    import torch

    class LogitsOnly(torch.nn.Module):
        """Named inputs in a fixed order, logits only, always float32."""

        def __init__(self, inner, names):
            super().__init__()
            self.inner = inner
            self.names = names

        def forward(self, *tensors):
            outputs = self.inner(**dict(zip(self.names, tensors)), return_dict=False)
            return outputs[0].float()

    wrapper = LogitsOnly(model, input_names).eval()
    # Two texts of different lengths, so the traced example has padding in it.
    example = tokenizer(SAMPLE_TEXTS[:2], padding=True, return_tensors="pt")
    tensors = tuple(example[name].to(device) for name in input_names)
    dynamic = {name: {0: "batch", 1: "sequence"} for name in input_names}
    dynamic["logits"] = {0: "batch"}
    options = {}
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        options["dynamo"] = False  # the TorchScript exporter, which honours dynamic_axes
    with torch.no_grad():
        torch.onnx.export(
            wrapper,
            tensors,
            str(path),
            input_names=input_names,
            output_names=["logits"],
            dynamic_axes=dynamic,
            opset_version=opset,
            do_constant_folding=True,
            **options,
        )


def verify(model, tokenizer, input_names: list[str], path: Path, fp16: bool, device: str) -> None:
    import numpy as np
    import onnxruntime as ort
    import torch

    available = ort.get_available_providers()
    providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
    if fp16 and "CUDAExecutionProvider" not in providers:
        print("export_detoxify: note: verifying the fp16 model on CPU; install onnxruntime-gpu to check it on GPU",
              file=sys.stderr)
    try:
        session = ort.InferenceSession(str(path), providers=providers)
    except Exception as error:
        if fp16:
            print(f"export_detoxify: warning: could not load the fp16 model with {providers} ({error}); not verified",
                  file=sys.stderr)
            return
        raise
    outputs = session.get_outputs()
    if [o.name for o in outputs] != ["logits"] or outputs[0].type != "tensor(float)":
        fail(f"unexpected outputs {[(o.name, o.type) for o in outputs]}")
    if [i.name for i in session.get_inputs()] != input_names:
        fail(f"unexpected inputs {[i.name for i in session.get_inputs()]}")

    batch = tokenizer(SAMPLE_TEXTS, padding=True, return_tensors="np")
    feeds = {name: batch[name].astype(np.int64) for name in input_names}
    (onnx_logits,) = session.run(["logits"], feeds)
    with torch.no_grad():
        torch_logits = model(**{n: torch.from_numpy(feeds[n]).to(device) for n in input_names},
                             return_dict=False)[0].float().cpu().numpy()
    singles = []
    for text in SAMPLE_TEXTS:
        one = tokenizer(text, return_tensors="np")
        singles.append(session.run(["logits"], {n: one[n].astype(np.int64) for n in input_names})[0][0])
    singles = np.stack(singles)
    tolerance = 5e-2 if fp16 else 1e-3
    vs_torch = float(np.abs(onnx_logits - torch_logits).max())
    vs_padding = float(np.abs(onnx_logits - singles).max())
    print(f"export_detoxify: max |logit difference| onnx vs torch {vs_torch:.2e}, padded vs unpadded {vs_padding:.2e}",
          file=sys.stderr)
    if vs_torch > tolerance or vs_padding > tolerance:
        fail(f"the ONNX model disagrees beyond {tolerance} (see above); not trusting {path}")


# ---------------------------------------------------------------------------------------------


def toml_string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid TOML basic string


def write_config(path: Path, source: str, labels: list[str], unknown: list[str], max_length: int, stride: int,
                 fp16: bool, specials: str) -> None:
    lines = [
        f"# Exported by infra/models/export_detoxify.py from {source}"
        + (" (fp16 weights, float32 logits; meant for GPU)" if fp16 else "") + ".",
        specials,
    ]
    if unknown:
        lines.append("# Output columns whose class names are not Detoxify keys, kept under their own names: "
                     + ", ".join(unknown))
    lines += [
        'kind = "transformer"',
        'model = "model.onnx"',
        'tokenizer = "tokenizer.json"',
        f"max_length = {max_length}",
        f"stride = {stride}",
        'aggregate = "max"',
        "labels = [" + ", ".join(toml_string(label) for label in labels) + "]",
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    args = parse_args()
    import torch

    device = args.device or ("cuda" if args.fp16 and torch.cuda.is_available() else "cpu")
    model, tokenizer, classes, source = load_hf(args) if args.hf else load_detoxify(args)
    model = with_eager_attention(model).eval()
    if args.fp16:
        model = model.half()
    model = model.to(device)

    num_labels = model.config.num_labels
    labels, unknown = label_map(classes, num_labels)
    max_length = args.max_length or model_max_length(model, tokenizer)
    if not 0 <= args.stride < max_length - 2:
        fail(f"stride {args.stride} must be below max_length - 2 = {max_length - 2}")
    input_names = ["input_ids", "attention_mask"]
    if "token_type_ids" in getattr(tokenizer, "model_input_names", []):
        input_names.append("token_type_ids")

    args.out.mkdir(parents=True, exist_ok=True)
    backend = fast_tokenizer(tokenizer)
    check_tokenizer(backend, tokenizer)
    backend.save(str(args.out / "tokenizer.json"))
    export(model, tokenizer, input_names, args.out / "model.onnx", args.opset, device)
    write_config(args.out / "config.toml", source, labels, unknown, max_length, args.stride, args.fp16,
                 special_tokens_comment(backend))
    if not args.no_verify:
        verify(model, tokenizer, input_names, args.out / "model.onnx", args.fp16, device)
    print(f"export_detoxify: wrote {args.out} ({num_labels} outputs: {', '.join(labels)}; "
          f"inputs {', '.join(input_names)}; max_length {max_length}, stride {args.stride})", file=sys.stderr)


if __name__ == "__main__":
    main()
