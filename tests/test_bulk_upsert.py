from unittest.mock import patch

from odoo.tests import TransactionCase, tagged

from .common import handmade_version, make_dataset


@tagged("post_install", "-at_install")
class TestBulkUpsert(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        dataset = make_dataset(cls.env)
        cls.job = cls.env["ai.training.job"].create({"dataset_id": dataset.id, "candidates": "naive,snaive"})
        cls.version = handmade_version(cls.env, cls.job)
        cls.Metric = cls.env["ai.model.metric"]._engine()

    def _planner_rows(self):
        self.env.cr.execute("SELECT reltuples FROM pg_class WHERE oid = 'ai_model_metric'::regclass")
        return self.env.cr.fetchone()[0]

    def test_large_write_refreshes_the_planner_statistics(self):
        """From ``_bulk_analyze_rows`` rows written, the table is analysed in
        the same transaction: the planner counts the new rows at once."""
        columns = ["version_id", "unique_id", "model", "bucket", "metric", "value"]
        key = ["version_id", "unique_id", "model", "bucket", "metric"]
        rows = [(self.version.id, f"a{i}", "ets", "1-28", "mase", float(i)) for i in range(300)]
        model_class = type(self.env["ai.model.metric"])
        with patch.object(model_class, "_bulk_analyze_rows", 301):
            self.Metric._bulk_upsert(columns, rows, key)
        self.env.cr.execute("SELECT count(*) FROM ai_model_metric")
        stored = self.env.cr.fetchone()[0]
        self.assertNotEqual(self._planner_rows(), stored, "300 rows: below the threshold, not analysed")
        with patch.object(model_class, "_bulk_analyze_rows", 300):
            self.Metric._bulk_upsert(columns, [(v, f"b{i}", *rest) for i, (v, _u, *rest) in enumerate(rows)], key)
        self.assertEqual(self._planner_rows(), stored + 300)

    def _lines(self):
        return self.env["ai.model.metric"].search([("version_id", "=", self.version.id)])

    def test_insert_fills_audit_columns_and_refreshes_one2many(self):
        self.assertEqual(len(self.version.metric_ids), 12)  # read once: cached
        written = self.Metric._bulk_upsert(
            ["version_id", "unique_id", "model", "bucket", "metric", "value", "chosen"],
            [(self.version.id, f"s{i}", "ets", "1-28", "mase", 0.5 + i, i % 2 == 0) for i in range(2000)],
            ["version_id", "unique_id", "model", "bucket", "metric"],
        )
        self.assertEqual(written, 2000)
        # The cached one2many was invalidated by the helper.
        self.assertEqual(len(self.version.metric_ids), 2012)
        line = self._lines().filtered(lambda rec: rec.unique_id == "s3")
        self.assertEqual(line.value, 3.5)
        self.assertFalse(line.chosen)
        self.assertEqual(line.create_uid, self.env.user)
        self.assertTrue(line.create_date)
        self.assertTrue(line.write_date)

    def test_conflict_updates_in_place_last_duplicate_wins(self):
        before = self._lines()
        target = before.filtered(lambda rec: rec.bucket == "D+1" and rec.model == "naive")[0]
        self.assertEqual(target.value, 1.2)
        self.Metric._bulk_upsert(
            ["version_id", "unique_id", "model", "bucket", "metric", "value"],
            [
                (self.version.id, target.unique_id, "naive", "D+1", "mase", 7.0),
                (self.version.id, target.unique_id, "naive", "D+1", "mase", 8.0),
            ],
            ["version_id", "unique_id", "model", "bucket", "metric"],
        )
        self.assertEqual(self._lines(), before, "an upsert on existing keys must not add rows")
        self.assertEqual(target.value, 8.0, "the cache must show the updated value")

    def test_non_finite_and_false_become_null(self):
        self.Metric._bulk_upsert(
            ["version_id", "unique_id", "model", "bucket", "metric", "value", "chosen"],
            [(self.version.id, 'quote " and, comma', "x", "1-28", "mase", float("nan"), None)],
            ["version_id", "unique_id", "model", "bucket", "metric"],
        )
        self.env.cr.execute(
            "SELECT value, chosen FROM ai_model_metric WHERE version_id = %s AND unique_id = %s",
            (self.version.id, 'quote " and, comma'),
        )
        self.assertEqual(self.env.cr.fetchall(), [(None, False)])

    def test_empty_input_writes_nothing(self):
        self.assertEqual(
            self.Metric._bulk_upsert(
                ["version_id", "unique_id", "model", "bucket", "metric"], [], ["version_id", "unique_id", "model", "bucket", "metric"]
            ),
            0,
        )

    def test_unknown_column_refused(self):
        with self.assertRaises(ValueError):
            self.Metric._bulk_upsert(["version_id", "nope"], [(1, 2)], ["version_id"])

    def test_conflict_target_must_be_the_unique_constraint(self):
        with self.assertRaises(ValueError):
            self.Metric._bulk_upsert(
                ["version_id", "unique_id", "model", "bucket", "metric", "value"],
                [(self.version.id, "s", "m", "D+1", "mase", 1.0)],
                ["version_id", "unique_id", "model", "bucket"],
            )

    def test_null_key_refused_and_nothing_written(self):
        before = self._lines()
        with self.assertRaises(ValueError):
            self.Metric._bulk_upsert(
                ["version_id", "unique_id", "model", "bucket", "metric", "value"],
                [(self.version.id, None, "m", "D+1", "mase", 1.0)],
                ["version_id", "unique_id", "model", "bucket", "metric"],
            )
        self.assertEqual(self._lines(), before)

    def test_same_rows_twice_change_nothing_and_chunks_agree(self):
        columns = ["version_id", "unique_id", "model", "bucket", "metric", "value", "chosen"]
        key = ["version_id", "unique_id", "model", "bucket", "metric"]
        rows = [(self.version.id, f"c{i}", "ets", "D+1", "mase", float(i), False) for i in range(25)]
        self.assertEqual(self.Metric._bulk_upsert(columns, rows, key, chunk_size=7), 25)
        self.env.cr.execute(
            "UPDATE ai_model_metric SET write_date = '2000-01-01' WHERE version_id = %s AND unique_id LIKE 'c%%'",
            (self.version.id,),
        )
        self.assertEqual(self.Metric._bulk_upsert(columns, rows, key, chunk_size=7), 0)
        self.env.cr.execute(
            "SELECT count(*) FROM ai_model_metric WHERE version_id = %s AND unique_id LIKE 'c%%' "
            "AND write_date = '2000-01-01'",
            (self.version.id,),
        )
        self.assertEqual(self.env.cr.fetchone()[0], 25, "identical rows must not be rewritten")
        rows[3] = rows[3][:5] + (99.0, False)
        self.assertEqual(self.Metric._bulk_upsert(columns, rows, key, chunk_size=7), 1)

    def test_copy_text_escapes_numpy_values_and_skipped_rows(self):
        """The COPY's CSV: tabs, newlines, backslashes, quotes and commas in text
        round-trip, an empty string stays empty (not NULL); numpy scalars and
        ints in float columns are written as numbers, floats exactly; rows
        without a value in a ``skip_empty`` column are left out."""
        import numpy as np

        columns = ["version_id", "unique_id", "model", "bucket", "metric", "value", "chosen"]
        key = ["version_id", "unique_id", "model", "bucket", "metric"]
        odd = 'tab\there, new\nline, back\\slash \\N, "quoted", comma,'
        rows = [
            (self.version.id, odd, "ets", "D+1", "mase", np.float64(1.25), np.bool_(True)),
            (self.version.id, "int", "ets", "D+1", "mase", 3, False),
            (np.int64(self.version.id), "numpy-key", "ets", "D+1", "mase", np.float32(0.5), None),
            (self.version.id, "skipped-nan", "ets", "D+1", "mase", float("inf"), False),
            (self.version.id, "skipped-none", "ets", "D+1", "mase", None, False),
            (self.version.id, "empty-string", "", "D+1", "mase", 0.1 + 0.2, True),
        ]
        written = self.Metric._bulk_upsert(columns, rows, key, skip_empty=["value"])
        self.assertEqual(written, 4)
        self.env.cr.execute(
            "SELECT model, value FROM ai_model_metric WHERE version_id = %s AND unique_id = 'empty-string'",
            (self.version.id,),
        )
        self.assertEqual(self.env.cr.fetchall(), [("", 0.30000000000000004)])
        self.env.cr.execute(
            "SELECT unique_id, value, chosen FROM ai_model_metric WHERE version_id = %s AND model = 'ets' "
            "AND bucket = 'D+1' ORDER BY unique_id",
            (self.version.id,),
        )
        self.assertEqual(
            self.env.cr.fetchall(), [("int", 3.0, False), ("numpy-key", 0.5, False), (odd, 1.25, True)]
        )
        self.assertEqual(self.Metric._bulk_upsert(columns, rows, key, skip_empty=["value"]), 0)
        # A key without a value is refused with its row number, even after skipped rows.
        bad = rows[3:5] + [(self.version.id, False, "ets", "D+1", "mase", 1.0, False)]
        with self.assertRaisesRegex(ValueError, "row 3 has no value in key column unique_id"):
            self.Metric._bulk_upsert(columns, bad, key, skip_empty=["value"])
