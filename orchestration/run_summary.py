"""A short, readable account of what the nightly did, printed at the end of `make demo` / `make nightly`."""

from __future__ import annotations

import json

import duckdb

from orchestration.settings import DataPaths


def summarize(paths: DataPaths) -> str:
    lines = []
    con = duckdb.connect()
    ledger = paths.file_ledger / "*" / "*" / "*" / "*.parquet"
    if paths.file_ledger.exists():
        read, loaded, quarantined, files = con.execute(
            f"select sum(lines_read), sum(rows_loaded), sum(lines_quarantined), count(*) "
            f"from read_parquet('{ledger}', hive_partitioning = false)"
        ).fetchone()
        lines.append(f"Ingest: {files} files, {read:,} lines read = {loaded:,} loaded + {quarantined:,} quarantined")
        lines.append(f"  why lines were quarantined: {paths.quarantine}/<source>/<table>/dump_date=<date>/quarantine.parquet")
    if paths.warehouse.exists():
        with duckdb.connect(str(paths.warehouse), read_only=True) as warehouse:
            tables = {name for (name,) in warehouse.execute("select table_name from duckdb_tables()").fetchall()}
            views = {name for (name,) in warehouse.execute("select view_name from duckdb_views()").fetchall()}
            if "customers" in tables | views:  # a view over int_customers_assembled
                customers, buyers = warehouse.execute(
                    "select count(*), count(*) filter (where has_purchased) from customers").fetchone()
                lines.append(f"Warehouse: {customers:,} customers ({buyers:,} with purchases) in {paths.warehouse}")
            sizes = [
                f"{name.removeprefix('segment_')} {warehouse.execute(f'select count(*) from {name}').fetchone()[0]:,}"
                for name in sorted(views) if name.startswith("segment_")
            ]
            if sizes:
                lines.append("Segments: " + ", ".join(sizes))
    latest = paths.exports / "latest"
    if latest.exists():
        for pointer in sorted(latest.glob("*.json")):
            target = json.loads(pointer.read_text())
            manifest = json.loads((paths.exports / target["path"] / "manifest.json").read_text())
            suppressed = sum(manifest["suppressed_total"].values())
            lines.append(f"Export {manifest['destination']:<16} {manifest['rows_total']:>7,} rows, "
                         f"{suppressed:,} suppressed -> exports/{target['path']}/")
    failures = paths.exports / "gate_failures"
    if failures.exists():
        reports = sorted(p for p in failures.glob("*.md") if not p.name.endswith(".resolved.md"))
        if reports:
            lines.append(f"Gate failures reported: {len(reports)} (latest: {reports[-1]})")
    return "\n".join(lines)
