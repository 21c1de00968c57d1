"""WildChat-50m: many open-weight chat models answering the WildChat-1M conversations."""

__version__ = "0.1.0"
