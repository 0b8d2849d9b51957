"""Tests for unified/datasets/digits.py: the embedded scikit-learn digits."""

import gzip
from importlib import resources

import numpy as np
import pytest

import unified as U
from unified.datasets import digits, digits_split

# per-class counts of scikit-learn's load_digits() (its documentation lists 1797 samples)
CLASS_COUNTS = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


def test_digits_shapes_dtypes_and_label_counts():
    x, y = digits()
    assert x.shape == (1797, 1, 8, 8) and x.dtype == U.float32
    assert y.shape == (1797,) and y.dtype == U.int64
    assert np.bincount(y.numpy()).tolist() == CLASS_COUNTS
    assert x.numpy().min() == 0.0 and x.numpy().max() == 1.0


def test_digits_match_the_csv_scaled_by_16():
    raw = resources.files("unified.datasets").joinpath("data/digits.csv.gz").read_bytes()
    first = np.array(gzip.decompress(raw).decode().splitlines()[0].split(","), np.float32)
    x, y = digits()
    np.testing.assert_array_equal(x.numpy()[0, 0], first[:64].reshape(8, 8) / 16)
    assert y[0].item() == int(first[64])


def test_pad_mode_centres_the_8x8_image():
    small, _ = digits()
    big, _ = digits(size=32, mode="pad")
    assert big.shape == (1797, 1, 32, 32)
    np.testing.assert_array_equal(big.numpy()[:, :, 12:20, 12:20], small.numpy())
    assert big.numpy().sum() == pytest.approx(small.numpy().sum(), rel=1e-6)


def test_resize_mode_is_bilinear_and_stays_in_range():
    small, _ = digits()
    big, _ = digits(size=32, mode="resize")
    assert big.shape == (1797, 1, 32, 32)
    b = big.numpy()
    assert b.min() >= 0.0 and b.max() <= 1.0
    # align_corners=False with a factor of 4: output pixel 1 samples source 1.5/4 - 0.5 = -0.125
    # -> clamped to 0; pixel 2 samples 0.125 between source columns 0 and 1
    s = small.numpy()[0, 0]
    expected = 0.875 * s[0, 0] + 0.125 * s[0, 1]
    assert b[0, 0, 0, 2] == pytest.approx(expected, abs=1e-6)


def test_bad_size_or_mode_names_the_value():
    with pytest.raises(ValueError, match="mode must be one of"):
        digits(32, mode="crop")
    with pytest.raises(ValueError, match="size must be an int >= 8.*got 4"):
        digits(4)


def test_digits_split_is_an_80_20_partition_fixed_by_the_seed():
    x_train, x_test, y_train, y_test = digits_split()
    assert x_train.shape == (1437, 1, 8, 8) and x_test.shape == (360, 1, 8, 8)
    labels = np.concatenate([y_train.numpy(), y_test.numpy()])
    assert np.bincount(labels).tolist() == CLASS_COUNTS
    again = digits_split(seed=0)
    np.testing.assert_array_equal(again[3].numpy(), y_test.numpy())
    other = digits_split(seed=1)
    assert not np.array_equal(other[3].numpy(), y_test.numpy())


def test_the_data_file_ships_with_its_license():
    folder = resources.files("unified.datasets").joinpath("data")
    assert "BSD 3-Clause" in folder.joinpath("LICENSE-digits.txt").read_text()
