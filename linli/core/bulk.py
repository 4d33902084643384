"""Writing many rows fast: COPY on PostgreSQL, one ``executemany`` on SQLite.

The ORM's ``bulk_create`` builds a model instance and calls each field's
``get_db_prep_save`` for every value; for a bill run of hundreds of thousands of rows
that costs more than the database itself (reference/performance-baselines.md: COPY is
3–4× faster than executemany on PostgreSQL). ``insert_rows`` takes plain tuples of
Python values instead and converts each column once per value with a small function
chosen from the field's type, storing exactly what the ORM would store (the tests
compare both paths column by column).

Rows are consumed from any iterable, so a caller can stream them. The insert runs on
Django's connection, inside the caller's transaction, and database errors come out as
Django's (``IntegrityError`` for a unique constraint), like the ORM's.

What this does not do: signals, ``save()``, field defaults or ``auto_now`` — the
caller passes every column it names — and it returns no primary keys.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Callable, Iterable, Sequence

from django.conf import settings
from django.db import connections, models

Converter = Callable[[object], object] | None


def _sqlite_datetime(value):
    # What django.db.backends.sqlite3.operations.adapt_datetimefield_value stores:
    # naive UTC text with a space separator.
    if value is None:
        return None
    if value.tzinfo is not None and settings.USE_TZ:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.isoformat(" ")


def _date_text(value):
    return None if value is None else value.isoformat()


def _decimal_text(value):
    return None if value is None else str(value)


def _json_text(value):
    # Django stores json.dumps(value) with its default separators and ASCII escapes.
    return json.dumps(value)


def _converter(field: models.Field, vendor: str) -> Converter:
    """How one column's Python value becomes what the driver is given (None = as is)."""
    kind = field.get_internal_type()
    if kind == "JSONField":
        return _json_text
    if vendor == "sqlite":
        if kind == "DateTimeField":
            return _sqlite_datetime
        if kind == "DateField":
            return _date_text
        if kind == "DecimalField":
            return _decimal_text
    # Integers, foreign keys, text, and on PostgreSQL dates, datetimes and decimals
    # are written by the driver exactly as the ORM's values are.
    return None


def insert_rows(
    model: type[models.Model],
    fields: Sequence[str],
    rows: Iterable[Sequence],
    *,
    using: str = "default",
) -> int:
    """Insert ``rows`` (tuples of Python values, in the order of ``fields``) into the
    model's table with the database's fastest bulk path. Returns how many were written.
    """
    connection = connections[using]
    opts = model._meta
    columns = [opts.get_field(name) for name in fields]
    converters = [_converter(f, connection.vendor) for f in columns]
    if any(converters):
        rows = _converted(rows, converters)
    quote = connection.ops.quote_name
    table = quote(opts.db_table)
    names = ", ".join(quote(f.column) for f in columns)
    if connection.vendor == "postgresql":
        return _copy(connection, f"COPY {table} ({names}) FROM STDIN", rows)
    placeholders = ", ".join(["%s"] * len(columns))
    return _executemany(connection, f"INSERT INTO {table} ({names}) VALUES ({placeholders})",
                        rows)


def insert_raw(
    table: str, columns: Sequence[str], rows: Iterable[Sequence], *, using: str = "default"
) -> int:
    """``insert_rows`` for a table without a model (values already in driver form)."""
    connection = connections[using]
    quote = connection.ops.quote_name
    names = ", ".join(quote(c) for c in columns)
    if connection.vendor == "postgresql":
        return _copy(connection, f"COPY {quote(table)} ({names}) FROM STDIN", rows)
    placeholders = ", ".join(["%s"] * len(columns))
    return _executemany(
        connection, f"INSERT INTO {quote(table)} ({names}) VALUES ({placeholders})", rows
    )


def _converted(rows: Iterable[Sequence], converters: list[Converter]):
    """Convert the columns that need it. Bulk rows repeat values (one period, one due
    date, one price, a shared ``detail`` dict for thousands of rows), so each column
    remembers the conversions of the last ``_MEMO_MAX`` distinct objects it saw, by
    identity (holding the objects, so an id is never reused while remembered). So a
    mutable value (a dict) must not change while its rows are being inserted."""
    columns = [i for i, c in enumerate(converters) if c is not None]
    plan = [(i, converters[i], {}) for i in columns]
    for row in rows:
        row = list(row)
        for i, convert, memo in plan:
            value = row[i]
            seen = memo.get(id(value))
            if seen is None or seen[0] is not value:
                if len(memo) >= _MEMO_MAX:
                    memo.clear()
                seen = memo[id(value)] = (value, convert(value))
            row[i] = seen[1]
        yield row


_MEMO_MAX = 4096


class _Counted:
    """Count rows as the driver pulls them (executemany takes an iterator)."""

    def __init__(self, rows: Iterable[Sequence]) -> None:
        self.rows, self.count = iter(rows), 0

    def __iter__(self):
        return self

    def __next__(self):
        row = next(self.rows)
        self.count += 1
        return row


def _executemany(connection, sql: str, rows: Iterable[Sequence]) -> int:
    counted = _Counted(rows)
    # The driver's own executemany, with qmark placeholders: Django's SQLite cursor
    # wrapper tee()s the rows to peek at the first one, which keeps every row in memory
    # until the statement ends.
    qmark_sql = sql.replace("%s", "?")
    connection.validate_no_broken_transaction()
    with connection.cursor() as cursor, connection.wrap_database_errors:
        sqlite3.Cursor.executemany(cursor.cursor, qmark_sql, counted)
    return counted.count


def _copy(connection, sql: str, rows: Iterable[Sequence]) -> int:
    count = 0
    connection.validate_no_broken_transaction()
    with connection.cursor() as cursor, connection.wrap_database_errors:
        with cursor.cursor.copy(sql) as copy:
            write = copy.write_row
            for row in rows:
                write(row)
                count += 1
    return count
