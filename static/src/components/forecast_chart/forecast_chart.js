/** @odoo-module **/

import { Component, onWillStart, onWillUnmount, onWillUpdateProps, useEffect, useRef, useState } from "@odoo/owl";
import { loadBundle } from "@web/core/assets";
import { cookie } from "@web/core/browser/cookie";
import { getColor, hexToRGBA } from "@web/core/colors/colors";
import { localization } from "@web/core/l10n/localization";
import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";
import { standardWidgetProps } from "@web/views/widgets/standard_widget_props";

/** A tick value in the user's number format (1.600 in Spanish, 1,600 in English). */
function formatTick(value) {
    const digits = Number.isInteger(value) ? 0 : 2;
    const [whole, decimals] = Math.abs(value).toFixed(digits).split(".");
    const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, localization.thousandsSep ?? ",");
    return `${value < 0 ? "-" : ""}${grouped}${decimals ? (localization.decimalPoint || ".") + decimals : ""}`;
}

/** Whether the color behind ``el`` is dark (the theme, not a cookie, decides). */
function isDarkBehind(el) {
    for (let node = el; node && node.nodeType === 1; node = node.parentElement) {
        const match = getComputedStyle(node).backgroundColor.match(/rgba?\(([\d.]+),\s*([\d.]+),\s*([\d.]+)(?:,\s*([\d.]+))?/);
        if (match && (match[4] === undefined || Number(match[4]) > 0.5)) {
            const [r, g, b] = match.slice(1, 4).map(Number);
            return 0.2126 * r + 0.7152 * g + 0.0722 * b < 128;
        }
    }
    return false;
}

/** Matches shown in the series picker: typing narrows them, so 1,000+ series stay fast. */
const MAX_MATCHES = 50;

/**
 * Forecast of one series: history, forecast with 80 % and 95 % bands, actuals
 * as they arrive, anomalies, and the backtest error by horizon per candidate.
 * All data comes from one call to ``ai.forecast.chart.get_chart_data``, which
 * checks the user's access to the record.
 */
export class ForecastChart extends Component {
    static template = "ai_train_model.ForecastChart";
    static props = {
        resModel: String,
        resId: { type: Number, optional: true },
        seriesKey: { type: String, optional: true },
        compact: { type: Boolean, optional: true },
    };

    setup() {
        this.orm = useService("orm");
        this.canvasRef = useRef("canvas");
        this.metricsRef = useRef("metrics");
        this.inputRef = useRef("seriesInput");
        this.state = useState({
            data: null,
            error: "",
            loading: true,
            query: "",
            pickerOpen: false,
            active: 0,
            metricScope: "series",
        });
        this.chart = null;
        this.metricsChart = null;
        onWillStart(async () => {
            await loadBundle("web.chartjs_lib");
            await this.load(this.props.resId, this.props.seriesKey);
        });
        onWillUpdateProps(async (next) => {
            if (next.resId !== this.props.resId || next.resModel !== this.props.resModel) {
                await this.load(next.resId, next.seriesKey, next.resModel);
            }
        });
        useEffect(
            () => this.renderCharts(),
            () => [this.state.data, this.state.metricScope, this.canvasRef.el, this.metricsRef.el]
        );
        onWillUnmount(() => this.destroyCharts());
    }

    // ------------------------------------------------------------------ data

    async load(resId, seriesKey, resModel = this.props.resModel) {
        if (!resId) {
            this.state.data = null;
            this.state.loading = false;
            return;
        }
        this.state.loading = true;
        try {
            this.state.data = await this.orm.call("ai.forecast.chart", "get_chart_data", [resModel, resId], {
                series_key: seriesKey || false,
            });
            this.state.error = "";
        } catch (error) {
            this.state.data = null;
            this.state.error = error?.data?.message || error?.message || _t("The chart could not be loaded.");
        } finally {
            this.state.loading = false;
        }
    }

    async selectSeries(key) {
        this.state.pickerOpen = false;
        this.state.query = "";
        await this.load(this.props.resId, key);
    }

    // ------------------------------------------------------------------ picker

    get matches() {
        const data = this.state.data;
        if (!data) {
            return [];
        }
        const query = this.state.query.trim().toLowerCase();
        const out = [];
        for (const key of data.series) {
            if (!query || key.toLowerCase().includes(query)) {
                out.push(key);
                if (out.length >= MAX_MATCHES) {
                    break;
                }
            }
        }
        return out;
    }

    get searchPlaceholder() {
        return _t("Search a series...");
    }

    get matchCountLabel() {
        const data = this.state.data;
        const shown = this.matches.length;
        if (!data || shown >= data.series.length) {
            return "";
        }
        return _t("First %(shown)s of %(total)s series: type to narrow the list.", {
            shown,
            total: data.series_total,
        });
    }

    onPickerInput(ev) {
        this.state.query = ev.target.value;
        this.state.active = 0;
        this.state.pickerOpen = true;
    }

    onPickerFocus() {
        this.state.pickerOpen = true;
    }

    onPickerBlur() {
        // Let a click on an option land before the list closes.
        setTimeout(() => {
            this.state.pickerOpen = false;
        }, 150);
    }

    onPickerKeydown(ev) {
        const matches = this.matches;
        if (ev.key === "ArrowDown") {
            this.state.pickerOpen = true;
            this.state.active = Math.min(this.state.active + 1, matches.length - 1);
            ev.preventDefault();
        } else if (ev.key === "ArrowUp") {
            this.state.active = Math.max(this.state.active - 1, 0);
            ev.preventDefault();
        } else if (ev.key === "Enter") {
            if (matches[this.state.active] !== undefined) {
                this.selectSeries(matches[this.state.active]);
            }
            ev.preventDefault();
        } else if (ev.key === "Escape") {
            this.state.pickerOpen = false;
        }
    }

    setMetricScope(scope) {
        this.state.metricScope = scope;
    }

    // ------------------------------------------------------------------ charts

    get colorScheme() {
        // Odoo's dark bundle is asked for by this cookie; the colors follow
        // what is really painted behind the chart.
        const el = this.canvasRef.el;
        if (el) {
            return isDarkBehind(el) ? "dark" : "light";
        }
        return cookie.get("color_scheme") === "dark" ? "dark" : "light";
    }

    get textColor() {
        const el = this.canvasRef.el || document.body;
        return getComputedStyle(el).color || "#666";
    }

    get gridColor() {
        return this.colorScheme === "dark" ? "rgba(255,255,255,0.12)" : "rgba(0,0,0,0.08)";
    }

    get hasMetrics() {
        return Boolean(this.state.data?.metrics?.models?.length);
    }

    get ensembleModels() {
        return (this.state.data?.metrics?.models || []).filter((m) => m.ensemble).map((m) => m.model);
    }

    destroyCharts() {
        this.chart?.destroy();
        this.metricsChart?.destroy();
        this.chart = null;
        this.metricsChart = null;
    }

    renderCharts() {
        this.renderForecast();
        this.renderMetrics();
    }

    renderForecast() {
        this.chart?.destroy();
        this.chart = null;
        const data = this.state.data;
        if (!data || !this.canvasRef.el) {
            return;
        }
        const scheme = this.colorScheme;
        const history = getColor(0, scheme);
        const forecast = getColor(1, scheme);
        const actual = getColor(4, scheme);
        const anomaly = getColor(6, scheme);
        const band = (key) => data.forecast.map((p) => ({ x: p.x, y: p[key] }));
        const hasBand = (key) => data.forecast.some((p) => p[key] !== null && p[key] !== undefined);
        const datasets = [];
        const bandLabels = { 80: _t("80% interval"), 95: _t("95% interval") };
        const addBand = (level, opacity) => {
            if (!hasBand(`lo${level}`) || !hasBand(`hi${level}`)) {
                return;
            }
            datasets.push({
                label: `lo${level}`,
                data: band(`lo${level}`),
                borderWidth: 0,
                pointRadius: 0,
                fill: false,
                bandPart: true,
            });
            datasets.push({
                label: bandLabels[level],
                data: band(`hi${level}`),
                borderWidth: 0,
                pointRadius: 0,
                backgroundColor: hexToRGBA(forecast, opacity),
                fill: "-1",
            });
        };
        addBand(95, 0.15);
        addBand(80, 0.3);
        datasets.push({
            label: _t("History"),
            data: data.history,
            borderColor: history,
            backgroundColor: history,
            borderWidth: 1.5,
            pointRadius: 0,
            fill: false,
        });
        datasets.push({
            label: _t("Forecast"),
            data: data.forecast.map((p) => ({ x: p.x, y: p.y })),
            borderColor: forecast,
            backgroundColor: forecast,
            borderDash: [6, 4],
            borderWidth: 2,
            pointRadius: 0,
            fill: false,
        });
        if (data.actuals.length) {
            datasets.push({
                label: _t("Actual"),
                data: data.actuals,
                type: "line",
                showLine: false,
                borderColor: actual,
                backgroundColor: actual,
                pointRadius: 3,
                fill: false,
            });
        }
        if (data.anomalies.length) {
            datasets.push({
                label: _t("Anomaly"),
                data: data.anomalies,
                type: "line",
                showLine: false,
                borderColor: anomaly,
                backgroundColor: anomaly,
                pointStyle: "triangle",
                pointRadius: 7,
                fill: false,
            });
        }
        const text = this.textColor;
        this.chart = new Chart(this.canvasRef.el, {
            type: "line",
            data: { datasets },
            options: {
                animation: false,
                maintainAspectRatio: false,
                parsing: true,
                normalized: true,
                spanGaps: true,
                interaction: { mode: "nearest", axis: "x", intersect: false },
                scales: {
                    x: {
                        type: "time",
                        time: { tooltipFormat: "DD", minUnit: "day" },
                        ticks: { color: text, maxRotation: 0, autoSkip: true },
                        grid: { color: this.gridColor },
                    },
                    y: {
                        beginAtZero: false,
                        ticks: { color: text, callback: formatTick },
                        grid: { color: this.gridColor },
                    },
                },
                plugins: {
                    legend: {
                        labels: { color: text, filter: (item, chartData) => !chartData.datasets[item.datasetIndex].bandPart },
                    },
                    tooltip: {
                        filter: (item) => !item.dataset.bandPart,
                    },
                },
            },
        });
    }

    renderMetrics() {
        this.metricsChart?.destroy();
        this.metricsChart = null;
        const metrics = this.state.data?.metrics;
        if (!metrics || !metrics.models.length || !this.metricsRef.el) {
            return;
        }
        const scheme = this.colorScheme;
        const scope = this.state.metricScope === "series" ? "series" : "overall";
        const models = metrics.models.slice(0, 10);
        // Error by horizon day when the artifact keeps it: one line per candidate.
        const byDay = Boolean(metrics.days?.length);
        const labels = byDay ? metrics.days.map((d) => `D+${d}`) : metrics.buckets;
        const datasets = models.map((m, index) => {
            const label = m.chosen ? _t("%s (chosen)", m.model) : m.model;
            const color = getColor(index, scheme);
            if (byDay) {
                return {
                    label,
                    data: m[`${scope}_days`] || [],
                    borderColor: m.chosen ? color : hexToRGBA(color, 0.55),
                    backgroundColor: color,
                    borderWidth: m.chosen ? 3 : 1.5,
                    borderDash: m.ensemble && !m.chosen ? [4, 3] : [],
                    pointRadius: m.chosen ? 2 : 0,
                    spanGaps: true,
                    order: m.chosen ? 0 : 1,
                };
            }
            return {
                label,
                data: metrics.buckets.map((b) => (m[scope][b] === undefined ? null : m[scope][b])),
                backgroundColor: hexToRGBA(color, m.chosen ? 1 : 0.6),
                borderColor: color,
                borderWidth: m.chosen ? 2 : 1,
            };
        });
        const text = this.textColor;
        this.metricsChart = new Chart(this.metricsRef.el, {
            type: byDay ? "line" : "bar",
            data: { labels, datasets },
            options: {
                animation: false,
                maintainAspectRatio: false,
                scales: {
                    x: {
                        ticks: { color: text },
                        grid: { color: this.gridColor },
                        title: { display: true, text: _t("Horizon"), color: text },
                    },
                    y: {
                        beginAtZero: true,
                        ticks: { color: text, callback: formatTick },
                        grid: { color: this.gridColor },
                        title: { display: true, text: byDay ? metrics.days_metric : metrics.metric, color: text },
                    },
                },
                plugins: { legend: { labels: { color: text } } },
            },
        });
    }
}

/** The chart as a form widget: ``<widget name="ai_forecast_chart"/>``. */
export class ForecastChartWidget extends Component {
    static template = "ai_train_model.ForecastChartWidget";
    static components = { ForecastChart };
    static props = { ...standardWidgetProps };
}

export const forecastChartWidget = {
    component: ForecastChartWidget,
};

registry.category("view_widgets").add("ai_forecast_chart", forecastChartWidget);
