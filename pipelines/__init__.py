"""Beam pipelines: curation (`python -m pipelines.curate`) and the stages it wires together."""
