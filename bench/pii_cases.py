"""Writes the "similar data" file of the Presidio comparison (bench/pii_presidio.sh): short chat-like
sentences holding phone numbers in many national and international formats and valid (Luhn)
payment-card numbers of 12 to 19 digits, plus sentences with numbers that are neither, in the
presidio-research format that `pii quality` reads:

    [{"full_text": ..., "spans": [{"entity_type", "entity_value", "start_position",
      "end_position"}], "metadata": {"category": ...}}, ...]

Offsets are code points (Python string indices), end exclusive. The output is deterministic
(fixed lists and a seeded generator); the phone numbers are literal strings, each checked at
generation time with the `phonenumbers` library (`is_valid_number` for its region), so the file
depends only on this script, not on the library's version. Card numbers are drawn from a seeded
generator and completed with a Luhn check digit.

Usage: python3 bench/pii_cases.py [OUT.json]   (default bench/data/pii_similar.json)
Needs `phonenumbers` (installed in the Presidio venv that bench/pii_presidio.sh makes).
"""
import json
import os
import random
import sys

SEED = 20240607

# (region, number as written). Regions cover Presidio's default phone regions (US GB DE FR IL IN CA
# BR), the crate `pii`'s (US GB DE FR IN AU CN ES IT NL) and others that neither lists, where only
# the international form can be recognised without guessing the country.
PHONES = [
    ("GB", "+44 20 7946 0958"), ("GB", "020 7946 0958"), ("GB", "+44 (0)20 7946 0958"),
    ("GB", "+44 161 496 0123"), ("GB", "0161 496 0123"), ("GB", "+44 7911 123456"),
    ("GB", "07911 123456"),
    ("DE", "+49 30 901820"), ("DE", "030 901820"), ("DE", "030/901820"),
    ("DE", "+49 151 23456789"), ("DE", "0151 23456789"), ("DE", "+49 (0)89 1234567"),
    ("DE", "089 1234567"),
    ("FR", "06 12 34 56 78"), ("FR", "+33 6 12 34 56 78"), ("FR", "06.12.34.56.78"),
    ("FR", "01 23 45 67 89"), ("FR", "+33 1 23 45 67 89"), ("FR", "0612345678"),
    ("IN", "+91 98765 43210"), ("IN", "098765 43210"), ("IN", "98765 43210"),
    ("IN", "+91 22 2345 6789"), ("IN", "022 2345 6789"), ("IN", "+91-98765-43210"),
    ("CN", "+86 138 0013 8000"), ("CN", "138 0013 8000"), ("CN", "13800138000"),
    ("CN", "+86 10 6552 9988"), ("CN", "010 6552 9988"), ("CN", "+86 21 6234 5678"),
    ("AU", "(02) 9374 4000"), ("AU", "+61 2 9374 4000"), ("AU", "0412 345 678"),
    ("AU", "+61 412 345 678"), ("AU", "02 9374 4000"), ("AU", "(03) 9123 4567"),
    ("RU", "+7 495 123-45-67"), ("RU", "8 (495) 123-45-67"), ("RU", "+7 912 345-67-89"),
    ("RU", "8 912 345 67 89"), ("RU", "+7 (812) 123-45-67"),
    ("JP", "+81 3-1234-5678"), ("JP", "03-1234-5678"), ("JP", "090-1234-5678"),
    ("JP", "+81 90-1234-5678"),
    ("BR", "+55 11 91234-5678"), ("BR", "(11) 91234-5678"), ("BR", "+55 21 2345-6789"),
    ("BR", "(21) 2345-6789"),
    ("ES", "+34 612 34 56 78"), ("ES", "612 34 56 78"), ("ES", "91 123 45 67"),
    ("ES", "+34 91 123 45 67"),
    ("IT", "+39 06 1234 5678"), ("IT", "06 1234 5678"), ("IT", "+39 312 345 6789"),
    ("IT", "312 345 6789"),
    ("NL", "+31 20 123 4567"), ("NL", "020 123 4567"), ("NL", "06 12345678"),
    ("NL", "+31 6 12345678"),
    ("MX", "+52 55 1234 5678"), ("MX", "55 1234 5678"), ("MX", "+52 33 1234 5678"),
    ("KR", "+82 2-312-3456"), ("KR", "02-312-3456"), ("KR", "010-1234-5678"),
    ("KR", "+82 10-1234-5678"),
    ("ZA", "+27 21 123 4567"), ("ZA", "021 123 4567"), ("ZA", "+27 82 123 4567"),
    ("ZA", "082 123 4567"),
    ("SG", "+65 6123 4567"), ("SG", "6123 4567"), ("SG", "+65 9123 4567"),
    ("PL", "+48 12 345 67 89"), ("PL", "+48 512 345 678"), ("PL", "512 345 678"),
    ("TR", "+90 212 345 67 89"), ("TR", "0532 123 45 67"), ("TR", "+90 532 123 45 67"),
    ("NG", "+234 803 123 4567"), ("NG", "0803 123 4567"),
    ("AE", "+971 50 123 4567"), ("AE", "050 123 4567"),
    ("UA", "+380 44 123 4567"), ("UA", "044 123 4567"),
    ("SE", "+46 8 123 456 78"), ("SE", "08-123 456 78"),
    ("CH", "+41 44 668 18 00"), ("CH", "044 668 18 00"),
    ("IL", "+972 3-123-4567"), ("IL", "03-123-4567"),
    ("VN", "+84 91 234 56 78"), ("ID", "+62 812-3456-7890"), ("PK", "+92 300 1234567"),
    ("EG", "+20 10 1234 5678"), ("AR", "+54 11 4321-1234"), ("PH", "+63 917 123 4567"),
    ("US", "(415) 555-2671"), ("US", "+1 212 736 5000"), ("US", "212-736-5000"),
    ("US", "212.736.5000"),
    ("CA", "+1 416 979 5000"), ("CA", "(416) 979-5000"),
]

PHONE_EN = [
    "Call me at {x} tomorrow morning.",
    "My mobile is {x}.",
    "You can reach the front desk on {x} after 9.",
    "WhatsApp: {x}",
    "ring {x} if the courier is late",
    "The office number is {x}, ask for reception.",
    "{x} is my new number, save it pls",
    "text {x} when you land",
]
# One sentence in the number's own language, used for every other number of that region.
PHONE_LOCAL = {
    "DE": "Ruf mich unter {x} an, danke!",
    "FR": "Appelez-moi au {x} demain matin.",
    "ES": "Mi número es {x}, llámame luego.",
    "RU": "Мой номер {x}, звоните после обеда.",
    "CN": "我的手机号是 {x}，有事打给我。",
    "JP": "電話番号は {x} です。",
    "IT": "Chiamami al {x} quando arrivi.",
    "BR": "Meu telefone é {x}, pode ligar.",
    "NL": "Bel me op {x} als je er bent.",
    "KR": "제 번호는 {x} 입니다.",
    "TR": "Beni {x} numarasından arayabilirsin.",
    "PL": "Zadzwoń do mnie pod numer {x}.",
    "UA": "Мій номер {x}, дзвоніть увечері.",
}

# (issuer, length, prefixes, grouping of the spaced/dashed forms)
CARDS = [
    ("Maestro", 12, ["6759", "5018"], [4, 4, 4]),
    ("Maestro", 13, ["6304", "5020"], [4, 4, 5]),
    ("Maestro", 15, ["5038", "6761"], [4, 4, 4, 3]),
    ("Maestro", 16, ["6763", "5893"], [4, 4, 4, 4]),
    ("Maestro", 19, ["6759", "5018"], [4, 4, 4, 4, 3]),
    ("Visa", 13, ["4"], [4, 3, 3, 3]),
    ("Visa", 16, ["4"], [4, 4, 4, 4]),
    ("Visa", 19, ["4"], [4, 4, 4, 4, 3]),
    ("Mastercard", 16, ["51", "55"], [4, 4, 4, 4]),
    ("Mastercard 2-series", 16, ["2221", "2720"], [4, 4, 4, 4]),
    ("Amex", 15, ["34", "37"], [4, 6, 5]),
    ("Discover", 16, ["6011", "65"], [4, 4, 4, 4]),
    ("Discover", 19, ["6011", "644"], [4, 4, 4, 4, 3]),
    ("UnionPay", 16, ["62"], [4, 4, 4, 4]),
    ("UnionPay", 19, ["62"], [4, 4, 4, 4, 3]),
    ("JCB", 16, ["3528", "3589"], [4, 4, 4, 4]),
    ("Diners", 14, ["36"], [4, 6, 4]),
    ("Mir", 16, ["2200", "2204"], [4, 4, 4, 4]),
]
CARD_WITH_WORD = [
    "My card number is {x}, expiry 08/27.",
    "Please charge the card {x} for the deposit.",
    "card: {x}",
    "I paid with my debit card {x} yesterday but it got declined",
]
CARD_WITHOUT_WORD = [
    "The number on the front is {x}, is that okay?",
    "use {x} and the usual billing address",
    "pay with {x} pls",
    "{x} is the one I used last time",
]

# Numbers that are neither phones nor cards (a detection of either type here is a false positive).
NEGATIVES = [
    "The meeting moved to 2024-03-15 at 14:30.",
    "Version 3.12.4 fixed the bug we saw in 3.11.9.",
    "Total was $1,234,567.89 including tax.",
    "Order #A7-33918-XK shipped on 12/03/2024.",
    "ISBN 978-0-306-40615-7 is the second edition.",
    "The ticket says 4111 1111 1111 1112 but that is just a reference.",
    "Use reference 5500 0000 0000 0005 for the transfer.",
    "Coordinates 48.8584, 2.2945 near the tower.",
    "It was trained on 1,000,000 tokens of context.",
    "Room 1204, building 7, floor 12.",
    "Tracking: 1Z 999 AA1 01 2345 6784",
    "Error code 0x80070005 when installing the update.",
    "Between 1998 and 2004 sales rose 35%.",
    "The score was 21-17 in the 4th quarter.",
    "The model has 175 000 000 000 parameters.",
    "Invoice INV-2023-004512 is overdue.",
    "Flight LH 441 departs at 09:55 from gate B22.",
    "The serial is SN-4532-7719-0021.",
    "Chapter 12, verses 3 to 17.",
    "Set the timeout to 30000 ms and retry 5 times.",
    "Price went from 19.99 to 24.99 in March.",
    "The sum of 123456 and 654321 is 777777.",
    "Use port 8080 or 8443 on 127.0.0.1.",
    "Build 20231115.3 passed all 2417 tests.",
    "Step 4: multiply 365 by 24 to get 8760 hours.",
]


def luhn_complete(body):
    """The body with the check digit that makes the whole number pass the Luhn check."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return body + str((10 - total % 10) % 10)


def luhn_ok(number):
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def grouped(number, groups, sep):
    out, i = [], 0
    for g in groups:
        out.append(number[i:i + g])
        i += g
    assert i == len(number), (number, groups)
    return sep.join(out)


def sample(template, value, entity, category):
    if entity is None:
        return {"full_text": template, "spans": [], "metadata": {"category": category}}
    start = template.index("{x}")
    text = template.replace("{x}", value)
    spans = [{"entity_type": entity, "entity_value": value,
              "start_position": start, "end_position": start + len(value)}]
    assert text[start:start + len(value)] == value
    return {"full_text": text, "spans": spans, "metadata": {"category": category}}


def build():
    try:
        import phonenumbers
    except ImportError:
        raise SystemExit("pii_cases.py needs the phonenumbers package (run it with the venv's python)")
    rng = random.Random(SEED)
    out = []
    local_turn = {}
    for i, (region, number) in enumerate(PHONES):
        parsed = phonenumbers.parse(number, region)
        if not phonenumbers.is_valid_number(parsed):
            raise SystemExit(f"pii_cases.py: {number!r} is not a valid {region} number per phonenumbers")
        n = local_turn.get(region, 0)
        local_turn[region] = n + 1
        if region in PHONE_LOCAL and n % 2 == 1:
            template, lang = PHONE_LOCAL[region], "local"
        else:
            template, lang = PHONE_EN[i % len(PHONE_EN)], "en"
        form = "international" if number.startswith("+") else "national"
        out.append(sample(template, number, "PHONE_NUMBER", f"phone/{form}/{region}/{lang}"))

    k = 0
    for issuer, length, prefixes, groups in CARDS:
        for prefix in prefixes:
            body = prefix + "".join(str(rng.randrange(10)) for _ in range(length - len(prefix) - 1))
            number = luhn_complete(body)
            assert len(number) == length and luhn_ok(number)
            for fmt, value in (("plain", number), ("spaced", grouped(number, groups, " ")),
                               ("dashed", grouped(number, groups, "-"))):
                with_word = k % 2 == 0
                pool = CARD_WITH_WORD if with_word else CARD_WITHOUT_WORD
                template = pool[(k // 2) % len(pool)]
                k += 1
                word = "with-card" if with_word else "no-card"
                out.append(sample(template, value, "CREDIT_CARD",
                                  f"card/{issuer}/{length}/{fmt}/{word}"))

    for text in NEGATIVES:
        out.append(sample(text, "", None, "negative"))
    return out


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "data", "pii_similar.json")
    data = build()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False, indent=1)
        f.write("\n")
    phones = sum(1 for d in data for s in d["spans"] if s["entity_type"] == "PHONE_NUMBER")
    cards = sum(1 for d in data for s in d["spans"] if s["entity_type"] == "CREDIT_CARD")
    print(f"pii_cases.py: wrote {path}: {len(data)} texts, {phones} phone numbers, {cards} card numbers, "
          f"{len(NEGATIVES)} texts with neither", file=sys.stderr)


if __name__ == "__main__":
    main()
