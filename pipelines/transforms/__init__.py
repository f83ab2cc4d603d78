"""Beam wiring: DoFns and composite PTransforms over the pure logic in filters/, dedup/ and pipelines/sources/."""
