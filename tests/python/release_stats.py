"""Recomputes a release's statistics from its shards with pyarrow, the way a dataset user
would, loads every variant with `datasets`, and compares with the manifest and the card.

Usage: python3 release_stats.py RELEASE_DIR  ->  JSON {"mismatches": [...], "variants": {...}}
Definitions follow release/src/stats.rs: lengths in code points, population sd, Python's
round(x, 2), nulls as "Unknown", users = distinct first 16 hex of the conversation hashed_ip.
"""
import json
import math
import pathlib
import sys

import pyarrow.parquet as pq


def r2(x):
    return round(x, 2)


def pct(part, whole):
    return r2(100.0 * part / whole) if whole else 0.0


def recompute(paths):
    s = dict(conversations=0, turns=0, user_turns=0, assistant_turns=0, users=set(),
             u1=0, u2=0, a1=0, a2=0, toxic_conv=0, toxic_user=0, toxic_assistant=0,
             redacted_conv=0, redacted_turns=0, languages={}, countries={}, models={})
    for path in paths:
        for row in pq.read_table(path).to_pylist():
            s["conversations"] += 1
            s["turns"] += row["turn"]
            if row["hashed_ip"] is not None:
                s["users"].add(row["hashed_ip"][:16])
            for key, column in (("languages", "language"), ("countries", "country"), ("models", "model")):
                name = row[column] if row[column] is not None else "Unknown"
                s[key][name] = s[key].get(name, 0) + 1
            s["toxic_conv"] += bool(row["toxic"])
            s["redacted_conv"] += bool(row["redacted"])
            for turn in row["conversation"]:
                length = len(turn["content"] or "")
                s["redacted_turns"] += bool(turn["redacted"])
                if turn["role"] == "user":
                    s["user_turns"] += 1
                    s["u1"] += length
                    s["u2"] += length * length
                    s["toxic_user"] += bool(turn["toxic"])
                elif turn["role"] == "assistant":
                    s["assistant_turns"] += 1
                    s["a1"] += length
                    s["a2"] += length * length
                    s["toxic_assistant"] += bool(turn["toxic"])
    return s


def sd(n, s1, s2):
    return r2(math.sqrt(float(n * s2 - s1 * s1) / float(n * n))) if n else 0.0


def main():
    release = pathlib.Path(sys.argv[1])
    manifest = json.loads((release / "manifest.json").read_text())
    card = (release / "README.md").read_text()
    mismatches = []
    out = {}

    def check(what, ours, theirs):
        if ours != theirs:
            mismatches.append(f"{what}: recomputed {ours!r}, release says {theirs!r}")

    import datasets  # late: slow to import

    for variant, entry in manifest["variants"].items():
        paths = [str(release.parent.parent / shard["key"]) for shard in entry["shards"]]
        s = recompute(paths)
        stats = manifest["statistics"][variant]
        check(f"{variant} conversations", s["conversations"], stats["conversations"])
        check(f"{variant} rows", s["conversations"], entry["rows"])
        check(f"{variant} turns", s["turns"], stats["turns"])
        check(f"{variant} user turns", s["user_turns"], stats["user_turns"])
        check(f"{variant} assistant turns", s["assistant_turns"], stats["assistant_turns"])
        check(f"{variant} users", len(s["users"]), stats["users"])
        check(f"{variant} mean turns", r2(s["turns"] / s["conversations"]) if s["conversations"] else 0.0,
              stats["mean_turns_per_conversation"])
        n = s["user_turns"]
        check(f"{variant} user chars mean", r2(s["u1"] / n) if n else 0.0, stats["user_prompt_chars"]["mean"])
        check(f"{variant} user chars sd", sd(n, s["u1"], s["u2"]), stats["user_prompt_chars"]["sd"])
        n = s["assistant_turns"]
        check(f"{variant} assistant chars mean", r2(s["a1"] / n) if n else 0.0,
              stats["assistant_response_chars"]["mean"])
        check(f"{variant} assistant chars sd", sd(n, s["a1"], s["a2"]), stats["assistant_response_chars"]["sd"])
        check(f"{variant} toxic user turns %", pct(s["toxic_user"], s["user_turns"]),
              stats["toxicity"]["user_turns_percent"])
        check(f"{variant} toxic assistant turns %", pct(s["toxic_assistant"], s["assistant_turns"]),
              stats["toxicity"]["assistant_turns_percent"])
        check(f"{variant} redacted conversations", s["redacted_conv"], stats["redaction"]["conversations"])
        check(f"{variant} redacted turns", s["redacted_turns"], stats["redaction"]["turns"])
        for key in ("languages", "countries", "models"):
            theirs = {share["name"]: share["count"] for share in stats[key]}
            check(f"{variant} {key}", s[key], theirs)
        if variant == "nontoxic" and s["toxic_conv"]:
            mismatches.append(f"nontoxic holds {s['toxic_conv']} toxic conversations")
        # The card shows the same numbers.
        for label, value in (("conversations", s["conversations"]), ("users", len(s["users"]))):
            if str(value) not in card:
                mismatches.append(f"card lacks {variant} {label} {value}")
        if f"config_name: {variant}" not in card or f"num_examples: {entry['rows']}" not in card:
            mismatches.append(f"card lacks the {variant} config or its num_examples")
        loaded = datasets.load_dataset("parquet", data_files={"train": paths}, split="train")
        check(f"{variant} rows via datasets", loaded.num_rows, entry["rows"])
        out[variant] = {"rows": entry["rows"], "users": len(s["users"]), "toxic": s["toxic_conv"]}
    json.dump({"mismatches": mismatches, "variants": out}, sys.stdout)


if __name__ == "__main__":
    main()
