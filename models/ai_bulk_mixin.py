import datetime
import itertools
import logging
import math
import re
import uuid

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

from odoo import api, models
from odoo.tools import SQL

_logger = logging.getLogger(__name__)


#: ``COPY ... FROM STDIN`` in CSV, as pyarrow writes it: strings always
#: quoted (an empty string is ``""``), NULL an unquoted empty field.
_CSV_OPTIONS = pa_csv.WriteOptions(include_header=False, quoting_style="needed")
_NUMERIC_FIELDS = ("integer", "many2one", "float", "monetary")


def _cell_text(value):
    """One value as the text PostgreSQL casts to the column type, or ``None``
    for NULL: ``None``, ``False`` (Odoo's "no value") and non-finite floats.
    The slow path, for columns the typed cases of :func:`_arrow_column` do
    not take whole."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()  # numpy scalars
    if value is None or value is False:
        return None
    if isinstance(value, float):
        return float.__repr__(value) if math.isfinite(value) else None
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    return str(value)


def _arrow_column(values, field_type):
    """A whole column (a tuple of values) as a pyarrow array for the CSV
    writer, which formats it in C++ (floats in their shortest exact form).

    The common cases convert without a Python call per value: booleans,
    plain ints, numbers for a float column (non-finite ones become NULL),
    dates, strings. Anything else goes through :func:`_cell_text` as text."""
    if field_type == "boolean":
        return pa.array([bool(value) for value in values], pa.bool_())
    types = set(map(type, values))
    if types == {int} and field_type in _NUMERIC_FIELDS:
        return pa.array(values, pa.int64())
    if (
        types
        and field_type in ("float", "monetary")
        and all(kind is int or issubclass(kind, (float, np.floating)) for kind in types)
    ):
        numbers = np.asarray(values, dtype=np.float64)
        return pa.array(numbers, mask=~np.isfinite(numbers))
    if types == {datetime.date} and field_type == "date":
        return pa.array(values, pa.date32())
    if types == {str}:
        return pa.array(values, pa.string())
    return pa.array(map(_cell_text, values), pa.string(), size=len(values))


def _copy_csv(columns, data, field_types):
    """The rows of one chunk (``data``: one tuple of values per column) as the
    bytes of a ``COPY ... WITH (FORMAT csv)``."""
    arrays = [_arrow_column(values, kind) for values, kind in zip(data, field_types)]
    sink = pa.BufferOutputStream()
    pa_csv.write_csv(pa.Table.from_arrays(arrays, names=list(columns)), sink, _CSV_OPTIONS)
    return sink.getvalue()


def _is_empty(value):
    """No value: ``None``, ``False``, a non-finite float."""
    return value is None or value is False or (isinstance(value, float) and not math.isfinite(value))


def _has_empty(values):
    """Whether a column holds an empty value (see :func:`_is_empty`), at C
    speed for the usual columns."""
    if None in values or False in values:  # also true for 0 and 0.0: checked one by one
        return any(map(_is_empty, values))
    types = set(map(type, values))
    if all(issubclass(kind, float) for kind in types):
        return not all(map(math.isfinite, values))
    if any(issubclass(kind, float) for kind in types):
        return any(map(_is_empty, values))
    return False


class AiBulkMixin(models.AbstractModel):
    """Insert or update thousands of rows in one round trip.

    The ORM creates records one ``INSERT`` at a time and runs computes and
    tracking for each; metric and prediction lines are plain facts written by
    the engine, thousands per model. :meth:`_bulk_upsert` streams them with
    ``COPY`` into a temporary table and merges them with one
    ``INSERT ... SELECT ... ON CONFLICT DO UPDATE`` on a unique constraint.

    Inherit it on a model with a ``_sql_constraints`` unique constraint over
    the conflict columns. Raw SQL skips the ORM: no computes, no
    ``@api.constrains``, no record rules. Callers pass complete rows (stored
    related/computed columns included), check access to the parent records
    themselves, and run as the engine.
    """

    _name = "ai.bulk.mixin"
    _description = "AI bulk insert helper"

    #: Rows per ``COPY`` + ``INSERT`` statement: bounds the client buffer and
    #: the temporary table whatever the size of the input.
    _bulk_chunk_size = 50000
    #: Rows written in one call from which the planner statistics of the
    #: conflict key's columns are refreshed at once (``ANALYZE``): a new
    #: version's rows are unknown to the planner until then, and it reads
    #: them with a plan made for a handful.
    _bulk_analyze_rows = 10000

    @api.model
    def _bulk_unique_keys(self):
        """Column tuples of this model's ``unique(...)`` SQL constraints."""
        keys = []
        for _name, definition, _message in self._sql_constraints:
            match = re.fullmatch(r"\s*unique\s*\(([^)]*)\)\s*", definition, flags=re.IGNORECASE)
            if match:
                keys.append(tuple(column.strip() for column in match.group(1).split(",")))
        return keys

    @api.model
    def _bulk_upsert(self, columns, rows, conflict_columns, update_columns=None, chunk_size=None, skip_empty=()):
        """Insert ``rows`` (an iterable of tuples in ``columns`` order), updating
        the rows that already exist for ``conflict_columns``.

        The ORM's duties are kept: pending ORM writes are flushed first and the
        cache is invalidated after; ``create_uid``/``create_date`` and
        ``write_uid``/``write_date`` are filled for the current user (on
        models with ``_log_access``);
        ``conflict_columns`` must be exactly the columns of one ``unique``
        SQL constraint of the model, and a row with an empty key column is
        refused (``ValueError``, nothing written): PostgreSQL never sees two
        NULLs as equal, so such rows would pile up instead of being updated.
        Rows with no value (``None``, ``False``, non-finite) in one of the
        ``skip_empty`` columns are left out.

        ``update_columns`` defaults to every column outside the conflict key.
        Within one call, duplicate keys keep the last row (each statement
        carries a key once). A row equal to the stored one is left untouched
        (neither rewritten nor re-dated), so re-running the same upsert changes
        nothing. Rows stream in chunks of ``chunk_size``, each turned column by
        column into pyarrow arrays and written as CSV by pyarrow (see
        :func:`_copy_csv`), sent with one ``COPY`` and merged with one
        ``INSERT ... SELECT ... ON CONFLICT``. From ``_bulk_analyze_rows``
        rows written the planner statistics of the key's columns (and the
        table's row count) are refreshed. Returns the number of rows
        inserted or changed.
        """
        columns = list(columns)
        conflict_columns = list(conflict_columns)
        if update_columns is None:
            update_columns = [c for c in columns if c not in conflict_columns]
        update_columns = list(update_columns)
        unknown = [c for c in columns + conflict_columns + update_columns + list(skip_empty) if c not in self._fields]
        if unknown or not set(conflict_columns) <= set(columns) or not set(skip_empty) <= set(columns):
            raise ValueError(f"_bulk_upsert on {self._name}: bad columns {unknown or conflict_columns}")
        if set(conflict_columns) not in [set(key) for key in self._bulk_unique_keys()]:
            raise ValueError(
                f"_bulk_upsert on {self._name}: the conflict columns {conflict_columns} are not "
                "the columns of a unique SQL constraint of the model"
            )
        self.check_access_rights("create")
        self.check_access_rights("write")
        chunk_size = chunk_size or self._bulk_chunk_size

        field_types = [self._fields[c].type for c in columns]
        key_positions = [columns.index(c) for c in conflict_columns]
        skip_positions = [columns.index(c) for c in skip_empty]
        # Flush everything: the rows may reference records still pending in the
        # ORM (a version created in this transaction), and the ORM must not
        # later overwrite what the raw SQL writes.
        self.env.flush_all()
        cr = self.env.cr
        temp = f"ai_bulk_{uuid.uuid4().hex[:12]}"
        ident = SQL.identifier
        column_list = SQL(", ").join(ident(c) for c in columns)
        key = SQL(", ").join(ident(c) for c in conflict_columns)
        assignments = [SQL("%s = EXCLUDED.%s", ident(c), ident(c)) for c in update_columns]
        audit_columns, audit_values = [], []
        if self._log_access:
            stamp = SQL("now() AT TIME ZONE 'UTC'")
            audit_columns = ["create_uid", "create_date", "write_uid", "write_date"]
            audit_values = [SQL("%s", self.env.uid), stamp, SQL("%s", self.env.uid), stamp]
            assignments += [SQL("%s = EXCLUDED.%s", ident(c), ident(c)) for c in ("write_uid", "write_date")]
        if update_columns:
            changed = SQL(
                "WHERE (%s) IS DISTINCT FROM (%s)",
                SQL(", ").join(SQL("%s.%s", ident(self._table), ident(c)) for c in update_columns),
                SQL(", ").join(SQL("EXCLUDED.%s", ident(c)) for c in update_columns),
            )
            conflict_action = SQL("DO UPDATE SET %s %s", SQL(", ").join(assignments), changed)
        else:
            conflict_action = SQL("DO NOTHING")
        # Keys are unique within a chunk (deduplicated in Python, see
        # _bulk_prepare_chunk): no DISTINCT ON, no sort on the server.
        insert = SQL(
            """
            INSERT INTO %(table)s (%(targets)s)
            SELECT %(values)s
              FROM %(temp)s
            ON CONFLICT (%(key)s) %(action)s
            """,
            table=ident(self._table),
            targets=SQL(", ").join(ident(c) for c in columns + audit_columns),
            values=SQL(", ").join([ident(c) for c in columns] + audit_values),
            key=key,
            temp=ident(temp),
            action=conflict_action,
        )
        copy = SQL("COPY %s (%s) FROM STDIN WITH (FORMAT csv)", ident(temp), column_list).code

        written = 0
        total = 0
        created = False
        rows = iter(rows)
        while True:
            chunk = list(itertools.islice(rows, chunk_size))
            if not chunk:
                break
            data = self._bulk_prepare_chunk(chunk, columns, key_positions, skip_positions, total)
            total += len(chunk)
            if not data:
                continue
            csv = _copy_csv(columns, data, field_types)
            del chunk, data
            if not created:
                cr.execute(
                    SQL(
                        "CREATE TEMPORARY TABLE %s ON COMMIT DROP AS SELECT %s FROM %s WITH NO DATA",
                        ident(temp),
                        column_list,
                        ident(self._table),
                    )
                )
                created = True
            else:
                cr.execute(SQL("TRUNCATE %s", ident(temp)))
            cr.copy_expert(copy, pa.BufferReader(csv))
            del csv
            cr.execute(insert)
            written += cr.rowcount
        if not created:
            return 0
        cr.execute(SQL("DROP TABLE %s", ident(temp)))
        if written >= self._bulk_analyze_rows:
            # The key's columns only (what readers select on), at a third of
            # the cost of the whole table; SKIP_LOCKED: a table another
            # transaction is analysing or vacuuming is left to it.
            cr.execute(SQL("ANALYZE (SKIP_LOCKED) %s (%s)", ident(self._table), key))
        self._bulk_invalidate()
        _logger.debug("bulk upsert into %s: %d of %d rows written", self._table, written, total)
        return written

    def _bulk_prepare_chunk(self, chunk, columns, key_positions, skip_positions, offset):
        """The columns (tuples) of one chunk of rows: rows with an empty value
        in a ``skip_positions`` column dropped, a row with an empty key
        refused (``ValueError`` naming the row, counted from ``offset``), and
        duplicate keys reduced to their last row. Returns ``[]`` when no row
        is left."""
        data = list(zip(*chunk))
        if not data:
            return []
        keep = None  # indexes of the rows kept; None: all of them
        for position in skip_positions:
            values = data[position]
            if _has_empty(values):
                keep = [i for i in (keep if keep is not None else range(len(values))) if not _is_empty(values[i])]
        for position in key_positions:
            values = data[position]
            if _has_empty(values):
                for index in keep if keep is not None else range(len(values)):
                    if _is_empty(values[index]):
                        raise ValueError(
                            f"_bulk_upsert on {self._name}: row {offset + index + 1} has no value in key column "
                            f"{columns[position]}"
                        )
        keys = list(zip(*(data[position] for position in key_positions)))
        if keep is not None:
            keys = [keys[i] for i in keep]
        if len(set(keys)) < len(keys):
            last = {k: i for i, k in enumerate(keys)}  # the last row of each key wins
            positions = sorted(last.values())
            keep = positions if keep is None else [keep[i] for i in positions]
        if keep is None:
            return data
        if not keep:
            return []
        return [tuple(values[i] for i in keep) for values in data]

    @api.model
    def _bulk_invalidate(self):
        """Drop what the ORM cached about this model after raw SQL, including
        the one2many fields on other models that list these rows."""
        self.invalidate_model()
        for field in self._fields.values():
            if field.type != "many2one" or not field.store:
                continue
            comodel = self.env[field.comodel_name]
            inverses = [
                name
                for name, other in comodel._fields.items()
                if other.type == "one2many" and other.comodel_name == self._name and other.inverse_name == field.name
            ]
            if inverses:
                comodel.invalidate_model(inverses, flush=False)
