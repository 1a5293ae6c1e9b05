"""17.0.1.1.0: ``ai.prediction`` reads its target and company through its
model version instead of storing them on every row.

Before the registry loads the new definition: drop the two stored columns
(with their foreign keys) and the two indexes that led with them. The unique
key changes order (version, date, series, horizon); Odoo re-creates it from
``_sql_constraints`` when the definition differs.
"""


def migrate(cr, version):
    if not version:
        return
    cr.execute("DROP INDEX IF EXISTS ai_prediction_target_date_idx")
    cr.execute("DROP INDEX IF EXISTS ai_prediction_company_date_idx")
    cr.execute("ALTER TABLE ai_prediction DROP COLUMN IF EXISTS target_id, DROP COLUMN IF EXISTS company_id")
