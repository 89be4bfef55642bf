"""expectations/thresholds.yml: load it, check every key and value, and answer "which tolerance applies here?".

Analysts edit that one file. A misspelled key or a value written as a percent (1 meaning 1%) must never fall
back to a default silently, so every problem is collected and raised together in one ThresholdsError that
names the file, the key's location and what to write instead.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from orchestration.settings import PROJECT_ROOT

THRESHOLDS_FILE = PROJECT_ROOT / "expectations" / "thresholds.yml"

SOURCES = ("shop", "erp", "pos")
# The cuts each system's control totals carry (stg_control__totals).
SOURCE_CUTS = {"shop": ("total",), "erp": ("total", "channel"), "pos": ("total", "store")}
METRICS = ("order_count", "order_amount")
WINDOW_NAMES = ("latest_dump", "all")


def tolerance_key(metric: str) -> str:
    return f"{metric}_max_relative_difference"


TOLERANCE_KEYS = tuple(tolerance_key(metric) for metric in METRICS)


class ThresholdsError(ValueError):
    """expectations/thresholds.yml is not valid; the message lists every problem with its location."""


@dataclass(frozen=True)
class CutOverride:
    source: str
    cut: str
    cut_value: str | None  # None: every value of the cut
    tolerances: dict[str, float]  # metric -> fraction, only the metrics the override sets
    reason: str = ""
    position: int = 0  # 1-based position in cut_overrides, for names and messages

    @property
    def rule(self) -> str:
        return f"{self.source}__{self.cut}__override_{self.position}"

    def describe(self) -> str:
        value = "every value" if self.cut_value is None else self.cut_value
        return f"cut_overrides #{self.position}: {self.source} {self.cut} {value}"


@dataclass(frozen=True)
class Tolerance:
    """The tolerance that applies to one row and metric, and the rule it comes from."""

    value: float
    rule: str  # parameter prefix in the suite, e.g. "erp" or "pos__store__override_1"
    origin: str  # human-readable: "tolerances.erp", "tolerances.default", "cut_overrides #1: ..."


@dataclass(frozen=True)
class Thresholds:
    window: str | int  # "latest_dump", "all" or a number of business days
    tolerances: dict[str, dict[str, float]]  # source -> metric -> fraction (defaults applied)
    tolerance_origins: dict[str, dict[str, str]]  # source -> metric -> "tolerances.<source|default>"
    cut_overrides: tuple[CutOverride, ...] = ()
    segment_size_max_relative_change: float = 0.5
    segment_size_min_rows: int = 100
    order_count_max_absolute_difference: int = 0  # differences of at most this many orders never breach
    source_file: Path = field(default=THRESHOLDS_FILE)

    def tolerance(self, source: str, cut: str, cut_value: str, metric: str) -> Tolerance:
        """Most specific rule first: source + cut + value, then source + cut, then the source."""
        for specific in (True, False):
            for override in self.cut_overrides:
                if (override.source, override.cut) != (source, cut) or metric not in override.tolerances:
                    continue
                if (override.cut_value is not None) == specific and override.cut_value in (cut_value, None):
                    return Tolerance(override.tolerances[metric], override.rule, override.describe())
        if source not in self.tolerances:
            raise ThresholdsError(
                f"{self.source_file}: no tolerance for source system {source!r}; add a block "
                f"'reconciliation.tolerances.{source}' (known: {', '.join(self.tolerances)})"
            )
        return Tolerance(self.tolerances[source][metric], source, self.tolerance_origins[source][metric])

    def parameters(self) -> dict[str, float]:
        """Every suite parameter the reconciliation suite may reference: '<rule>__<metric>_max_relative_difference'."""
        out = {f"{source}__{tolerance_key(metric)}": value
               for source, metrics in self.tolerances.items() for metric, value in metrics.items()}
        for override in self.cut_overrides:
            for metric, value in override.tolerances.items():
                out[f"{override.rule}__{tolerance_key(metric)}"] = value
        return out


def load_thresholds(path: Path | str | None = None) -> Thresholds:
    """Reads and validates the thresholds file; raises ThresholdsError listing every problem."""
    path = Path(path) if path else THRESHOLDS_FILE
    if not path.is_file():
        raise ThresholdsError(f"{path}: thresholds file not found (the gate's tolerances live there)")
    try:
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except yaml.YAMLError as error:
        raise ThresholdsError(f"{path}: not valid YAML: {error}") from None
    return parse_thresholds(document, source_file=path)


def parse_thresholds(document: Any, source_file: Path = THRESHOLDS_FILE) -> Thresholds:
    problems: list[str] = []
    if not isinstance(document, dict):
        raise ThresholdsError(f"{source_file}: expected a mapping with 'reconciliation' and 'exports', got {document!r}")
    _only_keys(document, ("reconciliation", "exports"), "", problems, required=("reconciliation", "exports"))
    reconciliation = _mapping(document.get("reconciliation"), "reconciliation", problems)
    exports = _mapping(document.get("exports"), "exports", problems)

    _only_keys(reconciliation, ("window", "tolerances", "cut_overrides", "order_count_max_absolute_difference"),
               "reconciliation", problems, required=("window", "tolerances"))
    window = _window(reconciliation.get("window", "latest_dump"), problems)
    count_floor = reconciliation.get("order_count_max_absolute_difference", 0)
    if isinstance(count_floor, bool) or not isinstance(count_floor, int) or count_floor < 0:
        problems.append("reconciliation.order_count_max_absolute_difference: expected a whole number of orders >= 0, "
                        f"got {count_floor!r}")
        count_floor = 0

    tolerance_blocks = _mapping(reconciliation.get("tolerances"), "reconciliation.tolerances", problems)
    _only_keys(tolerance_blocks, ("default", *SOURCES), "reconciliation.tolerances", problems, required=("default",))
    blocks: dict[str, dict[str, float]] = {}
    for name in ("default", *SOURCES):
        location = f"reconciliation.tolerances.{name}"
        block = _mapping(tolerance_blocks.get(name, {}), location, problems)
        _only_keys(block, TOLERANCE_KEYS, location, problems, required=TOLERANCE_KEYS if name == "default" else ())
        blocks[name] = {metric: _fraction(block[tolerance_key(metric)], f"{location}.{tolerance_key(metric)}", problems)
                        for metric in METRICS if tolerance_key(metric) in block}
    tolerances = {source: {metric: blocks[source].get(metric, blocks["default"].get(metric, 0.0)) for metric in METRICS}
                  for source in SOURCES}
    origins = {source: {metric: f"reconciliation.tolerances.{source if metric in blocks[source] else 'default'}"
                        for metric in METRICS} for source in SOURCES}

    overrides = _cut_overrides(reconciliation.get("cut_overrides") or [], problems)

    _only_keys(exports, ("segment_size_max_relative_change", "segment_size_min_rows"), "exports", problems,
               required=("segment_size_max_relative_change",))
    segment_change = _fraction(exports.get("segment_size_max_relative_change", 0.5),
                               "exports.segment_size_max_relative_change", problems, allow_zero=False)
    min_rows = exports.get("segment_size_min_rows", 100)
    if isinstance(min_rows, bool) or not isinstance(min_rows, int) or min_rows < 0:
        problems.append(f"exports.segment_size_min_rows: expected a whole number of rows >= 0, got {min_rows!r}")
        min_rows = 100

    if problems:
        listing = "\n".join(f"  - {problem}" for problem in problems)
        raise ThresholdsError(
            f"{source_file}: {len(problems)} problem(s); fix them and re-run the gate "
            f"(relative values are fractions: 0.01 = 1%):\n{listing}"
        )
    return Thresholds(
        window=window, tolerances=tolerances, tolerance_origins=origins, cut_overrides=tuple(overrides),
        segment_size_max_relative_change=segment_change, segment_size_min_rows=min_rows,
        order_count_max_absolute_difference=count_floor, source_file=Path(source_file),
    )


def _cut_overrides(items: Any, problems: list[str]) -> list[CutOverride]:
    if not isinstance(items, list):
        problems.append(f"reconciliation.cut_overrides: expected a list of overrides (or []), got {items!r}")
        return []
    overrides: list[CutOverride] = []
    seen: dict[tuple, int] = {}
    for position, item in enumerate(items, start=1):
        location = f"reconciliation.cut_overrides #{position}"
        if not isinstance(item, dict):
            problems.append(f"{location}: expected a mapping with source, cut and a tolerance, got {item!r}")
            continue
        _only_keys(item, ("source", "cut", "cut_value", "reason", *TOLERANCE_KEYS), location, problems,
                   required=("source", "cut"))
        source, cut = item.get("source"), item.get("cut")
        if source is not None and source not in SOURCES:
            problems.append(f"{location}.source: unknown source {source!r}{_did_you_mean(source, SOURCES)}; "
                            f"known: {', '.join(SOURCES)}")
        elif source is not None and cut is not None and cut not in SOURCE_CUTS[source]:
            problems.append(f"{location}.cut: {source} has no cut {cut!r}; its cuts: {', '.join(SOURCE_CUTS[source])}")
        cut_value = item.get("cut_value")
        if cut_value is not None and not isinstance(cut_value, (str, int)):
            problems.append(f"{location}.cut_value: expected a channel name or store code, got {cut_value!r}")
        cut_value = None if cut_value is None else str(cut_value)
        values = {metric: _fraction(item[tolerance_key(metric)], f"{location}.{tolerance_key(metric)}", problems)
                  for metric in METRICS if tolerance_key(metric) in item}
        if not values:
            problems.append(f"{location}: sets no tolerance; add {' and/or '.join(TOLERANCE_KEYS)}")
        key = (source, cut, cut_value)
        if key in seen:
            problems.append(f"{location}: same source, cut and cut_value as #{seen[key]}; keep one")
        seen[key] = position
        overrides.append(CutOverride(source=str(source), cut=str(cut), cut_value=cut_value, tolerances=values,
                                     reason=str(item.get("reason") or ""), position=position))
    return overrides


def _window(value: Any, problems: list[str]) -> str | int:
    if isinstance(value, bool) or not (value in WINDOW_NAMES or (isinstance(value, int) and value >= 1)):
        problems.append(
            f"reconciliation.window: {value!r} is not a window; write latest_dump, all, or a number of business "
            f"days (e.g. 7)"
        )
        return "latest_dump"
    return value


def _fraction(value: Any, location: str, problems: list[str], allow_zero: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        hint = ""
        if isinstance(value, str) and value.strip().endswith("%"):
            hint = f"; write percents as fractions: {value.strip()} -> {_as_fraction(value)}"
        problems.append(f"{location}: expected a number (a fraction, 0.01 = 1%), got {value!r}{hint}")
        return 0.0
    if value >= 1:
        problems.append(
            f"{location}: {value} would mean {value * 100:g}%; relative values are fractions: "
            f"write {value / 100:g} for {value:g}%"
        )
    elif value < 0 or (value == 0 and not allow_zero):
        problems.append(f"{location}: {value} is not allowed; expected a fraction {'>=' if allow_zero else '>'} 0 and < 1")
    return float(value)


def _as_fraction(percent: str) -> str:
    try:
        return f"{float(percent.strip().rstrip('%')) / 100:g}"
    except ValueError:
        return "a fraction"


def _mapping(value: Any, location: str, problems: list[str]) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.append(f"{location or 'top level'}: expected a mapping of keys, got {value!r}")
        return {}
    return value


def _only_keys(block: dict, allowed: tuple[str, ...], location: str, problems: list[str],
               required: tuple[str, ...] = ()) -> None:
    where = f"{location}." if location else ""
    for key in block:
        if key not in allowed:
            problems.append(f"{where}{key}: unknown key{_did_you_mean(str(key), allowed)}; "
                            f"allowed here: {', '.join(allowed)}")
    for key in required:
        if key not in block:
            problems.append(f"{where}{key}: missing (required)")


def _did_you_mean(word: str, choices: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that rejects a key given twice in one mapping (plain YAML keeps the last one silently)."""


def _construct_unique_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: set = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} appears twice in one block; keep one", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)
