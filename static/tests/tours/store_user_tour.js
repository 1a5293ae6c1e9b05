/** @odoo-module **/

import { registry } from "@web/core/registry";

/**
 * A store-level AI User (issue 8): the predictions list and the forecast
 * chart show only the series assigned to them ("page 1" of three).
 */
function onlyAssigned(selector, assigned) {
    const texts = [...document.querySelectorAll(selector)].map((el) => el.textContent.trim());
    const others = texts.filter((text) => !text.includes(assigned));
    if (!texts.length || others.length) {
        console.error(`expected only ${assigned}, got ${JSON.stringify(texts)}`);
    }
}

registry.category("web_tour.tours").add("ai_train_model_store_predictions", {
    test: true,
    steps: () => [
        {
            content: "The predictions list shows the assigned series",
            trigger: ".o_list_view .o_data_row td:contains('Page 1')",
            run() {
                onlyAssigned(".o_list_view .o_data_row td[name='series_label']", "Page 1");
            },
        },
    ],
});

registry.category("web_tour.tours").add("ai_train_model_store_chart", {
    test: true,
    steps: () => [
        {
            content: "The target's chart opens on the assigned series",
            trigger: ".o_ai_series_current strong:contains('page 1')",
            run() {},
        },
        {
            content: "Look for every series in the picker",
            trigger: ".o_ai_series_picker input",
            run: "text page",
        },
        {
            content: "The picker lists the assigned series only",
            trigger: ".o_ai_series_list a.dropdown-item:contains('page 1')",
            run() {
                onlyAssigned(".o_ai_series_list a.dropdown-item", "page 1");
            },
        },
    ],
});
