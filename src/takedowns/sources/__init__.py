"""Retrieval: the source registry, the one download function, its politeness policy, the raw-file
ledger and the checks a served body must pass (workflow/rules/sources.smk)."""
