"""Reads a release directory with pyarrow the way a dataset user would and reports, as JSON
on stdout: whether every shard's schema equals the WildChat-1M features exactly, the number
of rows, each conversation's turn_identifier sequence (first to last), how many
conversation_hash values differ from Python's own computation, how many user turns carry a
country and a well-formed hashed_ip, and (with --datasets) the row count Hugging Face
`datasets` loads. With --dump PATH every row is also written to PATH as JSON lines."""

import hashlib
import json
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

CATEGORIES = [
    "harassment", "harassment/threatening", "harassment_threatening", "hate",
    "hate/threatening", "hate_threatening", "self-harm", "self-harm/instructions",
    "self-harm/intent", "self_harm", "self_harm_instructions", "self_harm_intent",
    "sexual", "sexual/minors", "sexual_minors", "violence", "violence/graphic",
    "violence_graphic",
]
DETOXIFY = ["identity_attack", "insult", "obscene", "severe_toxicity", "sexual_explicit",
            "threat", "toxicity"]


def wildchat_1m_schema() -> pa.Schema:
    timestamp = pa.timestamp("us", tz="UTC")
    header = pa.struct([("accept-language", pa.string()), ("user-agent", pa.string())])
    turn = pa.struct([
        ("content", pa.string()), ("country", pa.string()), ("hashed_ip", pa.string()),
        ("header", header), ("language", pa.string()), ("redacted", pa.bool_()),
        ("role", pa.string()), ("state", pa.string()), ("timestamp", timestamp),
        ("toxic", pa.bool_()), ("turn_identifier", pa.int64()),
    ])
    moderation = pa.struct([
        ("categories", pa.struct([(name, pa.bool_()) for name in CATEGORIES])),
        ("category_scores", pa.struct([(name, pa.float64()) for name in CATEGORIES])),
        ("flagged", pa.bool_()),
    ])
    detoxify = pa.struct([(name, pa.float64()) for name in DETOXIFY])
    return pa.schema([
        ("conversation_hash", pa.string()), ("model", pa.string()), ("timestamp", timestamp),
        ("conversation", pa.list_(turn)), ("turn", pa.int64()), ("language", pa.string()),
        ("openai_moderation", pa.list_(moderation)), ("detoxify_moderation", pa.list_(detoxify)),
        ("toxic", pa.bool_()), ("redacted", pa.bool_()), ("state", pa.string()),
        ("country", pa.string()), ("hashed_ip", pa.string()), ("header", header),
    ])


def main() -> None:
    release = Path(sys.argv[1])
    with_datasets = "--datasets" in sys.argv[2:]
    dump_path = sys.argv[sys.argv.index("--dump") + 1] if "--dump" in sys.argv else None
    dump = open(dump_path, "w") if dump_path else None
    manifest = json.loads((release / "manifest.json").read_text())
    expected = wildchat_1m_schema()
    report = {"schema_ok": True, "schema_problems": [], "rows": 0, "conversations": [],
              "turns": 0, "shards": 0, "hash_mismatches": 0,
              "datasets_rows": None, "with_country": 0, "hashed_ip_ok": 0,
              "user_turns": 0}
    paths = []
    for shard in manifest["variants"]["full"]["shards"]:
        path = release.parent.parent / shard["key"]
        paths.append(str(path))
        table = pq.read_table(path)
        report["shards"] += 1
        if not table.schema.equals(expected):
            report["schema_ok"] = False
            report["schema_problems"].append(f"{path}: {table.schema} != {expected}")
        report["rows"] += table.num_rows
        if dump:
            for record in table.to_pylist():
                dump.write(json.dumps(record, default=str) + "\n")
        for row in table.select(["conversation", "turn", "conversation_hash"]).to_pylist():
            turns = row["conversation"]
            ids = [t["turn_identifier"] for t in turns if t["role"] == "user"]
            report["conversations"].append(ids)
            report["turns"] += row["turn"]
            for t in turns:
                if t["role"] != "user":
                    continue
                report["user_turns"] += 1
                report["with_country"] += t["country"] is not None
                hashed = t["hashed_ip"] or ""
                report["hashed_ip_ok"] += len(hashed) == 64 and all(c in "0123456789abcdef" for c in hashed)
            plain = json.dumps([{"content": t["content"], "role": t["role"]} for t in turns])
            if hashlib.sha256(plain.encode()).hexdigest()[:32] != row["conversation_hash"]:
                report["hash_mismatches"] += 1
    if with_datasets:
        import datasets  # imported late: it is slow to import and optional for other callers

        loaded = datasets.load_dataset("parquet", data_files=paths, split="train")
        report["datasets_rows"] = loaded.num_rows
    if dump:
        dump.close()
    json.dump(report, sys.stdout)


if __name__ == "__main__":
    main()
