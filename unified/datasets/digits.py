"""The 8x8 handwritten digits that scikit-learn ships (1,797 images, 10 classes), embedded in
the package (data/digits.csv.gz, BSD-3 notice in data/LICENSE-digits.txt): no download and no
scikit-learn dependency. `digits()` gives (images, labels); `digits_split()` an 80/20 split."""

from __future__ import annotations

import functools
import gzip
import math
from importlib import resources

import numpy as np

from unified.errors import located
from unified.random import Generator
from unified.tensor import Tensor, wrap

NUM_IMAGES = 1797
NUM_CLASSES = 10
_PIXEL_MAX = 16.0  # pixels are counts of "on" pixels in 4x4 blocks: 0..16
_MODES = ("pad", "resize")


@functools.lru_cache(maxsize=1)
def _raw() -> tuple[np.ndarray, np.ndarray]:
    """(pixels uint8 (1797, 8, 8), labels int64 (1797,)) read from the embedded file."""
    blob = resources.files("unified.datasets").joinpath("data/digits.csv.gz").read_bytes()
    table = np.loadtxt(gzip.decompress(blob).decode("ascii").splitlines(), delimiter=",",
                       dtype=np.int64)
    if table.shape != (NUM_IMAGES, 65):  # the file is ours: a mismatch is a packaging bug
        raise RuntimeError(f"digits: embedded data has shape {table.shape}, expected "
                           f"({NUM_IMAGES}, 65); the installation is damaged")
    pixels = table[:, :64].astype(np.uint8).reshape(NUM_IMAGES, 8, 8)
    return pixels, table[:, 64].copy()


@located
def digits(size: int = 8, mode: str = "pad") -> tuple[Tensor, Tensor]:
    """(images float32 (1797, 1, size, size) in [0, 1], labels int64 (1797,) in 0..9).

    size=8 gives the original images; a larger size (e.g. 32, to fit a model made for 32x32
    input) either pads them with zeros around the centre (mode='pad') or resizes them with
    bilinear interpolation (mode='resize', `unified.interpolate`, align_corners=False).

    >>> import unified as U
    >>> x, y = U.datasets.digits()
    >>> x.shape, x.dtype, y.shape, y.dtype
    ((1797, 1, 8, 8), dtype('float32'), (1797,), dtype('int64'))
    """
    from unified.functional.pooling import interpolate
    from unified.functional.shape import pad

    if mode not in _MODES:
        raise ValueError(f"digits: mode must be one of {_MODES}, got {mode!r}")
    minimum = 8 if mode == "pad" else 1
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < minimum:
        raise ValueError(f"digits: size must be an int >= {minimum} for mode={mode!r}, got "
                         f"{size!r}")
    pixels, labels = _raw()
    images = wrap(pixels.reshape(NUM_IMAGES, 1, 8, 8)).float() / _PIXEL_MAX
    if size != 8 and mode == "pad":
        before = (int(size) - 8) // 2
        after = int(size) - 8 - before
        images = pad(images, (before, after, before, after))
    elif size != 8:
        images = interpolate(images, size=(int(size), int(size)), mode="bilinear",
                             align_corners=False)
    return images, wrap(labels.copy())


@located
def digits_split(test_fraction: float = 0.2, seed: int = 0, size: int = 8,
                 mode: str = "pad") -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(x_train, x_test, y_train, y_test), like scikit-learn's train_test_split: a random
    permutation from `unified.Generator().manual_seed(seed)` (the same on every machine), the
    first ceil(test_fraction * 1797) images for testing and the rest for training.

    >>> import unified as U
    >>> x_train, x_test, y_train, y_test = U.datasets.digits_split()
    >>> len(x_train), len(x_test)
    (1437, 360)
    """
    from unified.functional.random import randperm

    if isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float)) \
            or not 0.0 < test_fraction < 1.0:
        raise ValueError(f"digits_split: test_fraction must be a float in (0, 1), got "
                         f"{test_fraction!r}")
    images, labels = digits(size, mode)
    order = randperm(NUM_IMAGES, generator=Generator().manual_seed(seed))
    n_test = math.ceil(test_fraction * NUM_IMAGES)
    test, train = order[:n_test], order[n_test:]
    return (images.index_select(0, train), images.index_select(0, test),
            labels.index_select(0, train), labels.index_select(0, test))
