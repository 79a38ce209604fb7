"""dnlint: a static analyzer and linter for Linux host firewalls, Docker hosts first."""

__version__ = "0.1.0"
