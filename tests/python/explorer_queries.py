"""Filter combinations over a release variant, counted with pyarrow from its shards (the
ground truth the explorer's browse counts are checked against), and the conversations whose
turns hold a phrase (case aside).

usage: explorer_queries.py VARIANT_DIR PHRASE
prints JSON: {"combos": [{"params": {...}, "count": N}, ...], "phrase_hashes": [...]}
"""

import datetime
import json
import sys
from collections import Counter

import pyarrow.compute as pc
import pyarrow.dataset as ds

variant_dir, phrase = sys.argv[1], sys.argv[2]
table = ds.dataset(variant_dir, format="parquet").to_table()
rows = table.select(
    ["conversation_hash", "model", "timestamp", "turn", "language", "toxic", "redacted", "state", "country", "hashed_ip"]
).to_pylist()


def most_common(column, skip_none=True):
    counts = Counter(row[column] for row in rows if not (skip_none and row[column] is None))
    return counts.most_common(1)[0][0]


def day(value):
    return datetime.datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=datetime.timezone.utc)


def matches(row, params):
    for name, column in [("language", "language"), ("country", "country"), ("state", "state"), ("model", "model"), ("ip", "hashed_ip")]:
        if name in params and row[column] != params[name]:
            return False
    for name in ["toxic", "redacted"]:
        if name in params and row[name] is not (params[name] == "true"):
            return False
    if "min_turns" in params and not (row["turn"] is not None and row["turn"] >= int(params["min_turns"])):
        return False
    if "max_turns" in params and not (row["turn"] is not None and row["turn"] <= int(params["max_turns"])):
        return False
    if "from" in params and not (row["timestamp"] is not None and row["timestamp"] >= day(params["from"])):
        return False
    if "to" in params and not (
        row["timestamp"] is not None and row["timestamp"] < day(params["to"]) + datetime.timedelta(days=1)
    ):
        return False
    return True


language = most_common("language")
country = most_common("country")
state = most_common("state")
model = most_common("model")
ip = most_common("hashed_ip")
days = sorted(row["timestamp"].strftime("%Y-%m-%d") for row in rows if row["timestamp"] is not None)
first, middle = days[len(days) // 4], days[len(days) // 2]
combos = [
    {},
    {"language": language},
    {"language": language, "toxic": "false"},
    {"country": country, "min_turns": "2"},
    {"state": state, "language": language},
    {"model": model, "redacted": "true"},
    {"ip": ip},
    {"from": first, "to": middle, "language": language},
    {"max_turns": "1", "country": country, "model": model},
    {"language": "Klingon"},
]
report = {
    "combos": [{"params": params, "count": sum(1 for row in rows if matches(row, params))} for params in combos],
    "phrase_hashes": sorted(
        {
            hash_
            for hash_, turns in zip(table.column("conversation_hash").to_pylist(), table.column("conversation").to_pylist())
            if any(phrase.lower() in (turn["content"] or "").lower() for turn in (turns or []))
        }
    ),
}
json.dump(report, sys.stdout)
