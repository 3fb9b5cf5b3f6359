"""Offline commands: classify, train, evaluate, datasets."""
