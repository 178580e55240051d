"""Blocklist snapshots from the Internet Archive and their parsers
(workflow/rules/blocklists.smk)."""
