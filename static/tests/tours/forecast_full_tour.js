/** @odoo-module **/

import { registry } from "@web/core/registry";

/** A small long-format CSV: two pages, 120 days, a weekly pattern. */
function sampleCsv() {
    const lines = ["page,date,pageviews"];
    const start = Date.UTC(2024, 0, 1);
    for (const [page, level] of [["Tour_Alpha", 900], ["Tour_Beta", 300]]) {
        for (let day = 0; day < 120; day++) {
            const date = new Date(start + day * 86400000).toISOString().slice(0, 10);
            const value = Math.round(level * (1 + 0.3 * Math.sin((2 * Math.PI * day) / 7)) + ((day * 37) % 23));
            lines.push(`${page},${date},${value}`);
        }
    }
    return lines.join("\n") + "\n";
}

/**
 * An analyst imports a CSV through the wizard, opens the new dataset, presses
 * Train, checks the columns picked from the schema, chooses the forecast
 * target and queues the job. The test runs the cron, then the second tour.
 */
registry.category("web_tour.tours").add("ai_train_model_import_and_train", {
    test: true,
    steps: () => [
        {
            content: "Upload the CSV in the import wizard",
            trigger: ".o_field_widget[name=file]",
            run() {
                const input = this.$anchor[0].querySelector("input[type=file]");
                const transfer = new DataTransfer();
                transfer.items.add(new File([sampleCsv()], "tour_sales.csv", { type: "text/csv" }));
                input.files = transfer.files;
                input.dispatchEvent(new Event("change", { bubbles: true }));
            },
        },
        {
            content: "The file is loaded: go to the mapping",
            trigger: "footer button[name=action_load]",
            extra_trigger: ".o_field_widget[name=file] .o_clear_file_button",
        },
        {
            content: "Name the dataset",
            trigger: ".o_field_widget[name=name] input",
            extra_trigger: ".o_field_widget[name=mapping_ids]",
            run: "text Tour Sales",
        },
        {
            content: "Import",
            trigger: "footer button[name=action_import]",
        },
        {
            content: "Open the new dataset",
            trigger: "footer button[name=action_open_dataset]",
        },
        {
            content: "Train from the dataset",
            trigger: ".o_form_view button[name=action_train]",
            extra_trigger: ".o_breadcrumb:contains('Tour Sales')",
        },
        {
            content: "The columns are picked from the dataset's schema",
            trigger: ".o_field_widget[name=target_column_id] input",
            extra_trigger: ".o_field_widget[name=series_column_ids] .o_tag:contains('page')",
            run() {
                if (!this.$anchor[0].value.startsWith("pageviews")) {
                    console.error(`target not prefilled: ${this.$anchor[0].value}`);
                }
            },
        },
        {
            content: "Choose the forecast target",
            trigger: ".o_field_widget[name=target_id] input",
            run: "text Tour Target",
        },
        {
            content: "Pick it",
            trigger: ".o-autocomplete--dropdown-item a:contains('Tour Target')",
        },
        {
            content: "A shorter horizon",
            trigger: ".o_field_widget[name=horizon] input",
            run: "text 14",
        },
        {
            content: "Queue the job",
            trigger: ".o_form_view button[name=action_queue]",
        },
        {
            content: "The job is queued",
            // the Queue button is gone, Cancel stays (the status bar's current step is a disabled button)
            trigger: ".o_form_view:not(:has(button[name=action_queue])) button[name=action_cancel]",
            run() {},
        },
    ],
});

/** The analyst opens the trained version, sees its chart with bands and promotes it. */
registry.category("web_tour.tours").add("ai_train_model_promote", {
    test: true,
    steps: () => [
        {
            content: "The forecast chart of the trained version has its bands",
            trigger: ".o_ai_forecast_chart canvas.o_ai_forecast_canvas",
            run() {
                const canvas = this.$anchor[0];
                const chart = window.Chart && window.Chart.getChart(canvas);
                const bands = chart ? chart.data.datasets.filter((d) => d.fill === "-1") : [];
                if (bands.length >= 2) {
                    canvas.classList.add("o_ai_bands_checked");
                } else {
                    console.error("the forecast chart has no bands");
                }
            },
        },
        {
            content: "Bands drawn",
            trigger: "canvas.o_ai_bands_checked",
            run() {},
        },
        {
            content: "Promote to champion",
            trigger: ".o_form_view button[name=action_open_alias_wizard]:contains('Promote to Champion')",
        },
        {
            content: "Say why",
            trigger: ".o_field_widget[name=reason] textarea",
            run: "text Backtest beats seasonal naive",
        },
        {
            content: "Confirm",
            trigger: "footer button[name=action_confirm]",
        },
        {
            content: "The version is the champion",
            trigger: ".o_form_view .ribbon:contains('Champion')",
            run() {},
        },
    ],
});
