"""17.0.1.2.0: ``ai.prediction`` has no audit columns (``_log_access = False``).

Odoo does not drop the columns of fields that are gone: without this step an
upgraded database would keep ``create_uid`` and ``write_uid`` with their
foreign keys, and every bulk write would still pay their checks. Runs before
the registry loads the new definition.
"""


def migrate(cr, version):
    if not version:
        return
    cr.execute(
        """
        ALTER TABLE ai_prediction
            DROP COLUMN IF EXISTS create_uid,
            DROP COLUMN IF EXISTS create_date,
            DROP COLUMN IF EXISTS write_uid,
            DROP COLUMN IF EXISTS write_date
        """
    )
