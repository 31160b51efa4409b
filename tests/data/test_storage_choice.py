import logging
from pathlib import Path

import pytest

from lightning_hydra_template.data.csv_images import CSVImageDataModule
from lightning_hydra_template.data.loader_options import LoaderOptions
from lightning_hydra_template.data.storage_choice import (
    affordable_processes,
    available_memory,
    cgroup_headroom,
    choose_storage,
    memory_cgroups,
)
from lightning_hydra_template.errors import ConfigError

from ..helpers import rgb_jpegs_with_names

GB = 10**9


def test_auto_keeps_memory_while_the_decoded_images_fit_the_budget_and_says_why(caplog):
    with caplog.at_level(logging.INFO):
        assert choose_storage("auto", 4 * GB, memory_fraction=0.5, available=10 * GB) == "memory"
        assert choose_storage("auto", 6 * GB, memory_fraction=0.5, available=10 * GB) == "stream"
    assert "chose memory: the decoded images (4.00 GB) fit data.memory_fraction=0.5" in caplog.text
    assert "chose stream: the decoded images (6.00 GB) exceed" in caplog.text


def test_an_explicit_storage_is_kept_and_a_wrong_one_named():
    assert choose_storage("stream", 1, 0.5, available=10 * GB) == "stream"
    assert choose_storage("memory", 100 * GB, 0.5, available=10 * GB) == "memory"
    with pytest.raises(ConfigError, match="data.storage must be one of memory, stream, auto"):
        choose_storage("disk", 1, 0.5)
    with pytest.raises(ConfigError, match="data.memory_fraction"):
        choose_storage("auto", 1, 0.0)


def test_available_memory_is_a_positive_number_of_bytes():
    assert available_memory() > 0


def test_the_datamodule_streams_what_does_not_fit_its_budget(tmp_path, caplog):
    csv_path = rgb_jpegs_with_names(tmp_path, per_class=4)
    options = {"cache_dir": str(tmp_path / "cache"), "image_size": 16, "val_ratio": 0.25, "test_ratio": 0.25}
    small = CSVImageDataModule(str(csv_path), **options)
    small.prepare_data()
    assert small.storage == "memory"  # 12 images of 16 px: kilobytes
    with caplog.at_level(logging.INFO):
        workers = LoaderOptions(num_workers=0)
        tight = CSVImageDataModule(str(csv_path), memory_fraction=1e-12, loader=workers, **options)
        tight.prepare_data()
    assert tight.storage == "stream" and "data.storage=auto chose stream" in caplog.text


def test_under_ddp_every_process_takes_the_first_processs_choice(tmp_path):
    from types import SimpleNamespace

    csv_path = rgb_jpegs_with_names(tmp_path, per_class=4)
    # The second process of a DDP run: it skipped prepare_data; the first one chose to stream.
    datamodule = CSVImageDataModule(
        str(csv_path), cache_dir=str(tmp_path / "cache"), image_size=16, val_ratio=0.25, test_ratio=0.25,
        loader=LoaderOptions(num_workers=0),
    )  # fmt: skip
    datamodule.trainer = SimpleNamespace(
        world_size=2, is_global_zero=False, strategy=SimpleNamespace(broadcast=lambda obj, src: "stream")
    )
    datamodule.setup("fit")
    assert datamodule.storage == "stream"  # though its own auto would have kept a few KB in memory


def test_a_batch_jobs_own_cgroup_and_those_above_it_are_where_its_limits_are():
    v1 = "9:name=systemd:/\n4:memory:/slurm/uid_0/job_7\n1:cpu:/\n0::/\n"
    assert memory_cgroups(v1)[:4] == [
        Path("/sys/fs/cgroup/memory/slurm/uid_0/job_7"),
        Path("/sys/fs/cgroup/memory/slurm/uid_0"),
        Path("/sys/fs/cgroup/memory/slurm"),
        Path("/sys/fs/cgroup/memory"),
    ]
    assert memory_cgroups("0::/user.slice/job\n") == [
        Path("/sys/fs/cgroup/user.slice/job"),
        Path("/sys/fs/cgroup/user.slice"),
        Path("/sys/fs/cgroup"),
    ]


@pytest.mark.parametrize(
    ("files", "inactive"),
    [
        ({"memory.max": "2000\n", "memory.current": "1500\n"}, "inactive_file"),
        ({"memory.limit_in_bytes": "2000\n", "memory.usage_in_bytes": "1500\n"}, "total_inactive_file"),
    ],
    ids=["v2", "v1"],
)
def test_a_cgroups_headroom_is_its_limit_less_its_usage_counting_inactive_page_cache_as_free(
    tmp_path, files, inactive
):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    assert cgroup_headroom(tmp_path) == 500
    (tmp_path / "memory.stat").write_text(f"anon 1200\n{inactive} 300\n")
    assert cgroup_headroom(tmp_path) == 800  # the kernel reclaims inactive file pages first


def test_a_cgroup_without_a_limit_sets_none(tmp_path):
    (tmp_path / "memory.max").write_text("max\n")  # v2's "no limit"
    (tmp_path / "memory.current").write_text("1500\n")
    assert cgroup_headroom(tmp_path) is None
    (tmp_path / "memory.limit_in_bytes").write_text(f"{2**63 - 4096}\n")  # v1's
    (tmp_path / "memory.usage_in_bytes").write_text("1500\n")
    assert cgroup_headroom(tmp_path) is None


def test_forked_processes_are_cut_to_what_the_memory_budget_holds_and_it_is_said(caplog):
    assert affordable_processes(4, 256 << 20, 0.5, "loader workers", available=8 * GB) == 4
    with caplog.at_level(logging.INFO):
        assert affordable_processes(4, 256 << 20, 0.5, "loader workers", available=GB) == 1
    assert "fits 1 loader workers of about 256 MB each, not 4: using 1." in caplog.text


def test_a_streamed_datamodule_under_a_tight_budget_decodes_in_the_main_process(tmp_path, caplog):
    csv_path = rgb_jpegs_with_names(tmp_path, per_class=4)
    options = {"cache_dir": str(tmp_path / "cache"), "image_size": 16, "val_ratio": 0.25, "test_ratio": 0.25}
    with caplog.at_level(logging.INFO):
        tight = CSVImageDataModule(str(csv_path), storage="stream", memory_fraction=1e-12, **options)
        tight.prepare_data()
    assert tight.loader_options["num_workers"] == 0 and "fits 0 loader workers" in caplog.text
    assert "fits 0 LitData writers" in caplog.text  # and one writer, the least LitData takes
    given = CSVImageDataModule(
        str(csv_path), storage="stream", memory_fraction=1e-12, loader=LoaderOptions(num_workers=2), **options
    )
    given.prepare_data()
    assert given.loader_options["num_workers"] == 2  # a number the user gives is kept
