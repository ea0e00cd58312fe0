"""Load samples with their natural loaders (run in a subprocess by the proof test).

Usage: python load_samples.py LOADER PATH...  Errors are expected (many samples are
broken on purpose after their payload) and ignored; the markers are what count.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import pickle
import sys
import warnings
import zipfile


def load(loader: str, path: str) -> None:
    if loader == "pickle":
        with open(path, "rb") as fh:
            pickle.load(fh)
    elif loader == "pickle-all":
        with open(path, "rb") as fh:
            while fh.peek(1):
                pickle.load(fh)
    elif loader in ("gzip", "bz2", "xz"):
        opener = {"gzip": gzip.open, "bz2": bz2.open, "xz": lzma.open}[loader]
        with opener(path, "rb") as fh:
            pickle.load(fh)
    elif loader == "torch":
        import torch

        torch.load(path, weights_only=False)
    elif loader == "joblib":
        import joblib

        joblib.load(path)
    elif loader == "numpy":
        import numpy as np

        loaded = np.load(path, allow_pickle=True)
        if hasattr(loaded, "files"):
            for name in loaded.files:
                loaded[name]
    elif loader == "zip":
        with zipfile.ZipFile(path) as outer:
            for name in outer.namelist():
                with zipfile.ZipFile(io.BytesIO(outer.read(name))) as inner:
                    for member in inner.namelist():
                        pickle.loads(inner.read(member))
    elif loader == "7z":
        import py7zr
        from py7zr.io import BytesIOFactory

        factory = BytesIOFactory(1 << 24)
        with py7zr.SevenZipFile(path) as z:
            z.extract(targets=z.getnames(), factory=factory)
        for product in factory.products.values():
            product.seek(0)
            pickle.loads(product.read())
    else:
        raise SystemExit(f"unknown loader {loader}")


def main() -> None:
    warnings.simplefilter("ignore")
    loader, paths = sys.argv[1], sys.argv[2:]
    for path in paths:
        try:
            load(loader, path)
        except BaseException as exc:  # noqa: BLE001 - broken samples are expected
            print(f"{path}: {type(exc).__name__}: {str(exc)[:120]}", file=sys.stderr)


if __name__ == "__main__":
    main()
