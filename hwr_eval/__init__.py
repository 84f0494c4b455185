"""hwr-eval: honest baselines and clear evaluation for handwritten digit and letter classifiers."""

from .errors import DataError, HwrError
from .preprocessing import PixelScaler
from .registry import list_models, make_model

__version__ = "0.1.0"

__all__ = ["DataError", "HwrError", "PixelScaler", "__version__", "list_models", "make_model"]
