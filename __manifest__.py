# Copyright 2026 ai_train_model contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
{
    "name": "AI Train Model",
    "summary": "Versioned datasets, daily forecasting models trained in the "
    "background, signed model artifacts",
    "version": "17.0.1.0.0",
    "author": "ai_train_model contributors",
    "website": "https://github.com/ai-train-model/ai_train_model",
    "license": "LGPL-3",
    "category": "Productivity/Forecasting",
    "depends": ["base", "mail", "web"],
    "external_dependencies": {
        # PyPI distribution names: Odoo 17 looks the distribution up first.
        "python": [
            "numpy",
            "pandas",
            "pyarrow",
            "scipy",
            "scikit-learn",
            "statsmodels",
            "joblib",
            "threadpoolctl",
            "holidays",
            "matplotlib",
            "openpyxl",
            "google-analytics-data",
            "google-analytics-admin",
            "boto3",
        ],
    },
    "data": [
        "security/security.xml",
        "security/ir.model.access.csv",
        "views/view_dataset.xml",
        "views/view_trainer.xml",
        "views/view_model_version.xml",
        "views/view_model_metric.xml",
        "views/res_config_settings_views.xml",
        "wizards/import_csv_wizard_views.xml",
        "wizards/merge_dataset_wizard_views.xml",
        "wizards/register_dataset_wizard_views.xml",
        "views/view_credential.xml",
        "views/view_download.xml",
        "views/menus.xml",
        "views/ai_forecast_dashboard_views.xml",
        "data/ir_sequence_data.xml",
        "data/ir_cron_data.xml",
        "data/ir_cron_ga4_data.xml",
        "data/ir_cron_dataset_data.xml",
    ],
    "assets": {
        "web.assets_backend": [
            "ai_train_model/static/src/components/**/*",
        ],
        "web.assets_tests": [
            "ai_train_model/static/tests/tours/**/*",
        ],
    },
    "installable": True,
    "application": True,
    "development_status": "Alpha",
}
