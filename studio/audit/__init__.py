"""Judging what a generator draws. quality.py: measures with a domain classifier (class histograms, mode
coverage, conditional accuracy, diversity). metrics.py with measures.py, features.py, inception.py and
sources.py: sample-based metrics (FID, KID, IS, precision/recall) over a feature extractor. Bias audits
belong here too. Results are plain numbers and arrays.
"""
