import datetime
import io
import logging
import math
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

    @api.model
    def _bulk_upsert(self, columns, rows, conflict_columns, update_columns=None):
        """Insert ``rows`` (an iterable of tuples in ``columns`` order), updating
        the rows that already exist for ``conflict_columns``.

        ``update_columns`` defaults to every column outside the conflict key.
        Within one call, duplicate keys keep the last row. ``create_uid``,
        ``create_date``, ``write_uid`` and ``write_date`` are filled for the
        current user. Returns the number of rows inserted or updated.
        """
        columns = list(columns)
        conflict_columns = list(conflict_columns)
        if update_columns is None:
            update_columns = [c for c in columns if c not in conflict_columns]
        unknown = [c for c in columns + conflict_columns + list(update_columns) if c not in self._fields]
        if unknown or not set(conflict_columns) <= set(columns):
            raise ValueError(f"_bulk_upsert on {self._name}: bad columns {unknown or conflict_columns}")
        self.check_access_rights("create")
        self.check_access_rights("write")

        booleans = [self._fields[c].type == "boolean" for c in columns]
        buffer = io.StringIO()
        count = 0
        for row in rows:
            buffer.write(",".join(_csv_cell(value, boolean) for value, boolean in zip(row, booleans)))
            buffer.write("\n")
            count += 1
        if not count:
            return 0
        buffer.seek(0)

        self.flush_model()
        cr = self.env.cr
        temp = f"ai_bulk_{uuid.uuid4().hex[:12]}"
        ident = SQL.identifier
        column_list = SQL(", ").join(ident(c) for c in columns)
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
        cr.copy_expert(SQL("COPY %s (%s) FROM STDIN WITH (FORMAT csv)", ident(temp), column_list).code, buffer)

        audit = SQL(", ").join(ident(c) for c in ("create_uid", "create_date", "write_uid", "write_date"))
        assignments = [SQL("%s = EXCLUDED.%s", ident(c), ident(c)) for c in update_columns]
        assignments += [SQL("%s = EXCLUDED.%s", ident(c), ident(c)) for c in ("write_uid", "write_date")]
        cr.execute(
            SQL(
                """
                INSERT INTO %(table)s (%(columns)s, %(audit)s)
                SELECT DISTINCT ON (%(key)s) %(columns)s,
                       %(uid)s, now() AT TIME ZONE 'UTC', %(uid)s, now() AT TIME ZONE 'UTC'
                  FROM %(temp)s
                 ORDER BY %(key)s, ai_bulk_seq DESC
                ON CONFLICT (%(key)s) DO UPDATE SET %(assignments)s
                """,
                table=ident(self._table),
                columns=column_list,
                audit=audit,
                key=SQL(", ").join(ident(c) for c in conflict_columns),
                uid=self.env.uid,
                temp=ident(temp),
                assignments=SQL(", ").join(assignments),
            )
        )
        written = cr.rowcount
        cr.execute(SQL("DROP TABLE %s", ident(temp)))
        self._bulk_invalidate()
        _logger.debug("bulk upsert into %s: %d rows", self._table, written)
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
