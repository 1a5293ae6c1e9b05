/** @odoo-module **/

import { registry } from "@web/core/registry";

/**
 * Opens a model version (the test passes its URL), sees the forecast chart
 * with its bands, picks another series through the search-as-you-type picker,
 * then opens the dashboard.
 */
registry.category("web_tour.tours").add("ai_train_model_forecast_chart", {
    test: true,
    steps: () => [
        {
            content: "The forecast chart is drawn on the model version",
            trigger: ".o_ai_forecast_chart canvas.o_ai_forecast_canvas",
            run() {
                const canvas = document.querySelector(".o_ai_forecast_chart canvas.o_ai_forecast_canvas");
                const chart = window.Chart && window.Chart.getChart(canvas);
                const labels = chart ? chart.data.datasets.map((d) => d.label) : [];
                // lo95, 95 % band, lo80, 80 % band, history, forecast.
                if (labels.length >= 6 && chart.data.datasets.some((d) => d.fill === "-1")) {
                    canvas.classList.add("o_ai_chart_checked");
                } else {
                    console.error(`forecast chart incomplete: ${JSON.stringify(labels)}`);
                }
            },
        },
        {
            content: "The chart has history, forecast and bands",
            trigger: "canvas.o_ai_chart_checked",
            run() {},
        },
        {
            content: "The backtest error by horizon is drawn",
            trigger: ".o_ai_forecast_metrics canvas",
            run() {
                const canvas = this.$anchor[0];
                const chart = window.Chart && window.Chart.getChart(canvas);
                // The artifact keeps the error by day: one line per candidate over D+1..D+h.
                const labels = chart ? chart.data.labels : [];
                if (chart && chart.config.type === "line" && labels[0] === "D+1" && chart.data.datasets.length >= 3) {
                    canvas.classList.add("o_ai_metrics_checked");
                } else {
                    console.error(`error-by-day chart incomplete: ${JSON.stringify(labels)}`);
                }
            },
        },
        {
            content: "The error by day is a line per candidate",
            trigger: "canvas.o_ai_metrics_checked",
            run() {},
        },
        {
            content: "Type in the series picker",
            trigger: ".o_ai_series_picker input",
            run: "text Beta",
        },
        {
            content: "Pick the first match",
            trigger: ".o_ai_series_list a.dropdown-item:not(.fw-bold)",
            run() {
                this.$anchor[0].dispatchEvent(new MouseEvent("mousedown", { bubbles: true, cancelable: true }));
            },
        },
        {
            content: "The chart now shows the picked series",
            trigger: ".o_ai_series_current strong:contains('Beta_series')",
            run() {},
        },
    ],
});

registry.category("web_tour.tours").add("ai_train_model_dashboard", {
    test: true,
    steps: () => [
        {
            content: "The dashboard shows the model family with its forecast",
            trigger: ".o_ai_forecast_dashboard .o_ai_dashboard_card .card-title:contains('Pageviews')",
            run() {},
        },
        {
            content: "Open the version from its card",
            trigger: ".o_ai_dashboard_card a:contains('Pageviews v1')",
        },
        {
            content: "The version form opens with its chart",
            trigger: ".o_form_view .o_ai_forecast_chart canvas",
            run() {},
        },
    ],
});
