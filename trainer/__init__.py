"""Streaming pretraining on curated shards (GPT and BERT). Depends on schemas/, never on Beam.

Lands with the pretraining issue; the curation run's documents/ shards are its input.
"""
