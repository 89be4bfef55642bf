"""generate(): persons chunk by chunk -> every source's files in every dump, then file-level defects,
control totals, ground truth, and the _SUCCESS markers last."""

from __future__ import annotations

import math
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from orchestration.ingest.contracts import (
    CATALOG_ERP_NOMENCLATURE, CATALOG_WEB_FEED, CONTRACTS, CONTROL_TOTALS, READY_MARKER, SHOP_ORDERS,
)
from orchestration.settings import data_paths
from orchestration.write_behind import WriteBehind

from . import reference as ref
from .catalog import build_catalog, nomenclature_table, web_feed_table
from .columns import pick
from .config import GeneratorConfig
from .contacts import Tally, e164
from .control import ControlTotals
from .erp import build_documents, document_tables
from .esp import activity_tables, build_activity, build_campaigns
from .formatting import LineFormatter
from .ground_truth import GroundTruth
from .loyalty import build_members, member_tables
from .persons import generate_persons
from .pos import build_receipts, receipt_tables, receipts_before_history
from .rng import hex_ids, stream
from .sequences import Sequences
from .shop import build_web_orders, customer_tables, order_tables
from .timeline import Clock
from .web import build_events, device_ids, event_tables
from .writers import Landing


@dataclass
class GenerationSummary:
    out_root: Path
    dump_dates: list[str]
    persons: int
    files: dict[str, int]  # path under landing/ -> data rows (header excluded)
    rows_per_table: dict[str, int]  # contract key -> data rows over all dumps (redelivered copies excluded)
    defect_counts: dict[str, int]
    seconds: float = 0.0
    config: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        """What summary.json holds (no timings, so the file is reproducible)."""
        return {
            "config": self.config,
            "dump_dates": self.dump_dates,
            "persons": self.persons,
            "defect_counts": self.defect_counts,
            "rows_per_table": self.rows_per_table,
            "files": self.files,
        }


def clean(out_root: Path) -> None:
    paths = data_paths(out_root)
    for folder in (paths.landing, paths.ground_truth):
        if folder.exists():
            shutil.rmtree(folder)


def generate(out_root: Path, config: GeneratorConfig | None = None) -> GenerationSummary:
    started = time.perf_counter()
    config = config or GeneratorConfig()
    out_root = Path(out_root)
    calendar = config.calendar
    paths = data_paths(out_root)
    for dump_date in calendar.dump_dates:  # a dump being rewritten is not ready until this run says so
        (paths.landing / dump_date.isoformat() / READY_MARKER).unlink(missing_ok=True)

    clock = Clock(calendar)
    catalog = build_catalog(config.seed, config.persons)
    campaigns = build_campaigns(config, calendar)
    sequences, tally, totals = Sequences(), Tally(), ControlTotals(calendar)
    sequences.continue_receipts(calendar.first_business_day.year, receipts_before_history(config, calendar))
    formatter = LineFormatter()
    landing = Landing(out_root, config, formatter)
    truth = GroundTruth(out_root)
    try:
        with WriteBehind() as behind:  # the files are written while the next tables are drawn
            for chunk in range(math.ceil(config.persons / config.chunk_size)):
                offset = chunk * config.chunk_size
                size = min(config.chunk_size, config.persons - offset)

                def write(tables, chunk=chunk):
                    for contract, dump, table in tables:
                        behind.submit(landing.write, contract, dump, table,
                                      stream(config.seed, "lines", contract.key, dump, chunk), size=table.nbytes)

                persons = generate_persons(config, calendar, chunk, offset, size, sequences, tally)
                orders = build_web_orders(config, calendar, clock, catalog, persons, chunk, sequences, tally)
                write(customer_tables(config, calendar, persons, chunk, tally))
                write(order_tables(orders, calendar, totals))
                documents = build_documents(config, calendar, clock, catalog, persons, orders, chunk, sequences, tally)
                write(document_tables(config, calendar, persons, documents, chunk, tally, totals))
                receipts = build_receipts(config, calendar, clock, catalog, persons, chunk, sequences, tally)
                write(receipt_tables(calendar, receipts, totals))
                members = build_members(config, calendar, persons, chunk)
                write(member_tables(config, calendar, persons, members, chunk, tally))
                events = build_events(config, calendar, clock, catalog, persons, orders, chunk, sequences)
                write(event_tables(config, calendar, catalog, events, chunk, sequences))
                del events
                activity = build_activity(config, calendar, persons, members, campaigns, chunk, sequences)
                write(activity_tables(config, calendar, persons, campaigns, activity, chunk))

                _append_truth(truth, config, persons, orders, documents, receipts, members, activity)
                behind.submit(formatter.forget_dictionaries)  # after this chunk's tables, in the worker's order

            for dump in range(calendar.days):
                behind.submit(landing.write, CATALOG_WEB_FEED, dump, web_feed_table(catalog, config.seed, dump),
                              stream(config.seed, "feed", dump))
                behind.submit(landing.write, CATALOG_ERP_NOMENCLATURE, dump, nomenclature_table(catalog),
                              stream(config.seed, "nomenclature", dump))
                behind.submit(landing.write, CONTROL_TOTALS, dump, totals.table(dump), stream(config.seed, "control", dump))
        # Every table is written from here on: the file-level defects work on whole files.
        landing.ensure_all(CONTRACTS)
        landing.truncate_last_lines(stream(config.seed, "truncate"))
        landing.redeliver(stream(config.seed, "redeliver"), preferred=SHOP_ORDERS)
    finally:
        truth.close()
        formatter.close()

    log = landing.log.frame()
    truth.write_defects(log)
    counts = Counter({name: 0 for name in config.defect_rates})
    counts.update(tally)
    for defect, count in log["defect"].value_counts().items():
        counts[defect] = int(count)
    files = landing.files()
    rows_per_table = {contract.key: 0 for contract in CONTRACTS}
    for sink in landing.sinks.values():
        rows_per_table[sink.contract.key] += sink.lines - (1 if sink.contract.format == "csv" else 0)
    summary = GenerationSummary(
        out_root=out_root, dump_dates=[d.isoformat() for d in calendar.dump_dates], persons=config.persons,
        files=files, rows_per_table=rows_per_table, defect_counts=dict(sorted(counts.items())), config=config.as_dict(),
    )
    truth.write_summary(summary.as_dict())
    landing.mark_ready()  # last: each dump is complete
    summary.seconds = time.perf_counter() - started
    return summary


def _append_truth(truth: GroundTruth, config, persons, orders, documents, receipts, members, activity) -> None:
    truth.append("persons", {
        "person_id": persons.person_id,
        "first_name": persons.first_name,
        "last_name": persons.last_name,
        "email": persons.email,
        "phone_e164": e164(persons.phone),
        "birth_date": persons.birth_day.astype("datetime64[D]"),
        "gender": np.where(persons.male, "M", "F"),
        "city": pick(ref.CITY_NAMES, persons.city),
    })
    account = np.flatnonzero(persons.has_account)
    truth.append("shop_customers", {"user_id": persons.user_id[account], "person_id": persons.person_id[account]})
    truth.append("shop_orders", {"order_id": orders.order_id, "person_id": persons.person_id[orders.person]})
    truth.append("erp_documents", {"document_number": documents.number, "person_id": persons.person_id[documents.person]})
    truth.append("pos_receipts", {
        "store_code": pick(ref.STORE_CODES, receipts.store),
        "receipt_year": receipts.year,
        "receipt_no": receipts.number,
        "person_id": persons.person_id[receipts.person],
    })
    truth.append("loyalty_members", {
        "member_id": persons.member_id[members.person], "person_id": persons.person_id[members.person]})
    owner = np.repeat(np.arange(persons.size), persons.n_devices)
    counters = persons.device_start[owner] + (np.arange(len(owner)) - np.repeat(np.cumsum(persons.n_devices) - persons.n_devices, persons.n_devices))
    truth.append("web_devices", {"device_id": device_ids(config.seed, counters), "person_id": persons.person_id[owner]})
    messages, first = np.unique(activity.message, return_index=True)
    truth.append("esp_messages", {
        "message_id": hex_ids(messages, config.seed, "esp_message", 16),
        "person_id": persons.person_id[activity.person[first]],
    })
