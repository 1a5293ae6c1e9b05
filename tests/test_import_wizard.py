import base64
import csv
import io

from odoo.exceptions import AccessError, UserError
from odoo.tests import TransactionCase, new_test_user, tagged

SPANISH_CSV = (
    "fecha;tienda;ventas\n"
    "13/01/2024;Centro;1.234,5\n"
    "14/01/2024;Centro;12,25\n"
    "15/01/2024;Centro;10\n"
    "13/01/2024;Norte;7,5\n"
    "14/01/2024;Norte;8\n"
    "15/01/2024;Norte;9,75\n"
)


def _csv(rows, header="fecha;tienda;ventas"):
    return "\n".join([header, *(";".join(map(str, row)) for row in rows)]) + "\n"


@tagged("post_install", "-at_install")
class TestImportWizard(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Wizard = cls.env["ai.dataset.import.wizard"]
        cls.Dataset = cls.env["ai.dataset"]

    def _wizard(self, text, filename="ventas.csv", encoding="utf-8", **values):
        data = text.encode(encoding) if isinstance(text, str) else text
        wizard = self.Wizard.create({"file": base64.b64encode(data), "filename": filename, **values})
        wizard.action_load()
        return wizard

    def _mapping(self, wizard):
        return {line.field_name: line.column_id.name for line in wizard.mapping_ids if line.column_id}

    def test_spanish_csv_end_to_end(self):
        wizard = self._wizard(SPANISH_CSV, name="Ventas tiendas")
        self.assertEqual(wizard.step, "mapping")
        self.assertEqual(self._mapping(wizard), {"date": "fecha", "store": "tienda", "sales": "ventas"})
        self.assertEqual(set(wizard.mapping_ids.filtered("column_id").mapped("match")), {"auto"})
        self.assertIn("delimiter", wizard.file_info)
        self.assertIn("sales ← ventas", wizard.preview_html)
        self.assertIn("1.234,5", wizard.preview_html)

        wizard.action_validate()
        self.assertEqual(wizard.step, "validated")
        self.assertTrue(wizard.accepted, wizard.rejection_reason)
        self.assertEqual((wizard.rows_read, wizard.rows_valid, wizard.rows_rejected), (6, 6, 0))
        self.assertIn("1234.5", wizard.result_preview_html)
        self.assertFalse(self.Dataset.search([("name", "=", "Ventas tiendas")]), "a dry run creates nothing")

        wizard.action_import()
        dataset = wizard.dataset_id
        self.assertEqual(wizard.step, "done")
        self.assertEqual(dataset, self.Dataset.search([("name", "=", "Ventas tiendas")]))
        self.assertEqual((dataset.state, dataset.source, dataset.version), ("ready", "upload", 1))
        self.assertEqual((dataset.row_count, dataset.series_count), (6, 2))
        self.assertEqual((str(dataset.date_from), str(dataset.date_to)), ("2024-01-13", "2024-01-15"))
        self.assertEqual(dataset.original_filename, "ventas.csv")
        self.assertEqual((dataset.target_col, dataset.series_cols, dataset.template), ("sales", "store", "sales"))
        frame = dataset._read_dataframe()
        self.assertEqual(list(frame.columns), ["date", "sales", "store"])
        self.assertAlmostEqual(frame["sales"].sum(), 1234.5 + 12.25 + 10 + 7.5 + 8 + 9.75)
        self.assertIn('"series_count": 2', dataset.summary_json)
        self.assertIn('"original_filename": "ventas.csv"', dataset.metadata_json)
        self.assertFalse(wizard.training_job_id)

    def test_edited_mapping_is_used(self):
        text = _csv([("2024-01-13", "A", 1, 5), ("2024-01-14", "A", 2, 6)], header="dia;local;cantidad;importe")
        wizard = self._wizard(text, name="Edited")
        auto = self._mapping(wizard)["sales"]
        self.assertIn(auto, ("cantidad", "importe"))
        other, expected = ("importe", [5.0, 6.0]) if auto == "cantidad" else ("cantidad", [1.0, 2.0])
        line = wizard.mapping_ids.filtered(lambda line: line.field_name == "sales")
        self.assertEqual(line.match, "auto")
        line.column_id = wizard.column_ids.filtered(lambda column: column.name == other)
        self.assertEqual(line.match, "manual")
        wizard.action_import()
        self.assertEqual(wizard.dataset_id._read_dataframe()["sales"].tolist(), expected)

    def test_preview_escapes_file_content(self):
        wizard = self._wizard(_csv([("2024-01-13", "<script>alert(1)</script>", 3)]))
        self.assertNotIn("<script>", wizard.preview_html)
        self.assertIn("&lt;script&gt;", wizard.preview_html)

    def test_rejected_file_creates_nothing_and_lists_reasons(self):
        rows = [("2024-01-%02d" % day, "A", "abc" if day % 2 else day) for day in range(1, 11)]
        wizard = self._wizard(_csv(rows), name="Rejected")
        count = self.Dataset.search_count([])
        wizard.action_import()
        self.assertFalse(wizard.accepted)
        self.assertFalse(wizard.dataset_id)
        self.assertEqual(self.Dataset.search_count([]), count)
        self.assertEqual((wizard.rows_read, wizard.rows_rejected), (10, 5))
        self.assertIn("above the 1.0% threshold", wizard.rejection_reason)
        self.assertIn("row 2", wizard.rejection_reason)
        self.assertIn("abc", wizard.errors_html)
        errors = list(csv.DictReader(io.StringIO(base64.b64decode(wizard.errors_file).decode("utf-8-sig"))))
        self.assertEqual([int(e["row"]) for e in errors], [2, 4, 6, 8, 10])
        self.assertEqual({e["column"] for e in errors}, {"ventas"})
        self.assertEqual(wizard.errors_filename, "ventas-errors.csv")

    def test_error_threshold_lets_minor_errors_through(self):
        rows = [("2024-01-%02d" % day, "A", -5 if day == 3 else day) for day in range(1, 11)]
        wizard = self._wizard(_csv(rows), name="Tolerant", max_error_rate=0.2)
        wizard.action_import()
        self.assertTrue(wizard.accepted)
        self.assertEqual((wizard.dataset_id.row_count, wizard.rows_rejected), (9, 1))
        self.assertIn("negative value", wizard.errors_html)

    def test_unmapped_required_field_is_checked_by_the_wizard(self):
        wizard = self._wizard(SPANISH_CSV, name="Unmapped")
        wizard.mapping_ids.filtered(lambda line: line.field_name == "sales").column_id = False
        with self.assertRaisesRegex(UserError, 'required field "sales"') as caught:
            wizard.action_validate()
        self.assertNotIn("--mapping", str(caught.exception))
        self.assertFalse(self.Dataset.search([("name", "=", "Unmapped")]))

    def test_unreadable_file_is_a_user_error(self):
        with self.assertRaisesRegex(UserError, "cannot be imported"):
            self._wizard(b"this is not a workbook", filename="ventas.xlsx")
        with self.assertRaises(UserError):
            self.Wizard.create({"filename": "x.csv"}).action_load()

    def _base(self):
        wizard = self._wizard(_csv([("2024-01-13", "A", 1), ("2024-01-14", "A", 2), ("2024-01-15", "A", 3)]), name="Base")
        wizard.action_import()
        return wizard.dataset_id

    def _against_base(self, base, policy):
        text = _csv([("2024-01-15", "A", 30), ("2024-01-16", "A", 4)])
        wizard = self._wizard(text, name="Base", base_dataset_id=base.id, duplicates=policy)
        wizard.action_import()
        return wizard

    def test_duplicates_against_base_skip(self):
        base = self._base()
        wizard = self._against_base(base, "skip")
        new = wizard.dataset_id
        self.assertEqual((new.version, new.parent_ids, new.row_count), (2, base, 4))
        self.assertEqual(new._read_dataframe().sort_values("date")["sales"].tolist(), [1.0, 2.0, 3.0, 4.0])
        self.assertIn("already in the base dataset", wizard.errors_html)
        self.assertIn('"name": "Base"', new.metadata_json)

    def test_duplicates_against_base_overwrite(self):
        base = self._base()
        new = self._against_base(base, "overwrite").dataset_id
        self.assertEqual(new.parent_ids, base)
        self.assertEqual(new._read_dataframe().sort_values("date")["sales"].tolist(), [1.0, 2.0, 30.0, 4.0])
        self.assertEqual(base._read_dataframe()["sales"].tolist(), [1.0, 2.0, 3.0], "the base version is unchanged")

    def test_duplicates_against_base_fail(self):
        base = self._base()
        wizard = self._against_base(base, "fail")
        self.assertFalse(wizard.accepted)
        self.assertFalse(wizard.dataset_id)
        self.assertIn("already exists in the base dataset", wizard.rejection_reason)
        self.assertEqual(self.Dataset.search([("name", "=", "Base")]), base)

    def test_retrain_now_queues_a_training_job(self):
        cron = self.env.ref("ai_train_model.ir_cron_ai_training_job_run")
        triggers = self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)])
        wizard = self._wizard(SPANISH_CSV, name="Retrain", retrain_now=True)
        wizard.action_import()
        job = wizard.training_job_id
        self.assertEqual((job.state, job.dataset_id), ("queued", wizard.dataset_id))
        self.assertEqual((job.target_col, job.series_cols), ("sales", "store"))
        self.assertEqual(self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)]), triggers + 1)

    def test_validate_dry_run_queues_nothing(self):
        jobs = self.env["ai.training.job"].search_count([])
        wizard = self._wizard(SPANISH_CSV, name="Dry", retrain_now=True)
        wizard.action_validate()
        self.assertTrue(wizard.accepted)
        self.assertEqual(self.env["ai.training.job"].search_count([]), jobs)
        self.assertFalse(self.Dataset.search([("name", "=", "Dry")]))

    def test_xlsx_sheet_selection(self):
        from openpyxl import Workbook

        book = Workbook()
        book.active.title = "Notas"
        book.active.append(["Hoja de ventas de enero"])
        sheet = book.create_sheet("Ventas")
        sheet.append(["fecha", "ventas"])
        sheet.append(["2024-01-13", 4])
        sheet.append(["2024-01-14", 5])
        buffer = io.BytesIO()
        book.save(buffer)
        wizard = self._wizard(buffer.getvalue(), filename="ventas.xlsx", name="Libro")
        self.assertTrue(wizard.is_xlsx)
        self.assertEqual(wizard.column_ids.mapped("name"), ["Hoja de ventas de enero"], "no padding columns")
        self.assertEqual(wizard.sheet_ids.mapped("name"), ["Notas", "Ventas"])
        wizard.sheet_id = wizard.sheet_ids.filtered(lambda s: s.name == "Ventas")
        wizard.action_load()
        self.assertEqual(self._mapping(wizard), {"date": "fecha", "sales": "ventas"})
        wizard.action_import()
        self.assertEqual(wizard.dataset_id.row_count, 2)

    def test_template_download_action(self):
        wizard = self.Wizard.create({"template": "sales"})
        action = wizard.with_context(template_format="xlsx").action_download_template()
        self.assertEqual(action["url"], "/ai_train_model/import/template/sales.xlsx")

    def test_analyst_imports_and_reader_cannot(self):
        analyst = new_test_user(self.env, "imp_analyst", groups="base.group_user,ai_train_model.group_ai_analyst")
        reader = new_test_user(self.env, "imp_reader", groups="base.group_user,ai_train_model.group_ai_user")
        wizard = self.Wizard.with_user(analyst).create(
            {"file": base64.b64encode(SPANISH_CSV.encode()), "filename": "ventas.csv", "retrain_now": True}
        )
        wizard.action_load()
        wizard.action_import()
        self.assertEqual(wizard.dataset_id.create_uid, analyst)
        self.assertEqual(wizard.training_job_id.state, "queued")
        with self.assertRaises(AccessError):
            self.Wizard.with_user(reader).create({"filename": "ventas.csv"})
