"""The spam-trap archives and the RIR delegations that give relays a country
(workflow/rules/spamtrap.smk)."""
