import pytest
import torch
from hydra.utils import instantiate

from lightning_hydra_template.models.cnn import CNN
from lightning_hydra_template.models.lstm import RowLSTM
from lightning_hydra_template.models.mlp import MLP

from ..helpers import config_options

SHAPES = [(1, 28, 10), (3, 32, 5), (1, 16, 2)]  # (channels, image size, classes)


@pytest.mark.parametrize(("channels", "size", "classes"), SHAPES)
@pytest.mark.parametrize("model", config_options("model"))
def test_every_model_config_maps_any_image_shape_to_class_logits(
    compose_config, model, channels, size, classes
):
    """Every network in configs/model/, yours included once its config is there."""
    shape = [f"data.channels={channels}", f"data.image_size={size}", f"data.num_classes={classes}"]
    net_config = compose_config([f"model={model}", *shape]).model.net
    if "weights" in net_config:  # pretrained networks: their architecture, without a download
        net_config.weights = None
    net = instantiate(net_config)
    assert net(torch.randn(4, channels, size, size)).shape == (4, classes)


def test_mlp_defaults_are_the_quickstart_network():
    linears = [m for m in MLP(1, 28, 10).modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(784, 512), (512, 512), (512, 10)]


def test_cnn_with_too_many_blocks_for_the_image_says_what_to_change():
    with pytest.raises(ValueError, match="model.net.channels"):
        CNN(1, 8, 10, channels=[8, 8, 8, 8])


def test_lstm_reads_rows_as_time_steps():
    net = RowLSTM(1, 28, 10, hidden_size=8, num_layers=1)
    assert net.lstm.input_size == 28
    # Changing only the last row changes the output of a unidirectional LSTM read top to bottom.
    images = torch.zeros(1, 1, 28, 28)
    changed = images.clone()
    changed[..., -1, :] = 1.0
    assert not torch.allclose(net(images), net(changed))
