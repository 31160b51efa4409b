"""Train a model: python train.py experiment=cnn (see README.md)."""

from lightning_hydra_template.tasks.train import main

if __name__ == "__main__":
    main()
