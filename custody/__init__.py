"""Custody: governed custody of hotel guest records and CCTV footage."""

__version__ = "0.1.0"
