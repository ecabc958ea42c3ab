"""Judging what a generator draws: quality measures with a domain classifier (class histograms, mode
coverage, conditional accuracy, diversity) in quality.py; bias audits in bias.py (implicit associations,
fairness with fairlearn, de-biasing pairs; ``from studio.audit import bias``); metrics with feature
extractors (FID, KID, IS, precision/recall) belong here too. Results are plain numbers and arrays.
"""
