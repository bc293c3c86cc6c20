"""Summarise `perf script` output (samples with call stacks) of a pipeline run: the share of
samples by stage (the innermost frame in one of this workspace's crates) and by library (the
innermost frame in a library the pipeline spends time in), and collapsed stacks for a flame
graph. Standard library only.

    perf script -i perf.data -F comm,ip,sym,dso | python3 bench/profile_summary.py --folded folded.txt
"""

import argparse
import collections
import re
import sys

# Crates of this workspace (a frame's first path segment), so a stage is named by its crate and
# first module, e.g. `language::detector`.
OUR_CRATES = {
    "coordinator", "worker", "release", "storage", "queue", "shared", "generator", "language", "pii",
    "credentials", "toxicity", "transformer", "moderation", "geoip", "ip_hash", "link",
}

# (library, pattern on the frame's symbol or shared object), innermost match wins.
LIBRARIES = [
    ("kernel: page zeroing", re.compile(r"clear_page|clear_huge_page")),
    ("kernel: other", re.compile(r"\[kernel\.kallsyms\]|^\[unknown\]$")),
    ("zstd", re.compile(r"ZSTD_|HUF_|FSE_|HIST_|libzstd|zstd::")),
    ("lingua: FST lookups", re.compile(r"^fst::")),
    ("lingua: other", re.compile(r"^lingua::")),
    ("sha256", re.compile(r"sha2::|sha256")),
    ("JSON (serde_json)", re.compile(r"serde_json::")),
    ("regex / aho-corasick", re.compile(r"regex_automata::|regex::|aho_corasick::|regex_syntax::")),
    ("Parquet / Arrow", re.compile(r"^parquet::|^arrow_|^<?arrow")),
    ("ONNX Runtime", re.compile(r"libonnxruntime|onnxruntime")),
    ("allocator", re.compile(r"malloc|^free$|realloc|calloc|_int_free|cfree|__rust_alloc|__rust_dealloc")),
    ("memcpy / memset", re.compile(r"memmove|memcpy|memset|memcmp")),
    ("hashing (hash maps)", re.compile(r"hashbrown::|core::hash::|ahash::|foldhash::|std::hash::")),
]


def crate_of(symbol: str) -> str | None:
    """`language::detector` for `<language::detector::Detector as X>::f` and the like."""
    symbol = symbol.lstrip("<&*").removeprefix("mut ").removeprefix("dyn ")
    parts = symbol.split("::")
    if len(parts) >= 2 and parts[0] in OUR_CRATES:
        module = re.split(r"[<>{ (]", parts[1])[0]
        return f"{parts[0]}::{module}" if module else parts[0]
    return None


def parse(lines):
    """Yields (comm, frames) per sample; frames leaf first as (symbol, dso)."""
    comm, frames = None, []
    for line in lines:
        if not line.strip():
            if comm is not None:
                yield comm, frames
            comm, frames = None, []
            continue
        if not line[0].isspace():
            if comm is not None:
                yield comm, frames
            comm, frames = line.split()[0], []
            continue
        body = line.strip()
        match = re.match(r"^[0-9a-f]+\s+(.*?)\s+\((.*)\)$", body)
        if match:
            symbol, dso = match.group(1), match.group(2)
        else:
            symbol, dso = body, ""
        symbol = re.sub(r"\+0x[0-9a-f]+$", "", symbol)
        frames.append((symbol, dso))
    if comm is not None:
        yield comm, frames


def table(title: str, counter: collections.Counter, total: int, limit: int) -> list[str]:
    out = [f"| {title} | samples | share |", "| --- | ---: | ---: |"]
    for name, count in counter.most_common(limit):
        out.append(f"| {name} | {count} | {100 * count / total:.1f} % |")
    rest = sum(counter.values()) - sum(count for _, count in counter.most_common(limit))
    if rest:
        out.append(f"| (the rest) | {rest} | {100 * rest / total:.1f} % |")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folded", help="write collapsed stacks (root first) here")
    parser.add_argument("--limit", type=int, default=20, help="rows per table")
    args = parser.parse_args()

    stages, libraries, leaves, folded = (collections.Counter() for _ in range(4))
    total = 0
    for _, frames in parse(sys.stdin):
        if not frames:
            continue
        total += 1
        stage = next((crate for crate in (crate_of(symbol) for symbol, _ in frames) if crate), "(no frame of ours)")
        stages[stage] += 1
        library = next(
            (name for symbol, dso in frames for name, pattern in LIBRARIES if pattern.search(symbol) or pattern.search(dso)),
            "our code and the rest",
        )
        libraries[library] += 1
        leaves[frames[0][0][:120]] += 1
        if args.folded:
            folded[";".join(symbol.replace(";", ":") for symbol, _ in reversed(frames))] += 1
    if total == 0:
        raise SystemExit("profile_summary: no samples in the input")
    out = [f"{total} samples.", ""]
    out += ["By stage (the innermost frame in one of this workspace's crates):", ""]
    out += table("crate::module", stages, total, args.limit) + [""]
    out += ["By library (the innermost frame in a library the run spends time in, else our code):", ""]
    out += table("library", libraries, total, args.limit) + [""]
    out += ["Hottest functions (self time):", ""]
    out += table("function", leaves, total, args.limit)
    print("\n".join(out))
    if args.folded:
        with open(args.folded, "w", encoding="utf-8") as file:
            for stack, count in sorted(folded.items()):
                file.write(f"{stack} {count}\n")


if __name__ == "__main__":
    main()
