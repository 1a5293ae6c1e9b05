import datetime
import io
import logging
import math
import re
import uuid

from odoo import api, models
from odoo.tools import SQL

_logger = logging.getLogger(__name__)


def _csv_cell(value, boolean=False):
    """One value as PostgreSQL ``COPY ... (FORMAT csv)`` reads it: an unquoted
    empty cell is NULL, anything else is quoted text PostgreSQL casts to the
    column type. ``None``, ``False`` (Odoo's "no value") and non-finite floats
    become NULL, except in boolean columns where they are false."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()  # numpy scalars
    if boolean:
        return "t" if value else "f"
    if value is None or value is False:
        return ""
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ""
    if isinstance(value, int):
        return str(value)
    text = value.isoformat() if isinstance(value, (datetime.date, datetime.datetime)) else str(value)
    return '"' + text.replace('"', '""') + '"'


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
    def _bulk_upsert(self, columns, rows, conflict_columns, update_columns=None, chunk_size=None):
        """Insert ``rows`` (an iterable of tuples in ``columns`` order), updating
        the rows that already exist for ``conflict_columns``.

        The ORM's duties are kept: pending ORM writes are flushed first and the
        cache is invalidated after; ``create_uid``/``create_date`` and
        ``write_uid``/``write_date`` are filled for the current user;
        ``conflict_columns`` must be exactly the columns of one ``unique``
        SQL constraint of the model, and a row with an empty key column is
        refused (``ValueError``): PostgreSQL never sees two NULLs as equal, so
        such rows would pile up instead of being updated.

        ``update_columns`` defaults to every column outside the conflict key.
        Within one call, duplicate keys keep the last row (each statement
        carries a key once). A row equal to the stored one is left untouched
        (neither rewritten nor re-dated), so re-running the same upsert changes
        nothing. Rows stream in chunks of ``chunk_size``. Returns the number of
        rows inserted or changed.
        """
        columns = list(columns)
        conflict_columns = list(conflict_columns)
        if update_columns is None:
            update_columns = [c for c in columns if c not in conflict_columns]
        update_columns = list(update_columns)
        unknown = [c for c in columns + conflict_columns + update_columns if c not in self._fields]
        if unknown or not set(conflict_columns) <= set(columns):
            raise ValueError(f"_bulk_upsert on {self._name}: bad columns {unknown or conflict_columns}")
        if set(conflict_columns) not in [set(key) for key in self._bulk_unique_keys()]:
            raise ValueError(
                f"_bulk_upsert on {self._name}: the conflict columns {conflict_columns} are not "
                "the columns of a unique SQL constraint of the model"
            )
        self.check_access_rights("create")
        self.check_access_rights("write")
        chunk_size = chunk_size or self._bulk_chunk_size

        booleans = [self._fields[c].type == "boolean" for c in columns]
        key_positions = [(columns.index(c), c) for c in conflict_columns]
        # Flush everything: the rows may reference records still pending in the
        # ORM (a version created in this transaction), and the ORM must not
        # later overwrite what the raw SQL writes.
        self.env.flush_all()
        cr = self.env.cr
        temp = f"ai_bulk_{uuid.uuid4().hex[:12]}"
        ident = SQL.identifier
        column_list = SQL(", ").join(ident(c) for c in columns)
        key = SQL(", ").join(ident(c) for c in conflict_columns)
        audit = SQL(", ").join(ident(c) for c in ("create_uid", "create_date", "write_uid", "write_date"))
        assignments = [SQL("%s = EXCLUDED.%s", ident(c), ident(c)) for c in update_columns]
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
        insert = SQL(
            """
            INSERT INTO %(table)s (%(columns)s, %(audit)s)
            SELECT DISTINCT ON (%(key)s) %(columns)s,
                   %(uid)s, now() AT TIME ZONE 'UTC', %(uid)s, now() AT TIME ZONE 'UTC'
              FROM %(temp)s
             ORDER BY %(key)s, ai_bulk_seq DESC
            ON CONFLICT (%(key)s) %(action)s
            """,
            table=ident(self._table),
            columns=column_list,
            audit=audit,
            key=key,
            uid=self.env.uid,
            temp=ident(temp),
            action=conflict_action,
        )

        written = 0
        created = False
        buffer = io.StringIO()
        count = 0
        total = 0

        def flush_chunk():
            nonlocal created, written, buffer, count
            if not created:
                cr.execute(
                    SQL(
                        "CREATE TEMPORARY TABLE %s ON COMMIT DROP AS SELECT %s FROM %s WITH NO DATA",
                        ident(temp),
                        column_list,
                        ident(self._table),
                    )
                )
                # The serial number orders the rows so that the last duplicate wins.
                cr.execute(SQL("ALTER TABLE %s ADD COLUMN ai_bulk_seq BIGSERIAL", ident(temp)))
                created = True
            else:
                cr.execute(SQL("TRUNCATE %s", ident(temp)))
            buffer.seek(0)
            cr.copy_expert(SQL("COPY %s (%s) FROM STDIN WITH (FORMAT csv)", ident(temp), column_list).code, buffer)
            cr.execute(insert)
            written += cr.rowcount
            buffer = io.StringIO()
            count = 0

        for row in rows:
            for position, name in key_positions:
                value = row[position]
                if value is None or value is False or (isinstance(value, float) and not math.isfinite(value)):
                    raise ValueError(f"_bulk_upsert on {self._name}: row {total + 1} has no value in key column {name}")
            buffer.write(",".join(_csv_cell(value, boolean) for value, boolean in zip(row, booleans)))
            buffer.write("\n")
            count += 1
            total += 1
            if count >= chunk_size:
                flush_chunk()
        if count:
            flush_chunk()
        if not created:
            return 0
        cr.execute(SQL("DROP TABLE %s", ident(temp)))
        self._bulk_invalidate()
        _logger.debug("bulk upsert into %s: %d of %d rows written", self._table, written, total)
        return written

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
