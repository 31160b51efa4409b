"""Write an annotations CSV from a folder-per-class image tree.

    python -m lightning_hydra_template.data.folder_to_csv /data/pets/images /data/pets/labels.csv

`/data/pets/images/<class>/<file>` becomes the row `<class>/<file>,<class>` under a `file,label` header.
"""

import argparse
import csv
import sys
from pathlib import Path

from .image_files import image_suffixes, is_image_name


def folder_rows(image_dir: Path) -> list[tuple[str, str]]:
    """`(relative file, class)` for every image one level below a class folder, sorted."""
    rows = []
    for class_dir in sorted(p for p in image_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for path in sorted(class_dir.rglob("*")):
            if path.is_file() and is_image_name(path):
                rows.append((path.relative_to(image_dir).as_posix(), class_dir.name))
    return rows


def write_csv(image_dir: Path, csv_path: Path) -> int:
    """Write the CSV; return how many rows it holds."""
    if not image_dir.is_dir():
        raise SystemExit(f"{image_dir} is not a folder; give the folder that holds one sub-folder per class.")
    rows = folder_rows(image_dir)
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
    return len(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("image_dir", type=Path, help="folder with one sub-folder of images per class")
    parser.add_argument("csv_path", type=Path, help="where to write the CSV")
    args = parser.parse_args(argv)
    count = write_csv(args.image_dir, args.csv_path)
    classes = len({label for _, label in folder_rows(args.image_dir)})
    print(f"Wrote {count} rows ({classes} classes) to {args.csv_path}", file=sys.stderr)
    train = "python train.py experiment=csv_cnn"
    print(f"Train: {train} data.csv_path={args.csv_path} data.image_dir={args.image_dir}", file=sys.stderr)


if __name__ == "__main__":
    main()
