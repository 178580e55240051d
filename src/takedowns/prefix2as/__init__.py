"""CAIDA prefix-to-AS tables and who held an address on a day (workflow/rules/prefix2as.smk)."""
