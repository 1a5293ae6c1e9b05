from odoo import models

from .ai_forecast_dashboard import JOB_CHANNEL_PREFIX, job_channel


class IrWebsocket(models.AbstractModel):
    """Training progress travels on one bus channel per company: AI users
    listen to those of their companies and nobody can subscribe to others."""

    _inherit = "ir.websocket"

    def _build_bus_channel_list(self, channels):
        return super()._build_bus_channel_list(self._ai_job_channels(channels))

    def _ai_job_channels(self, channels):
        """``channels`` without job channels the client asked for, plus the
        job channels of the user's companies when the user is an AI user."""
        channels = [
            channel
            for channel in channels
            if not (isinstance(channel, str) and channel.startswith(JOB_CHANNEL_PREFIX))
        ]
        user = self.env.user
        if user and not user._is_public() and user.has_group("ai_train_model.group_ai_user"):
            channels.extend(job_channel(company_id) for company_id in user.company_ids.ids)
        return channels
