"""Data: readers for the usual handwriting formats, NIST-style normalisation and the reference protocol.

:func:`load_dataset` finds the data, picks the best source per class group, caps each class and splits
train / validation / test the study's way.
"""

from ._dataset import CLASS_SETS, FRACTIONS, SPLITS, Dataset, load_dataset, load_usps, resolve_data_dir
from ._fetch import cache_dir, data_cache_dir, fetch
from ._kaggle import KAGGLE_AZ, KaggleFile, fetch_kaggle, kaggle_credentials
from ._normalize import center_of_mass, normalize_images
from ._readers import (
    ImageSet,
    read_emnist,
    read_femnist_npz,
    read_idx,
    read_kaggle_az_csv,
    read_kaggle_mnist_csv,
    read_mnist,
    read_usps_h5,
)
from ._synthetic import make_synthetic

__all__ = [
    "CLASS_SETS",
    "FRACTIONS",
    "KAGGLE_AZ",
    "SPLITS",
    "Dataset",
    "ImageSet",
    "KaggleFile",
    "cache_dir",
    "center_of_mass",
    "data_cache_dir",
    "fetch",
    "fetch_kaggle",
    "kaggle_credentials",
    "load_dataset",
    "load_usps",
    "make_synthetic",
    "normalize_images",
    "read_emnist",
    "read_femnist_npz",
    "read_idx",
    "read_kaggle_az_csv",
    "read_kaggle_mnist_csv",
    "read_mnist",
    "read_usps_h5",
    "resolve_data_dir",
]
