"""Takedowns: the 2007-2008 bulletproof-hosting takedowns, from public archives."""

__version__ = "0.1.0"
