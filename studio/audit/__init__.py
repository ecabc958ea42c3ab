"""Judging what a generator draws: quality measures with a domain classifier (class histograms, mode
coverage, conditional accuracy, diversity) in quality.py; metrics with feature extractors (FID, KID,
IS, precision/recall) and bias audits belong here too. Results are plain numbers and arrays.
"""
