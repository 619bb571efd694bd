"""Data pipelines: `imdb` (IMDB reviews -> sparse bag of words) and `matrix` (low-rank factorization data).

Kept import-free so `import overfit.data.text` (predict-time preprocessing) does not pull in Lightning.
"""
