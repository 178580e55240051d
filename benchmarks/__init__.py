"""Ratio benchmarks against peer tools on the same input (``make bench``)."""
