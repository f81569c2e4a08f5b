"""custody: an evidence chain-of-custody archive."""

__version__ = "0.1.0"
