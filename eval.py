"""Evaluate a checkpoint: python eval.py ckpt_path=logs/train/runs/<run>/checkpoints/best.ckpt"""

from lightning_hydra_template.tasks.evaluate import main

if __name__ == "__main__":
    main()
