"""The answers: which person is behind every record, and which lines were damaged on purpose.

Written under ``<out>/ground_truth/`` for scoring identity resolution and ingestion; the pipeline never reads it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from orchestration.settings import data_paths

SCHEMAS = {
    "persons": pa.schema([
        ("person_id", pa.int64()), ("first_name", pa.string()), ("last_name", pa.string()), ("email", pa.string()),
        ("phone_e164", pa.string()), ("birth_date", pa.date32()), ("gender", pa.string()), ("city", pa.string()),
    ]),
    "shop_customers": pa.schema([("user_id", pa.int64()), ("person_id", pa.int64())]),
    "shop_orders": pa.schema([("order_id", pa.int64()), ("person_id", pa.int64())]),
    "erp_documents": pa.schema([("document_number", pa.string()), ("person_id", pa.int64())]),
    "pos_receipts": pa.schema([
        ("store_code", pa.string()), ("receipt_year", pa.int32()), ("receipt_no", pa.int64()), ("person_id", pa.int64()),
    ]),
    "loyalty_members": pa.schema([("member_id", pa.int64()), ("person_id", pa.int64())]),
    "web_devices": pa.schema([("device_id", pa.string()), ("person_id", pa.int64())]),
    "esp_messages": pa.schema([("message_id", pa.string()), ("person_id", pa.int64())]),
}
DEFECTS_SCHEMA = pa.schema([
    ("dump_date", pa.string()), ("source", pa.string()), ("table", pa.string()), ("file", pa.string()),
    ("line_number", pa.int64()), ("defect", pa.string()),
])


class GroundTruth:
    """Appends chunk after chunk to one Parquet file per mapping."""

    def __init__(self, out_root: Path) -> None:
        self.root = data_paths(out_root).ground_truth
        self.root.mkdir(parents=True, exist_ok=True)
        self._writers: dict[str, pq.ParquetWriter] = {}

    def append(self, name: str, columns: dict) -> None:
        schema = SCHEMAS[name]
        table = pa.table({field.name: pa.array(columns[field.name]).cast(field.type) for field in schema}, schema=schema)
        if name not in self._writers:
            self._writers[name] = pq.ParquetWriter(self.root / f"{name}.parquet", schema, compression="zstd")
        self._writers[name].write_table(table)

    def close(self) -> None:
        for name, schema in SCHEMAS.items():
            if name not in self._writers:  # nothing of this kind was generated: still write the file
                pq.write_table(schema.empty_table(), self.root / f"{name}.parquet")
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()

    def write_defects(self, frame: pd.DataFrame) -> None:
        table = pa.Table.from_pandas(frame[list(DEFECTS_SCHEMA.names)], schema=DEFECTS_SCHEMA, preserve_index=False)
        pq.write_table(table, self.root / "injected_defects.parquet")

    def write_summary(self, summary: dict) -> None:
        (self.root / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False, sort_keys=False) + "\n",
                                                encoding="utf-8")
