"""Duplicate detection logic: hashing and keep rules. Plain Python, no Beam (pipelines.transforms.dedup wires it)."""
