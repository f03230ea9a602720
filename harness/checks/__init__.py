"""Checks: pure functions from a lab, reference data and facts to findings. No I/O here.

Import what you need from its module (`harness.checks.catalog`, `.finding`, `.intent`, ...):
this package imports nothing itself, so reading one finding does not load every check.
"""
