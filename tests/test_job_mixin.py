import threading
from datetime import timedelta

from odoo import SUPERUSER_ID, api, fields
from odoo.tests import TransactionCase, tagged

#: No chatter, no followers: the rows the test commits are the only ones it leaves to clean.
_QUIET = {"tracking_disable": True}


@tagged("post_install", "-at_install")
class TestJobClaimConcurrency(TransactionCase):
    """Two workers on two real database connections never take the same
    record, and neither fails with "could not serialize access" (Odoo's
    cursors run REPEATABLE READ). The jobs are committed for real, so the
    test deletes them itself at the end."""

    def setUp(self):
        super().setUp()
        self.job_ids = []
        self.addCleanup(self._delete_jobs)

    def _delete_jobs(self):
        if self.job_ids:
            with self.registry.cursor() as cr:
                cr.execute("DELETE FROM ai_training_job WHERE id IN %s", (tuple(self.job_ids),))

    def _queued_jobs(self, count):
        """``count`` queued jobs committed on their own connection, oldest first."""
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, _QUIET)
            Job = env["ai.training.job"]
            start = fields.Datetime.now() - timedelta(hours=1)
            jobs = Job.browse()
            for index in range(count):
                job = Job.create({"input_type": "file", "model_name": "race", "target_col": "y", "candidates": "naive"})
                job._engine().write({"state": "queued", "date_queued": start + timedelta(seconds=index)})
                jobs |= job
            self.job_ids += jobs.ids
            # commit happens when the block ends
            return jobs.ids

    def _worker(self, cr):
        return api.Environment(cr, SUPERUSER_ID, _QUIET)["ai.training.job"]

    def _states(self, ids):
        with self.registry.cursor() as cr:
            cr.execute("SELECT id, state, attempts FROM ai_training_job WHERE id IN %s ORDER BY id", (tuple(ids),))
            return {row[0]: (row[1], row[2]) for row in cr.fetchall()}

    def test_a_locked_job_is_skipped(self):
        first, second = self._queued_jobs(2)
        with self.registry.cursor() as cr_a, self.registry.cursor() as cr_b:
            claimed_a = self._worker(cr_a)._job_claim_next()
            claimed_a.flush_recordset()  # not committed: worker A still holds the row lock
            claimed_b = self._worker(cr_b)._job_claim_next()
            self.assertEqual((claimed_a.id, claimed_b.id), (first, second))
            self.assertFalse(self._worker(cr_b)._job_claim_next(), "nothing left for B")
        self.assertEqual(self._states([first, second]), {first: ("running", 1), second: ("running", 1)})

    def test_a_job_claimed_after_the_snapshot_is_skipped_without_error(self):
        first, second = self._queued_jobs(2)
        with self.registry.cursor() as cr_a, self.registry.cursor() as cr_b:
            cr_b.execute("SELECT count(*) FROM ai_training_job")  # B's snapshot: both jobs queued
            claimed_a = self._worker(cr_a)._job_claim_next()
            cr_a.commit()  # A's claim lands after B's snapshot
            # Locking `first` now would raise "could not serialize access" in B.
            claimed_b = self._worker(cr_b)._job_claim_next()
            self.assertEqual((claimed_a.id, claimed_b.id), (first, second))
            cr_b.execute("SELECT 1")  # B's transaction is still usable
            cr_b.commit()
        self.assertEqual(self._states([first, second]), {first: ("running", 1), second: ("running", 1)})

    def test_two_racing_workers_take_each_job_once(self):
        ids = self._queued_jobs(24)
        taken = {"a": [], "b": []}
        failures = []
        start = threading.Barrier(2)

        def work(name):
            try:
                with self.registry.cursor() as cr:
                    Job = self._worker(cr)
                    start.wait(timeout=30)
                    while True:
                        job = Job._job_claim_next()
                        if not job:
                            return
                        taken[name].append(job.id)
                        # a worker publishes its claim
                        cr.commit()  # pylint: disable=invalid-commit
            except Exception as exc:  # noqa: BLE001 - reported by the assertion below
                failures.append(repr(exc))

        threads = [threading.Thread(target=work, args=(name,)) for name in taken]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        self.assertEqual(failures, [])
        both = taken["a"] + taken["b"]
        self.assertEqual(sorted(both), sorted(ids), "every job taken exactly once")
        self.assertEqual(set(self._states(ids).values()), {("running", 1)})
