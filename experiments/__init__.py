"""Experiments: one module per figure, installed as ``rnnntk.experiments``."""
