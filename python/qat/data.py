"""Datasets: Fashion-MNIST from Debian's dataset-fashion-mnist (IDX files),
or a user's numpy arrays (.npz with `x` and `y`, or a pair of .npy files).

Images come back as float32 in [0, 1], shaped for the model's input
(N, 1, 28, 28) for Fashion-MNIST; labels as int32 class indices.
"""

import gzip
import os
from typing import List, NamedTuple, Optional, Tuple

import numpy as np

FASHION_MNIST = os.environ.get("QAT_FASHION_MNIST",
                               "/usr/share/datasets/fashion-mnist")
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
           "Shirt", "Sneaker", "Bag", "Ankle boot")


class DataError(Exception):
    """Data that cannot be read or does not fit the model."""


class Split(NamedTuple):
    x: np.ndarray
    y: np.ndarray


def _idx(path: str) -> np.ndarray:
    """An IDX file (gzipped or not): magic 0x0000 08 <rank>, big-endian
    dimensions, then unsigned bytes."""
    if not os.path.exists(path):
        raise DataError(f"{path}: missing (install dataset-fashion-mnist or "
                        "set QAT_FASHION_MNIST)")
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0:2] != b"\0\0" or data[2] != 8:
        raise DataError(f"{path}: not an unsigned-byte IDX file")
    rank = data[3]
    dims = np.frombuffer(data, ">u4", rank, 4).astype(np.int64)
    body = np.frombuffer(data, np.uint8, offset=4 + 4 * rank)
    if body.size != int(np.prod(dims)):
        raise DataError(f"{path}: {body.size} bytes for dimensions "
                        f"{dims.tolist()}")
    return body.reshape(dims)


def fashion_mnist(split: str = "train", limit: Optional[int] = None,
                  root: str = FASHION_MNIST) -> Split:
    prefix = {"train": "train", "test": "t10k"}[split]
    images = _idx(os.path.join(root, f"{prefix}-images-idx3-ubyte.gz"))
    labels = _idx(os.path.join(root, f"{prefix}-labels-idx1-ubyte.gz"))
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    x = (images.astype(np.float32) / 255.0)[:, None, :, :]
    return Split(x, labels.astype(np.int32))


def from_numpy(path: str) -> Split:
    """`path`: an .npz with arrays `x` and `y`, or `images.npy` with a
    `labels.npy` (or `y.npy`) beside it."""
    if not os.path.exists(path):
        raise DataError(f"{path}: no such file")
    try:
        if path.endswith(".npz"):
            with np.load(path) as z:
                if "x" not in z or "y" not in z:
                    raise DataError(f"{path}: expected arrays 'x' and 'y', "
                                    f"found {sorted(z.files)}")
                x, y = z["x"], z["y"]
        else:
            x = np.load(path)
            folder = os.path.dirname(path)
            for name in ("labels.npy", "y.npy"):
                if os.path.exists(os.path.join(folder, name)):
                    y = np.load(os.path.join(folder, name))
                    break
            else:
                raise DataError(f"{path}: no labels.npy or y.npy beside it")
    except (OSError, ValueError) as err:
        raise DataError(f"{path}: not a numpy file ({err})") from err
    if len(x) != len(y):
        raise DataError(f"{path}: {len(x)} inputs but {len(y)} labels")
    return Split(x.astype(np.float32), np.asarray(y).astype(np.int32))


# Per-channel (mean, std) of the usual data sets, for inputs scaled to [0, 1].
NORMALIZATIONS = {
    "fashion-mnist": ([0.2860], [0.3530]),
    "mnist": ([0.1307], [0.3081]),
    "cifar10": ([0.4914, 0.4822, 0.4465], [0.2470, 0.2435, 0.2616]),
    "imagenet": ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
}


def normalization(spec: str) -> Tuple[List[float], List[float]]:
    """`spec`: a name in NORMALIZATIONS or "MEAN[,MEAN...]/STD[,STD...]"
    -> (mean, std); DataError naming what was expected."""
    if spec in NORMALIZATIONS:
        return NORMALIZATIONS[spec]
    expected = (f"expected one of {', '.join(NORMALIZATIONS)} or "
                f"MEAN[,MEAN...]/STD[,STD...]")
    try:
        mean, std = ([float(v) for v in part.split(",")]
                     for part in spec.split("/"))
    except ValueError:
        raise DataError(f"--normalize {spec!r}: {expected}") from None
    if len(mean) != len(std):
        raise DataError(f"--normalize {spec!r}: {len(mean)} means and "
                        f"{len(std)} standard deviations; {expected}")
    if not all(np.isfinite(mean)) or not all(s > 0 and np.isfinite(s)
                                             for s in std):
        raise DataError(f"--normalize {spec!r}: expected finite means and "
                        f"positive finite standard deviations")
    return mean, std


def load(spec: str, split: str = "train", limit: Optional[int] = None) -> Split:
    """`spec`: "fashion-mnist" or a numpy file path."""
    if spec in ("fashion-mnist", "fashion_mnist"):
        return fashion_mnist(split, limit)
    data = from_numpy(spec)
    if limit is not None:
        data = Split(data.x[:limit], data.y[:limit])
    return data


def fit(x: np.ndarray, shape: Tuple[int, ...], what: str = "data") -> np.ndarray:
    """`x` reshaped per sample to the model input `shape` (batch first), when
    the sizes agree; else DataError naming both."""
    per_sample = int(np.prod(shape[1:]))
    if x[0].size != per_sample:
        raise DataError(f"{what}: samples of shape {list(x.shape[1:])} do not "
                        f"fit the model input {list(shape[1:])}")
    return np.ascontiguousarray(x.reshape((len(x),) + tuple(shape[1:])),
                                np.float32)
