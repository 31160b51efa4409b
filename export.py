"""Export a checkpoint: python export.py ckpt_path=<run>/checkpoints/best.ckpt format=onnx|torch"""

from lightning_hydra_template.tasks.export import main

if __name__ == "__main__":
    main()
