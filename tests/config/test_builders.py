"""builders: objects from config; `num_classes` and `class_names` take one route, data -> model."""

from lightning_hydra_template.config.builders import build_datamodule, build_model


def test_a_csvs_classes_fill_the_config_once_and_reach_the_model(compose_config):
    cfg = compose_config(["data=csv_images", "model=mlp"])
    assert cfg.data.class_names is None and cfg.data.num_classes is None

    datamodule = build_datamodule(cfg)
    model = build_model(cfg)

    assert list(cfg.data.class_names) == datamodule.class_names == ["cat", "dog", "fox"]
    assert model.class_names == model.hparams.class_names == ["cat", "dog", "fox"]
    assert model.hparams.num_classes == cfg.data.num_classes == 3


def test_class_names_given_in_the_data_config_name_the_models_classes(compose_config):
    names = [f"c{i}" for i in range(10)]
    cfg = compose_config(["model=mlp", f"data.class_names=[{','.join(names)}]"])

    datamodule = build_datamodule(cfg)
    model = build_model(cfg)

    assert datamodule.class_names == model.class_names == model.hparams.class_names == names


def test_fashion_mnists_config_holds_its_class_names(compose_config):
    cfg = compose_config([])
    assert cfg.data.class_names[0] == "T-shirt/top" and len(cfg.data.class_names) == cfg.data.num_classes
