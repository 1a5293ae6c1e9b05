/** @odoo-module **/

import { Component, onWillStart, onWillUnmount, useState } from "@odoo/owl";
import { _t } from "@web/core/l10n/translation";
import { formatDate, formatDateTime, deserializeDate, deserializeDateTime } from "@web/core/l10n/dates";
import { formatFloat } from "@web/core/utils/numbers";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";

const FINISHED = new Set(["done", "failed", "cancelled"]);

/**
 * Landing page of the AI Forecasting app: one card per model family (per
 * forecast target once targets exist) and the training jobs running now,
 * whose progress arrives through the bus (no reload).
 */
export class ForecastDashboard extends Component {
    static template = "ai_train_model.ForecastDashboard";
    static props = ["*"];

    setup() {
        this.orm = useService("orm");
        this.action = useService("action");
        // bus_service is declared "async: true", which useService() cannot proxy in Odoo 17.
        this.busService = this.env.services.bus_service;
        this.state = useState({ data: null, jobs: [], loading: true });
        this.reloadTimer = null;
        this.onBusNotification = this.onBusNotification.bind(this);
        onWillStart(async () => {
            await this.load();
            for (const channel of this.state.data.bus_channels) {
                this.busService.addChannel(channel);
            }
            this.busService.addEventListener("notification", this.onBusNotification);
        });
        onWillUnmount(() => {
            this.busService.removeEventListener("notification", this.onBusNotification);
            clearTimeout(this.reloadTimer);
        });
    }

    async load() {
        const data = await this.orm.call("ai.forecast.dashboard", "get_dashboard_data", []);
        this.state.data = data;
        this.state.jobs = data.jobs;
        this.state.loading = false;
    }

    onBusNotification({ detail: notifications }) {
        const type = this.state.data?.bus_type;
        let finished = false;
        for (const { type: kind, payload } of notifications) {
            if (kind !== type) {
                continue;
            }
            const index = this.state.jobs.findIndex((job) => job.id === payload.id);
            if (FINISHED.has(payload.state)) {
                if (index >= 0) {
                    this.state.jobs.splice(index, 1);
                }
                finished = true;
            } else if (index >= 0) {
                Object.assign(this.state.jobs[index], payload);
            } else {
                this.state.jobs.push({ ...payload });
            }
        }
        if (finished) {
            // A finished job changes the cards (new version, failed training): refresh once.
            clearTimeout(this.reloadTimer);
            this.reloadTimer = setTimeout(() => this.load(), 500);
        }
    }

    // ------------------------------------------------------------------ format

    formatNumber(value, digits = 0) {
        return formatFloat(value || 0, { digits: [16, digits] });
    }

    formatAccuracy(accuracy) {
        if (!accuracy) {
            return "";
        }
        if (accuracy.kind === "live") {
            return `${formatFloat(100 * accuracy.value, { digits: [16, 1] })} %`;
        }
        return formatFloat(accuracy.value, { digits: [16, 3] });
    }

    formatDate(value) {
        return value ? formatDate(deserializeDate(value)) : "";
    }

    formatDateTime(value) {
        return value ? formatDateTime(deserializeDateTime(value)) : "";
    }

    stateClass(state) {
        return (
            {
                done: "text-bg-success",
                active: "text-bg-success",
                failed: "text-bg-danger",
                running: "text-bg-info",
                retrying: "text-bg-warning",
                stopped: "text-bg-warning",
                queued: "text-bg-secondary",
                draft: "text-bg-secondary",
            }[state] || "text-bg-light"
        );
    }

    get emptyHelp() {
        return _t("No model yet. Import a file or download GA4 data, then train a model on the dataset.");
    }

    // ------------------------------------------------------------------ navigation

    openRecord(resModel, resId) {
        this.action.doAction({
            type: "ir.actions.act_window",
            res_model: resModel,
            res_id: resId,
            views: [[false, "form"]],
            target: "current",
        });
    }

    openAction(xmlId) {
        this.action.doAction(xmlId);
    }
}

registry.category("actions").add("ai_train_model.forecast_dashboard", ForecastDashboard);
