"""Benchmarks of autoticket: traffic generator, replay and live HTTP measurements.

Run from the repository root: `autoticket bench --output bench/results.json [--quick]`.
"""
