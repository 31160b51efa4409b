"""Show which pixels a prediction rests on: python explain.py ckpt_path=<ckpt> input=<image|folder|csv>"""

from lightning_hydra_template.tasks.explain import main

if __name__ == "__main__":
    main()
