"""Evaluation helpers: translation/summary metrics and attention plots."""
