import hashlib

from odoo.exceptions import AccessError
from odoo.tests import TransactionCase, tagged

from .common import make_dataset, sample_frame


@tagged("post_install", "-at_install")
class TestDataset(TransactionCase):
    def test_store_dataframe_describes_content(self):
        frame = sample_frame(n_series=3, days=60)
        dataset = make_dataset(self.env, frame)
        self.assertEqual(dataset.state, "ready")
        self.assertEqual(dataset.row_count, len(frame))
        self.assertEqual(dataset.series_count, 3)
        self.assertEqual(str(dataset.date_from), frame["date"].min())
        self.assertEqual(str(dataset.date_to), frame["date"].max())
        raw = dataset._get_parquet_bytes()
        self.assertEqual(raw[:4], b"PAR1")
        self.assertEqual(dataset.checksum, hashlib.sha256(raw).hexdigest())
        self.assertIn('"pageviews"', dataset.schema_json)
        back = dataset._read_dataframe()
        self.assertEqual(list(back.columns), list(frame.columns))
        self.assertEqual(back["pageviews"].sum(), frame["pageviews"].sum())

    def test_versions_number_per_name_and_lineage(self):
        first = make_dataset(self.env, name="Sales")
        second = make_dataset(self.env, name="Sales", source="merge", parent_ids=[(6, 0, first.ids)])
        other = make_dataset(self.env, name="Traffic")
        self.assertEqual((first.version, second.version, other.version), (1, 2, 1))
        self.assertEqual(first.child_ids, second)
        self.assertEqual(second.display_name, "Sales v2")
        batch = self.env["ai.dataset"].create([{"name": "Sales"}, {"name": "Sales"}])
        self.assertEqual(batch.mapped("version"), [3, 4])

    def test_content_fields_protected(self):
        dataset = make_dataset(self.env)
        with self.assertRaises(AccessError):
            dataset.write({"checksum": "0" * 64})
        with self.assertRaises(AccessError):
            dataset.write({"row_count": 1})
        dataset.write({"description": "editable"})
        self.assertEqual(dataset.description, "editable")
