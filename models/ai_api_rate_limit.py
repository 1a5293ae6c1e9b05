import hashlib
import math
import time

from odoo import api, fields, models

#: Requests allowed per key and period, and the period in seconds (system parameters).
PARAM_LIMIT = "ai_train_model.api_rate_limit"
PARAM_PERIOD = "ai_train_model.api_rate_period"
DEFAULT_LIMIT = 120
DEFAULT_PERIOD = 60


def sliding_window(previous, current, elapsed, period, limit):
    """Decide one request of a sliding-window counter; return ``(allowed, retry_after)``.

    ``previous`` and ``current`` are the requests counted in the previous and
    the current fixed window (``current`` without this request), ``elapsed``
    the seconds since the current window began. The rate is estimated as
    ``previous * (1 - elapsed / period) + current``: the previous window's
    requests are assumed spread evenly, so the estimate slides smoothly
    instead of letting a client send ``2 * limit`` requests across a window
    boundary as a fixed window would. ``retry_after`` (whole seconds, at least
    1) is when one more request would fit if the client sends nothing else.
    """
    weight = max(0.0, 1.0 - elapsed / period)
    if previous * weight + current + 1 <= limit:
        return True, 0
    # Still in this window: previous * (1 - t / period) + current + 1 <= limit.
    if previous > 0 and current + 1 <= limit:
        t = period * (1.0 - (limit - current - 1) / previous)
        wait = t - elapsed
    else:
        # In the next window the current count becomes "previous":
        # current * (1 - t / period) + 1 <= limit.
        t = period * (1.0 - (limit - 1) / current) if current > 0 else 0.0
        wait = (period - elapsed) + max(0.0, t)
    return False, max(1, math.ceil(round(wait, 6)))  # round: 39.99999... seconds is 40


class AiApiRateLimit(models.Model):
    """Per-key request counters of the predictions API.

    Stored in the database rather than in the worker's memory: Odoo serves
    requests from several prefork workers (and often several servers), each
    with its own memory, so an in-process counter would let a key through
    ``workers x limit`` times per period and forget it whenever a worker is
    recycled. One row per key and fixed window, two windows kept per key
    (the sliding-window estimate needs the previous one). Keys are stored as
    SHA-256 digests, never in clear. Written through its own short cursor so
    that a hit is counted even when the request fails later, and so that the
    row lock is not held for the whole request.
    """

    _name = "ai.api.rate.limit"
    _description = "AI API rate-limit counter"
    _log_access = False

    key_hash = fields.Char(required=True, readonly=True)
    window_index = fields.Integer(required=True, readonly=True, help="Start of the fixed window, in periods since the epoch.")
    hits = fields.Integer(required=True, readonly=True, default=0)

    _sql_constraints = [
        ("key_window_uniq", "unique(key_hash, window_index)", "One counter per key and window."),
    ]

    @api.model
    def _hit(self, key, now=None):
        """Count one request of API key ``key``; return 0 when it is allowed,
        else the seconds to wait (the ``Retry-After`` value). A refused request
        is not counted, so a client that waits as told gets through."""
        params = self.env["ir.config_parameter"].sudo()
        limit = _positive_int(params.get_param(PARAM_LIMIT), DEFAULT_LIMIT)
        period = _positive_int(params.get_param(PARAM_PERIOD), DEFAULT_PERIOD)
        now = time.time() if now is None else now
        index = int(now // period)
        elapsed = now - index * period
        digest = hashlib.sha256(key.encode()).hexdigest()
        with self.env.registry.cursor() as cr:
            cr.execute(
                """
                INSERT INTO ai_api_rate_limit (key_hash, window_index, hits) VALUES (%s, %s, 1)
                ON CONFLICT (key_hash, window_index) DO UPDATE SET hits = ai_api_rate_limit.hits + 1
                RETURNING hits
                """,
                [digest, index],
            )
            current = cr.fetchone()[0] - 1
            cr.execute(
                'SELECT hits FROM ai_api_rate_limit WHERE key_hash = %s AND window_index = %s', [digest, index - 1]
            )
            row = cr.fetchone()
            allowed, retry_after = sliding_window(row[0] if row else 0, current, elapsed, period, limit)
            if not allowed:
                cr.execute(
                    'UPDATE ai_api_rate_limit SET hits = hits - 1 WHERE key_hash = %s AND window_index = %s',
                    [digest, index],
                )
            cr.execute('DELETE FROM ai_api_rate_limit WHERE key_hash = %s AND window_index < %s', [digest, index - 1])
            # A cursor of its own, committed now: see the class docstring.
            cr.commit()  # pylint: disable=invalid-commit
        return retry_after


def _positive_int(value, default):
    try:
        number = int(value)
    except (TypeError, ValueError):
        return default
    return number if number > 0 else default
