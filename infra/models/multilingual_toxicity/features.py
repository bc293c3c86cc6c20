"""The hashed features of the multilingual toxicity model, exactly as the Rust stage computes
them (stages/toxicity/src/hashed.rs): change one, change the other, and rebuild the golden file.

A text is cut to its first MAX_CHARS characters (code points) and lower-cased; words are the
runs between Unicode White_Space characters (Rust's `char::is_whitespace`, which, unlike
Python's `str.isspace`, excludes U+001C..U+001F). Each word gives one word feature and the
character n-grams (MIN_N..MAX_N code points) of `<word>`. A feature's bucket is the CRC-32
(IEEE) of its UTF-8 bytes (`w` + word for words, the n-gram itself for n-grams) modulo the
number of buckets.
"""

import re
import zlib

MAX_CHARS = 1024
MIN_N = 2
MAX_N = 4
# At most this many features per text (the first ones), bounding the model's work per turn.
MAX_FEATURES = 2048

WHITE_SPACE = "".join(
    chr(c)
    for c in [0x9, 0xA, 0xB, 0xC, 0xD, 0x20, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B), 0x2028, 0x2029, 0x202F, 0x205F, 0x3000]
)
WORDS = re.compile("[^" + re.escape(WHITE_SPACE) + "]+")


def feature_strings(text: str) -> list[str]:
    lowered = text[:MAX_CHARS].lower()
    out: list[str] = []
    for word in WORDS.findall(lowered):
        out.append("w" + word)
        marked = "<" + word + ">"
        for n in range(MIN_N, MAX_N + 1):
            for start in range(len(marked) - n + 1):
                out.append(marked[start : start + n])
        if len(out) >= MAX_FEATURES:
            break
    return out[:MAX_FEATURES]


def feature_ids(text: str, buckets: int) -> list[int]:
    return [zlib.crc32(feature.encode("utf-8")) % buckets for feature in feature_strings(text)]
