"""Parley: the chat platform's services, one package that runs in many roles."""

__version__ = "0.1.0"
