"""Forecasting models, their intervals, features and guard (the code behind ``project.utils.pipelines``)."""
