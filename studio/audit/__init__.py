"""Judging what a generator draws. quality.py: measures with a domain classifier (class histograms, mode
coverage, conditional accuracy, diversity). metrics.py with measures.py, features.py, inception.py and
sources.py: sample-based metrics (FID, KID, IS, precision/recall) over a feature extractor. bias.py: bias
audits (implicit associations, fairness with fairlearn, de-biasing pairs; ``from studio.audit import
bias``). Results are plain numbers and arrays.
"""
