"""Writes the distinct turn texts of generated raw logs as {"text": ...} lines, for the
toxicity benchmarks (`make bench-toxicity`, bench/toxicity_gpu.sh).

Usage: python3 bench/turn_texts.py RAW_DIR [LIMIT] > texts.jsonl
Reads RAW_DIR/*.jsonl and *.jsonl.gz (the generator also writes .zst objects; they are skipped,
the others are plenty). User turns are `messages[].content`, replies `partial_words`; lines
that are not JSON objects (the generator plants some) are skipped.
"""
import glob
import gzip
import json
import os
import sys


def rows(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as lines:
        for line in lines:
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict) and isinstance(row.get("text"), dict):
                yield row["text"]


def main():
    raw = sys.argv[1]
    limit = int(sys.argv[2]) if len(sys.argv) > 2 else None
    paths = sorted(glob.glob(os.path.join(raw, "*.jsonl")) + glob.glob(os.path.join(raw, "*.jsonl.gz")))
    if not paths:
        raise SystemExit(f"no *.jsonl or *.jsonl.gz under {raw}")
    seen = set()
    out = sys.stdout
    for path in paths:
        for text in rows(path):
            messages = (text.get("payload") or {}).get("messages") or []
            contents = [message.get("content") for message in messages if isinstance(message, dict)]
            contents.append(text.get("partial_words"))
            for content in contents:
                if isinstance(content, str) and content not in seen:
                    seen.add(content)
                    out.write(json.dumps({"text": content}, ensure_ascii=False) + "\n")
                    if limit is not None and len(seen) >= limit:
                        return


if __name__ == "__main__":
    main()
