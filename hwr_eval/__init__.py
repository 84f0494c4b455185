"""hwr-eval: honest baselines and clear evaluation for handwritten digit and letter classifiers.

The public names are imported lazily (PEP 562) so that ``hwr-eval --help`` and light commands start
without loading torch, scikit-learn or matplotlib.
"""

from importlib import import_module

from .errors import DataError, HwrError

__version__ = "0.1.0"

_LAZY = {
    "Dataset": "dataset",
    "load_dataset": "dataset",
    "PixelScaler": "preprocessing",
    "build_report": "report",
    "list_models": "registry",
    "make_model": "registry",
    "run_compare": "compare",
    "run_grid": "compare",
    "run_cv": "compare",
    "evaluate": "evaluation",
}

__all__ = ["DataError", "HwrError", "__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
