"""Landing files: one per table and dump, appended batch by batch, with the defect log kept in step.

Every line's physical number is known when it is written, so the log of injected defects names exact lines.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from orchestration.ingest.contracts import READY_MARKER, TableContract
from orchestration.settings import data_paths

from .config import Calendar, GeneratorConfig
from .defects import ROW_DEFECTS, TRANSACTIONAL_KEYS, duplicate_order, plan_corruption, truncate_line
from .formatting import LineFormatter, header_line, line_ending, lines_in_order

BATCH_ROWS = 500_000
LOG_COLUMNS = ("dump_date", "source", "table", "file", "line_number", "defect")


@dataclass
class FileSink:
    path: Path
    contract: TableContract
    dump: int
    lines: int = 0  # physical lines written so far, header included

    @property
    def name(self) -> str:
        return self.path.name

    def append(self, *texts) -> None:
        with self.path.open("ab") as handle:
            for text in texts:
                handle.write(text)


class DefectLog:
    def __init__(self) -> None:
        self._parts: list[pd.DataFrame] = []

    def add(self, dump_date: str, contract: TableContract, file: str, line_numbers, defects) -> None:
        line_numbers = np.atleast_1d(np.asarray(line_numbers, dtype="float64"))
        if len(line_numbers) == 0:
            return
        self._parts.append(pd.DataFrame({
            "dump_date": dump_date,
            "source": contract.source,
            "table": contract.table,
            "file": file,
            "line_number": pd.array(line_numbers, dtype="Int64"),
            "defect": np.broadcast_to(np.asarray(defects, dtype=object), line_numbers.shape),
        }))

    def replace_line(self, dump_date: str, contract: TableContract, file: str, line_number: int, defect: str) -> None:
        """The line now carries only ``defect`` (a truncated last line is malformed whatever it was before)."""
        for i, part in enumerate(self._parts):
            hit = (part["dump_date"] == dump_date) & (part["source"] == contract.source) & (part["file"] == file) & (
                part["line_number"] == line_number
            ).fillna(False)
            if hit.any():
                self._parts[i] = part[~hit]
        self.add(dump_date, contract, file, [line_number], defect)

    def frame(self) -> pd.DataFrame:
        if not self._parts:
            frame = pd.DataFrame({name: pd.Series(dtype="object") for name in LOG_COLUMNS})
            frame["line_number"] = pd.array([], dtype="Int64")
            return frame
        frame = pd.concat(self._parts, ignore_index=True)
        return frame.sort_values(["dump_date", "source", "table", "file", "line_number"], kind="stable",
                                 na_position="first").reset_index(drop=True)


class Landing:
    def __init__(self, out_root: Path, config: GeneratorConfig, formatter: LineFormatter) -> None:
        self.root = data_paths(out_root).landing
        self.config = config
        self.calendar: Calendar = config.calendar
        self.formatter = formatter
        self.log = DefectLog()
        self.sinks: dict[tuple[str, int], FileSink] = {}
        self.extra_files: list[tuple[int, TableContract, Path]] = []  # redelivered copies

    def dump_date(self, dump: int) -> str:
        return self.calendar.dump_dates[dump].isoformat()

    def file_name(self, contract: TableContract, dump: int) -> str:
        return contract.file_glob.replace("*", self.calendar.file_label(dump))

    def sink(self, contract: TableContract, dump: int) -> FileSink:
        key = (contract.key, dump)
        if key not in self.sinks:
            folder = self.root / self.dump_date(dump) / contract.source
            folder.mkdir(parents=True, exist_ok=True)
            sink = FileSink(folder / self.file_name(contract, dump), contract, dump)
            sink.path.write_bytes(b"")
            if contract.format == "csv":
                sink.append(header_line(contract).encode(contract.encoding))
                sink.lines = 1
            self.sinks[key] = sink
        return self.sinks[key]

    def write(self, contract: TableContract, dump: int, table: pa.Table, rng: np.random.Generator) -> None:
        """Appends rows (typed, contract column names, optional ``_tag`` column naming defects to log)."""
        sink = self.sink(contract, dump)
        rates = self.config.defect_rates
        for start in range(0, table.num_rows, BATCH_ROWS):
            batch = table.slice(start, BATCH_ROWS)
            n = batch.num_rows
            tag_column = batch.column("_tag") if "_tag" in batch.column_names else None
            tagged = np.zeros(n, bool) if tag_column is None else pc.is_valid(tag_column).to_numpy(zero_copy_only=False)
            corruption = plan_corruption(rng, contract, n, rates, exclude=tagged)
            if corruption is not None:
                for name, column in corruption.columns.items():
                    batch = batch.append_column(name, column)
                malformed = corruption.defect >= 0
                order, is_dup = duplicate_order(rng, n, rates["duplicate_rows"], exclude=tagged | malformed)
            else:
                malformed = np.zeros(n, bool)
                order, is_dup = np.arange(n), np.zeros(n, bool)
            # A line is a function of its row's values, so a duplicate is its source's line written again: the
            # rows are rendered once and written in `order` (no copy of the batch for 0.2% of repeated rows).
            texts = lines_in_order(self.formatter.lines(contract, batch), order)
            if contract.encoding != "utf-8":
                texts = [str(text, "utf-8").encode(contract.encoding) for text in texts]
            first_line = sink.lines + 1
            position = np.empty(n, dtype=np.int64)
            position[order[~is_dup]] = np.flatnonzero(~is_dup)
            dump_date = self.dump_date(dump)
            if malformed.any():
                rows = np.flatnonzero(malformed)
                names = np.asarray(ROW_DEFECTS, dtype=object)[corruption.defect[rows]]
                self.log.add(dump_date, contract, sink.name, first_line + position[rows], names)
            if is_dup.any():
                self.log.add(dump_date, contract, sink.name, first_line + np.flatnonzero(is_dup), "duplicate_rows")
            if tagged.any():
                rows = np.flatnonzero(tagged)
                tags = np.asarray(tag_column.take(pa.array(rows)).to_pylist(), dtype=object)  # tagged rows only
                for tag in sorted(set(tags)):  # one iteration per tag combination
                    hit = rows[tags == tag]
                    for name in tag.split(","):
                        self.log.add(dump_date, contract, sink.name, first_line + position[hit], name)
            sink.append(*texts)
            sink.lines += len(order)

    def ensure_all(self, contracts) -> None:
        """Every contract's file exists in every dump, header only when there were no rows."""
        for dump in range(self.calendar.days):
            for contract in contracts:
                self.sink(contract, dump)

    def truncate_last_lines(self, rng: np.random.Generator) -> int:
        """Cuts the last line of some transactional files mid-line, leaving no trailing newline."""
        rate = self.config.rate("truncated_last_line")
        candidates = [
            sink for key, sink in sorted(self.sinks.items(), key=lambda item: (item[0][1], item[0][0]))
            if sink.contract.key in TRANSACTIONAL_KEYS and sink.lines >= (3 if sink.contract.format == "csv" else 2)
        ]
        if rate <= 0 or not candidates:
            return 0
        count = min(len(candidates), max(1, round(rate * len(candidates))))
        chosen = sorted(rng.choice(len(candidates), size=count, replace=False))
        for index in chosen:
            sink = candidates[index]
            eol = line_ending(sink.contract).encode()
            size = sink.path.stat().st_size
            with sink.path.open("r+b") as handle:
                start = max(0, size - (1 << 20))
                handle.seek(start)
                tail = handle.read()
                line_start = tail.rfind(b"\n", 0, len(tail) - 1) + 1
                last = tail[line_start : len(tail) - len(eol)].decode(sink.contract.encoding)
                cut = truncate_line(last, sink.contract).encode(sink.contract.encoding)
                handle.seek(start + line_start)
                handle.write(cut)
                handle.truncate()
            self.log.replace_line(self.dump_date(sink.dump), sink.contract, sink.name, sink.lines, "truncated_last_line")
        return count

    def redeliver(self, rng: np.random.Generator, preferred: TableContract) -> int:
        """Puts byte-identical copies of some files of dump k-1 into dump k (same name)."""
        rate = self.config.rate("file_redelivery")
        if rate <= 0 or self.calendar.days < 2:
            return 0
        candidates = [
            (dump, contract) for dump in range(1, self.calendar.days)
            for contract in (sink.contract for (key, d), sink in sorted(self.sinks.items()) if d == dump)
            if contract.key in TRANSACTIONAL_KEYS
        ]
        count = min(len(candidates), max(1, round(rate * len(candidates))))
        # Always the shop orders into the last dump, then a random draw of the rest.
        first = (self.calendar.days - 1, preferred)
        rest = [candidate for candidate in candidates if candidate != first]
        picks = [first] + [rest[i] for i in sorted(rng.choice(len(rest), size=count - 1, replace=False))]
        for dump, contract in picks:
            source = self.sinks[(contract.key, dump - 1)]
            target = self.root / self.dump_date(dump) / contract.source / source.name
            shutil.copyfile(source.path, target)
            self.extra_files.append((dump, contract, target))
            self.log.add(self.dump_date(dump), contract, source.name, [np.nan], "file_redelivery")
        return len(picks)

    def mark_ready(self) -> None:
        for dump in range(self.calendar.days):
            (self.root / self.dump_date(dump) / READY_MARKER).write_bytes(b"")

    def files(self) -> dict[str, int]:
        """Data lines per landed file (header excluded), by path relative to the landing root."""
        out = {}
        for sink in sorted(self.sinks.values(), key=lambda s: (s.dump, s.contract.source, s.name)):
            out[str(sink.path.relative_to(self.root))] = sink.lines - (1 if sink.contract.format == "csv" else 0)
        for dump, contract, path in self.extra_files:
            source = self.sinks[(contract.key, dump - 1)]
            out[str(path.relative_to(self.root))] = out[str(source.path.relative_to(self.root))]
        return dict(sorted(out.items()))

