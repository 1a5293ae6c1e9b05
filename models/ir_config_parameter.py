import logging

import psycopg2

from odoo import api, models

_logger = logging.getLogger(__name__)


class IrConfigParameter(models.Model):
    _inherit = "ir.config_parameter"

    @api.model
    def _ai_get_or_create_param(self, key, factory):
        """The value of system parameter ``key``, created as ``factory()``
        exactly once however many transactions ask at the same time.

        ``INSERT ... ON CONFLICT DO NOTHING`` settles the race on the unique
        key. Odoo's cursors are REPEATABLE READ: a transaction that loses the
        race to one committed after its snapshot gets a serialization failure
        (caught in a savepoint) and cannot see the winner's row, so it reads
        it on a fresh cursor. Callers need the system group or sudo.
        """
        value = self.get_param(key)
        if value:
            return value
        self.check_access_rights("create")
        cr = self.env.cr
        self.flush_model()
        row = None
        try:
            with cr.savepoint(flush=False):
                cr.execute(
                    """
                    INSERT INTO ir_config_parameter (key, value, create_uid, write_uid, create_date, write_date)
                    VALUES (%s, %s, %s, %s, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC')
                    ON CONFLICT (key) DO NOTHING
                    RETURNING value
                    """,
                    (key, factory(), self.env.uid, self.env.uid),
                    log_exceptions=False,
                )
                row = cr.fetchone()
        except psycopg2.errors.SerializationFailure:
            row = None
        self.env.registry.clear_cache()
        if row:
            _logger.info("created the system parameter %s", key)
            return row[0]
        cr.execute("SELECT value FROM ir_config_parameter WHERE key = %s", (key,))
        row = cr.fetchone()
        if not row:
            # Committed by another transaction after this one's snapshot.
            with self.env.registry.cursor() as fresh:
                fresh.execute("SELECT value FROM ir_config_parameter WHERE key = %s", (key,))
                row = fresh.fetchone()
        return row[0]
