"""A folder of class folders (`root/<class>/<image>`), no CSV: the CSV datamodule's path, rows from the tree.

python train.py experiment=csv_finetune data=image_folder data.root=/data/pets
"""

import inspect
from pathlib import Path

from ..errors import DataError, MissingFileError
from .csv_annotations import Row, require_two_classes
from .csv_images import CSVImageDataModule
from .csv_splits import CSVSplits
from .folder_to_csv import folder_rows
from .image_files import image_suffixes


class FolderSplits(CSVSplits):
    """Seeded, stratified ratio splits of the images under `root`, one row per image.

    A row's "line" is its 1-based position in the sorted listing, its "CSV" the folder, so a bad
    image is reported as `<root> line N: <class>/<file>`.
    """

    def __init__(self, root: Path, val_ratio: float, test_ratio: float, split_seed: int) -> None:
        super().__init__(root, None, None, None, val_ratio, test_ratio, split_seed, {})

    def csv_files(self) -> list[Path]:
        return []  # no CSV: the cache key is the image files, whose paths carry their classes

    def _read_main(self, split_column: int | str | None = None) -> list[Row]:
        root = self.csv_path
        if not root.is_dir():
            raise MissingFileError(
                f"data.root={root} is not a folder; give the folder that holds one sub-folder per class."
            )
        listing = folder_rows(root)
        if not listing:
            raise DataError(
                f"No images ({', '.join(sorted(image_suffixes())[:8])}, ...) in class folders under "
                f"data.root={root}; "
                "expected <root>/<class>/<image>."
            )
        rows = [Row(str(root), n, file, label) for n, (file, label) in enumerate(listing, 1)]
        require_two_classes(rows, root)
        return rows


class ImageFolderDataModule(CSVImageDataModule):
    """`CSVImageDataModule` on a class-folder tree: the same checks, caches, storages and transforms.

    `options` are `CSVImageDataModule`'s keyword arguments other than those about CSV files and
    columns (`channels`, `image_size`, `storage`, `loader`, `augment`, ...).
    """

    def __init__(
        self,
        root: str,
        val_ratio: float = 0.1,
        test_ratio: float = 0.1,
        split_seed: int = 42,
        **options,
    ) -> None:
        root_path = Path(root).expanduser().resolve()
        super().__init__(str(root_path), image_dir=str(root_path), **options)
        self.splits = FolderSplits(root_path, val_ratio, test_ratio, split_seed)


def _signature() -> inspect.Signature:
    """`root` and the splitting ratios, then `CSVImageDataModule`'s other keyword arguments.

    What `inspect.signature` reports (Hydra's config check reads it), so that a config key the
    datamodule does not take is named before anything runs, as for every other `_target_`.
    """
    csv_only = {"self", "csv_path", "image_dir", "val_csv", "test_csv", "split_column", "file_column",
                "label_column", "header", "val_ratio", "test_ratio", "split_seed"}  # fmt: skip
    own = list(inspect.signature(ImageFolderDataModule.__init__).parameters.values())[1:-1]
    shared = [
        p
        for name, p in inspect.signature(CSVImageDataModule.__init__).parameters.items()
        if name not in csv_only
    ]
    return inspect.Signature([*own, *shared])


ImageFolderDataModule.__signature__ = _signature()
