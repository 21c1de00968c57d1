"""Similarity and style metrics shared by the lm-eval task pack and the analyses.

- :mod:`~wildchat50m.metrics.rouge`: ROUGE-1 and ROUGE-L F1, numerically equal to
  ``rouge-score``'s, with every text tokenized and stemmed once for many-to-many comparisons.
- :mod:`~wildchat50m.metrics.meteor`: METEOR (Banerjee and Lavie), reporting which matching
  stages ran.
- :mod:`~wildchat50m.metrics.style`: markdown style features and their proportional frequency
  (Table 3 of the paper).

The modules import their optional libraries (``rapidfuzz``, ``nltk``, ``markdown``; the
``analysis`` or ``eval`` extra) lazily.
"""
