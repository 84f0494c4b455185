"""Data: readers for the usual handwriting formats, NIST-style normalisation and the reference protocol.

:func:`load_dataset` finds the data, picks the best source per class group, caps each class and splits
train / validation / test the study's way.
"""

from ._corruptions import CORRUPTION_SUITES, CORRUPTIONS, DEFAULT_SEVERITY, ROTATION_ANGLES, SEVERITIES, corrupt, rotate
from ._dataset import CLASS_SETS, FRACTIONS, SPLITS, Dataset, load_dataset, load_usps, resolve_data_dir
from ._drawn import drawn_files, drawn_folder_label, drawn_folder_name, read_drawn
from ._fetch import cache_dir, data_cache_dir, fetch
from ._images import (
    IMAGE_SUFFIXES,
    MAX_PIXELS,
    expand_paths,
    find_ink,
    normalize_character,
    read_character,
    read_grey,
    read_images,
)
from ._kaggle import KAGGLE_AZ, KaggleFile, fetch_kaggle, kaggle_credentials
from ._mnist_c import MNIST_C_CORRUPTIONS
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
from ._render import render_scan, save_scan
from ._segment import CharacterImage, read_characters, read_image_files, read_line, segment_characters
from ._synthetic import make_synthetic
from ._unknowns import (
    DEFAULT_N_GENERATED,
    FAR_UNKNOWN_SETS,
    LOOKALIKE_LETTERS,
    NEAR_UNKNOWN_LETTERS,
    UNKNOWN_SETS,
    folder_unknowns,
    generated_unknowns,
    load_unknowns,
    lowercase_unknowns,
)

__all__ = [
    "CLASS_SETS",
    "CORRUPTIONS",
    "CORRUPTION_SUITES",
    "DEFAULT_SEVERITY",
    "FRACTIONS",
    "IMAGE_SUFFIXES",
    "KAGGLE_AZ",
    "MAX_PIXELS",
    "MNIST_C_CORRUPTIONS",
    "SPLITS",
    "CharacterImage",
    "Dataset",
    "ImageSet",
    "KaggleFile",
    "ROTATION_ANGLES",
    "SEVERITIES",
    "cache_dir",
    "center_of_mass",
    "corrupt",
    "data_cache_dir",
    "drawn_files",
    "drawn_folder_label",
    "drawn_folder_name",
    "expand_paths",
    "fetch",
    "fetch_kaggle",
    "find_ink",
    "kaggle_credentials",
    "load_dataset",
    "load_usps",
    "make_synthetic",
    "normalize_character",
    "normalize_images",
    "read_character",
    "read_characters",
    "read_drawn",
    "read_emnist",
    "read_femnist_npz",
    "read_grey",
    "read_idx",
    "read_image_files",
    "read_images",
    "read_kaggle_az_csv",
    "read_kaggle_mnist_csv",
    "read_line",
    "read_mnist",
    "read_usps_h5",
    "render_scan",
    "resolve_data_dir",
    "save_scan",
    "segment_characters",
    "rotate",
    # unknown input (none of the known classes)
    "DEFAULT_N_GENERATED",
    "FAR_UNKNOWN_SETS",
    "LOOKALIKE_LETTERS",
    "NEAR_UNKNOWN_LETTERS",
    "UNKNOWN_SETS",
    "folder_unknowns",
    "generated_unknowns",
    "load_unknowns",
    "lowercase_unknowns",
]
