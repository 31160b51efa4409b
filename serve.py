"""Serve a trained model over HTTP: python serve.py ckpt_path=<run>/checkpoints/best.ckpt [port=8000]"""

from lightning_hydra_template.tasks.serve import main

if __name__ == "__main__":
    main()
