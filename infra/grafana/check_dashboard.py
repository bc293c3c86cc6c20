#!/usr/bin/env python3
"""Offline check of the Grafana dashboard (and the PromQL in the operations docs) against the
metrics the worker really exposes. Python standard library only; exits non-zero naming every
problem.

The metric names, types and labels are read from the Rust source (worker/src/service/metrics.rs),
so a renamed or removed series fails the check instead of leaving an empty panel. Every query is
parsed as PromQL and checked: metric names exist, label matchers and `by`/`on` labels exist on
the series, counters and histogram series only appear under rate()/irate()/increase() (or as
operands of `unless`), gauges never do, histogram buckets keep `le` until histogram_quantile(),
and legends name labels the result keeps. The ```promql blocks of docs/operations.md and
infra/grafana/README.md get the same query checks. The dashboard itself must be importable: schemaVersion, unique panel ids, grid
positions inside the 24-column grid without overlaps, a `datasource` variable of type prometheus
used by every panel, and only defined template variables.

Usage:
  python3 infra/grafana/check_dashboard.py            # check, then self-test on planted defects
  python3 infra/grafana/check_dashboard.py --no-self-test
  python3 infra/grafana/check_dashboard.py --list-metrics
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

REPO = Path(__file__).resolve().parents[2]
DEFAULT_DASHBOARD = REPO / "infra/grafana/wildchat-pipeline.json"
DEFAULT_METRICS_SOURCE = REPO / "worker/src/service/metrics.rs"
DEFAULT_DOCS = [REPO / "docs/operations.md", REPO / "infra/grafana/README.md"]

# Labels Prometheus attaches to every scraped series (add relabelled ones with --target-labels).
DEFAULT_TARGET_LABELS = ("instance", "job")
# Series Prometheus synthesises per scrape target; the only ones allowed besides the worker's.
SYNTHETIC_SERIES = {"up": "gauge"}
# Sections the dashboard must keep (the brief of issue [G]).
REQUIRED_ROWS = ("Throughput", "Latency", "Fleet", "Errors")
MIN_SCHEMA_VERSION = 36
PANEL_TYPES = {
    "row", "timeseries", "stat", "gauge", "bargauge", "table", "text", "heatmap", "histogram",
    "piechart", "state-timeline", "status-history", "barchart",
}
PANELS_NEEDING_UNIT = {"timeseries", "stat", "gauge", "bargauge"}
CUSTOM_UNIT_PREFIXES = ("count:", "suffix:", "prefix:", "si:", "time:", "bool:", "currency:")
KNOWN_UNITS = {"none", "short", "s", "ms", "us", "ns", "m", "h", "d", "dtdurations", "percent",
               "percentunit", "ops", "reqps", "rps", "wps", "cps", "bytes", "decbytes", "Bps", "binBps"}
GRAFANA_DURATION_VARIABLES = {"__rate_interval", "__interval", "__range", "__auto"}
GRAFANA_NUMBER_VARIABLES = {"__interval_ms", "__range_s", "__range_ms", "__from", "__to"}

RANGE_FUNCTIONS_FOR_COUNTERS = {"rate", "irate", "increase"}
RANGE_FUNCTIONS_FOR_GAUGES = {
    "delta", "idelta", "deriv", "predict_linear", "holt_winters", "changes", "resets",
    "avg_over_time", "min_over_time", "max_over_time", "sum_over_time", "count_over_time",
    "quantile_over_time", "stddev_over_time", "stdvar_over_time", "last_over_time",
    "present_over_time", "mad_over_time", "absent_over_time",
}
# name -> argument kinds ("v" instant vector, "m" range vector, "s" scalar, "str" string;
# a trailing "?" marks optional arguments, "*" any number of strings) and the result kind.
FUNCTIONS: dict[str, tuple[tuple[str, ...], str]] = {
    **{name: (("m",), "v") for name in ("rate", "irate", "increase", "delta", "idelta", "deriv",
                                         "changes", "resets", "absent_over_time")},
    **{name: (("m",), "v") for name in RANGE_FUNCTIONS_FOR_GAUGES if name.endswith("_over_time")},
    "quantile_over_time": (("s", "m"), "v"),
    "predict_linear": (("m", "s"), "v"),
    "holt_winters": (("m", "s", "s"), "v"),
    "histogram_quantile": (("s", "v"), "v"),
    **{name: (("v",), "v") for name in ("abs", "ceil", "floor", "exp", "ln", "log2", "log10",
                                         "sqrt", "sgn", "timestamp", "sort", "sort_desc", "absent")},
    "round": (("v", "s?"), "v"),
    "clamp": (("v", "s", "s"), "v"),
    "clamp_min": (("v", "s"), "v"),
    "clamp_max": (("v", "s"), "v"),
    "label_replace": (("v", "str", "str", "str", "str"), "v"),
    "label_join": (("v", "str", "str", "str*"), "v"),
    "vector": (("s",), "v"),
    "scalar": (("v",), "s"),
    "time": ((), "s"),
}
AGGREGATIONS = {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
                "bottomk", "topk", "quantile"}
AGGREGATIONS_WITH_PARAMETER = {"count_values", "bottomk", "topk", "quantile"}
SET_OPERATORS = {"and", "or", "unless"}
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset"}


# --------------------------------------------------------------------------------------------
# The worker's metrics, read from the Rust source
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Metric:
    name: str  # the exposed family name, prefix included
    kind: str  # counter, gauge or histogram
    labels: tuple[str, ...]


RUST_TYPES = {
    "IntCounterVec": "counter", "CounterVec": "counter", "IntCounter": "counter", "Counter": "counter",
    "IntGaugeVec": "gauge", "GaugeVec": "gauge", "IntGauge": "gauge", "Gauge": "gauge",
    "HistogramVec": "histogram", "Histogram": "histogram",
}
RUST_STRING = r'"((?:[^"\\]|\\.)*)"'


def _split_arguments(text: str, open_index: int) -> tuple[list[str], int]:
    """The top-level comma-separated arguments of the call whose '(' is at open_index."""
    depth, index, start, arguments = 0, open_index, open_index + 1, []
    while index < len(text):
        char = text[index]
        if char == '"':
            index += 1
            while index < len(text) and text[index] != '"':
                index += 2 if text[index] == "\\" else 1
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
            if depth == 0:
                last = text[start:index].strip()
                if last:
                    arguments.append(last)
                return arguments, index
        elif char == "," and depth == 1:
            arguments.append(text[start:index].strip())
            start = index + 1
        index += 1
    raise ValueError(f"unbalanced call at offset {open_index}")


def _literal(text: str) -> Optional[re.Match]:
    return re.fullmatch(RUST_STRING, text.strip())


def parse_rust_metrics(source: str) -> dict[str, Metric]:
    """The metric families a prometheus-crate registry in `source` exposes."""
    source = source.split("#[cfg(test)]", 1)[0]
    prefix_match = re.search(r'Registry::new_custom\(\s*Some\(\s*' + RUST_STRING, source)
    prefix = prefix_match.group(1) + "_" if prefix_match else ""

    # Helper constructors: fn counter(registry: &Registry, name: &str, help: &str, label: &str)
    #   -> Result<IntCounterVec, ...> { ... &[label] ... } (labels literal or taken from parameters).
    helpers: dict[str, tuple[str, list[str], list[str]]] = {}
    for match in re.finditer(r"\bfn\s+(\w+)\s*\(([^)]*)\)\s*->\s*Result<\s*(\w+)", source):
        name, parameters, rust_type = match.groups()
        if rust_type not in RUST_TYPES:
            continue
        parameter_names = [part.split(":")[0].strip() for part in parameters.split(",") if part.strip()]
        body_start = source.index("{", match.end())
        body_end = source.find("\n}\n", body_start)
        body = source[body_start:body_end if body_end > 0 else len(source)]
        label_list = re.search(r"&\[([^\]]*)\]", body)
        label_items = [item.strip() for item in label_list.group(1).split(",") if item.strip()] if label_list else []
        helpers[name] = (RUST_TYPES[rust_type], parameter_names, label_items)

    metrics: dict[str, Metric] = {}

    def add(name: str, kind: str, labels: list[str]) -> None:
        full = prefix + name
        if full in metrics:
            raise ValueError(f"metric {full} is registered twice")
        metrics[full] = Metric(full, kind, tuple(labels))

    for helper, (kind, parameter_names, label_items) in helpers.items():
        for call in re.finditer(r"\b" + re.escape(helper) + r"\(\s*&[\w.]*registry\b", source):
            arguments, _ = _split_arguments(source, call.start() + len(helper))
            values = dict(zip(parameter_names, arguments))
            name_match = _literal(values.get("name", ""))
            if not name_match:
                raise ValueError(f"cannot read the metric name of a {helper}(...) call: {arguments!r}")
            labels = []
            for item in label_items:
                item_literal = _literal(item)
                if item_literal:
                    labels.append(item_literal.group(1))
                elif item in values and _literal(values[item]):
                    labels.append(_literal(values[item]).group(1))
                else:
                    raise ValueError(f"cannot read label {item!r} of metric {name_match.group(1)}")
            add(name_match.group(1), kind, labels)

    # Direct constructions with a literal name: IntGauge::new("jobs_in_progress", ...),
    # IntCounterVec::new(Opts::new("x", ...), &["a"]), Histogram::with_opts(HistogramOpts::new("x", ...)).
    direct = re.compile(r"\b(" + "|".join(RUST_TYPES) + r")::(?:new|with_opts)\(\s*(?:(?:Histogram)?Opts::new\(\s*)?" + RUST_STRING)
    for match in direct.finditer(source):
        rust_type, name = match.group(1), match.group(2)
        labels: list[str] = []
        if rust_type.endswith("Vec"):
            open_index = source.index("(", match.start())
            arguments, _ = _split_arguments(source, open_index)
            label_list = re.search(r"&\[([^\]]*)\]", arguments[-1]) if arguments else None
            labels = re.findall(RUST_STRING, label_list.group(1)) if label_list else []
        add(name, RUST_TYPES[rust_type], labels)
    return metrics


def exposed_series(metrics: dict[str, Metric]) -> dict[str, tuple[str, frozenset[str], str]]:
    """Series name -> (how it behaves: counter or gauge, its labels, family name)."""
    series: dict[str, tuple[str, frozenset[str], str]] = {}
    for metric in metrics.values():
        labels = frozenset(metric.labels)
        if metric.kind == "histogram":
            series[metric.name + "_bucket"] = ("counter", labels | {"le"}, metric.name)
            series[metric.name + "_sum"] = ("counter", labels, metric.name)
            series[metric.name + "_count"] = ("counter", labels, metric.name)
        else:
            series[metric.name] = (metric.kind, labels, metric.name)
    return series


# --------------------------------------------------------------------------------------------
# PromQL: lexer, parser and checks
# --------------------------------------------------------------------------------------------

class PromQLError(Exception):
    pass


@dataclass
class Token:
    kind: str  # ident, number, duration, string, range, op, ( ) { } ,
    text: str
    position: int


DURATION = re.compile(r"(?:\d+(?:ms|s|m|h|d|w|y))+")
NUMBER = re.compile(r"0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
OPERATORS = ("==", "!=", "<=", ">=", "=~", "!~", "<", ">", "+", "-", "*", "/", "%", "^", "=", "@")


def lex(expression: str) -> list[Token]:
    tokens, index = [], 0
    while index < len(expression):
        char = expression[index]
        if char.isspace():
            index += 1
        elif char == "#":
            index = expression.find("\n", index) if "\n" in expression[index:] else len(expression)
        elif char in "\"'`":
            end = index + 1
            while end < len(expression) and expression[end] != char:
                end += 2 if expression[end] == "\\" and char != "`" else 1
            if end >= len(expression):
                raise PromQLError(f"unterminated string at {index}")
            tokens.append(Token("string", expression[index + 1:end], index))
            index = end + 1
        elif char == "[":
            end = expression.find("]", index)
            if end < 0:
                raise PromQLError(f"unterminated [ at {index}")
            tokens.append(Token("range", expression[index + 1:end].strip(), index))
            index = end + 1
        elif char in "(){},":
            tokens.append(Token(char, char, index))
            index += 1
        elif char.isdigit() or (char == "." and expression[index + 1:index + 2].isdigit()):
            duration = DURATION.match(expression, index)
            number = NUMBER.match(expression, index)
            if duration and (not number or duration.end() >= number.end()):
                tokens.append(Token("duration", duration.group(0), index))
                index = duration.end()
            else:
                tokens.append(Token("number", number.group(0), index))
                index = number.end()
        elif IDENT.match(expression, index):
            match = IDENT.match(expression, index)
            kind = "number" if match.group(0).lower() in ("inf", "nan") else "ident"
            tokens.append(Token(kind, match.group(0), index))
            index = match.end()
        else:
            for operator in OPERATORS:
                if expression.startswith(operator, index):
                    tokens.append(Token("op", operator, index))
                    index += len(operator)
                    break
            else:
                raise PromQLError(f"unexpected character {char!r} at {index}")
    return tokens


@dataclass
class Node:
    kind: str  # number, string, selector, matrix, subquery, call, aggregation, binary, unary, paren
    name: str = ""
    children: list["Node"] = field(default_factory=list)
    matchers: list[tuple[str, str, str]] = field(default_factory=list)
    grouping: Optional[tuple[str, list[str]]] = None  # ("by"|"without"|"on"|"ignoring", labels)
    value: str = ""


class Parser:
    def __init__(self, expression: str):
        self.tokens = lex(expression)
        self.index = 0

    def peek(self, offset: int = 0) -> Optional[Token]:
        position = self.index + offset
        return self.tokens[position] if position < len(self.tokens) else None

    def next(self) -> Token:
        token = self.peek()
        if token is None:
            raise PromQLError("unexpected end of expression")
        self.index += 1
        return token

    def expect(self, kind: str) -> Token:
        token = self.next()
        if token.kind != kind:
            raise PromQLError(f"expected {kind!r} at {token.position}, found {token.text!r}")
        return token

    def parse(self) -> Node:
        node = self.expression()
        if self.peek() is not None:
            token = self.peek()
            raise PromQLError(f"unexpected {token.text!r} at {token.position}")
        return node

    def _is_binary_operator(self, token: Optional[Token]) -> bool:
        if token is None:
            return False
        if token.kind == "op" and token.text not in ("=", "=~", "!~", "@"):
            return True
        return token.kind == "ident" and token.text in SET_OPERATORS | {"atan2"}

    def expression(self) -> Node:
        left = self.unary()
        while self._is_binary_operator(self.peek()):
            operator = self.next().text
            node = Node("binary", name=operator)
            if self.peek() is not None and self.peek().kind == "ident" and self.peek().text == "bool":
                self.next()
            if self.peek() is not None and self.peek().kind == "ident" and self.peek().text in ("on", "ignoring"):
                node.grouping = (self.next().text, self.label_list())
            if self.peek() is not None and self.peek().kind == "ident" and self.peek().text in ("group_left", "group_right"):
                self.next()
                if self.peek() is not None and self.peek().kind == "(":
                    self.label_list()
            node.children = [left, self.unary()]
            left = node
        return left

    def unary(self) -> Node:
        token = self.peek()
        if token is not None and token.kind == "op" and token.text in ("-", "+"):
            self.next()
            return Node("unary", name=token.text, children=[self.unary()])
        return self.postfix()

    def postfix(self) -> Node:
        node = self.primary()
        while True:
            token = self.peek()
            if token is None:
                return node
            if token.kind == "range":
                self.next()
                node = self.range_of(node, token)
            elif token.kind == "ident" and token.text == "offset":
                self.next()
                if self.peek() is not None and self.peek().kind == "op" and self.peek().text == "-":
                    self.next()
                self.expect("duration")
            elif token.kind == "op" and token.text == "@":
                self.next()
                at = self.next()
                if at.kind == "ident" and at.text in ("start", "end"):
                    self.expect("(")
                    self.expect(")")
                elif at.kind != "number":
                    raise PromQLError(f"bad @ modifier at {at.position}")
            else:
                return node

    def range_of(self, node: Node, token: Token) -> Node:
        if ":" in token.text:
            window, _, step = token.text.partition(":")
            if not DURATION.fullmatch(window.strip()) or (step.strip() and not DURATION.fullmatch(step.strip())):
                raise PromQLError(f"bad subquery range [{token.text}] at {token.position}")
            return Node("subquery", children=[node], value=token.text)
        if not DURATION.fullmatch(token.text):
            raise PromQLError(f"bad range [{token.text}] at {token.position}")
        if node.kind != "selector":
            raise PromQLError(f"a range [{token.text}] applies to a metric selector only (at {token.position})")
        return Node("matrix", children=[node], value=token.text)

    def label_list(self) -> list[str]:
        self.expect("(")
        labels = []
        while self.peek() is not None and self.peek().kind != ")":
            token = self.next()
            if token.kind == "ident":
                labels.append(token.text)
            elif token.kind != ",":
                raise PromQLError(f"expected a label name at {token.position}, found {token.text!r}")
        self.expect(")")
        return labels

    def arguments(self) -> list[Node]:
        self.expect("(")
        arguments = []
        if self.peek() is not None and self.peek().kind == ")":
            self.next()
            return arguments
        while True:
            arguments.append(self.expression())
            token = self.next()
            if token.kind == ")":
                return arguments
            if token.kind != ",":
                raise PromQLError(f"expected ',' or ')' at {token.position}, found {token.text!r}")

    def primary(self) -> Node:
        token = self.next()
        if token.kind in ("number", "duration"):
            return Node("number", value=token.text)
        if token.kind == "string":
            return Node("string", value=token.text)
        if token.kind == "(":
            inner = self.expression()
            self.expect(")")
            return Node("paren", children=[inner])
        if token.kind == "{":
            raise PromQLError(f"selector without a metric name at {token.position}")
        if token.kind != "ident":
            raise PromQLError(f"unexpected {token.text!r} at {token.position}")
        name = token.text
        following = self.peek()
        if name in AGGREGATIONS and following is not None and (
            following.kind == "(" or (following.kind == "ident" and following.text in ("by", "without"))
        ):
            node = Node("aggregation", name=name)
            if following.kind == "ident":
                node.grouping = (self.next().text, self.label_list())
            node.children = self.arguments()
            after = self.peek()
            if after is not None and after.kind == "ident" and after.text in ("by", "without"):
                if node.grouping is not None:
                    raise PromQLError(f"{name} has two grouping clauses")
                node.grouping = (self.next().text, self.label_list())
            return node
        if following is not None and following.kind == "(":
            if name not in FUNCTIONS:
                raise PromQLError(f"unknown function {name}()")
            return Node("call", name=name, children=self.arguments())
        if name in KEYWORDS or name in SET_OPERATORS:
            raise PromQLError(f"unexpected keyword {name!r} at {token.position}")
        node = Node("selector", name=name)
        if following is not None and following.kind == "{":
            self.next()
            while self.peek() is not None and self.peek().kind != "}":
                label = self.expect("ident")
                operator = self.expect("op")
                if operator.text not in ("=", "!=", "=~", "!~"):
                    raise PromQLError(f"bad matcher operator {operator.text!r} at {operator.position}")
                value = self.expect("string")
                node.matchers.append((label.text, operator.text, value.text))
                if self.peek() is not None and self.peek().kind == ",":
                    self.next()
            self.expect("}")
        return node


@dataclass
class Result:
    kind: str  # scalar, vector, matrix, string
    labels: Optional[frozenset[str]]  # None: not known statically
    has_bucket: bool = False


class QueryChecker:
    """Checks parsed PromQL against the series the worker exposes."""

    def __init__(self, series: dict[str, tuple[str, frozenset[str], str]], target_labels: frozenset[str]):
        self.series = series
        self.target_labels = target_labels
        self.used_families: set[str] = set()

    def check(self, expression: str, allow_bare_buckets: bool = False) -> tuple[list[str], Result]:
        self.errors: list[str] = []
        self.allow_bare_buckets = allow_bare_buckets
        try:
            node = Parser(expression).parse()
        except PromQLError as error:
            return [f"PromQL syntax: {error}"], Result("vector", None)
        result = self.visit(node, parent=None, in_quantile=False)
        if result.kind not in ("vector", "scalar"):
            self.errors.append(f"the query returns a {result.kind}; a panel needs an instant vector or a scalar")
        return self.errors, result

    def selector_labels(self, name: str) -> Optional[frozenset[str]]:
        if name in SYNTHETIC_SERIES:
            return self.target_labels
        if name in self.series:
            return self.series[name][1] | self.target_labels
        return None

    def visit(self, node: Node, parent: Optional[str], in_quantile: bool) -> Result:
        method = getattr(self, "visit_" + node.kind)
        return method(node, parent, in_quantile)

    def visit_number(self, node: Node, parent, in_quantile) -> Result:
        return Result("scalar", frozenset())

    def visit_string(self, node: Node, parent, in_quantile) -> Result:
        return Result("string", frozenset())

    def visit_paren(self, node: Node, parent, in_quantile) -> Result:
        return self.visit(node.children[0], parent, in_quantile)

    def visit_unary(self, node: Node, parent, in_quantile) -> Result:
        return self.visit(node.children[0], None, in_quantile)

    def visit_selector(self, node: Node, parent: Optional[str], in_quantile: bool, ranged: bool = False) -> Result:
        name = node.name
        labels = self.selector_labels(name)
        if labels is None:
            families = {family for _, _, family in self.series.values()}
            hint = ""
            if name in families:
                hint = f" ({name} is a histogram: use {name}_bucket, _sum or _count)"
            self.errors.append(f"metric {name} is not exposed by the worker{hint}")
            return Result("matrix" if ranged else "vector", None)
        behaviour = SYNTHETIC_SERIES.get(name) or self.series[name][0]
        if name in self.series:
            self.used_families.add(self.series[name][2])
        for label, _, _ in node.matchers:
            if label == "__name__":
                self.errors.append(f"{name}: do not match on __name__")
            elif label not in labels:
                self.errors.append(f"{name} has no label {label!r} (it has: {', '.join(sorted(labels))})")
        is_bucket = name.endswith("_bucket") and name in self.series
        if behaviour == "counter":
            if not ranged and parent == "unless":
                pass  # `x unless x offset 1h`: the series that appeared within the hour (see README)
            elif not ranged:
                self.errors.append(f"{name} is a counter: wrap it in rate(), irate() or increase() with a range")
            elif parent not in RANGE_FUNCTIONS_FOR_COUNTERS:
                self.errors.append(f"{name} is a counter: use rate(), irate() or increase(), not {parent}()")
        else:
            if ranged and parent in RANGE_FUNCTIONS_FOR_COUNTERS:
                self.errors.append(f"{name} is a gauge: {parent}() applies to counters (use *_over_time or deriv)")
        if is_bucket and not in_quantile and not self.allow_bare_buckets:
            self.errors.append(f"{name} belongs inside histogram_quantile() (or a heatmap-format target)")
        return Result("matrix" if ranged else "vector", labels, has_bucket=is_bucket)

    def visit_matrix(self, node: Node, parent, in_quantile) -> Result:
        return self.visit_selector(node.children[0], parent, in_quantile, ranged=True)

    def visit_subquery(self, node: Node, parent, in_quantile) -> Result:
        if node.children[0].kind == "selector":  # rate(counter[1h:1m]) samples the counter itself
            return self.visit_selector(node.children[0], parent, in_quantile, ranged=True)
        inner = self.visit(node.children[0], None, in_quantile)
        if inner.kind != "vector":
            self.errors.append("a subquery needs an instant vector inside")
        return Result("matrix", inner.labels, inner.has_bucket)

    def visit_call(self, node: Node, parent, in_quantile) -> Result:
        expected, returns = FUNCTIONS[node.name]
        inside_quantile = in_quantile or node.name == "histogram_quantile"
        results = [self.visit(child, node.name, inside_quantile) for child in node.children]
        required = [kind for kind in expected if not kind.endswith("?") and not kind.endswith("*")]
        variadic = any(kind.endswith("*") for kind in expected)
        if len(results) < len(required) or (not variadic and len(results) > len(expected)):
            self.errors.append(f"{node.name}() takes {len(required)} argument(s), got {len(results)}")
            return Result("vector" if returns == "v" else "scalar", None)
        names = {"v": "vector", "m": "matrix", "s": "scalar", "str": "string"}
        for position, result in enumerate(results):
            kind = expected[min(position, len(expected) - 1)].rstrip("?*")
            wanted = names[kind]
            if result.kind != wanted and not (wanted == "scalar" and result.kind == "scalar"):
                self.errors.append(f"{node.name}() argument {position + 1} must be a {wanted}, got a {result.kind}")
        if returns == "s":
            return Result("scalar", frozenset())
        first = next((result for result in results if result.kind in ("vector", "matrix")), None)
        labels = first.labels if first else frozenset()
        has_bucket = bool(first and first.has_bucket)
        if node.name == "histogram_quantile":
            inner = results[1] if len(results) > 1 else None
            if inner is not None and not inner.has_bucket:
                self.errors.append("histogram_quantile() needs a *_bucket series inside")
            if inner is not None and inner.labels is not None and "le" not in inner.labels:
                self.errors.append("histogram_quantile(): the aggregation inside drops the le label; group by (le, ...)")
            labels = labels - {"le"} if labels is not None else None
            has_bucket = False
        elif node.name in ("label_replace", "label_join"):
            destination = node.children[1].value if len(node.children) > 1 else ""
            if node.name == "label_replace" and len(node.children) > 3 and labels is not None:
                source = node.children[3].value
                if source and source not in labels:
                    self.errors.append(f"label_replace(): source label {source!r} is not on the series")
            labels = labels | {destination} if labels is not None else None
        elif node.name in ("vector", "absent", "absent_over_time"):
            labels = frozenset() if node.name == "vector" else None
        return Result("vector", labels, has_bucket)

    def visit_aggregation(self, node: Node, parent, in_quantile) -> Result:
        children = node.children
        if node.name in AGGREGATIONS_WITH_PARAMETER:
            if len(children) != 2:
                self.errors.append(f"{node.name}() takes a parameter and a vector")
                return Result("vector", None)
            parameter = self.visit(children[0], node.name, in_quantile)
            if node.name == "count_values" and parameter.kind != "string":
                self.errors.append("count_values() takes a label name string first")
            children = children[1:]
        elif len(children) != 1:
            self.errors.append(f"{node.name}() takes one vector")
            return Result("vector", None)
        inner = self.visit(children[0], node.name, in_quantile)
        if inner.kind != "vector":
            self.errors.append(f"{node.name}() needs an instant vector, got a {inner.kind}")
        grouping_kind, grouping = node.grouping or ("by", [])
        if inner.labels is not None:
            missing = [label for label in grouping if label not in inner.labels]
            for label in missing:
                self.errors.append(f"{node.name} {grouping_kind} ({label}): no series inside has the label {label!r}")
        if inner.has_bucket:
            keeps_le = ("le" in grouping) if grouping_kind == "by" else ("le" not in grouping)
            if not keeps_le:
                self.errors.append(f"{node.name} over *_bucket series must keep le: {grouping_kind} ({', '.join(grouping)})")
        if node.name in ("topk", "bottomk"):
            labels = inner.labels
        elif grouping_kind == "by":
            labels = frozenset(grouping)
        else:
            labels = inner.labels - set(grouping) if inner.labels is not None else None
        if node.name == "count_values" and labels is not None:
            labels = labels | {node.children[0].value}
        # Still "has buckets" when le was dropped: that mistake is reported once, above.
        return Result("vector", labels, inner.has_bucket)

    def visit_binary(self, node: Node, parent, in_quantile) -> Result:
        operand_parent = "unless" if node.name == "unless" else None
        left = self.visit(node.children[0], operand_parent, in_quantile)
        right = self.visit(node.children[1], operand_parent, in_quantile)
        for side in (left, right):
            if side.kind not in ("vector", "scalar"):
                self.errors.append(f"operator {node.name} needs instant vectors or scalars, got a {side.kind}")
        if node.grouping is not None:
            for side in (left, right):
                if side.kind == "vector" and side.labels is not None:
                    for label in node.grouping[1]:
                        if label not in side.labels:
                            self.errors.append(f"{node.grouping[0]} ({label}): a side of {node.name} has no label {label!r}")
        if left.kind == "scalar" and right.kind == "scalar":
            return Result("scalar", frozenset())
        if node.name == "or" and left.labels is not None and right.labels is not None:
            return Result("vector", left.labels | right.labels, left.has_bucket or right.has_bucket)
        vector = left if left.kind == "vector" else right
        return Result("vector", vector.labels, vector.has_bucket)


# --------------------------------------------------------------------------------------------
# The dashboard
# --------------------------------------------------------------------------------------------

VARIABLE_REFERENCE = re.compile(r"\$\{(\w+)(?::[\w-]+)?\}|\$(\w+)|\[\[(\w+)(?::[\w-]+)?\]\]")
LEGEND_LABEL = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(.+?)\s*,\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*$", re.S)


def substitute_variables(expression: str, defined: set[str], where: str, problems: list[str]) -> str:
    """Replaces Grafana variables with stand-ins PromQL parses; names undefined ones."""

    def replace(match: re.Match) -> str:
        name = match.group(1) or match.group(2) or match.group(3)
        if name in GRAFANA_DURATION_VARIABLES:
            return "5m"
        if name in GRAFANA_NUMBER_VARIABLES:
            return "300"
        if name not in defined:
            problems.append(f"{where}: uses ${name}, which is not a template variable of the dashboard")
        return "grafana_variable"

    return VARIABLE_REFERENCE.sub(replace, expression)


def load_json_strict(path: Path) -> object:
    def no_duplicates(pairs):
        keys = [key for key, _ in pairs]
        duplicates = sorted({key for key in keys if keys.count(key) > 1})
        if duplicates:
            raise ValueError(f"duplicate key(s) {', '.join(duplicates)}")
        return dict(pairs)

    return json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=no_duplicates)


def is_datasource_reference(value: object) -> bool:
    if isinstance(value, str):
        return value in ("$datasource", "${datasource}")
    return isinstance(value, dict) and value.get("type") == "prometheus" and value.get("uid") in (
        "$datasource", "${datasource}")


def all_panels(panels: list) -> list[dict]:
    flat = []
    for panel in panels:
        flat.append(panel)
        if isinstance(panel, dict) and panel.get("type") == "row":
            flat.extend(panel.get("panels") or [])
    return flat


def check_dashboard(dashboard: object, checker: QueryChecker) -> tuple[list[str], dict]:
    problems: list[str] = []
    stats = {"panels": 0, "rows": 0, "queries": 0, "variables": 0}
    if not isinstance(dashboard, dict):
        return ["the dashboard must be a JSON object"], stats
    if "dashboard" in dashboard and "panels" not in dashboard:
        return ["this is an API envelope ({\"dashboard\": ...}); store the dashboard model itself"], stats

    schema = dashboard.get("schemaVersion")
    if not isinstance(schema, int) or isinstance(schema, bool) or schema < MIN_SCHEMA_VERSION:
        problems.append(f"schemaVersion must be an integer >= {MIN_SCHEMA_VERSION}, found {schema!r}")
    for key in ("title", "uid"):
        if not isinstance(dashboard.get(key), str) or not dashboard.get(key).strip():
            problems.append(f"dashboard {key} must be a non-empty string")
    uid = dashboard.get("uid")
    if isinstance(uid, str) and not re.fullmatch(r"[A-Za-z0-9_-]{1,40}", uid):
        problems.append(f"uid {uid!r}: at most 40 letters, digits, '-' or '_'")
    if dashboard.get("id") is not None:
        problems.append("dashboard id must be null so that an import creates the dashboard instead of clashing")
    time_range = dashboard.get("time")
    if not (isinstance(time_range, dict) and isinstance(time_range.get("from"), str) and isinstance(time_range.get("to"), str)):
        problems.append("time must be an object with from and to")

    # Template variables.
    templating = dashboard.get("templating")
    variables = templating.get("list") if isinstance(templating, dict) else None
    if not isinstance(variables, list):
        problems.append("templating.list must be a list of variables")
        variables = []
    stats["variables"] = len(variables)
    names = [variable.get("name") for variable in variables if isinstance(variable, dict)]
    for duplicate in sorted({name for name in names if names.count(name) > 1}):
        problems.append(f"template variable {duplicate!r} is defined twice")
    defined = {name for name in names if isinstance(name, str)}
    by_name = {variable.get("name"): variable for variable in variables if isinstance(variable, dict)}
    datasource = by_name.get("datasource")
    if datasource is None:
        problems.append("no `datasource` template variable: add one of type datasource with query prometheus")
    elif datasource.get("type") != "datasource" or datasource.get("query") != "prometheus":
        problems.append("the `datasource` variable must have type datasource and query prometheus")
    if not ({"instance", "job"} & defined):
        problems.append("no `instance` or `job` template variable to filter the workers")
    for variable in variables:
        if not isinstance(variable, dict):
            problems.append("a template variable is not an object")
            continue
        name = variable.get("name")
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            problems.append(f"template variable name {name!r} is not a valid identifier")
        if variable.get("type") != "query":
            continue
        where = f"variable ${name}"
        if not is_datasource_reference(variable.get("datasource")):
            problems.append(f"{where}: datasource must be {{\"type\": \"prometheus\", \"uid\": \"${{datasource}}\"}}")
        query = variable.get("query")
        if isinstance(query, dict):
            query = query.get("query")
        if not isinstance(query, str):
            problems.append(f"{where}: query must be a string")
            continue
        regex = variable.get("regex") or ""
        if regex:
            body = regex[1:-1] if len(regex) > 1 and regex.startswith("/") and regex.endswith("/") else regex
            try:
                re.compile(body)
            except re.error as error:
                problems.append(f"{where}: regex {regex!r} does not compile: {error}")
        match = LABEL_VALUES.match(query)
        if not match:
            problems.append(f"{where}: query {query!r} is not label_values(<selector>, <label>)")
            continue
        selector = substitute_variables(match.group(1), defined - {name}, where, problems)
        errors, result = checker.check(selector)
        for error in errors:
            problems.append(f"{where}: {error}")
        if result.labels is not None and match.group(2) not in result.labels:
            problems.append(f"{where}: {match.group(1)} has no label {match.group(2)!r}")

    # Panels.
    panels = dashboard.get("panels")
    if not isinstance(panels, list) or not panels:
        problems.append("panels must be a non-empty list")
        return problems, stats
    ids: dict[int, str] = {}
    occupied: list[tuple[str, int, int, int, int]] = []
    row_titles = []
    for panel in all_panels(panels):
        if not isinstance(panel, dict):
            problems.append("a panel is not an object")
            continue
        title = panel.get("title")
        where = f"panel {panel.get('id')!r} {title!r}"
        panel_id = panel.get("id")
        if not isinstance(panel_id, int) or isinstance(panel_id, bool):
            problems.append(f"{where}: id must be an integer")
        elif panel_id in ids:
            problems.append(f"{where}: id {panel_id} is also used by {ids[panel_id]}")
        else:
            ids[panel_id] = repr(title)
        panel_type = panel.get("type")
        if panel_type not in PANEL_TYPES:
            problems.append(f"{where}: unknown panel type {panel_type!r}")
        grid = panel.get("gridPos")
        if not isinstance(grid, dict) or not all(
            isinstance(grid.get(key), int) and not isinstance(grid.get(key), bool) for key in ("h", "w", "x", "y")
        ):
            problems.append(f"{where}: gridPos must hold integers h, w, x and y")
        else:
            if grid["h"] < 1 or not 1 <= grid["w"] <= 24 or grid["x"] < 0 or grid["y"] < 0 or grid["x"] + grid["w"] > 24:
                problems.append(f"{where}: gridPos {grid} is outside the 24-column grid")
            for other, x, y, w, h in occupied:
                if grid["x"] < x + w and x < grid["x"] + grid["w"] and grid["y"] < y + h and y < grid["y"] + grid["h"]:
                    problems.append(f"{where}: gridPos overlaps {other}")
            occupied.append((where, grid["x"], grid["y"], grid["w"], grid["h"]))
        if not isinstance(title, str) or not title.strip():
            problems.append(f"{where}: needs a title")
        if panel_type == "row":
            stats["rows"] += 1
            row_titles.append(title)
            if isinstance(grid, dict) and (grid.get("w") != 24 or grid.get("h") != 1):
                problems.append(f"{where}: a row spans the grid: gridPos w 24, h 1")
            if panel.get("targets"):
                problems.append(f"{where}: a row has no queries")
            continue
        if panel_type == "text":
            continue
        stats["panels"] += 1
        if not is_datasource_reference(panel.get("datasource")):
            problems.append(f"{where}: datasource must be {{\"type\": \"prometheus\", \"uid\": \"${{datasource}}\"}}")
        defaults = (panel.get("fieldConfig") or {}).get("defaults") or {}
        unit = defaults.get("unit")
        if panel_type in PANELS_NEEDING_UNIT:
            if not isinstance(unit, str) or not unit:
                problems.append(f"{where}: set fieldConfig.defaults.unit")
            elif unit not in KNOWN_UNITS and not unit.startswith(CUSTOM_UNIT_PREFIXES):
                problems.append(f"{where}: unit {unit!r} is neither a known Grafana unit nor a custom one (count:, suffix:, ...)")
        targets = panel.get("targets")
        if not isinstance(targets, list) or not targets:
            problems.append(f"{where}: needs at least one query target")
            continue
        reference_ids = []
        for target in targets:
            if not isinstance(target, dict):
                problems.append(f"{where}: a target is not an object")
                continue
            reference = target.get("refId")
            target_where = f"{where} target {reference!r}"
            if not isinstance(reference, str) or not reference:
                problems.append(f"{target_where}: needs a refId")
            reference_ids.append(reference)
            if "datasource" in target and not is_datasource_reference(target["datasource"]):
                problems.append(f"{target_where}: datasource must reference ${{datasource}}")
            expression = target.get("expr")
            if not isinstance(expression, str) or not expression.strip():
                problems.append(f"{target_where}: needs a PromQL expr")
                continue
            stats["queries"] += 1
            substituted = substitute_variables(expression, defined, target_where, problems)
            errors, result = checker.check(substituted, allow_bare_buckets=target.get("format") == "heatmap")
            for error in errors:
                problems.append(f"{target_where}: {error}  [{expression}]")
            legend = target.get("legendFormat") or ""
            if result.labels is not None:
                for label in LEGEND_LABEL.findall(legend):
                    if label not in result.labels:
                        problems.append(f"{target_where}: legend uses {{{{{label}}}}} but the result has only "
                                        f"{sorted(result.labels) or 'no labels'}  [{expression}]")
        for duplicate in sorted({ref for ref in reference_ids if isinstance(ref, str) and reference_ids.count(ref) > 1}):
            problems.append(f"{where}: refId {duplicate!r} is used twice")
    for required in REQUIRED_ROWS:
        if required not in row_titles:
            problems.append(f"no row titled {required!r} (rows: {row_titles})")
    return problems, stats


def promql_blocks(markdown: str) -> list[str]:
    """Expressions in ```promql fences: blank lines separate them, # starts a comment line."""
    expressions = []
    for block in re.findall(r"^[ \t]*```promql[ \t]*\n(.*?)^[ \t]*```", markdown, re.S | re.M):
        current: list[str] = []
        for line in block.splitlines() + [""]:
            stripped = line.strip()
            if stripped.startswith("#"):
                continue
            if stripped:
                current.append(line)
            elif current:
                expressions.append("\n".join(current))
                current = []
    return expressions


def check_docs(paths: list[Path], checker: QueryChecker) -> tuple[list[str], int]:
    problems, count = [], 0
    for path in paths:
        if not path.exists():
            problems.append(f"{path}: missing")
            continue
        for expression in promql_blocks(path.read_text(encoding="utf-8")):
            count += 1
            resolved = path.resolve()
            where = str(resolved.relative_to(REPO)) if resolved.is_relative_to(REPO) else str(path)
            substituted = substitute_variables(expression, set(), where, problems)
            errors, _ = checker.check(substituted)
            for error in errors:
                problems.append(f"{where}: {error}  [{' '.join(expression.split())}]")
    return problems, count


# --------------------------------------------------------------------------------------------
# Self-test: the checker must catch planted defects
# --------------------------------------------------------------------------------------------

def self_test(dashboard: dict, checker: QueryChecker) -> tuple[list[str], int]:
    def first_target(model: dict, panel_title: str) -> dict:
        for panel in all_panels(model["panels"]):
            if panel.get("title") == panel_title:
                return panel["targets"][0]
        raise KeyError(panel_title)

    def panel_of(model: dict, panel_title: str) -> dict:
        return next(panel for panel in all_panels(model["panels"]) if panel.get("title") == panel_title)

    def rename_metric(model):
        target = first_target(model, "Rows/s by stage")
        target["expr"] = target["expr"].replace("wildchat_worker_rows_total", "wildchat_worker_rows_processed_total")

    def unknown_label(model):
        target = first_target(model, "Rows/s by stage")
        target["expr"] = target["expr"].replace("sum by (stage)", "sum by (partition)")

    def rate_of_gauge(model):
        first_target(model, "Jobs in progress by instance")["expr"] = (
            'sum by (instance) (rate(wildchat_worker_jobs_in_progress{job=~"$job"}[$__rate_interval]))')

    def bare_counter(model):
        first_target(model, "Jobs done by kind")["expr"] = "sum by (kind) (wildchat_worker_jobs_done_total)"

    def quantile_without_le(model):
        target = first_target(model, "Job duration p50 / p95 / p99 by kind")
        target["expr"] = target["expr"].replace("sum by (le, kind)", "sum by (kind)")

    def bare_histogram(model):
        target = first_target(model, "Mean job duration by kind")
        target["expr"] = target["expr"].replace("job_duration_seconds_sum", "job_duration_seconds")

    def duplicate_id(model):
        model["panels"][2]["id"] = model["panels"][1]["id"]

    def overlap(model):
        panel_of(model, "Jobs done by kind")["gridPos"]["x"] = 6

    def no_datasource_variable(model):
        model["templating"]["list"] = [v for v in model["templating"]["list"] if v.get("name") != "datasource"]

    def undefined_variable(model):
        target = first_target(model, "Rows/s by stage")
        target["expr"] = target["expr"].replace("$instance", "$pod")

    def wrong_legend(model):
        first_target(model, "Rows/s by stage")["legendFormat"] = "{{kind}}"

    def syntax_error(model):
        target = first_target(model, "Rows/s by stage")
        target["expr"] = target["expr"][:-1]

    def no_unit(model):
        del panel_of(model, "Rows/s by stage")["fieldConfig"]["defaults"]["unit"]

    def bad_variable_query(model):
        for variable in model["templating"]["list"]:
            if variable.get("type") == "query":
                variable["query"] = "label_values(wildchat_worker_jobs_total, job)"
                break

    cases = [rename_metric, unknown_label, rate_of_gauge, bare_counter, quantile_without_le, bare_histogram,
             duplicate_id, overlap, no_datasource_variable, undefined_variable, wrong_legend, syntax_error,
             no_unit, bad_variable_query]
    failures = []
    for case in cases:
        model = copy.deepcopy(dashboard)
        try:
            case(model)
        except (KeyError, IndexError, StopIteration) as error:
            failures.append(f"self-test {case.__name__}: cannot plant the defect ({error!r}); update the self-test")
            continue
        problems, _ = check_dashboard(model, checker)
        if not problems:
            failures.append(f"self-test {case.__name__}: the planted defect was not caught")
    return failures, len(cases)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dashboard", type=Path, default=DEFAULT_DASHBOARD)
    parser.add_argument("--metrics-source", type=Path, default=DEFAULT_METRICS_SOURCE)
    parser.add_argument("--docs", type=Path, nargs="*", default=DEFAULT_DOCS,
                        help="markdown files whose ```promql blocks are checked too")
    parser.add_argument("--target-labels", default=",".join(DEFAULT_TARGET_LABELS),
                        help="labels the scrape adds to every series (comma-separated)")
    parser.add_argument("--no-self-test", action="store_true")
    parser.add_argument("--list-metrics", action="store_true", help="print the metrics parsed from the source")
    args = parser.parse_args()

    def display(path: Path) -> str:
        resolved = path.resolve()
        return str(resolved.relative_to(REPO)) if resolved.is_relative_to(REPO) else str(path)

    try:
        metrics = parse_rust_metrics(args.metrics_source.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        print(f"FAIL: cannot read the worker's metrics from {display(args.metrics_source)}: {error}", file=sys.stderr)
        return 1
    if not metrics:
        print(f"FAIL: no metrics found in {display(args.metrics_source)}; has the registry moved?", file=sys.stderr)
        return 1
    if args.list_metrics:
        for metric in sorted(metrics.values(), key=lambda m: m.name):
            print(f"{metric.name:<48} {metric.kind:<10} {{{', '.join(metric.labels)}}}")
        return 0

    problems: list[str] = []
    # The parser must see every series the source's own exposition test expects.
    source = args.metrics_source.read_text(encoding="utf-8")
    series = exposed_series(metrics)
    if "#[cfg(test)]" in source:
        for expected in set(re.findall(r"\b(wildchat_worker_[a-z0-9_]+)", source.split("#[cfg(test)]", 1)[1])):
            if expected not in series:
                problems.append(f"parser self-check: {expected} appears in the metrics test but was not parsed")

    target_labels = frozenset(label.strip() for label in args.target_labels.split(",") if label.strip())
    checker = QueryChecker(series, target_labels)
    try:
        dashboard = load_json_strict(args.dashboard)
    except (OSError, ValueError) as error:
        print(f"FAIL: {display(args.dashboard)} is not valid JSON: {error}", file=sys.stderr)
        return 1
    dashboard_problems, stats = check_dashboard(dashboard, checker)
    problems += [f"{display(args.dashboard)}: {problem}" for problem in dashboard_problems]
    used = set(checker.used_families)
    doc_problems, doc_queries = check_docs(list(args.docs), checker)
    problems += doc_problems

    self_test_count = 0
    if not args.no_self_test and isinstance(dashboard, dict) and not dashboard_problems:
        failures, self_test_count = self_test(dashboard, QueryChecker(series, target_labels))
        problems += failures

    if problems:
        for problem in problems:
            print(f"FAIL: {problem}", file=sys.stderr)
        print(f"{len(problems)} problem(s)", file=sys.stderr)
        return 1
    unused = sorted(set(metrics) - used)
    print(f"ok: {len(metrics)} worker metrics parsed from {display(args.metrics_source)}")
    print(f"ok: {display(args.dashboard)}: schemaVersion {dashboard['schemaVersion']}, {stats['rows']} rows, "
          f"{stats['panels']} panels, {stats['queries']} queries, {stats['variables']} variables")
    print(f"ok: dashboard uses {len(used)} of {len(metrics)} metrics" + (f" (unused: {', '.join(unused)})" if unused else ""))
    print(f"ok: {doc_queries} PromQL expression(s) in {', '.join(display(path) for path in args.docs)}")
    if self_test_count:
        print(f"ok: self-test: {self_test_count} planted defects caught")
    return 0


if __name__ == "__main__":
    sys.exit(main())
