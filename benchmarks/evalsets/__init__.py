"""Evaluation sets built at run time from the labelled data in the store (no data is committed)."""
