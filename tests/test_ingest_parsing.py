"""Line-level behaviour of ingestion on small hand-written files: what loads, what is quarantined, why."""

from __future__ import annotations

import json
from decimal import Decimal

import duckdb
import pytest

from orchestration.ingest.contracts import CATALOG_WEB_FEED, ERP_SALES, LOYALTY_MEMBERS, POS_RECEIPTS, WEB_EVENTS
from orchestration.ingest.loader import DATA_FILE_GLOB, LEDGER_FILE, QUARANTINE_FILE, load_partition
from orchestration.settings import data_paths
from tests.landing_builder import write_table_file

DUMP = "2026-11-20"
# Every test runs with the lines of the file held in memory and in a scratch file (conftest.line_store).
pytestmark = pytest.mark.usefixtures("line_store")


@pytest.fixture
def paths(tmp_path):
    return data_paths(tmp_path)


def read_rows(path, order="_line_number"):
    con = duckdb.connect()
    return con.execute(f"select * from read_parquet('{path}') order by {order}").df()


def quarantine(paths, contract, dump=DUMP):
    part = paths.quarantine_partition(contract.source, contract.table, dump) / QUARANTINE_FILE
    return read_rows(part, order="source_file, line_number")


def raw(paths, contract, dump=DUMP):
    return read_rows(paths.raw_partition(contract.source, contract.table, dump) / DATA_FILE_GLOB)


ERP_GOOD = (
    'ЧБ00-0000001;1;19.11.2026 10:00:00;Продажа;Проведен;Телефон;;;К-0001;"ООО ""Ромашка""; филиал";'
    "8 (916) 123-45-67;;SKU1;Товар;2;1 000,50;2001,00"
)


def test_erp_cp1251_crlf_decimal_comma_and_quoted_delimiter(paths):
    bad_date = ERP_GOOD.replace("19.11.2026 10:00:00", "31.02.2026 10:00:00")
    bad_amount = ERP_GOOD.replace("2001,00", "две тысячи")
    write_table_file(paths.landing, DUMP, ERP_SALES, "sales_20261119.csv",
                     [ERP_GOOD, bad_date, bad_amount, "ЧБ00-0000004;1;19.11.2026", ""], newline="\r\n")
    report = load_partition(ERP_SALES, DUMP, paths)

    assert (report.lines_read, report.rows_loaded, report.lines_quarantined) == (5, 1, 4)
    row = raw(paths, ERP_SALES).iloc[0]
    assert row["Контрагент"] == 'ООО "Ромашка"; филиал'
    assert row["Цена"] == Decimal("1000.5") and row["Сумма"] == Decimal("2001")
    assert row["_line_number"] == 2 and row["_source_file"] == f"{DUMP}/erp/sales_20261119.csv"

    reasons = dict(zip(quarantine(paths, ERP_SALES)["line_number"], quarantine(paths, ERP_SALES)["reason"]))
    assert "Дата документа: '31.02.2026 10:00:00' is not a valid timestamp" in reasons[3]
    assert "Сумма: 'две тысячи' is not a valid decimal comma number" in reasons[4]
    assert reasons[5] == "expected 17 fields, found 3"
    assert reasons[6] == "empty line"


# Field values that trip a naive split: quotes inside names, the delimiter inside quotes, and pieces that
# look like whole quoted fields once the line is cut at every delimiter ('a";"b' is written "a"";""b").
TRICKY_VALUES = [
    'Крем для рук "L\'Aroma" с маслом ши, 75 мл',
    'a";"b',
    '";"',
    '"',
    '""',
    "ООО Ромашка; филиал",
    ";",
    'ends with a quote"',
    '"starts with a quote',
    'two "quoted" words; and a semicolon',
    "plain",
]


def test_quoted_fields_load_exactly_as_a_csv_reader_reads_them(paths):
    """Lines whose quotes are whole fields take a faster split than the quote-aware expression: both agree."""
    import csv
    import io

    template = next(csv.reader([ERP_GOOD.replace('"ООО ""Ромашка""; филиал"', "X")], delimiter=";"))
    lines = []
    for quoting in (csv.QUOTE_MINIMAL, csv.QUOTE_ALL):
        for counterparty in TRICKY_VALUES:
            for item in (TRICKY_VALUES[0], TRICKY_VALUES[1], "Товар"):
                fields = list(template)
                fields[9], fields[13] = counterparty, item
                out = io.StringIO()
                csv.writer(out, delimiter=";", quoting=quoting, lineterminator="").writerow(fields)
                lines.append(out.getvalue())
    # A quote inside an unquoted field is kept as text (as the quote-aware expression reads it), also on a
    # line whose other field holds the delimiter inside quotes.
    stray_quotes = [ERP_GOOD.replace(";Товар;", ';Экран 5" дюймов;'),
                    ERP_GOOD.replace(";Товар;", ';Экран 5" дюймов;"a;b";').replace(";SKU1;", ";")]
    unterminated = ERP_GOOD.replace(";Товар;", ';"Товар без конца;')
    write_table_file(paths.landing, DUMP, ERP_SALES, "sales_20261119.csv", [*lines, *stray_quotes, unterminated])
    report = load_partition(ERP_SALES, DUMP, paths)

    assert (report.rows_loaded, report.lines_quarantined) == (len(lines) + 2, 1)
    loaded = raw(paths, ERP_SALES)
    expected = [next(csv.reader([line], delimiter=";")) for line in lines]
    assert list(loaded["Контрагент"])[: len(lines)] == [fields[9] for fields in expected]
    assert list(loaded["Номенклатура"])[: len(lines)] == [fields[13] for fields in expected]
    assert list(loaded["Номенклатура"])[len(lines):] == ['Экран 5" дюймов', "a;b"]
    assert list(loaded["Артикул"])[-1] == 'Экран 5" дюймов'
    assert list(quarantine(paths, ERP_SALES)["reason"]) == ["unterminated quoted field"]


def test_truncated_last_line_is_quarantined_and_named(paths):
    write_table_file(paths.landing, DUMP, POS_RECEIPTS, "receipts_20261119.csv",
                     ["S01,1,17,2026-11-19 10:00:00,sale,,card,100.00", "S02,1,17,2026-11-19 10:"],
                     trailing_newline=False)
    report = load_partition(POS_RECEIPTS, DUMP, paths)
    assert (report.rows_loaded, report.lines_quarantined) == (1, 1)
    reason = quarantine(paths, POS_RECEIPTS)["reason"].iloc[0]
    assert reason.startswith("expected 8 fields, found 4") and "cut off" in reason


def test_required_value_and_boolean_and_varchar_birthday(paths):
    header_cols = LOYALTY_MEMBERS.column_names
    good = "1,2000000000017,89161234567,a@b.ru,Анна,Иванова,12.03.1990,F,2026-01-01 10:00:00,true,2026-01-01 10:00:00,да,,0,,2026-11-19 10:00:00"
    no_card = good.replace(",2000000000017,", ",,")
    bad_bool = good.replace(",true,", ",maybe,")
    write_table_file(paths.landing, DUMP, LOYALTY_MEMBERS, "members_20261119.csv", [good, no_card, bad_bool])
    load_partition(LOYALTY_MEMBERS, DUMP, paths)
    loaded = raw(paths, LOYALTY_MEMBERS)
    assert list(loaded.columns[: len(header_cols)]) == list(header_cols)
    assert loaded["birth_date"].iloc[0] == "12.03.1990"  # free text at the source: staging parses it
    assert bool(loaded["sms_consent"].iloc[0]) is True and bool(loaded["push_consent"].iloc[0]) is False
    reasons = list(quarantine(paths, LOYALTY_MEMBERS)["reason"])
    assert reasons == ["card_no: required value is empty", "email_consent: 'maybe' is not a valid boolean"]


def test_tab_separated_feed_without_quoting(paths):
    row = 'SKU1\tЗубная щётка "Мягкая"\thttps://shop.example/p/1\t1299.00 RUB\tin_stock\t\t\tГигиена > Щётки\t'
    write_table_file(paths.landing, DUMP, CATALOG_WEB_FEED, "web_feed.tsv", [row])
    load_partition(CATALOG_WEB_FEED, DUMP, paths)
    loaded = raw(paths, CATALOG_WEB_FEED)
    assert loaded["title"].iloc[0] == 'Зубная щётка "Мягкая"'
    assert loaded["brand"].isna().iloc[0] and loaded["price"].iloc[0] == "1299.00 RUB"


def test_json_lines(paths):
    good = {"event_id": "e1", "event_type": "add_to_cart", "occurred_at": "2026-11-19T10:00:00Z",
            "device_id": "d1", "user_id": 7, "product_id": "SKU1", "price": 12.5, "quantity": 2}
    lines = [json.dumps(good), '{"event_id": "e2", "event_type"', "[1, 2]",
             json.dumps({**good, "event_id": "e4", "occurred_at": "yesterday"}), json.dumps({**good, "event_id": None}),
             " \t" + json.dumps({**good, "event_id": "e6"}), '  "text"', "   "]
    write_table_file(paths.landing, DUMP, WEB_EVENTS, "events_20261119.jsonl", lines)
    report = load_partition(WEB_EVENTS, DUMP, paths)
    assert (report.lines_read, report.rows_loaded, report.lines_quarantined) == (8, 2, 6)
    loaded = raw(paths, WEB_EVENTS)
    assert loaded["user_id"].iloc[0] == 7 and loaded["price"].iloc[0] == Decimal("12.5")
    assert list(loaded["event_id"]) == ["e1", "e6"]  # an object after blanks is still an object
    assert list(quarantine(paths, WEB_EVENTS)["reason"]) == [
        "invalid JSON",
        "not a JSON object",
        "occurred_at: 'yesterday' is not a valid timestamp (%Y-%m-%dT%H:%M:%SZ)",
        "event_id: required value is empty",
        "not a JSON object",
        "empty line",
    ]


def test_redelivered_file_is_quarantined_not_loaded_twice(paths):
    rows = ["S01,1,17,2026-11-18 10:00:00,sale,,card,100.00"]
    write_table_file(paths.landing, "2026-11-19", POS_RECEIPTS, "receipts_20261118.csv", rows)
    write_table_file(paths.landing, DUMP, POS_RECEIPTS, "receipts_20261118.csv", rows)  # sent again
    write_table_file(paths.landing, DUMP, POS_RECEIPTS, "receipts_20261119.csv",
                     ["S01,1,18,2026-11-19 10:00:00,sale,,card,50.00"])
    report = load_partition(POS_RECEIPTS, DUMP, paths)
    assert report.rows_loaded == 1 and report.lines_quarantined == 1
    assert quarantine(paths, POS_RECEIPTS)["reason"].iloc[0].startswith(
        "duplicate delivery: identical to 2026-11-19/pos/receipts_20261118.csv")
    ledger = read_rows(paths.ledger_partition("pos", "receipts", DUMP) / LEDGER_FILE, order="source_file")
    assert list(ledger["duplicate_of"].fillna("")) == ["2026-11-19/pos/receipts_20261118.csv", ""]


def test_a_file_sent_unchanged_every_day_names_the_day_it_was_loaded(paths):
    """The third copy of a catalog is not a copy of yesterday's, which loaded nothing, but of the first."""
    rows = ["S01,1,17,2026-11-18 10:00:00,sale,,card,100.00"]
    for day in ("2026-11-18", "2026-11-19", DUMP):
        write_table_file(paths.landing, day, POS_RECEIPTS, "receipts_20261118.csv", rows)
        load_partition(POS_RECEIPTS, day, paths)
    reasons = [quarantine(paths, POS_RECEIPTS, dump=day)["reason"].iloc[0] for day in ("2026-11-19", DUMP)]
    assert reasons == ["duplicate delivery: identical to 2026-11-18/pos/receipts_20261118.csv, already loaded from there"] * 2


def test_repeated_lines_are_counted_among_the_loaded_lines_only(paths):
    """The ledger counts loaded lines that repeat an earlier loaded line; repeated bad lines are quarantined."""
    good = [f"S01,1,{n},2026-11-19 10:00:00,sale,,card,{n}.00" for n in range(1, 4)]
    bad = "S01,1,9,not a time,sale,,card,9.00"
    write_table_file(paths.landing, DUMP, POS_RECEIPTS, "receipts_20261119.csv",
                     [good[0], good[1], good[0], bad, good[0], bad, good[2], good[1]])
    report = load_partition(POS_RECEIPTS, DUMP, paths)
    assert (report.rows_loaded, report.lines_quarantined) == (6, 2)
    assert report.files[0].duplicate_lines == 3  # good[0] twice more, good[1] once more
    ledger = read_rows(paths.ledger_partition("pos", "receipts", DUMP) / LEDGER_FILE, order="source_file")
    assert list(ledger["duplicate_lines"]) == [3]


def test_slices_become_ordered_partition_files_with_the_file_checksum(paths, monkeypatch):
    """A file parsed in several slices lands as one Parquet file per slice, together every line in order;
    the ledger's checksum, computed beside DuckDB's read of the UTF-8 file, is the file's own."""
    import hashlib

    from orchestration.ingest import loader

    monkeypatch.setattr(loader, "ROWS_PER_SLICE", 3)
    rows = [f"S01,1,{n},2026-11-19 10:00:00,sale,,card,{n}.00" for n in range(1, 11)]
    rows[4] = "S01,1,5,not a time,sale,,card,5.00"
    landed = write_table_file(paths.landing, DUMP, POS_RECEIPTS, "receipts_20261119.csv", rows)
    report = load_partition(POS_RECEIPTS, DUMP, paths)

    assert (report.lines_read, report.rows_loaded, report.lines_quarantined) == (10, 9, 1)
    partition = paths.raw_partition(POS_RECEIPTS.source, POS_RECEIPTS.table, DUMP)
    assert sorted(p.name for p in partition.iterdir()) == [f"data-{i:06d}.parquet" for i in range(4)]
    loaded = duckdb.connect().execute(
        f"select _line_number from read_parquet('{partition}/{DATA_FILE_GLOB}')").fetchall()
    assert [n for (n,) in loaded] == [2, 3, 4, 5, 7, 8, 9, 10, 11]  # file order, without the quarantined line 6
    ledger = read_rows(paths.ledger_partition("pos", "receipts", DUMP) / LEDGER_FILE, order="source_file")
    assert ledger["sha256"].iloc[0] == hashlib.sha256(landed.read_bytes()).hexdigest()
    assert ledger["size_bytes"].iloc[0] == landed.stat().st_size


# Values as sources type them, and the ways they go wrong: spaces around and inside, no-break spaces (1C's
# thousands separator), tabs, signs, exponents, underscores, both decimal separators, partial dates.
AWKWARD_VALUES = [
    "12", " 12", "12 ", "  12  ", "\t12", "12\t", "1 000", "1\u00a0000", "1_000", "+7", "-7", " -7 ", "1e3", "0x1F",
    "9223372036854775807", "9223372036854775808", "2147483648", "", " ", "\u00a0", "abc", "12abc", "1.5", "1,5",
    " 1,5 ", "1 000,50", "1\u00a0000,50", " 1 000,50 ", "1.000,50", "1,000.50", "1,000,50", ".5", ",5", "5.", "5,",
    "-0,01", "+1,25", "1,23456", "12345678901234,5", "123456789012345,5", "1..5", "1,,5", "- 5", "5 -", "1 5",
    "2026-11-19", " 2026-11-19 ", "2026-11-19 10:00:00", " 2026-11-19 10:00:00 ", "2026-11-19T10:00:00Z",
    " 2026-11-19T10:00:00Z", "2026-11-19T10:00:00Z ", "19.11.2026", " 19.11.2026", "19.11.2026 ",
    "19.11.2026 10:00:00", " 19.11.2026 10:00:00", "19.11.2026 10:00:00 ", "19.11.2026  10:00:00", "19.11.2026 10:00",
    "31.02.2026", "2026-13-01", "19.11.2026\t10:00:00", "\t19.11.2026 10:00:00", "19.11.2026 10:00:00 x",
    # Unicode spaces around a value: trim() removes them, the casts skip only ASCII whitespace.
    "\u00a012", "12\u00a0", "\u202f12", "\u00a01,5", "\u00a019.11.2026", "19.11.2026\u00a0",
    "19.11.2026 10:00:00\u00a0", "\u202f2026-11-19", "2026-11-19\u00a0", "2026-11-19 10:00:00\u00a0",
    "\u00a02026-11-19T10:00:00Z", "2026-11-19T10:00:00Z\u3000",
]


def _cleaned_first_sql(contract, column, text):
    """What the loader computed before casting as delivered first: the value cleaned, then cast once."""
    from orchestration.ingest.parsing import DECIMAL_SQL_TYPE, sql_literal

    if column.type in ("bigint", "integer"):
        return f"try_cast(trim({text}) as {column.type})"
    if column.type == "decimal":
        cleaned = f"replace(replace(trim({text}), ' ', ''), chr(160), '')"
        if contract.decimal_comma:
            cleaned = f"replace({cleaned}, ',', '.')"
        return f"try_cast({cleaned} as {DECIMAL_SQL_TYPE})"
    if column.type == "date":
        return f"cast(try_strptime(trim({text}), {sql_literal(contract.date_format)}) as date)"
    assert column.type == "timestamp"
    return f"try_strptime(trim({text}), {sql_literal(contract.timestamp_format)})"


def _as_delivered_sql(contract, column, text):
    """The cast alone, on the value as delivered: what the fallback to the cleaned value is for."""
    from orchestration.ingest.parsing import DECIMAL_SQL_TYPE, sql_literal

    if column.type in ("bigint", "integer"):
        return f"try_cast({text} as {column.type})"
    if column.type == "decimal":
        value = f"replace({text}, ',', '.')" if contract.decimal_comma else text
        return f"try_cast({value} as {DECIMAL_SQL_TYPE})"
    if column.type == "date":
        return f"cast(try_strptime({text}, {sql_literal(contract.date_format)}) as date)"
    return f"try_strptime({text}, {sql_literal(contract.timestamp_format)})"


@pytest.mark.parametrize("contract", [ERP_SALES, WEB_EVENTS, POS_RECEIPTS, LOYALTY_MEMBERS])
def test_values_cast_as_delivered_first_type_exactly_as_when_cleaned_first(contract):
    from orchestration.ingest.parsing import typed_value_sql

    con = duckdb.connect()
    con.execute("create table delivered (value varchar)")
    con.executemany("insert into delivered values (?)", [(v,) for v in AWKWARD_VALUES] + [(None,)])
    checked = 0
    for column in contract.columns:
        if column.type not in ("bigint", "integer", "decimal", "date", "timestamp"):
            continue
        differing, only_when_cleaned = con.execute(
            f"select list(value) filter (where typed is distinct from reference), "
            f"list(value) filter (where typed is not null and as_delivered is null) "
            f"from (select value, {typed_value_sql(contract, column, 'value')} as typed, "
            f"{_cleaned_first_sql(contract, column, 'value')} as reference, "
            f"{_as_delivered_sql(contract, column, 'value')} as as_delivered from delivered)"
        ).fetchone()
        assert not differing, f"{contract.key}.{column.name} ({column.type}) types these differently: {differing}"
        # Some values need the cleaning, so the comparison above covers the fallback too.
        assert only_when_cleaned, f"{contract.key}.{column.name}: no value here needs the cleaned cast"
        checked += 1
    assert checked
