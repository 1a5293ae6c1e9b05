import contextlib
import logging
import time
import zlib
from datetime import timedelta

import psycopg2.errors

from odoo import _, api, fields, models, modules
from odoo.exceptions import UserError
from odoo.tools import config

from ..project import errors

_logger = logging.getLogger(__name__)


def _in_test_mode():
    """True while Odoo runs tests: then nothing may commit the test cursor."""
    return bool(config["test_enable"] or modules.module.current_test)


class AiJobMixin(models.AbstractModel):
    """Background work queued on records and run by ``ir.cron``.

    In the spirit of OCA ``queue_job``, without its runner: a model that
    inherits this mixin holds one job per record; users (or other code) queue
    the record, the model's cron takes queued records one by one and runs them.

    **Contract for a job model**::

        class AiNightlyPredict(models.Model):
            _name = "ai.nightly.predict"
            _inherit = ["ai.job.mixin"]
            _job_cron_xmlid = "ai_train_model.ir_cron_ai_nightly_predict"

            def _job_run(self):          # one claimed record, state "running"
                ...                      # the work; raise to fail
                self._job_progress(done, total)   # optional, commits
                self._job_log(_("..."))           # optional

    and a cron (``data/ir_cron_*.xml``) whose code is ``model._job_cron_run()``.

    **Fields** (all engine-owned: listed in :attr:`_job_fields`, which
    ``ai.protected.fields.mixin`` refuses to RPC writes): ``state`` (draft,
    queued, running, done, failed, cancelled; extend it with
    ``selection_add``, as ``ai.ga4.run`` adds retrying and stopped, and
    redefine only its ``default`` when records are created queued), ``progress``
    (percent), ``log`` (timestamped lines), ``attempts``, ``error_message``,
    ``date_queued``, ``date_started``, ``date_finished``, ``date_heartbeat``
    and ``date_not_before`` (retry backoff or a planned resume: the cron
    leaves the record alone until then).

    **Class attributes**: :attr:`_job_cron_xmlid` (the cron that runs the
    queue), :attr:`_job_batch_size` (records per cron call, then the cron
    re-triggers itself while work remains), :attr:`_job_max_attempts`,
    :attr:`_job_backoff_minutes` (first retry delay, doubled at each attempt),
    :attr:`_job_stale_minutes` (a running record whose worker is gone is
    requeued after this long without heartbeat), :attr:`_job_claimable_states`,
    :attr:`_job_retry_state` and :attr:`_job_param_prefix` (system parameters
    ``ai_train_model.<prefix>_stale_minutes`` / ``<prefix>_retry_minutes``
    override the two delays).

    **Methods to call**: :meth:`_job_queue` (queue and wake the cron up),
    :meth:`_job_cron_run` (the cron entry point), :meth:`_job_log`,
    :meth:`_job_progress`, :meth:`_job_progress_callback`,
    :meth:`_job_heartbeat`, :meth:`_job_done`, :meth:`_job_fail`,
    :meth:`_job_commit` (a no-op under tests), :meth:`_job_trigger_cron`,
    :meth:`_job_latest_ids` (the latest job of each parent record).

    **Hooks to override**: :meth:`_job_run` (required), :meth:`_job_claim_values`,
    :meth:`_job_is_retryable` (which exceptions are retried with backoff;
    default: everything but input errors), :meth:`_job_handle_error` (an
    error the model knows, e.g. a GA4 download error), :meth:`_job_internal_error_message`,
    :meth:`_job_on_failed` (a job failed for good: by default
    :meth:`_job_notify_failure`), :meth:`_job_notify_record` and
    :meth:`_job_notify_user` (where the failure activity goes; set
    :attr:`_job_notify_group` to turn notifications on).

    **How it is safe with several workers.** The claim reads candidates, then
    locks one row at a time with ``FOR NO KEY UPDATE SKIP LOCKED``: a row another
    worker holds is skipped, and a row another worker claimed and committed
    after this transaction's snapshot (Odoo runs REPEATABLE READ, where
    locking such a row raises "could not serialize access") is skipped too,
    inside a savepoint, without an error in the log. The claim is committed
    before the work starts, so the record shows as running. While it runs,
    the worker holds a PostgreSQL advisory lock on a dedicated connection;
    when a worker process dies PostgreSQL releases it, which is how
    :meth:`_job_requeue_orphans` tells a dead worker from a busy one.
    Progress and logs are committed as they come (outside tests); a failure
    rolls back to the last commit, then fails or requeues the record. A job
    must therefore be resumable and idempotent: run twice, it gives the same
    result.
    """

    _name = "ai.job.mixin"
    _description = "AI Background Job"
    _inherit = ["ai.protected.fields.mixin"]

    #: The engine-owned fields of every job (protected against RPC writes).
    _job_fields = (
        "state",
        "progress",
        "log",
        "attempts",
        "error_message",
        "date_queued",
        "date_started",
        "date_finished",
        "date_heartbeat",
        "date_not_before",
    )
    #: XML id of the cron running this queue ("module.xmlid").
    _job_cron_xmlid = None
    #: Records run per cron call before the cron re-triggers itself.
    _job_batch_size = 5
    #: Attempts (the first included) before a record fails for good.
    _job_max_attempts = 3
    #: Minutes before the first retry; doubled at each further attempt.
    _job_backoff_minutes = 5
    #: Minutes without heartbeat after which a running record whose worker
    #: holds no advisory lock any more is requeued (or failed).
    _job_stale_minutes = 10
    #: States the cron takes records from (when ``date_not_before`` is due).
    _job_claimable_states = ("queued",)
    #: State of a record waiting for its retry.
    _job_retry_state = "queued"
    #: Prefix of the system parameters overriding the delays.
    _job_param_prefix = "job"
    #: Group (XML id) one of whose members gets an activity when a record
    #: fails for good or stalls (:meth:`_job_notify_failure`); None: nobody.
    _job_notify_group = None

    state = fields.Selection(
        selection=[
            ("draft", "Draft"),
            ("queued", "Queued"),
            ("running", "Running"),
            ("done", "Done"),
            ("failed", "Failed"),
            ("cancelled", "Cancelled"),
        ],
        required=True,
        default="draft",
        readonly=True,
        copy=False,
        index=True,
    )
    progress = fields.Float(readonly=True, copy=False, help="Share of the work done, in percent.")
    log = fields.Text(readonly=True, copy=False)
    attempts = fields.Integer(readonly=True, copy=False, help="Attempts started so far.")
    error_message = fields.Text(readonly=True, copy=False)
    date_queued = fields.Datetime(string="Queued On", readonly=True, copy=False)
    date_started = fields.Datetime(string="Started On", readonly=True, copy=False)
    date_finished = fields.Datetime(string="Finished On", readonly=True, copy=False)
    date_heartbeat = fields.Datetime(
        string="Last Heartbeat",
        readonly=True,
        copy=False,
        groups="base.group_no_one",
        help="Last sign of life of the worker running the job.",
    )
    date_not_before = fields.Datetime(
        string="Next Attempt",
        readonly=True,
        copy=False,
        help="The scheduled action leaves the job alone until then (retry backoff, planned resume).",
    )
    duration = fields.Float(string="Duration (s)", compute="_compute_duration")

    @api.depends("date_started", "date_finished")
    def _compute_duration(self):
        now = fields.Datetime.now()
        for job in self:
            if job.date_started:
                job.duration = ((job.date_finished or now) - job.date_started).total_seconds()
            else:
                job.duration = 0.0

    def _protected_field_names(self):
        return super()._protected_field_names() | set(self._job_fields)

    # ------------------------------------------------------------------ queue

    def _job_queue(self, reset=False):
        """Queue these records now and wake the cron up. With ``reset``, the
        attempts and progress start again from zero (a manual retry). Callers
        check who may queue what; this only moves the state."""
        values = {
            "state": "queued",
            "date_queued": fields.Datetime.now(),
            "date_not_before": False,
            "error_message": False,
        }
        if reset:
            values.update(attempts=0, progress=0.0)
        self._engine().write(values)
        self._job_trigger_cron()
        return True

    @api.model
    def _job_trigger_cron(self, at=None):
        """Ask the cron to run (now, or at ``at``)."""
        cron = self._job_cron_xmlid and self.env.ref(self._job_cron_xmlid, raise_if_not_found=False)
        if cron:
            # sudo: whoever queues a job may wake the cron up without being
            # allowed to edit scheduled actions.
            cron.sudo()._trigger(at=at)

    # ------------------------------------------------------------------ cron

    @api.model
    def _job_cron_run(self, limit=None):
        """Run queued records; the cron entry point. Requeues orphans first,
        then claims and runs up to ``limit`` (default :attr:`_job_batch_size`)
        records, committing after each (outside tests); re-triggers the cron
        while due records remain. Never raises for a job-level failure."""
        self._job_requeue_orphans()
        self._job_commit()
        for _index in range(limit or self._job_batch_size):
            job = self._job_claim_next()
            if not job:
                return True
            with job._job_worker_lock():
                job._job_commit()  # publish the claim: the record shows as running
                job._job_execute()
            job._job_commit()
        if self._job_claim_candidates(limit=1):
            self._job_trigger_cron()
        return True

    def _job_execute(self):
        """Run the claimed record's hook; on error roll back to the last
        commit and fail or requeue it."""
        self.ensure_one()
        job = self.with_company(self.company_id) if "company_id" in self._fields and self.company_id else self
        # The cron runs as OdooBot: log lines and messages go out in the
        # language of the user who asked for the work.
        job = job.with_context(lang=self._job_lang())
        try:
            job._job_run()
        except Exception as exc:  # pylint: disable=broad-except
            self._job_rollback()
            job._job_handle_error(exc)
            return False
        if job.state == "running":
            job._job_done()
        return True

    @api.model
    def _job_claim_candidates(self, limit=20):
        """Ids of records the cron could take now, oldest first (no lock)."""
        self.env.flush_all()
        self.env.cr.execute(
            f"""
            SELECT id FROM "{self._table}"
             WHERE state IN %s AND (date_not_before IS NULL OR date_not_before <= %s)
             ORDER BY COALESCE(date_not_before, date_queued, create_date), id
             LIMIT %s
            """,
            (tuple(self._job_claimable_states), fields.Datetime.now(), limit),
        )
        return [row[0] for row in self.env.cr.fetchall()]

    @api.model
    def _job_lock(self, record_id, where, params=()):
        """Lock row ``record_id`` if it still matches ``where`` and no other
        transaction holds it; True when locked. A row changed by a transaction
        committed after this one's snapshot is skipped (False), not raised."""
        # NO KEY: rows that reference this one (a version's job_id) may still
        # be created meanwhile; two workers' NO KEY UPDATE locks still conflict.
        query = f'SELECT id FROM "{self._table}" WHERE id = %s AND ({where}) FOR NO KEY UPDATE SKIP LOCKED'
        try:
            with self.env.cr.savepoint(flush=False):
                self.env.cr.execute(query, (record_id, *params), log_exceptions=False)
                return bool(self.env.cr.fetchone())
        except psycopg2.errors.SerializationFailure:
            return False

    @api.model
    def _job_claim_next(self):
        """Take the next due record: lock it (skipping rows other workers
        hold), mark it running and return it (empty recordset when none)."""
        now = fields.Datetime.now()
        for record_id in self._job_claim_candidates():
            if self._job_lock(
                record_id,
                "state IN %s AND (date_not_before IS NULL OR date_not_before <= %s)",
                (tuple(self._job_claimable_states), now),
            ):
                job = self.browse(record_id)
                job._engine().write(job._job_claim_values())
                return job
        return self.browse()

    def _job_claim_values(self):
        """Values written when a worker takes the record (hook)."""
        self.ensure_one()
        now = fields.Datetime.now()
        return {
            "state": "running",
            "attempts": self.attempts + 1,
            "progress": 0.0,
            "error_message": False,
            "date_started": now,
            "date_finished": False,
            "date_heartbeat": now,
            "date_not_before": False,
        }

    @contextlib.contextmanager
    def _job_worker_lock(self):
        """Hold a session-level advisory lock on the record, on a dedicated
        connection, while this worker runs it (skipped under tests, where
        everything shares one transaction)."""
        self.ensure_one()
        if _in_test_mode():
            yield
            return
        key = self._job_lock_key()
        with self.pool.cursor() as lock_cr:
            lock_cr.execute("SELECT pg_advisory_lock(%s, %s)", key)
            try:
                yield
            finally:
                # Pooled connections outlive the cursor: release explicitly.
                lock_cr.execute("SELECT pg_advisory_unlock(%s, %s)", key)

    def _job_lock_key(self):
        """The two int4 keys of the record's advisory lock: the model, the id."""
        self.ensure_one()
        namespace = zlib.crc32(self._name.encode()) & 0x7FFFFFFF
        return (namespace, self.id)

    @api.model
    def _job_requeue_orphans(self):
        """Requeue (or fail, after :attr:`_job_max_attempts`) running records
        whose worker is gone: no worker holds their advisory lock and no
        heartbeat came for the stale delay. Returns them."""
        minutes = float(self._job_param("stale_minutes", self._job_stale_minutes))
        limit = fields.Datetime.now() - timedelta(minutes=minutes)
        self.env.flush_all()
        self.env.cr.execute(
            f"""SELECT id FROM "{self._table}"
                 WHERE state = 'running' AND (date_heartbeat IS NULL OR date_heartbeat < %s)""",
            (limit,),
        )
        orphans = []
        stalled = []
        for (record_id,) in self.env.cr.fetchall():
            if not self._job_lock(record_id, "state = 'running'"):
                continue
            # Free lock = no live worker. The transaction-level lock taken here
            # ends with this transaction.
            namespace, _id = self.browse(record_id)._job_lock_key()
            self.env.cr.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", (namespace, record_id))
            if self.env.cr.fetchone()[0]:
                orphans.append(record_id)
            else:
                stalled.append(record_id)
        # A live worker that sent no heartbeat for the stale delay is stuck
        # (a hung call, a lock wait): nobody can requeue it safely, someone
        # must look. Notified once, however many cron ticks see it.
        for job in self.browse(stalled):
            job._job_notify_failure(kind="stale")
        jobs = self.browse(orphans)
        for job in jobs:
            if job.attempts >= self._job_max_attempts:
                job._job_fail(
                    _(
                        "The worker running this job stopped responding %(count)s times; "
                        "the job is not retried automatically.",
                        count=job.attempts,
                    )
                )
            else:
                job._job_fail(_("The worker running this job stopped; job requeued."), retry=True)
        if jobs:
            _logger.warning("requeued or failed %d orphaned %s record(s): %s", len(jobs), self._name, jobs.ids)
        return jobs

    # ------------------------------------------------------------------ outcome

    def _job_run(self):
        """Do the work of this claimed (running) record. Raise to fail; leave
        the state running to end done, or set another state (e.g. a planned
        resume with ``date_not_before``)."""
        raise NotImplementedError(f"{self._name} must implement _job_run()")

    def _job_done(self, message=None):
        self.ensure_one()
        if message:
            self._job_log(message)
        self._engine().write(
            {
                "state": "done",
                "progress": 100.0,
                "date_finished": fields.Datetime.now(),
                "date_not_before": False,
                "error_message": False,
            }
        )

    def _job_handle_error(self, exc):
        """Turn an exception of :meth:`_job_run` into a failure or a retry
        (hook; called in the ``except`` block, after the rollback). Input
        errors carry a message written for the user; anything else is a
        defect or an outage: traceback to the server log only, a generic
        message to the user."""
        self.ensure_one()
        if isinstance(exc, (errors.InputError, UserError)):
            message = str(exc.args[0]) if exc.args else str(exc)
        else:
            _logger.exception("%s %s (id %s) failed", self._description, self.display_name, self.id)
            message = self._job_internal_error_message()
        self._job_fail(message, retry=self._job_is_retryable(exc))

    def _job_is_retryable(self, exc):
        """Whether ``exc`` may go away by itself (hook): input errors do not."""
        return not isinstance(exc, (errors.InputError, UserError))

    def _job_internal_error_message(self):
        """What the user reads after an unexpected error (hook)."""
        return _(
            "The job stopped because of an internal error. An administrator can find the details in the "
            "server log (%s).",
            self.display_name,
        )

    def _job_fail(self, message, retry=False):
        """Record a failure: with ``retry`` and attempts left, the record
        waits in :attr:`_job_retry_state` for a backoff delay; otherwise it
        fails for good and :meth:`_job_on_failed` runs."""
        self.ensure_one()
        if retry and self.attempts < self._job_max_attempts:
            base = float(self._job_param("retry_minutes", self._job_backoff_minutes))
            when = fields.Datetime.now() + timedelta(minutes=base * 2 ** max(self.attempts - 1, 0))
            self._engine().write({"state": self._job_retry_state, "date_not_before": when, "error_message": message})
            self._job_log(
                _(
                    "Attempt %(attempt)s failed: %(message)s Retrying after %(when)s.",
                    attempt=self.attempts,
                    message=message,
                    when=fields.Datetime.to_string(when),
                )
            )
            self._job_trigger_cron(at=when)
            return
        self._engine().write(
            {
                "state": "failed",
                "date_finished": fields.Datetime.now(),
                "date_not_before": False,
                "error_message": message,
            }
        )
        self._job_log(message)
        self._job_on_failed()

    def _job_on_failed(self):
        """The record failed for good (hook): notify, clean up."""
        return self._job_notify_failure()

    # ------------------------------------------------------------------ notification

    def _job_notify_record(self):
        """The record that carries the activity and the chatter message
        (hook): the job itself, or e.g. the GA4 download of a run."""
        return self

    def _job_notify_user(self):
        """Who gets the activity: the user who queued the job when they
        belong to :attr:`_job_notify_group`, else its first active internal
        member in the job's company (empty when there is none)."""
        self.ensure_one()
        group = self.env.ref(self._job_notify_group, raise_if_not_found=False)
        if not group:
            return self.env["res.users"]
        company = self["company_id"] if "company_id" in self._fields else self.env["res.company"]

        def eligible(user):
            return (
                user.active
                and not user.share
                and group in user.groups_id
                and (not company or company in user.company_ids)
            )

        queued_by = self.sudo().create_uid
        if queued_by and eligible(queued_by):
            return queued_by
        return group.sudo().users.sorted("id").filtered(eligible)[:1]

    def _job_notify_texts(self, kind):
        """``(summary, body)`` of the notification, in the context's language."""
        if kind == "stale":
            return (
                _("%s is not progressing", self.display_name),
                _(
                    "%(job)s has been running without a sign of life for more than %(minutes)s minutes "
                    "while its worker still holds it: check the server (logs, a hung call) and cancel or "
                    "restart it.",
                    job=self.display_name,
                    minutes=self._job_param("stale_minutes", self._job_stale_minutes),
                ),
            )
        return (
            _("%s failed", self.display_name),
            _("%(job)s failed: %(error)s", job=self.display_name, error=self.error_message or ""),
        )

    def _job_notify_failure(self, kind="failed"):
        """Tell the responsible group that this record failed for good
        (``kind`` "failed") or is stuck running ("stale"): one activity for
        one member (:meth:`_job_notify_user`) and one chatter message, on
        :meth:`_job_notify_record`. Never twice: while an activity of the
        same kind is open on the record, nothing new is posted (a job failed
        again after a manual retry, a stale job seen by every cron tick).
        Returns the new activity, if any."""
        self.ensure_one()
        activity_type = self.env.ref(f"ai_train_model.mail_activity_type_ai_job_{kind}", raise_if_not_found=False)
        record = self._job_notify_record()
        if not (self._job_notify_group and activity_type and record and "activity_ids" in record._fields):
            return self.env["mail.activity"]
        # sudo: the cron (or whoever queued the job) may notify without
        # rights on activities and messages of the record.
        record = record.sudo()
        Activity = self.env["mail.activity"].sudo()
        if Activity.search_count(
            [("res_model", "=", record._name), ("res_id", "=", record.id), ("activity_type_id", "=", activity_type.id)],
            limit=1,
        ):
            return Activity
        user = self._job_notify_user()
        summary, body = self.with_context(lang=user.lang or self.env.lang)._job_notify_texts(kind)
        record.message_post(body=body, subtype_xmlid="mail.mt_note")
        if not user:
            _logger.warning("%s: no one to notify in group %s", self.display_name, self._job_notify_group)
            return Activity
        return record.activity_schedule(activity_type_id=activity_type.id, summary=summary, note=body, user_id=user.id)

    # ------------------------------------------------------------------ helpers

    @api.model
    def _job_latest_ids(self, field_name, parents):
        """``{parent id: id of its latest job}`` for the ``parents`` that
        ``field_name`` (a many2one of this model) points to."""
        return {
            parent.id: last_id
            for parent, last_id in self._read_group([(field_name, "in", parents.ids)], [field_name], ["id:max"])
        }

    def _job_lang(self):
        """Language of the log lines and messages: the requesting user's."""
        self.ensure_one()
        return self.sudo().create_uid.lang or self.env.lang or "en_US"

    def _job_log(self, line):
        """Append a timestamped line to the log."""
        self.ensure_one()
        stamp = fields.Datetime.to_string(fields.Datetime.now())
        self._engine().write({"log": f"{self.log or ''}{stamp}  {line}\n"})

    def _job_heartbeat(self):
        """A sign of life, committed (outside tests)."""
        self._engine().write({"date_heartbeat": fields.Datetime.now()})
        self._job_commit()

    def _job_progress(self, done, total):
        """Write the progress (percent of ``done`` over ``total``) and a
        heartbeat, and commit them (outside tests)."""
        percent = float(int(100 * done / total)) if total else 100.0
        self._engine().write({"progress": percent, "date_heartbeat": fields.Datetime.now()})
        self._job_commit()

    def _job_progress_callback(self, every=1.0):
        """Return ``progress(done, total)`` for the core: calls
        :meth:`_job_progress` when the percentage moves, at most every
        ``every`` seconds (the last step always)."""
        state = {"percent": -1, "at": 0.0}

        def progress(done, total):
            percent = int(100 * done / total) if total else 100
            now = time.monotonic()
            if percent == state["percent"] or (now - state["at"] < every and percent < 100):
                return
            state.update(percent=percent, at=now)
            self._job_progress(done, total)

        return progress

    def _job_param(self, name, default):
        """System parameter ``ai_train_model.<prefix>_<name>``."""
        key = f"ai_train_model.{self._job_param_prefix}_{name}"
        return self.env["ir.config_parameter"].sudo().get_param(key, default)

    def _job_owns_transaction(self):
        """Whether the job may commit and roll back: not under tests (the
        test cursor must roll back at the end), nor when run by
        :meth:`_job_run_inline` (the caller owns the transaction)."""
        return not (_in_test_mode() or self.env.context.get("ai_job_inline"))

    def _job_commit(self):
        """Commit the current transaction, unless the job does not own it
        (tests, :meth:`_job_run_inline`)."""
        if self._job_owns_transaction():
            self.env.cr.commit()  # pylint: disable=invalid-commit

    def _job_rollback(self):
        """Back to the last commit after an error (only where the job owns
        the transaction; elsewhere the job's own savepoints protect data)."""
        if self._job_owns_transaction():
            self.env.cr.rollback()
        self.env.invalidate_all()

    def _job_run_inline(self):
        """Claim and run these queued records now, one by one, through the
        cron's own path (:meth:`_job_execute`) but inside the caller's
        transaction: nothing is committed or rolled back, so a caller that
        runs in a savepoint (demo data loaded during an install) keeps it.
        Returns the records that did not end done."""
        not_done = self.browse()
        for record in self.with_context(ai_job_inline=True):
            record._engine().write(record._job_claim_values())
            record._job_execute()
            if record.state != "done":
                not_done |= record
        return self.browse(not_done.ids)
