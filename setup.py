"""The compiled parts, both optional: where no C compiler is at hand the package installs without
them and the same results come from slower paths.

- filters._splitwords: the per-text loop of the English word splitter (without it, filters.words
  runs the same loop in Python: the same words in about 1.3 times the CPU time).
- filters._wordfacts: the facts of each new word for the filters' word columns (without it, numpy and
  Python work them out: the same values).
- filters._repetition: the n-gram rules of Gopher's repetition filter (without it, numpy gives the
  same answers).
- dedup._minhash: the MinHash signature (without it, numpy: the same values).
- filters._fasttext_lid: fastText's prediction from remembered token rows (without it, the fastText
  library predicts: the same labels and probabilities). Products and sums must not be fused into
  one rounding, or probabilities would differ from fastText's in the last place.
"""

from setuptools import Extension, setup

setup(ext_modules=[
    Extension("filters._splitwords", ["filters/_splitwords.c"], optional=True),
    Extension("filters._repetition", ["filters/_repetition.c"], optional=True),
    Extension("filters._wordfacts", ["filters/_wordfacts.c"], optional=True),
    Extension("dedup._minhash", ["dedup/_minhash.c"], optional=True),
    Extension("filters._fasttext_lid", ["filters/_fasttext_lid.c"], extra_compile_args=["-ffp-contract=off"],
              optional=True),
])
