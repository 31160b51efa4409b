"""The tasks: train, evaluate, predict, export and serve. Each takes a config and returns its results."""
