"""hwr-eval: honest baselines and clear evaluation for handwritten digit and letter classifiers.

The public names are imported lazily (PEP 562) so that ``hwr-eval --help`` and light commands start
without loading torch, scikit-learn or matplotlib.
"""

from importlib import import_module

from .errors import DataError, HwrError, SyntheticDataWarning

__version__ = "0.1.0"

_LAZY = {
    "Dataset": "data",
    "load_dataset": "data",
    "read_images": "data",
    "read_line": "data",
    "corrupt": "data",
    "load_unknowns": "data",
    "PixelScaler": "models",
    "HwrNet": "models",
    "CascadeClassifier": "models",
    "list_models": "models",
    "make_model": "models",
    "export_onnx": "models",
    "OnnxClassifier": "models",
    "evaluate": "evaluation",
    "SelectiveClassifier": "evaluation",
    "ContextClassifier": "evaluation",
    "restrict_proba": "evaluation",
    "evaluate_robustness": "evaluation",
    "UnknownRejector": "evaluation",
    "unknown_table": "evaluation",
    "build_report": "report",
    "run_compare": "workflows",
    "run_grid": "workflows",
    "run_cv": "workflows",
    "dask_client": "workflows",
    "load_model": "workflows",
    "predict_images": "workflows",
    "run_robustness": "workflows",
    "run_unknowns": "workflows",
}

__all__ = ["DataError", "HwrError", "SyntheticDataWarning", "__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
