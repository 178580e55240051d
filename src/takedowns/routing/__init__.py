"""RouteViews and RIPE RIS: listings, the MRT framing walk and its normalization
(workflow/rules/routing.smk)."""
