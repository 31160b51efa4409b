"""Write an annotations CSV from a folder-per-class image tree.

    python -m lightning_hydra_template.data.folder_to_csv /data/pets/images /data/pets/labels.csv

`/data/pets/images/<class>/<file>` becomes the row `images/<class>/<file>,<class>` under a `file,label`
header: paths are relative to the CSV's own folder, where training and predict look them up by default,
so the CSV works wherever it is given without `data.image_dir`. When the images are not below the
CSV's folder (a `..` path would be refused there), the paths are relative to the image folder and the
printed command names it as `data.image_dir`.
"""

import argparse
import csv
import sys
from pathlib import Path

from .image_files import image_suffixes, is_image_name


def folder_rows(image_dir: Path, base: Path | None = None) -> list[tuple[str, str]]:
    """`(file relative to base, class)` for every image below a class folder, sorted; base: image_dir."""
    base = base or image_dir
    rows = []
    for class_dir in sorted(p for p in image_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for path in sorted(class_dir.rglob("*")):
            if path.is_file() and is_image_name(path):
                rows.append((path.relative_to(base).as_posix(), class_dir.name))
    return rows


def paths_base(image_dir: Path, csv_path: Path) -> Path:
    """The folder the rows' paths are relative to: the CSV's own when the images are below it."""
    csv_dir = csv_path.parent.resolve()
    return csv_dir if image_dir.resolve().is_relative_to(csv_dir) else image_dir.resolve()


def write_csv(image_dir: Path, csv_path: Path) -> tuple[list[tuple[str, str]], Path]:
    """Write the CSV; return its rows and the folder their paths are relative to (`paths_base`)."""
    if not image_dir.is_dir():
        raise SystemExit(f"{image_dir} is not a folder; give the folder that holds one sub-folder per class.")
    base = paths_base(image_dir, csv_path)
    rows = folder_rows(image_dir.resolve(), base)
    if not rows:
        raise SystemExit(
            f"No images ({', '.join(sorted(image_suffixes())[:8])}, ...) in class folders under {image_dir}; "
            "expected <image_dir>/<class>/<file>."
        )
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    with open(csv_path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "label"])
        writer.writerows(rows)
    return rows, base


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("image_dir", type=Path, help="folder with one sub-folder of images per class")
    parser.add_argument("csv_path", type=Path, help="where to write the CSV")
    args = parser.parse_args(argv)
    rows, base = write_csv(args.image_dir, args.csv_path)
    classes = len({label for _, label in rows})
    print(
        f"Wrote {len(rows)} rows ({classes} classes) to {args.csv_path}, paths relative to {base}",
        file=sys.stderr,
    )
    train = f"python train.py experiment=csv_cnn data.csv_path={args.csv_path}"
    if base != args.csv_path.parent.resolve():  # the images are elsewhere: name their folder
        train += f" data.image_dir={base}"
    print(f"Train: {train}", file=sys.stderr)


if __name__ == "__main__":
    main()
