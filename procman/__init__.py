"""procman: a process manager for Procfile-based applications."""

__version__ = "0.1.0"
