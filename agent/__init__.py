"""Host side of the O2CB storage console: plain Python, never Django."""

__version__ = "0.1.0"
