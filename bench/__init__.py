"""Benchmarks (never timed assertions in tests): see bench/provision.py."""
