"""Export destinations, read from destinations.yml and checked before anything is written."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

DESTINATIONS_FILE = Path(__file__).with_name("destinations.yml")
AUDIENCE_FIELDS = (
    "customer_id", "segment", "segment_reason", "first_name", "last_name", "email", "phone",
    "birth_date", "gender", "as_of_date",
)
CHANNELS = {"email": "email", "sms": "phone", "push": "customer_id"}  # channel -> the field it needs
FORMATS = ("csv", "parquet")
DESTINATION_KEYS = {"description", "format", "channel", "segments", "columns", "delimiter"}
COLUMN_KEYS = {"field", "value", "date_format", "strip_plus"}


def contactable_condition(channel: str) -> str:
    """SQL: an audience row a destination on ``channel`` may receive (consent, not suppressed, with the address).
    The writer selects members with it and the export contract validates every row it admits."""
    return f"coalesce(is_{channel}_contactable, false) and {CHANNELS[channel]} is not null"


class ExportConfigError(ValueError):
    """destinations.yml says something the export cannot do; the message names the place."""


@dataclass(frozen=True)
class ColumnSpec:
    name: str  # the column header the destination expects
    field: str | None = None  # an audience field, or None for a constant
    value: str | None = None
    date_format: str | None = None
    strip_plus: bool = False


@dataclass(frozen=True)
class Destination:
    name: str
    description: str
    format: str
    channel: str
    segments: tuple[str, ...]
    columns: tuple[ColumnSpec, ...]
    delimiter: str = ","

    @property
    def key_column(self) -> ColumnSpec:
        """The column that identifies a person to the tool: ours (customer_id) if exported, else the first."""
        for column in self.columns:
            if column.field == "customer_id":
                return column
        return self.columns[0]


def load_destinations(path: Path = DESTINATIONS_FILE, known_segments: set[str] | None = None) -> list[Destination]:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise ExportConfigError(f"{path}: not valid YAML: {error}") from error
    entries = document.get("destinations")
    if not isinstance(entries, dict) or not entries:
        raise ExportConfigError(f"{path}: needs a non-empty 'destinations:' mapping")
    return [_destination(path, name, entry, known_segments) for name, entry in entries.items()]


def _destination(path: Path, name: str, entry: Any, known_segments: set[str] | None) -> Destination:
    where = f"{path}: destination '{name}'"
    if not isinstance(entry, dict):
        raise ExportConfigError(f"{where}: expected a mapping")
    unknown = set(entry) - DESTINATION_KEYS
    if unknown:
        raise ExportConfigError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(DESTINATION_KEYS)}")
    fmt = entry.get("format")
    if fmt not in FORMATS:
        raise ExportConfigError(f"{where}: format must be one of {FORMATS}, got {fmt!r}")
    channel = entry.get("channel")
    if channel not in CHANNELS:
        raise ExportConfigError(f"{where}: channel must be one of {sorted(CHANNELS)}, got {channel!r}")
    segments = entry.get("segments")
    if not isinstance(segments, list) or not segments or not all(isinstance(s, str) for s in segments):
        raise ExportConfigError(f"{where}: segments must be a non-empty list of segment names")
    if known_segments is not None:
        missing = sorted(set(segments) - known_segments)
        if missing:
            raise ExportConfigError(
                f"{where}: unknown segment(s) {missing}; the warehouse has {sorted(known_segments)}"
            )
    columns = entry.get("columns")
    if not isinstance(columns, dict) or not columns:
        raise ExportConfigError(f"{where}: columns must map output column names to audience fields")
    delimiter = entry.get("delimiter", ",")
    if not isinstance(delimiter, str) or len(delimiter) != 1:
        raise ExportConfigError(f"{where}: delimiter must be one character, got {delimiter!r}")
    specs = tuple(_column(where, header, spec) for header, spec in columns.items())
    needed = CHANNELS[channel]
    if needed not in {spec.field for spec in specs}:
        raise ExportConfigError(f"{where}: the {channel} channel needs a column with field '{needed}'")
    return Destination(
        name=name, description=str(entry.get("description", "")), format=fmt, channel=channel,
        segments=tuple(dict.fromkeys(segments)), columns=specs, delimiter=delimiter,
    )


def _column(where: str, header: str, spec: Any) -> ColumnSpec:
    if isinstance(spec, str):
        spec = {"field": spec}
    if not isinstance(spec, dict):
        raise ExportConfigError(f"{where}: column '{header}': expected a field name or a mapping")
    unknown = set(spec) - COLUMN_KEYS
    if unknown:
        raise ExportConfigError(f"{where}: column '{header}': unknown key(s) {sorted(unknown)}")
    if ("field" in spec) == ("value" in spec):
        raise ExportConfigError(f"{where}: column '{header}': give exactly one of 'field' or 'value'")
    field = spec.get("field")
    if field is not None and field not in AUDIENCE_FIELDS:
        raise ExportConfigError(f"{where}: column '{header}': unknown field {field!r}; known: {list(AUDIENCE_FIELDS)}")
    return ColumnSpec(
        name=str(header), field=field, value=None if "value" not in spec else str(spec["value"]),
        date_format=spec.get("date_format"), strip_plus=bool(spec.get("strip_plus", False)),
    )
