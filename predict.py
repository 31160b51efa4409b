"""Classify new images: python predict.py ckpt_path=<run>/checkpoints/best.ckpt input=<image|folder|csv>"""

from lightning_hydra_template.tasks.predict import main

if __name__ == "__main__":
    main()
