"""Evaluation: perplexity and bits per character of a language model
(`language_model`), scores of a translator (`translation`,
`translation_metrics`), and attention plots (`attention_plot`)."""
