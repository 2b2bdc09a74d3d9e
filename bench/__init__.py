"""Benchmarks behind `make bench`; each prints its figures beside its target."""
