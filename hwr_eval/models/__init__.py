"""Models: the study's networks as scikit-learn estimators (skorch), the cascade, pixel scaling, the registry.

>>> from hwr_eval.models import make_model
>>> make_model("cnn", pool="max").get_params()["clf__module__pool"]
'max'
"""

from ._augment import AUGMENT_PRESETS, Augment, augment_batch
from ._callbacks import FewStepsWarning
from ._cascade import CascadeClassifier
from ._features import final_net, logits_and_features
from ._modules import CNN, MLP, LeNet5, LinearNet, ModernCNN
from ._net import HwrNet
from ._onnx import METADATA_KEYS, export_onnx, to_onnx
from ._onnx_runtime import RUNTIME_NAME, OnnxClassifier
from ._outliers import OUTLIER_GENERATORS, OUTLIER_PRESETS, OutlierExposure, make_outliers, uniform_cross_entropy
from ._preprocessing import InvertedImagesWarning, PixelScaler, deskew
from ._recipe import LR_SCHEDULES, EpochSpanLRScheduler
from ._registry import (
    HwrPipeline,
    check_model_for_data,
    check_model_params,
    list_models,
    make_model,
    n_parameters,
    resolve_params,
    training_history,
    weight_maps,
)
from ._seeding import is_seed_deterministic

__all__ = [
    "AUGMENT_PRESETS",
    "Augment",
    "CNN",
    "MLP",
    "CascadeClassifier",
    "EpochSpanLRScheduler",
    "FewStepsWarning",
    "HwrNet",
    "HwrPipeline",
    "InvertedImagesWarning",
    "LR_SCHEDULES",
    "LeNet5",
    "LinearNet",
    "METADATA_KEYS",
    "ModernCNN",
    "OUTLIER_GENERATORS",
    "OUTLIER_PRESETS",
    "OutlierExposure",
    "OnnxClassifier",
    "PixelScaler",
    "RUNTIME_NAME",
    "augment_batch",
    "check_model_for_data",
    "check_model_params",
    "deskew",
    "final_net",
    "export_onnx",
    "is_seed_deterministic",
    "list_models",
    "logits_and_features",
    "make_model",
    "make_outliers",
    "n_parameters",
    "resolve_params",
    "to_onnx",
    "training_history",
    "uniform_cross_entropy",
    "weight_maps",
]
