"""Building blocks of the forecasting pipeline (data, features, models, evaluation)."""
