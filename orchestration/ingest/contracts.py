"""Source file contracts: what each source system delivers, file by file.

One contract per source table. The sample-data generator writes files that honour these contracts,
ingestion reads and validates files against them, and docs/sources.md describes them for people who
bring their own dumps. Change a contract here and all three follow.

Landing layout: ``<landing>/<dump_date>/<source>/<file>``, dump_date as YYYY-MM-DD. A dump set is
complete when ``<landing>/<dump_date>/_SUCCESS`` exists (written last by whoever delivers the dumps).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ColumnType = Literal["varchar", "bigint", "integer", "decimal", "date", "timestamp", "boolean"]

# Every raw table carries these columns after the source's own, so each row can be traced to its line.
LOAD_METADATA_COLUMNS = ("_source_file", "_line_number", "_dump_date", "_loaded_at")


@dataclass(frozen=True)
class Column:
    """One column as the source system names and formats it."""

    name: str  # exactly as in the file header (or the JSON key)
    type: ColumnType
    required: bool = False  # an empty value quarantines the line
    description: str = ""


@dataclass(frozen=True)
class TableContract:
    source: str
    table: str
    description: str
    file_glob: str  # matched inside <landing>/<dump_date>/<source>/
    columns: tuple[Column, ...]
    format: Literal["csv", "jsonl"] = "csv"
    encoding: Literal["utf-8", "cp1251"] = "utf-8"
    delimiter: str = ","
    quote: str | None = '"'  # None: the format has no quoting (tab-separated feeds)
    decimal_comma: bool = False  # 1C writes 1 234,50
    date_format: str = "%Y-%m-%d"
    timestamp_format: str = "%Y-%m-%d %H:%M:%S"
    # A dump set without this table's file is incomplete: ingestion fails instead of loading nothing.
    required_file: bool = True
    natural_key: tuple[str, ...] = field(default_factory=tuple)

    @property
    def key(self) -> str:
        return f"{self.source}__{self.table}"

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)


def _cols(*specs: tuple) -> tuple[Column, ...]:
    return tuple(Column(*spec) for spec in specs)


SHOP_CUSTOMERS = TableContract(
    source="shop",
    table="customers",
    description="Web shop (1C-Bitrix-like) accounts created or changed on the business day.",
    file_glob="customers_*.csv",
    natural_key=("user_id",),
    columns=_cols(
        ("user_id", "bigint", True, "Shop account id."),
        ("email", "varchar", False, "As typed by the customer: any case, may carry spaces."),
        ("phone", "varchar", False, "As typed: +7 (916) 123-45-67, 89161234567, 9161234567 ..."),
        ("first_name", "varchar"),
        ("last_name", "varchar"),
        ("city", "varchar"),
        ("registered_at", "timestamp", True, "Local shop time."),
        ("updated_at", "timestamp", True),
    ),
)

SHOP_ORDERS = TableContract(
    source="shop",
    table="orders",
    description="Web shop orders created or changed on the business day (status changes re-deliver the order).",
    file_glob="orders_*.csv",
    natural_key=("order_id",),
    columns=_cols(
        ("order_id", "bigint", True, "Shop order id."),
        ("order_number", "varchar", True, "Number shown to the customer, e.g. W-1000123; the ERP quotes it."),
        ("user_id", "bigint", False, "Empty for guest checkout."),
        ("email", "varchar"),
        ("phone", "varchar"),
        ("status", "varchar", True, "new | paid | shipped | delivered | cancelled | returned"),
        ("created_at", "timestamp", True),
        ("updated_at", "timestamp", True),
        ("currency", "varchar", True, "ISO 4217; RUB."),
        ("total_amount", "decimal", True, "Order total after discounts."),
        ("delivery_type", "varchar", False, "courier | pickup | post"),
        ("payment_method", "varchar", False, "card | cash | sbp"),
    ),
)

SHOP_ORDER_ITEMS = TableContract(
    source="shop",
    table="order_items",
    description="Lines of the shop orders delivered in the same dump.",
    file_glob="order_items_*.csv",
    natural_key=("order_id", "line_no"),
    columns=_cols(
        ("order_id", "bigint", True),
        ("line_no", "integer", True),
        ("product_id", "varchar", True, "The SKU (article), shared with the ERP nomenclature."),
        ("product_name", "varchar"),
        ("quantity", "integer", True),
        ("price", "decimal", True),
        ("amount", "decimal", True),
    ),
)

ERP_SALES = TableContract(
    source="erp",
    table="sales",
    description=(
        "1C sales documents, one row per document line: web orders (quoting the site order number), phone "
        "orders and in-store orders the web shop never sees, and returns."
    ),
    file_glob="sales_*.csv",
    encoding="cp1251",
    delimiter=";",
    decimal_comma=True,
    date_format="%d.%m.%Y",
    timestamp_format="%d.%m.%Y %H:%M:%S",
    natural_key=("Номер документа", "Номер строки"),
    columns=_cols(
        ("Номер документа", "varchar", True, "Document number, e.g. ЧБ00-0012345."),
        ("Номер строки", "integer", True, "Line number within the document."),
        ("Дата документа", "timestamp", True, "dd.mm.yyyy hh:mm:ss, local time."),
        ("Вид операции", "varchar", True, "Продажа (sale) | Возврат (return)."),
        ("Статус", "varchar", True, "Проведен (posted) | Отменен (cancelled)."),
        ("Канал продаж", "varchar", True, "Интернет-магазин (web) | Телефон (phone) | Магазин (store order)."),
        ("Номер заказа сайта", "varchar", False, "The shop's order_number for web orders."),
        ("Магазин", "varchar", False, "Store code for store orders."),
        ("Код контрагента", "varchar", False, "Counterparty (customer) code in 1C."),
        ("Контрагент", "varchar", False, "Counterparty name."),
        ("Телефон", "varchar", False),
        ("Дисконтная карта", "varchar", False, "Loyalty card number."),
        ("Артикул", "varchar", True, "SKU."),
        ("Номенклатура", "varchar", False, "Product name."),
        ("Количество", "decimal", True),
        ("Цена", "decimal", True),
        ("Сумма", "decimal", True, "Line amount after discounts."),
    ),
)

POS_RECEIPTS = TableContract(
    source="pos",
    table="receipts",
    description=(
        "Store till receipts. receipt_no restarts every January and repeats across stores: the key is "
        "store_code + year(sold_at) + receipt_no."
    ),
    file_glob="receipts_*.csv",
    natural_key=("store_code", "receipt_no", "sold_at"),
    columns=_cols(
        ("store_code", "varchar", True, "e.g. S01."),
        ("till_no", "integer", False),
        ("receipt_no", "bigint", True, "Per store, restarts at 1 every January."),
        ("sold_at", "timestamp", True, "Local store time."),
        ("operation", "varchar", True, "sale | return"),
        ("card_no", "varchar", False, "Loyalty card scanned at the till, if any."),
        ("payment_type", "varchar", False, "cash | card"),
        ("total_amount", "decimal", True),
    ),
)

POS_RECEIPT_LINES = TableContract(
    source="pos",
    table="receipt_lines",
    description="Lines of the till receipts; joined to receipts on store_code, receipt_no and sold_at.",
    file_glob="receipt_lines_*.csv",
    natural_key=("store_code", "receipt_no", "sold_at", "line_no"),
    columns=_cols(
        ("store_code", "varchar", True),
        ("receipt_no", "bigint", True),
        ("sold_at", "timestamp", True),
        ("line_no", "integer", True),
        ("sku", "varchar", True),
        ("quantity", "decimal", True),
        ("price", "decimal", True),
        ("amount", "decimal", True),
    ),
)

LOYALTY_MEMBERS = TableContract(
    source="loyalty",
    table="members",
    description="Loyalty program members enrolled or changed on the business day, with per-channel consent.",
    file_glob="members_*.csv",
    natural_key=("member_id", "updated_at"),
    columns=_cols(
        ("member_id", "bigint", True),
        ("card_no", "varchar", True, "13-digit card number."),
        ("phone", "varchar"),
        ("email", "varchar"),
        ("first_name", "varchar"),
        ("last_name", "varchar"),
        ("birth_date", "varchar", False, "As captured at enrolment: usually YYYY-MM-DD, sometimes dd.mm.yyyy or junk."),
        ("gender", "varchar", False, "F | M | empty"),
        ("enrolled_at", "timestamp", True),
        ("email_consent", "boolean", False, "true | false"),
        ("email_consent_at", "timestamp", False),
        ("sms_consent", "boolean", False),
        ("sms_consent_at", "timestamp", False),
        ("push_consent", "boolean", False),
        ("push_consent_at", "timestamp", False),
        ("updated_at", "timestamp", True),
    ),
)

WEB_EVENTS = TableContract(
    source="web",
    table="events",
    description=(
        "Tracking events, one JSON object per line. device_id is anonymous; user_id appears after login, which "
        "is how devices are stitched to people."
    ),
    file_glob="events_*.jsonl",
    format="jsonl",
    timestamp_format="%Y-%m-%dT%H:%M:%SZ",
    natural_key=("event_id",),
    columns=_cols(
        ("event_id", "varchar", True),
        ("event_type", "varchar", True,
         "page_view | product_view | add_to_cart | remove_from_cart | checkout_started | order_completed"),
        ("occurred_at", "timestamp", True, "UTC, ISO 8601 with Z."),
        ("device_id", "varchar", True, "Anonymous first-party cookie id."),
        ("user_id", "bigint", False, "Shop user id once logged in."),
        ("session_id", "varchar", False),
        ("page_url", "varchar", False),
        ("product_id", "varchar", False, "SKU for product and cart events."),
        ("price", "decimal", False),
        ("quantity", "integer", False),
        ("order_id", "bigint", False, "Shop order id for order_completed."),
    ),
)

ESP_ACTIVITY = TableContract(
    source="esp",
    table="activity",
    description="Messaging-platform activity: deliveries, opens, clicks and the events that suppress a contact.",
    file_glob="activity_*.csv",
    natural_key=("message_id", "event_type"),
    columns=_cols(
        ("message_id", "varchar", True),
        ("channel", "varchar", True, "email | sms | push"),
        ("email", "varchar", False, "Set for the email channel."),
        ("phone", "varchar", False, "Set for sms and push."),
        ("event_type", "varchar", True, "delivered | open | click | unsubscribe | hard_bounce | spam_complaint"),
        ("occurred_at", "timestamp", True, "UTC."),
        ("campaign", "varchar", False),
    ),
)

CATALOG_WEB_FEED = TableContract(
    source="catalog",
    table="web_feed",
    description="The web shop's product feed (Google Merchant tab-separated format), full snapshot each day.",
    file_glob="web_feed.tsv",
    delimiter="\t",
    quote=None,
    natural_key=("id",),
    columns=_cols(
        ("id", "varchar", True, "SKU."),
        ("title", "varchar", True),
        ("link", "varchar", False),
        ("price", "varchar", True, "Merchant format: '1299.00 RUB'."),
        ("availability", "varchar", False, "in_stock | out_of_stock"),
        ("brand", "varchar", False),
        ("gtin", "varchar", False),
        ("product_type", "varchar", False, "Category path, ' > ' separated."),
        ("color", "varchar", False),
    ),
)

CATALOG_ERP_NOMENCLATURE = TableContract(
    source="catalog",
    table="erp_nomenclature",
    description="1C nomenclature, full snapshot each day; wider than the web feed (offline-only SKUs).",
    file_glob="nomenclature.csv",
    encoding="cp1251",
    delimiter=";",
    decimal_comma=True,
    date_format="%d.%m.%Y",
    timestamp_format="%d.%m.%Y %H:%M:%S",
    natural_key=("Артикул",),
    columns=_cols(
        ("Артикул", "varchar", True, "SKU."),
        ("Наименование", "varchar", True),
        ("Группа", "varchar", False, "Product group."),
        ("Бренд", "varchar", False),
        ("Штрихкод", "varchar", False, "EAN-13."),
        ("Цвет", "varchar", False),
        ("Цена", "decimal", False, "Base retail price."),
    ),
)

CONTROL_TOTALS = TableContract(
    source="control",
    table="totals",
    description=(
        "Each source system's own count and amount of sales orders per business day (cancelled and returns "
        "excluded), overall and by channel (erp) or store (pos). Later dumps restate recent days."
    ),
    file_glob="control_totals_*.csv",
    natural_key=("source_system", "business_date", "cut", "cut_value"),
    columns=_cols(
        ("source_system", "varchar", True, "shop | erp | pos"),
        ("business_date", "date", True),
        ("cut", "varchar", True, "total | channel | store"),
        ("cut_value", "varchar", False, "Empty for total; the channel or store code otherwise."),
        ("order_count", "bigint", True),
        ("order_amount", "decimal", True),
    ),
)

CONTRACTS: tuple[TableContract, ...] = (
    SHOP_CUSTOMERS,
    SHOP_ORDERS,
    SHOP_ORDER_ITEMS,
    ERP_SALES,
    POS_RECEIPTS,
    POS_RECEIPT_LINES,
    LOYALTY_MEMBERS,
    WEB_EVENTS,
    ESP_ACTIVITY,
    CATALOG_WEB_FEED,
    CATALOG_ERP_NOMENCLATURE,
    CONTROL_TOTALS,
)

CONTRACTS_BY_KEY = {contract.key: contract for contract in CONTRACTS}
SOURCES = tuple(dict.fromkeys(contract.source for contract in CONTRACTS))
READY_MARKER = "_SUCCESS"
