"""Per-document text logic: normalisation, language ID and quality filters. Plain Python, no Beam."""
