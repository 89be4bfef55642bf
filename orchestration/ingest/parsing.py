"""SQL that turns the lines of one file into typed rows and reasons, entirely inside DuckDB.

Every data line ends in exactly one of two places: loaded (reason is null) or quarantined (reason says
which field broke and how). Splitting, unquoting, casting and the reasons are set-based expressions, so a
file of millions of lines never loops in Python.
"""

from __future__ import annotations

import re

from orchestration.ingest.contracts import Column, TableContract

DECIMAL_SQL_TYPE = "decimal(18, 4)"
SQL_TYPES = {
    "varchar": "varchar",
    "bigint": "bigint",
    "integer": "integer",
    "decimal": DECIMAL_SQL_TYPE,
    "date": "date",
    "timestamp": "timestamp",
    "boolean": "boolean",
}
TRUE_WORDS = ("true", "1", "yes", "y", "да")
FALSE_WORDS = ("false", "0", "no", "n", "нет")


def sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def split_fields_sql(contract: TableContract, line: str = "line") -> str:
    """A list of raw field strings (still quoted) for one delimited line."""
    delimiter = contract.delimiter
    if contract.quote is None:
        return f"string_split({line}, {sql_literal(delimiter)})"
    d = re.escape(delimiter)
    # Prefixing the delimiter lets every field, the first included, be "delimiter then field".
    pattern = f"{d}({_quoted_field_pattern(contract)}|[^{d}]*)"
    return f"regexp_extract_all({sql_literal(delimiter)} || {line}, {sql_literal(pattern)}, 1)"


def unquote_sql(contract: TableContract, field: str) -> str:
    if contract.quote is None:
        return field
    q = sql_literal(contract.quote)
    qq = sql_literal(contract.quote * 2)
    return (
        f"(case when starts_with({field}, {q}) and ends_with({field}, {q}) and length({field}) >= 2 "
        f"then replace({field}[2:-2], {qq}, {q}) else {field} end)"
    )


def badly_quoted_sql(contract: TableContract, field: str) -> str:
    """True for a field that opens a quote it never closes (often a line cut short)."""
    if contract.quote is None:
        return "false"
    return (
        f"(starts_with({field}, {sql_literal(contract.quote)}) "
        f"and not regexp_full_match({field}, {sql_literal(_quoted_field_pattern(contract))}))"
    )


def _quoted_field_pattern(contract: TableContract) -> str:
    """One whole quoted field: the quote, any text with its quotes doubled, the closing quote."""
    assert contract.quote is not None
    q = re.escape(contract.quote)
    return f"{q}(?:[^{q}]|{q}{q})*{q}"


def typed_value_sql(contract: TableContract, column: Column, text: str) -> str:
    """Cast one text value to the column's type; null when it does not parse.

    Nearly every value casts as delivered (a decimal comma aside), so the cast is tried on it first and only a
    value it refuses is cleaned (trimmed, its thousands separators removed) and tried again: the cleaning built
    new strings for every value, and cost more than the cast itself (docs/performance.md, section AL). The
    result is the same as cleaning first: a value the first cast accepts has at most ASCII whitespace around it,
    which the casts and strptime skip, and no space or no-break space inside, so cleaning it changes nothing
    they read; a value with other spaces around it (trim() removes every Unicode space, the casts only ASCII
    whitespace) or separators inside is refused, then cleaned. `coalesce` evaluates its second argument only
    where the first is null.
    """
    if column.type == "varchar":
        return text
    if column.type in ("bigint", "integer"):
        return _cast_as_delivered_else_cleaned(f"try_cast({{}} as {column.type})", text, f"trim({text})")
    if column.type == "decimal":
        as_delivered = text
        cleaned = f"replace(replace(trim({text}), ' ', ''), chr(160), '')"
        if contract.decimal_comma:
            as_delivered = f"replace({text}, ',', '.')"
            cleaned = f"replace({cleaned}, ',', '.')"
        return _cast_as_delivered_else_cleaned(f"try_cast({{}} as {DECIMAL_SQL_TYPE})", as_delivered, cleaned)
    if column.type == "date":
        parse = f"try_strptime({{}}, {sql_literal(contract.date_format)})"
        return f"cast({_cast_as_delivered_else_cleaned(parse, text, f'trim({text})')} as date)"
    if column.type == "timestamp":
        parse = f"try_strptime({{}}, {sql_literal(contract.timestamp_format)})"
        return _cast_as_delivered_else_cleaned(parse, text, f"trim({text})")
    if column.type == "boolean":
        words = f"lower(trim({text}))"
        trues = ", ".join(sql_literal(w) for w in TRUE_WORDS)
        falses = ", ".join(sql_literal(w) for w in FALSE_WORDS)
        return f"(case when {words} in ({trues}) then true when {words} in ({falses}) then false end)"
    raise ValueError(f"unknown column type {column.type!r} for {contract.key}.{column.name}")


def _cast_as_delivered_else_cleaned(cast_template: str, as_delivered: str, cleaned: str) -> str:
    """``cast_template`` (with ``{}`` for its argument) on the value as delivered, else on the cleaned value."""
    return f"coalesce({cast_template.format(as_delivered)}, {cast_template.format(cleaned)})"


def field_error_sql(contract: TableContract, column: Column, text: str, typed: str) -> str:
    """A reason string when this field makes the line unloadable, else null."""
    name = column.name.replace("'", "''")
    shown = f"left({text}, 60)"
    expected = {
        "date": f"date ({contract.date_format})",
        "timestamp": f"timestamp ({contract.timestamp_format})",
        "decimal": "decimal comma number" if contract.decimal_comma else "number",
    }.get(column.type, column.type)
    missing = f"'{name}: required value is empty'"
    invalid = f"'{name}: ''' || {shown} || ''' is not a valid {expected.replace(chr(39), chr(39) * 2)}'"
    clauses = []
    if column.required:
        clauses.append(f"when {text} is null then {missing}")
    if column.type != "varchar":
        clauses.append(f"when {text} is not null and {typed} is null then {invalid}")
    if not clauses:
        return "null"
    return "(case " + " ".join(clauses) + " end)"


def parse_lines_sql(contract: TableContract, lines_relation: str, first_data_index: int,
                    end_index: int | None = None) -> str:
    """Select line_number, raw line, reason and every typed contract column from a file's lines.

    ``lines_relation`` holds the file's physical lines as (line_index, line), line_index 0 being line 1; the
    lines parsed are those from ``first_data_index`` up to, not including, ``end_index`` (all when None).

    Each layer computes every expression once and later layers read its columns: a line is split (or its
    JSON parsed) once, each field unquoted once, each value cast once, however often the reasons refer to
    them. CSV lines are split with ``string_split`` wherever that gives the quote-aware regular expression's
    fields, which costs about twenty times more (``_csv_fields_ctes``).
    """
    width = len(contract.columns)
    if contract.format == "jsonl":
        # DuckDB evaluates every CASE branch, so invalid JSON is nulled out before any JSON function sees it.
        # One parse extracts every key (a list of paths); a valid JSON text is an object exactly when its
        # first non-blank character is '{'.
        paths = ", ".join(sql_literal("$." + _json_key(c.name)) for c in contract.columns)
        fields_cte = (
            "json_checked as (select line_number, line, "
            "case when json_valid(line) then line end as json_line from numbered),\n"
            "fields as (select line_number, line, json_line, "
            f"json_extract_string(json_line, [{paths}]) as json_values from json_checked)"
        )
        texts = [f"nullif(json_values[{i + 1}], '')" for i in range(width)]
        # The first branch settles nearly every line without copying it: trim() and ltrim() build a new
        # string per row, which cost more than the JSON parse itself (docs/performance.md).
        structural = (
            "case when starts_with(json_line, '{') then null "
            "when line is null or trim(line) = '' then 'empty line' "
            "when json_line is null then 'invalid JSON' "
            "when left(ltrim(json_line, chr(32) || chr(9) || chr(10) || chr(13)), 1) <> '{' "
            "then 'not a JSON object' end"
        )
    else:
        texts = [f"nullif({unquote_sql(contract, f'fields[{i + 1}]')}, '')" for i in range(width)]
        fields_cte = _csv_fields_ctes(contract)
        badly_quoted = " or ".join(badly_quoted_sql(contract, f"fields[{i + 1}]") for i in range(width))
        structural = (
            "case when line is null or line = '' then 'empty line' "
            f"when len(fields) <> {width} then 'expected {width} fields, found ' || len(fields) "
            f"when has_quote and ({badly_quoted}) then 'unterminated quoted field' end"
        )

    text_names = [_text_name(i) for i in range(width)]
    typed = [typed_value_sql(contract, c, t) for c, t in zip(contract.columns, text_names, strict=True)]
    errors = [
        field_error_sql(contract, c, t, _typed_name(i))
        for i, (c, t) in enumerate(zip(contract.columns, text_names, strict=True))
    ]
    typed_select = ",\n        ".join(
        f"case when reason is null then {_typed_name(i)} end as {quote_identifier(c.name)}"
        for i, c in enumerate(contract.columns)
    )
    return f"""
with
numbered as (
    select line_index + 1 as line_number, line from {lines_relation}
    where line_index >= {int(first_data_index)}{"" if end_index is None else f" and line_index < {int(end_index)}"}
),
{fields_cte},
texts as (
    select
        line_number,
        line,
        {structural} as structural_error,
        {", ".join(f"{t} as {n}" for t, n in zip(texts, text_names, strict=True))}
    from fields
),
typed as (
    select
        *,
        {", ".join(f"{v} as {_typed_name(i)}" for i, v in enumerate(typed))}
    from texts
),
checked as (
    select
        *,
        {", ".join(f"{e} as {_error_name(i)}" for i, e in enumerate(errors))}
    from typed
),
reasoned as (
    select
        *,
        coalesce(structural_error, nullif(concat_ws('; ', {", ".join(_error_name(i) for i in range(width))}), ''))
            as reason
    from checked
)
select
    line_number,
    line,
    reason,
    {typed_select}
from reasoned
"""


# Stands in for a delimiter inside quotes while a line is split; no loaded line holds it (decoding.py refuses
# a file with the unit separator), and a line that did would take the regular expression.
MASK_CHARACTER = "chr(31)"


def _csv_fields_ctes(contract: TableContract) -> str:
    """CTEs ending in `fields`: each line's raw fields (still quoted), as the quote-aware expression reads them.

    The expression (`split_fields_sql`) costs about twenty times a plain split, so it runs only where nothing
    cheaper gives the same fields:
    1. a line without a quote: its pieces between delimiters;
    2. a line whose pieces are each unquoted or one whole quoted field (quotes in product names): the same;
    3. a line with delimiters inside quotes: the delimiters inside quotes are masked first (the pieces of the
       line between quotes alternate outside / inside, doubled quotes included), then the line is split, if
       every field that comes out is unquoted or one whole quoted field;
    4. anything else (a stray or unterminated quote): the expression.
    """
    delimiter = sql_literal(contract.delimiter)
    if contract.quote is None:
        return (
            "split as (select line_number, line, false as has_quote from numbered),\n"
            f"fields as (select line_number, line, has_quote, {split_fields_sql(contract)} as fields from split)"
        )
    quote = sql_literal(contract.quote)
    whole_field = sql_literal(_quoted_field_pattern(contract))
    pieces_whole = (
        f"list_bool_and(list_transform(pieces, lambda piece: not starts_with(piece, {quote}) "
        f"or regexp_full_match(piece, {whole_field})))"
    )
    masked = (
        "list_transform(string_split(array_to_string(list_transform("
        f"string_split(line, {quote}), lambda between, i: case when i % 2 = 0 "
        f"then replace(between, {delimiter}, {MASK_CHARACTER}) else between end), {quote}), {delimiter}), "
        f"lambda field: replace(field, {MASK_CHARACTER}, {delimiter}))"
    )
    masked_whole = (
        f"list_bool_and(list_transform(masked, lambda field: not contains(field, {quote}) "
        f"or regexp_full_match(field, {whole_field})))"
    )
    return f"""split as (
    select line_number, line, contains(line, {quote}) as has_quote, string_split(line, {delimiter}) as pieces
    from numbered
),
masked as (
    select *,
        case
            when pieces_are_fields or contains(line, {MASK_CHARACTER}) then null
            else {masked}
        end as masked
    from (select *, case when has_quote then {pieces_whole} else true end as pieces_are_fields from split)
),
fields as (
    select line_number, line, has_quote,
        case
            when line is null then null
            when pieces_are_fields then pieces
            when {masked_whole} then masked
            else {split_fields_sql(contract)}
        end as fields
    from masked
)"""


def _text_name(index: int) -> str:
    return f"__text_{index}"


def _typed_name(index: int) -> str:
    return f"__typed_{index}"


def _error_name(index: int) -> str:
    return f"__error_{index}"


def _json_key(name: str) -> str:
    return '"' + name.replace('"', '\\"') + '"'
