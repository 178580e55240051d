"""The analysis: the DuckDB runner of analysis/*.sql and the statistics of the effects,
displacement and the answer (workflow/rules/analysis.smk)."""
