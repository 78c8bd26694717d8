"""Evaluation: perplexity and bits per character of a language-model run
(`language_model.evaluate_run`), translation/summary metrics
(`translation_metrics`), and attention plots (`attention_plot`)."""
