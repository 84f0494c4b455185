"""hwr-eval: honest baselines and clear evaluation for handwritten digit and letter classifiers."""

from .errors import DataError, HwrError
from .preprocessing import PixelScaler

__version__ = "0.1.0"

__all__ = ["DataError", "HwrError", "PixelScaler", "__version__"]

from .dataset import Dataset, load_dataset  # noqa: E402

__all__ += ["Dataset", "load_dataset"]
