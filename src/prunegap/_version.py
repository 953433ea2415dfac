"""prunegap's version: its major.minor part keys every results folder (CHANGELOG.md)."""

__version__ = "0.2.0"
