"""Providers: models behind the Detector (and later Classifier, Analyzer, Embedder) ports."""
