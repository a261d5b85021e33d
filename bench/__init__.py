"""Benchmarks: mailroute's cost per email next to bare dramatiq on the same broker, in one run."""
