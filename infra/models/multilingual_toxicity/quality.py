"""The toxicity quality report (docs/quality/toxicity.md): every model side by side on the
held-out rows of every development set (ROC-AUC, and precision, recall and false-positive rate
at the model's own `toxic_threshold`), and the share of benign real chat each one flags, with the
flagged texts quoted so a reader can judge them.

Texts are labelled by the product's own `worker stage language` and scored by its `toxicity
score` binary, so the report measures exactly what a run computes (a routed model picks each
text's model by that label).

    python3 quality.py --data DATA --toxicity target/release/toxicity --worker target/release/worker \
        --out docs/quality/toxicity.md

It also writes each model's figures as JSON (`quality.json` beside the model's config, named by
the config's `quality` key), which the pipeline copies into a release's manifest and card when
they were measured for the model that ran (same model id).

DATA is the development data folder (toxicity-train/, toxicity/, conversations/). Standard
library only.
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

import data

ROOT = Path(__file__).resolve().parents[3]

# (column name, config path relative to the repository or None for the embedded default, the
# model's quality file: the embedded default is the routed config's model, one id)
MODELS = [
    (
        "default (routed: English to alt-profanity-check, others to multilingual)",
        None,
        "models/toxicity/routed/quality.json",
    ),
    (
        "alt-profanity-check (English)",
        "models/toxicity/profanity-check/config.toml",
        "models/toxicity/profanity-check/quality.json",
    ),
    ("multilingual (hashed)", "models/toxicity/multilingual/config.toml", "models/toxicity/multilingual/quality.json"),
]
MEASURED_BY = "make quality-toxicity DATA=... (infra/models/multilingual_toxicity/quality.py)"


def model_id(binary: Path, config: str | None, scratch: Path) -> str:
    """The model's id as a run records it (`toxicity bench` prints it)."""
    texts = scratch / "one-text.jsonl"
    texts.write_text(json.dumps({"text": "hello"}) + "\n", encoding="utf-8")
    command = [str(binary), "bench", "--texts", str(texts)]
    if config:
        command += ["--config", str(ROOT / config)]
    done = subprocess.run(command, capture_output=True, check=True)
    return json.loads(done.stdout.decode("utf-8").strip().splitlines()[-1])["model"]


def label(worker: Path, texts: list[str]) -> list[str]:
    """The pipeline's language label of each text."""
    payload = "".join(json.dumps({"text": text}) + "\n" for text in texts)
    done = subprocess.run([str(worker), "stage", "language"], input=payload.encode("utf-8"), capture_output=True, check=True)
    labels = [json.loads(line)["language"] for line in done.stdout.decode("utf-8").splitlines()]
    if len(labels) != len(texts):
        raise SystemExit(f"{worker} labelled {len(labels)} lines for {len(texts)} texts")
    return labels


def score(binary: Path, config: str | None, texts: list[str], languages: list[str]) -> tuple[list[float], list[bool], str]:
    """The `toxicity` score and the `toxic` flag of each text, and the model's description."""
    command = [str(binary), "score"]
    if config:
        command += ["--config", str(ROOT / config)]
    payload = "".join(json.dumps({"text": text, "language": language}) + "\n" for text, language in zip(texts, languages))
    done = subprocess.run(command, input=payload.encode("utf-8"), capture_output=True, check=True)
    scores, flags = [], []
    for line in done.stdout.decode("utf-8").splitlines():
        row = json.loads(line)
        scores.append(float(row["scores"]["toxicity"]))
        flags.append(bool(row["toxic"]))
    if len(scores) != len(texts):
        raise SystemExit(f"{binary} answered {len(scores)} lines for {len(texts)} texts")
    described = done.stderr.decode("utf-8", "replace").strip().splitlines()
    return scores, flags, described[0].removeprefix("toxicity: ") if described else "?"


def roc_auc(scores: list[float], labels: list[int]) -> float | None:
    """Mann-Whitney form, ties counted half."""
    positives = sum(labels)
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        return None
    order = sorted(range(len(scores)), key=lambda index: scores[index])
    ranks = [0.0] * len(scores)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and scores[order[end + 1]] == scores[order[start]]:
            end += 1
        for position in range(start, end + 1):
            ranks[order[position]] = (start + end) / 2 + 1
        start = end + 1
    positive_ranks = sum(rank for rank, label in zip(ranks, labels) if label)
    return (positive_ranks - positives * (positives + 1) / 2) / (positives * negatives)


def at_threshold(flags: list[bool], labels: list[int]) -> tuple[float | None, float | None, float | None]:
    true_positive = sum(1 for flag, label in zip(flags, labels) if flag and label)
    false_positive = sum(1 for flag, label in zip(flags, labels) if flag and not label)
    positives = sum(labels)
    negatives = len(labels) - positives
    flagged = true_positive + false_positive
    precision = true_positive / flagged if flagged else None
    recall = true_positive / positives if positives else None
    false_positive_rate = false_positive / negatives if negatives else None
    return precision, recall, false_positive_rate


def benign_chat(folder: Path) -> list[tuple[str, str]]:
    """(source, text) of every user turn of MT-bench and the dummy conversations."""
    texts = []
    for line in (folder / "mt_bench.question.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            texts += [("mt-bench", turn) for turn in json.loads(line)["turns"]]
    for conversation in json.loads((folder / "dummy_conversation.json").read_text(encoding="utf-8")):
        texts += [
            ("dummy conversations", turn["value"])
            for turn in conversation["conversations"]
            if turn["from"] == "human" and turn["value"].strip()
        ]
    return texts


def number(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def quote(text: str) -> str:
    flat = " ".join(text.split())
    flat = flat if len(flat) <= 90 else flat[:87] + "..."
    return flat.replace("|", "\\|").replace("`", "'")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--toxicity", type=Path, required=True, help="the toxicity binary")
    parser.add_argument("--worker", type=Path, required=True, help="the worker binary (language labels)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    examples, _ = data.load(args.data)
    held_out = [example for example in examples if example.dev and "toxicity" in example.labels]
    sets = sorted({(example.source, example.language) for example in held_out})
    chat = benign_chat(args.data / "conversations")
    sentences = data.lingua_dev_sentences()

    texts = [example.text for example in held_out] + [text for _, text in chat] + [text for _, text in sentences]
    languages = label(args.worker, texts)
    results = []
    for name, config, _ in MODELS:
        scores, flags, described = score(args.toxicity, config, texts, languages)
        results.append((name, described, scores, flags))
        print(f"quality: scored {len(texts)} texts with {described}", file=sys.stderr)
    figures = [[] for _ in MODELS]

    out = []
    out.append("# Toxicity model quality\n")
    out.append(
        "Generated by `make quality-toxicity DATA=...` "
        "(`infra/models/multilingual_toxicity/quality.py`); do not edit by hand. Scores come from the "
        "`toxicity score` binary, so they are what a run computes; each model flags at its own "
        "`toxic_threshold`.\n"
    )
    for name, described, _, _ in results:
        out.append(f"- {name}: `{described}`")
    out.append("")
    out.append("## Held-out rows of the development sets\n")
    out.append(
        "Rows never trained on (a set's own test or dev split, else a tenth chosen by text hash), "
        "`toxicity` label against the model's `toxicity` score. P / R / FPR: precision, recall "
        "and false-positive rate at the model's threshold.\n"
    )
    header = "| set | language | rows | toxic |"
    rule = "| --- | --- | ---: | ---: |"
    for name, _, _, _ in results:
        header += f" {name}: ROC-AUC | P / R / FPR |"
        rule += " ---: | --- |"
    out += [header, rule]
    for source, language in sets:
        indices = [index for index, example in enumerate(held_out) if (example.source, example.language) == (source, language)]
        labels = [held_out[index].labels["toxicity"] for index in indices]
        row = f"| {source} | {language} | {len(indices)} | {sum(labels)} |"
        for column, (_, _, scores, flags) in enumerate(results):
            auc = roc_auc([scores[index] for index in indices], labels)
            precision, recall, fpr = at_threshold([flags[index] for index in indices], labels)
            row += f" {number(auc)} | {number(precision, 2)} / {number(recall, 2)} / {number(fpr, 3)} |"
            figures[column].append(figure(source, language, len(indices), sum(labels), auc, precision, recall, fpr))
        out.append(row)
    out.append("")

    out.append("## Benign real chat\n")
    out.append(
        "User turns of MT-bench's questions and of the dummy conversations (real, benign chat "
        "prompts; none should be flagged). Share flagged at each model's threshold, then every "
        "flagged prompt, to be read.\n"
    )
    offset = len(held_out)
    sources = sorted({source for source, _ in chat})
    out.append("| prompts | " + " | ".join(name for name, _, _, _ in results) + " |")
    out.append("| --- |" + " ---: |" * len(results))
    for source in sources:
        indices = [offset + index for index, (origin, _) in enumerate(chat) if origin == source]
        cells = []
        for column, (_, _, _, flags) in enumerate(results):
            flagged = sum(1 for index in indices if flags[index])
            cells.append(f"{flagged} of {len(indices)} ({100 * flagged / len(indices):.2f} %)")
            figures[column].append(figure(source, "en", len(indices), 0, None, None, None, flagged / len(indices)))
        out.append(f"| {source} | " + " | ".join(cells) + " |")
    out.append("")
    for name, _, scores, flags in results:
        flagged = [(scores[offset + index], text) for index, (_, text) in enumerate(chat) if flags[offset + index]]
        flagged.sort(reverse=True)
        out.append(f"Flagged by {name}: {len(flagged)}" + (" (highest scores first)\n" if flagged else "\n"))
        for value, text in flagged[:25]:
            out.append(f"- {value:.3f} `{quote(text)}`")
        if len(flagged) > 25:
            out.append(f"- ... and {len(flagged) - 25} more")
        out.append("")
    out.append("## Benign sentences by language\n")
    out.append(
        "lingua's test sentences (ordinary text in 75 languages, the held-out tenth): the share each "
        "model flags, for the languages where either flags any. About half of a WildChat-like "
        "release is not English.\n"
    )
    offset = len(held_out) + len(chat)
    languages = sorted({language for language, _ in sentences})
    shares = []
    for language in languages:
        indices = [offset + index for index, (name, _) in enumerate(sentences) if name == language]
        flagged = [sum(1 for index in indices if flags[index]) for _, _, _, flags in results]
        shares.append((language, len(indices), flagged))
    out.append("| language | sentences | " + " | ".join(name for name, _, _, _ in results) + " |")
    out.append("| --- | ---: |" + " ---: |" * len(results))
    for language, count, flagged in sorted(shares, key=lambda row: (-max(row[2]), row[0])):
        if max(flagged) == 0:
            continue
        out.append(f"| {language} | {count} | " + " | ".join(f"{value} ({100 * value / count:.0f} %)" for value in flagged) + " |")
    total = sum(count for _, count, _ in shares)
    totals = [sum(row[2][column] for row in shares) for column in range(len(results))]
    out.append(f"| all {len(languages)} languages | {total} | " + " | ".join(f"{value} ({100 * value / total:.1f} %)" for value in totals) + " |")
    out.append("")
    args.out.write_text("\n".join(out), encoding="utf-8")

    scratch = ROOT / "target" / "quality-toxicity"
    scratch.mkdir(parents=True, exist_ok=True)
    for (_, config, quality_file), rows in zip(MODELS, figures):
        quality = {"model": model_id(args.toxicity, config, scratch), "measured_by": MEASURED_BY, "rows": rows}
        (ROOT / quality_file).write_text(json.dumps(quality, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"quality: wrote {quality_file} for {quality['model']}", file=sys.stderr)


def figure(source, language, rows, toxic, auc, precision, recall, fpr) -> dict:
    """One set's figures as the pipeline reads them (shared::fingerprint::QualityRow)."""
    rounded = lambda value: None if value is None else round(value, 4)  # noqa: E731
    return {
        "set": source,
        "language": language,
        "rows": rows,
        "toxic": toxic,
        "roc_auc": rounded(auc),
        "precision": rounded(precision),
        "recall": rounded(recall),
        "false_positive_rate": rounded(fpr),
    }


if __name__ == "__main__":
    main()
