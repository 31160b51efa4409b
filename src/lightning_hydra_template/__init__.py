"""Image classification template: PyTorch Lightning trains, Hydra configures.

Nothing heavy is imported here, so `python train.py --help` stays fast.
"""
