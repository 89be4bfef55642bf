"""The sample-retailer generator: reproducible, contract-shaped files, every injected defect really in the files,
and a defect log that names exactly the lines ingestion must quarantine."""

from __future__ import annotations

import csv
import fnmatch
import json
import re
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pandas as pd
import pytest

from orchestration.ingest.contracts import CONTRACTS, ERP_SALES, READY_MARKER, TableContract
from orchestration.sample_data import MALFORMED_DEFECTS, GeneratorConfig, generate
from orchestration.sample_data.cli import main

PERSONS = 800
DAYS = 3


# ---------- helpers: read the files the way a strict ingestion would


def contract_of(source: str, name: str) -> TableContract:
    for contract in CONTRACTS:
        if contract.source == source and fnmatch.fnmatch(name, contract.file_glob):
            return contract
    raise AssertionError(f"no contract for {source}/{name}")


def landed_files(root: Path):
    for path in sorted((root / "landing").glob("*/*/*")):
        dump, source, name = path.parts[-3:]
        yield dump, source, name, path, contract_of(source, name)


def physical_lines(path: Path, contract: TableContract) -> list[str]:
    text = path.read_bytes().decode(contract.encoding)
    eol = "\r\n" if contract.encoding == "cp1251" else "\n"
    lines = text.split(eol)
    return lines[:-1] if lines[-1] == "" else lines


def split_fields(line: str, contract: TableContract) -> list[str]:
    if contract.quote is None:
        return line.split(contract.delimiter)
    return next(csv.reader([line], delimiter=contract.delimiter, quotechar=contract.quote, strict=True))


def value_ok(contract: TableContract, column, value) -> bool:
    if value is None or value == "":
        return not column.required
    try:
        if column.type in ("bigint", "integer"):
            return isinstance(value, int) if not isinstance(value, str) else bool(re.fullmatch(r"-?\d+", value))
        if column.type == "decimal":
            if not isinstance(value, str):
                return isinstance(value, (int, float))
            sep = "," if contract.decimal_comma else "."
            return bool(re.fullmatch(r"-?\d+" + re.escape(sep) + r"\d{2}", value))
        if column.type == "date":
            datetime.strptime(value, contract.date_format)
        elif column.type == "timestamp":
            datetime.strptime(value, contract.timestamp_format)
        elif column.type == "boolean":
            return value in ("true", "false")
    except (ValueError, InvalidOperation):
        return False
    return True


def malformed_lines(path: Path, contract: TableContract) -> set[int]:
    """Physical line numbers (header = 1) a strict reader rejects."""
    bad = set()
    lines = physical_lines(path, contract)
    if contract.format == "jsonl":
        for number, line in enumerate(lines, 1):
            try:
                record = json.loads(line)
            except ValueError:
                bad.add(number)
                continue
            if not isinstance(record, dict) or not set(record) <= set(contract.column_names) or not all(
                value_ok(contract, column, record.get(column.name)) for column in contract.columns
            ):
                bad.add(number)
        return bad
    for number, line in enumerate(lines[1:], 2):
        fields = split_fields(line, contract)
        if len(fields) != len(contract.columns) or not all(
            value_ok(contract, column, value) for column, value in zip(contract.columns, fields)
        ):
            bad.add(number)
    return bad


def rows(root: Path, contract: TableContract, dump: str | None = None) -> list[dict]:
    """Well-formed data rows of a table (all dumps unless one is given), with their dump date and file."""
    out = []
    for dump_date, source, name, path, c in landed_files(root):
        if c is not contract or (dump and dump_date != dump):
            continue
        lines = physical_lines(path, c)
        if c.format == "jsonl":
            for line in lines:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if all(value_ok(c, column, record.get(column.name)) for column in c.columns):
                    out.append({**record, "_dump": dump_date, "_file": name})
            continue
        for line in lines[1:]:
            fields = split_fields(line, c)
            if len(fields) == len(c.columns) and all(value_ok(c, col, v) for col, v in zip(c.columns, fields)):
                out.append({**dict(zip(c.column_names, fields)), "_dump": dump_date, "_file": name})
    return out


def defect_log(root: Path) -> pd.DataFrame:
    return pd.read_parquet(root / "ground_truth" / "injected_defects.parquet")


def read_bytes_tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# ---------- fixtures


@pytest.fixture(scope="session")
def dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sample")
    generate(root, GeneratorConfig(persons=PERSONS, days=DAYS))
    return root


@pytest.fixture(scope="session")
def clean_dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sample_clean")
    generate(root, GeneratorConfig(persons=PERSONS, days=DAYS).without_defects())
    return root


# ---------- reproducibility and layout


def test_same_arguments_give_identical_bytes(dataset, tmp_path):
    generate(tmp_path, GeneratorConfig(persons=PERSONS, days=DAYS))
    assert read_bytes_tree(tmp_path) == read_bytes_tree(dataset)


def test_another_seed_gives_other_data(dataset, tmp_path):
    generate(tmp_path, GeneratorConfig(persons=PERSONS, days=DAYS, seed=7))
    ours, theirs = read_bytes_tree(dataset), read_bytes_tree(tmp_path)
    differing = [name for name in ours if "shop/orders" in name and ours[name] != theirs.get(name)]
    assert differing


def test_every_dump_has_every_contract_file_and_a_ready_marker(dataset):
    dumps = sorted(p.name for p in (dataset / "landing").iterdir())
    assert dumps == ["2026-11-18", "2026-11-19", "2026-11-20"]
    for dump in dumps:
        folder = dataset / "landing" / dump
        assert (folder / READY_MARKER).read_bytes() == b""
        for contract in CONTRACTS:
            assert list((folder / contract.source).glob(contract.file_glob)), f"{dump}: no {contract.key} file"
        # dated files name the business day the dump carries (the day before the dump)
        label = (date.fromisoformat(dump) - timedelta(days=1)).strftime("%Y%m%d")
        assert (folder / "shop" / f"orders_{label}.csv").exists()


def test_headers_follow_the_contracts(dataset):
    for dump, source, name, path, contract in landed_files(dataset):
        if contract.format == "csv":
            header = physical_lines(path, contract)[0]
            assert split_fields(header, contract) == list(contract.column_names), path
        else:
            for line in physical_lines(path, contract)[:50]:
                keys = list(json.loads(line))
                assert keys == [k for k in contract.column_names if k in keys], path


def test_erp_file_is_windows_1251_with_crlf(dataset):
    path = next((dataset / "landing" / "2026-11-18" / "erp").glob("sales_*.csv"))
    raw = path.read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    text = raw.decode("cp1251")
    assert text.startswith(";".join(ERP_SALES.column_names) + "\r\n")
    assert "Интернет-магазин" in text and "Телефон" in text and "Магазин" in text
    assert raw.count(b"\n") == raw.count(b"\r\n")
    assert re.search(r";\d+,\d{2}\r\n", text)  # decimal comma
    assert re.search(r"\d{2}\.\d{2}\.\d{4} \d{2}:\d{2}:\d{2}", text)


def test_first_dump_carries_the_history_later_dumps_one_day(dataset):
    totals = rows(dataset, next(c for c in CONTRACTS if c.key == "control__totals"))
    days = defaultdict(set)
    for row in totals:
        days[row["_dump"]].add(row["business_date"])
    assert len(days["2026-11-18"]) == 730 and min(days["2026-11-18"]) == "2024-11-18"
    assert days["2026-11-19"] == {"2026-11-17", "2026-11-18"}  # the day plus a restatement of the previous one
    assert days["2026-11-20"] == {"2026-11-18", "2026-11-19"}


# ---------- the defect log names exactly the malformed lines


def test_logged_malformed_lines_are_exactly_the_malformed_lines(dataset):
    log = defect_log(dataset)
    redelivered = set(map(tuple, log[log.defect == "file_redelivery"][["dump_date", "source", "file"]].values))
    checked = 0
    for dump, source, name, path, contract in landed_files(dataset):
        if (dump, source, name) in redelivered:
            continue
        logged = log[(log.dump_date == dump) & (log.source == source) & (log.file == name)
                     & log.defect.isin(MALFORMED_DEFECTS)]
        assert malformed_lines(path, contract) == set(logged.line_number.astype(int)), path
        checked += len(logged)
    assert checked > 20


def test_each_defect_is_in_the_files(dataset):
    log = defect_log(dataset)
    counts = log.defect.value_counts()
    for defect in MALFORMED_DEFECTS + ("duplicate_rows", "file_redelivery", "late_rows", "unknown_sku"):
        assert counts.get(defect, 0) > 0, defect

    def line_at(row) -> tuple[str, TableContract, list[str]]:
        contract = contract_of(row.source, row.file)
        path = dataset / "landing" / row.dump_date / row.source / row.file
        lines = physical_lines(path, contract)
        return lines[int(row.line_number) - 1], contract, lines

    for row in log[log.defect == "wrong_column_count"].itertuples():
        line, contract, _ = line_at(row)
        assert len(split_fields(line, contract)) != len(contract.columns)
    for row in log[log.defect.isin(["bad_date", "non_numeric_amount"])].itertuples():
        line, contract, _ = line_at(row)
        fields = split_fields(line, contract)
        assert len(fields) == len(contract.columns)  # right count, wrong value
        kinds = ("date", "timestamp") if row.defect == "bad_date" else ("decimal", "integer", "bigint")
        assert any(c.type in kinds and not value_ok(contract, c, v) for c, v in zip(contract.columns, fields))
        assert all(value_ok(contract, c, v) for c, v in zip(contract.columns, fields) if c.type == "varchar")
    for row in log[log.defect == "invalid_json"].itertuples():
        line, _, _ = line_at(row)
        with pytest.raises(ValueError):
            json.loads(line)
    for row in log[log.defect == "duplicate_rows"].itertuples():
        line, _, lines = line_at(row)
        assert line in lines[: int(row.line_number) - 1]
    for row in log[log.defect == "truncated_last_line"].itertuples():
        contract = contract_of(row.source, row.file)
        raw = (dataset / "landing" / row.dump_date / row.source / row.file).read_bytes()
        assert not raw.endswith(b"\n")
        line, _, lines = line_at(row)
        assert int(row.line_number) == len(lines)
        if contract.format == "csv":
            assert len(split_fields(line, contract)) != len(contract.columns)
    for row in log[log.defect == "file_redelivery"].itertuples():
        later = dataset / "landing" / row.dump_date / row.source / row.file
        earlier_dump = (date.fromisoformat(row.dump_date) - timedelta(days=1)).isoformat()
        assert later.read_bytes() == (dataset / "landing" / earlier_dump / row.source / row.file).read_bytes()
    catalog = {r["Артикул"] for r in rows(dataset, contract_of("catalog", "nomenclature.csv"))}
    catalog |= {r["id"] for r in rows(dataset, contract_of("catalog", "web_feed.tsv"))}
    for row in log[log.defect == "unknown_sku"].itertuples():
        line, contract, _ = line_at(row)
        fields = dict(zip(contract.column_names, split_fields(line, contract)))
        sku = fields.get("product_id") or fields.get("sku") or fields.get("Артикул")
        assert sku and sku not in catalog


def test_identifier_defects_are_in_the_files(dataset):
    orders = rows(dataset, contract_of("shop", "orders_x.csv"))
    customers = rows(dataset, contract_of("shop", "customers_x.csv"))
    members = rows(dataset, contract_of("loyalty", "members_x.csv"))
    erp = rows(dataset, ERP_SALES)
    phones = [r["phone"] for r in orders + customers + members] + [r["Телефон"] for r in erp]
    assert any(re.fullmatch(r"\+7 \(\d{3}\) \d{3}-\d{2}-\d{2}", p) for p in phones)
    for pattern in (r"89\d{9}", r"9\d{9}", r"\+79\d{9}", r"8 9\d{2} \d{3} \d{2} \d{2}"):
        assert any(re.fullmatch(pattern, p) for p in phones), pattern
    assert any(p == "0000000000" for p in phones)
    assert any(r["email"] == "test@test.ru" for r in orders)
    emails = [r["email"] for r in orders + customers + members if r["email"]]
    assert any(e != e.strip() for e in emails) and any(e.strip() != e.strip().lower() for e in emails)
    # the store's own phone typed for walk-in buyers, shared by several documents of different people
    walk_in = {r["Телефон"] for r in erp if r["Контрагент"] == "Розничный покупатель" and r["Телефон"]}
    assert walk_in and all(re.sub(r"\D", "", p)[-10:-7] in {"495", "499", "812", "343", "383", "843", "831",
                                                             "846", "861", "863", "473", "342", "347", "351"}
                           for p in walk_in)
    # names with typos: shop names that are not the person's
    truth = pd.read_parquet(dataset / "ground_truth" / "persons.parquet").set_index("person_id")
    accounts = pd.read_parquet(dataset / "ground_truth" / "shop_customers.parquet").set_index("user_id").person_id
    typos = [r for r in customers
             if (r["first_name"], r["last_name"]) != tuple(truth.loc[accounts[int(r["user_id"])], ["first_name", "last_name"]])]
    assert typos
    # a family email: someone types another person's personal email
    own = dict(zip(truth.index, truth.email))
    owners = {email: pid for pid, email in own.items()}
    gt = dataset / "ground_truth"
    order_person = pd.read_parquet(gt / "shop_orders.parquet").set_index("order_id").person_id
    member_person = pd.read_parquet(gt / "loyalty_members.parquet").set_index("member_id").person_id
    typed = [(r["email"], order_person[int(r["order_id"])]) for r in orders]
    typed += [(r["email"], accounts[int(r["user_id"])]) for r in customers]
    typed += [(r["email"], member_person[int(r["member_id"])]) for r in members]
    shared = {(e.strip().lower(), pid) for e, pid in typed if e.strip().lower() in owners and owners[e.strip().lower()] != pid}
    assert shared


def test_receipt_numbers_collide_across_stores_and_years(dataset):
    receipts = rows(dataset, contract_of("pos", "receipts_x.csv"))
    stores_by_number = defaultdict(set)
    years_by_store_number = defaultdict(set)
    for r in receipts:
        year = r["sold_at"][:4]
        stores_by_number[(year, r["receipt_no"])].add(r["store_code"])
        years_by_store_number[(r["store_code"], r["receipt_no"])].add(year)
    assert max(len(s) for s in stores_by_number.values()) > 1
    assert max(len(y) for y in years_by_store_number.values()) > 1
    assert {r["operation"] for r in receipts} == {"sale", "return"}
    assert any(r["card_no"] for r in receipts) and any(not r["card_no"] for r in receipts)


def test_cancellations_returns_and_late_rows(dataset):
    orders = rows(dataset, contract_of("shop", "orders_x.csv"))
    assert {"cancelled", "returned", "delivered"} <= {r["status"] for r in orders}
    erp = rows(dataset, ERP_SALES)
    assert {"Отменен", "Проведен"} <= {r["Статус"] for r in erp}
    assert {"Продажа", "Возврат"} <= {r["Вид операции"] for r in erp}
    log = defect_log(dataset)
    late = log[log.defect == "late_rows"]
    assert len(late)
    for row in late.itertuples():  # a late row belongs to the day before the one its dump carries
        contract = contract_of(row.source, row.file)
        path = dataset / "landing" / row.dump_date / row.source / row.file
        line = physical_lines(path, contract)[int(row.line_number) - 1]
        record = json.loads(line) if contract.format == "jsonl" else dict(zip(contract.column_names, split_fields(line, contract)))
        moment = next(record[c.name] for c in contract.columns if c.type == "timestamp")
        fmt = contract.timestamp_format
        carried = date.fromisoformat(row.dump_date) - timedelta(days=1)
        assert datetime.strptime(moment, fmt).date() == carried - timedelta(days=1)


def test_consent_changes_redeliver_members(dataset):
    members = rows(dataset, contract_of("loyalty", "members_x.csv"))
    seen = defaultdict(set)
    for r in members:
        seen[r["member_id"]].add((r["_dump"], r["updated_at"]))
    assert any(len({d for d, _ in v}) > 1 and len({u for _, u in v}) > 1 for v in seen.values())
    birth = [r["birth_date"] for r in members]
    assert any(re.fullmatch(r"\d{4}-\d{2}-\d{2}", b) for b in birth)
    assert any(re.fullmatch(r"\d{2}\.\d{2}\.\d{4}", b) for b in birth)


def test_web_events_tell_sessions_orders_and_abandoned_carts(dataset):
    events = rows(dataset, contract_of("web", "events_x.jsonl"))
    kinds = Counter(e["event_type"] for e in events)
    assert set(kinds) == {"page_view", "product_view", "add_to_cart", "remove_from_cart", "checkout_started",
                          "order_completed"}
    assert all(e["occurred_at"].endswith("Z") for e in events)
    order_ids = set(pd.read_parquet(dataset / "ground_truth" / "shop_orders.parquet").order_id)
    completed = [e for e in events if e["event_type"] == "order_completed"]
    assert completed and all(e["order_id"] in order_ids for e in completed)
    assert any("user_id" in e for e in events) and any("user_id" not in e for e in events)
    assert kinds["add_to_cart"] > kinds["order_completed"]  # carts left behind
    assert len({e["event_id"] for e in events}) == len({(e["event_id"], e["occurred_at"]) for e in events})


def test_web_orders_are_mirrored_in_the_erp(clean_dataset):
    orders = {r["order_number"]: r for r in rows(clean_dataset, contract_of("shop", "orders_x.csv"))}
    documents = defaultdict(Decimal)
    days = {}
    for r in rows(clean_dataset, ERP_SALES):
        if r["Канал продаж"] == "Интернет-магазин" and r["Вид операции"] == "Продажа":
            documents[r["Номер заказа сайта"]] += Decimal(r["Сумма"].replace(",", "."))
            days[r["Номер заказа сайта"]] = r["Дата документа"][:10]
    assert set(orders) == set(documents)
    for number, order in orders.items():
        assert Decimal(order["total_amount"]) == documents[number]
        assert datetime.strptime(days[number], "%d.%m.%Y").date().isoformat() == order["created_at"][:10]


# ---------- without defects


def test_no_defects_means_no_malformed_lines(clean_dataset):
    assert defect_log(clean_dataset).empty
    for dump, source, name, path, contract in landed_files(clean_dataset):
        assert malformed_lines(path, contract) == set(), path
        assert path.read_bytes().endswith(b"\n") or path.stat().st_size == 0, path
        lines = physical_lines(path, contract)
        if contract.key not in ("catalog__web_feed", "catalog__erp_nomenclature", "control__totals"):
            assert len(lines) == len(set(lines)), f"duplicate line in {path}"


def test_control_totals_match_the_files_exactly_without_defects(clean_dataset):
    """Each system's totals of a day, as stated in dump k, equal what dumps 0..k delivered for that day."""
    dumps = sorted(p.name for p in (clean_dataset / "landing").iterdir())
    shop_orders = rows(clean_dataset, contract_of("shop", "orders_x.csv"))
    erp = rows(clean_dataset, ERP_SALES)
    receipts = rows(clean_dataset, contract_of("pos", "receipts_x.csv"))
    totals = rows(clean_dataset, contract_of("control", "control_totals_x.csv"))
    for k, dump in enumerate(dumps):
        upto = set(dumps[: k + 1])
        expected = defaultdict(lambda: [0, Decimal(0)])
        latest = {}
        for r in shop_orders:
            if r["_dump"] in upto and (r["order_id"] not in latest or r["updated_at"] >= latest[r["order_id"]]["updated_at"]):
                latest[r["order_id"]] = r
        for r in latest.values():
            if r["status"] != "cancelled":
                key = ("shop", r["created_at"][:10], "total", "")
                expected[key][0] += 1
                expected[key][1] += Decimal(r["total_amount"])
        docs = {}
        for r in erp:
            if r["_dump"] in upto and r["Вид операции"] == "Продажа" and r["Статус"] == "Проведен":
                day = datetime.strptime(r["Дата документа"][:10], "%d.%m.%Y").date().isoformat()
                docs.setdefault(r["Номер документа"], [day, r["Канал продаж"], Decimal(0)])[2] += Decimal(r["Сумма"].replace(",", "."))
        for day, channel, amount in docs.values():
            for key in (("erp", day, "total", ""), ("erp", day, "channel", channel)):
                expected[key][0] += 1
                expected[key][1] += amount
        for r in receipts:
            if r["_dump"] in upto and r["operation"] == "sale":
                for key in (("pos", r["sold_at"][:10], "total", ""), ("pos", r["sold_at"][:10], "store", r["store_code"])):
                    expected[key][0] += 1
                    expected[key][1] += Decimal(r["total_amount"])
        stated = [r for r in totals if r["_dump"] == dump]
        assert stated
        for r in stated:
            key = (r["source_system"], r["business_date"], r["cut"], r["cut_value"])
            assert [int(r["order_count"]), Decimal(r["order_amount"])] == expected.get(key, [0, Decimal(0)]), (dump, key)


# ---------- ground truth and CLI


def test_ground_truth_maps_every_record_to_a_person(dataset):
    truth = dataset / "ground_truth"
    persons = pd.read_parquet(truth / "persons.parquet")
    assert len(persons) == PERSONS and persons.email.is_unique
    assert list(persons.columns) == ["person_id", "first_name", "last_name", "email", "phone_e164", "birth_date",
                                     "gender", "city"]
    assert persons.phone_e164.str.fullmatch(r"\+79\d{9}").all() and persons.phone_e164.is_unique
    documents = set(pd.read_parquet(truth / "erp_documents.parquet").document_number)
    assert {r["Номер документа"] for r in rows(dataset, ERP_SALES)} <= documents
    receipts = pd.read_parquet(truth / "pos_receipts.parquet")
    assert not receipts.duplicated(["store_code", "receipt_year", "receipt_no"]).any()
    devices = pd.read_parquet(truth / "web_devices.parquet")
    assert devices.groupby("person_id").size().between(1, 3).all()
    events = rows(dataset, contract_of("web", "events_x.jsonl"))
    assert {e["device_id"] for e in events} <= set(devices.device_id)
    for name in ("shop_customers", "shop_orders", "loyalty_members", "esp_messages"):
        assert len(pd.read_parquet(truth / f"{name}.parquet")), name
    summary = json.loads((truth / "summary.json").read_text())
    assert summary["config"]["persons"] == PERSONS
    assert all(summary["defect_counts"][name] > 0 for name in summary["config"]["defect_rates"])


def test_cli_generates_and_summarises(tmp_path, capsys):
    stale = tmp_path / "landing" / "2020-01-01" / "shop" / "orders_20191231.csv"
    stale.parent.mkdir(parents=True)
    stale.write_text("old")
    code = main(["--out", str(tmp_path), "--persons", "300", "--days", "2", "--seed", "3",
                 "--defect", "bad_date=0.02", "--clean"])
    assert code == 0
    output = capsys.readouterr().out
    assert "300 persons" in output and "web__events" in output
    assert not stale.exists()
    assert sorted(p.name for p in (tmp_path / "landing").iterdir()) == ["2026-11-19", "2026-11-20"]
    assert (tmp_path / "ground_truth" / "injected_defects.parquet").exists()


def test_cli_rejects_unknown_defects(capsys):
    with pytest.raises(SystemExit):
        main(["--defect", "no_such_defect=0.1"])
    with pytest.raises(ValueError):
        GeneratorConfig(defect_rates={"bad_date": 2.0})
