"""Audits of what a model draws: quality measures, sample-based metrics (FID/KID/IS/PR) and their feature extractors."""
