"""Unknown-input detectors against pytorch-ood, their metrics against hand-worked cases, and the table."""

from __future__ import annotations

import importlib
import importlib.util
import io
import sys
import types
from dataclasses import replace

import joblib
import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

from hwr_eval.errors import HwrError
from hwr_eval.evaluation import (
    DETECTORS,
    TABLE_COLUMNS,
    KNNScore,
    LayerwiseKNNScore,
    MahalanobisScore,
    check_detector,
    detectors_for,
    energy_score,
    fit_scorer,
    known_threshold,
    max_logit_score,
    model_outputs,
    msp_score,
    unknown_metrics,
    unknown_table,
)
from hwr_eval.models import FewStepsWarning, logits_and_features, make_model

pytestmark = pytest.mark.filterwarnings(f"ignore::{FewStepsWarning.__module__}.FewStepsWarning")


@pytest.fixture(scope="module")
def ood():
    """pytorch-ood's detectors (the independent implementation; outlier scores: higher = more unknown).

    Its package ``__init__`` imports its model zoo, which needs torchvision; where torchvision cannot
    load (a CPU-only torch beside a CUDA torchvision wheel) the detectors, which never use it, are
    imported on their own.
    """
    if importlib.util.find_spec("pytorch_ood") is None:
        pytest.skip("pytorch-ood is not installed (make install adds it: pip install --no-deps pytorch-ood)")
    try:
        return importlib.import_module("pytorch_ood.detector")
    except (ImportError, RuntimeError, OSError):
        for name in [m for m in sys.modules if m == "pytorch_ood" or m.startswith("pytorch_ood.")]:
            del sys.modules[name]
        package = types.ModuleType("pytorch_ood")
        package.__path__ = list(importlib.util.find_spec("pytorch_ood").submodule_search_locations)
        sys.modules["pytorch_ood"] = package
        return importlib.import_module("pytorch_ood.detector")


@pytest.fixture(scope="module")
def net_and_data(small_synthetic):
    ds = small_synthetic
    model = make_model("mlp", max_epochs=2, batch_size=64, random_state=0, device="cpu")
    return model.fit(ds.X_train, ds.y_train, X_val=ds.X_val, y_val=ds.y_val), ds


# --- detectors against pytorch-ood ------------------------------------------------------------------------


def test_logit_detectors_match_pytorch_ood(ood, net_and_data):
    model, ds = net_and_data
    logits, _ = logits_and_features(model, ds.X_test)
    # Real logits of a trained net, and large ones where a naive softmax / logsumexp would overflow.
    extreme = np.random.default_rng(0).normal(0, 300, (50, 36))
    for values in (logits.astype(np.float64), extreme):
        t = torch.from_numpy(values)
        np.testing.assert_allclose(msp_score(values), -ood.MaxSoftmax(None).predict_logits(t).numpy(), rtol=1e-12)
        np.testing.assert_allclose(max_logit_score(values), -ood.MaxLogit(None).predict_logits(t).numpy())
        np.testing.assert_allclose(energy_score(values), -ood.EnergyBased(None).predict_logits(t).numpy(), rtol=1e-12)


def _gaussian_features(seed, n_per_class=60, n_classes=4, dim=6):
    rng = np.random.default_rng(seed)
    means = rng.normal(0, 3, (n_classes, dim))
    mixing = rng.normal(0, 1, (dim, dim))  # a full, non-diagonal shared covariance
    y = np.repeat(np.arange(n_classes), n_per_class)
    return means[y] + rng.normal(0, 1, (len(y), dim)) @ mixing, y


def test_mahalanobis_matches_pytorch_ood(ood):
    z, y = _gaussian_features(0)
    z_test, _ = _gaussian_features(1)
    z_test = np.r_[z_test, np.random.default_rng(2).normal(0, 10, (30, z.shape[1]))]  # far points too
    ours = MahalanobisScore().fit(z, y).score(z_test)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # its class means and covariance are made in the default dtype
    try:
        theirs = ood.Mahalanobis(None).fit_features(torch.from_numpy(z), torch.from_numpy(y)).predict_features(
            torch.from_numpy(z_test)).numpy()
    finally:
        torch.set_default_dtype(previous)
    # pytorch-ood's covariance is the sum of the centred outer products, ours that sum over n (the
    # maximum-likelihood estimate): its distances are ours divided by n.
    np.testing.assert_allclose(ours, -len(z) * theirs, rtol=1e-5)


def test_mahalanobis_ignores_a_feature_that_never_fires():
    z, y = _gaussian_features(0)
    z_test, _ = _gaussian_features(1)
    dead = np.c_[z, np.zeros(len(z))]  # a dead ReLU unit: zero variance, a singular covariance
    scores = MahalanobisScore().fit(dead, y).score(np.c_[z_test, np.zeros(len(z_test))])
    np.testing.assert_allclose(scores, MahalanobisScore().fit(z, y).score(z_test), rtol=1e-8)


def test_knn_matches_pytorch_ood(ood):
    z, y = _gaussian_features(3)
    z_test, _ = _gaussian_features(4)
    theirs = ood.KNN(None, k=7).fit_features(torch.from_numpy(z), torch.from_numpy(y)).predict_features(
        torch.from_numpy(z_test)).numpy()
    np.testing.assert_allclose(KNNScore(k=7).fit(z).score(z_test), -theirs, rtol=1e-6)  # the index keeps float32 rows


def test_knn_detectors_keep_their_training_rows_in_float32():
    # A saved rejector holds these rows: float32 halves the file.
    z = np.random.default_rng(0).normal(size=(2000, 64))
    for scorer in (KNNScore(k=5).fit(z), LayerwiseKNNScore(k=5).fit([z[:, :32], z[:, 32:]])):
        buffer = io.BytesIO()
        joblib.dump(scorer, buffer)
        assert len(buffer.getvalue()) < 0.6 * z.nbytes


def test_net_detectors_score_the_nets_own_logits_and_features(ood, net_and_data):
    model, ds = net_and_data
    logits, features = (torch.from_numpy(a.astype(np.float64)) for a in logits_and_features(model, ds.X_test))
    _, train_features = logits_and_features(model, ds.X_train)
    codes = np.searchsorted(model.classes_, ds.y_train)
    expected = {
        "msp": -ood.MaxSoftmax(None).predict_logits(logits).numpy(),
        "max_logit": -ood.MaxLogit(None).predict_logits(logits).numpy(),
        "energy": -ood.EnergyBased(None).predict_logits(logits).numpy(),
        "knn": -ood.KNN(None, k=5).fit_features(torch.from_numpy(train_features.astype(np.float64)),
                                                torch.from_numpy(codes)).predict_features(features).numpy(),
    }
    for detector, theirs in expected.items():
        scorer = fit_scorer(model, detector, ds.X_train, ds.y_train, k=5)
        np.testing.assert_allclose(scorer.score_images(ds.X_test), theirs, rtol=1e-5, atol=1e-6, err_msg=detector)


def _pooled_activations(module, x):
    """Every ReLU's output of a fitted study CNN, averaged over positions, by walking its layers by hand."""
    out = []
    for layer in [*module.features, *module.classifier]:
        x = layer(x)
        if isinstance(layer, torch.nn.ReLU):
            out.append((x.mean(dim=(2, 3)) if x.ndim == 4 else x).double().numpy())
    return out


@pytest.fixture(scope="module")
def small_cnn(small_synthetic):
    ds = small_synthetic
    return make_model("cnn", max_epochs=2, batch_size=64, random_state=0, precision="fp32").fit(
        ds.X_train, ds.y_train, X_val=ds.X_val, y_val=ds.y_val)


def test_layer_knn_is_knn_on_every_layers_pooled_output(ood, small_synthetic, small_cnn):
    ds, model = small_synthetic, small_cnn
    net = model[-1]
    with torch.no_grad():
        train, test = (_pooled_activations(net.module_.eval(), torch.from_numpy(model[:-1].transform(X).astype(np.float32)))
                       for X in (ds.X_train, ds.X_test))
    assert [a.shape[1] for a in train] == [16, 32, 128]  # conv1, conv2 (channels), the hidden layer

    def joined(layers):  # each layer to unit length, then equal weight
        return np.hstack([a / np.linalg.norm(a, axis=1, keepdims=True) for a in layers]) / np.sqrt(len(layers))

    codes = torch.from_numpy(np.searchsorted(model.classes_, ds.y_train))
    theirs = -ood.KNN(None, k=5).fit_features(torch.from_numpy(joined(train)), codes).predict_features(
        torch.from_numpy(joined(test))).numpy()
    ours = fit_scorer(model, "layer_knn", ds.X_train, ds.y_train, k=5).score_images(ds.X_test)
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)
    assert not np.allclose(ours, fit_scorer(model, "knn", ds.X_train, k=5).score_images(ds.X_test), atol=1e-3)


def test_layerwise_knn_sums_each_layers_distance_standardised_on_the_training_images(ood, small_synthetic, small_cnn):
    ds, model = small_synthetic, small_cnn
    with torch.no_grad():
        train, test = (_pooled_activations(model[-1].module_.eval(),
                                           torch.from_numpy(model[:-1].transform(X).astype(np.float32)))
                       for X in (ds.X_train, ds.X_test))
    assert len(train[0]) < 5000  # so every training image is a reference image
    codes = torch.from_numpy(np.searchsorted(model.classes_, ds.y_train))
    expected = np.zeros(len(ds.X_test))
    for layer_train, layer_test in zip(train, test):
        unit_train, unit_test = (torch.from_numpy(a / np.linalg.norm(a, axis=1, keepdims=True)) for a in (layer_train, layer_test))
        distance = ood.KNN(None, k=5).fit_features(unit_train, codes).predict_features(unit_test).numpy()
        # each training image's distance to its 5th nearest other training image
        reference = np.sort(cdist(unit_train.numpy(), unit_train.numpy()), axis=1)[:, 5]
        expected -= (distance - reference.mean()) / reference.std()
    ours = fit_scorer(model, "layerwise_knn", ds.X_train, ds.y_train, k=5).score_images(ds.X_test)
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-4)


def test_layerwise_knn_flags_an_image_far_out_in_one_layer_only():
    rng = np.random.default_rng(0)
    # Two layers whose (unit-length) outputs point around one direction each, like ReLU features.
    centre_wide, centre_narrow = np.full(64, 0.5), np.array([4.0, 0.0, 0.0, 0.0])
    wide, narrow = centre_wide + rng.normal(size=(500, 64)), centre_narrow + rng.normal(size=(500, 4))
    scorer = LayerwiseKNNScore(k=10).fit([wide, narrow])
    typical = [centre_wide + rng.normal(size=(50, 64)), centre_narrow + rng.normal(size=(50, 4))]
    odd_in_narrow = [typical[0], typical[1] + np.array([-4.0, 0.0, 0.0, 4.0])]  # turned away in that layer only
    assert scorer.score(odd_in_narrow).max() < np.quantile(scorer.score(typical), 0.05)
    with pytest.raises(HwrError, match=r"^got 1 layer outputs; the detector was fitted on 2$"):
        scorer.score(typical[:1])
    with pytest.raises(HwrError, match=r"^k=500 neighbours but only 500 training images"):
        LayerwiseKNNScore(k=500).fit([wide])


def test_layer_knn_of_a_net_without_activations_is_knn(small_synthetic):
    ds = small_synthetic
    model = make_model("linear", max_epochs=2, batch_size=64, random_state=0).fit(
        ds.X_train, ds.y_train, X_val=ds.X_val, y_val=ds.y_val)
    scores = {d: fit_scorer(model, d, ds.X_train, k=5).score_images(ds.X_test) for d in ("knn", "layer_knn")}
    np.testing.assert_allclose(scores["layer_knn"], scores["knn"], rtol=1e-6)  # float32 rows, renormalised once more


def test_neighbour_distance_is_the_mean_distance_in_scaled_pixels(small_synthetic):
    ds = small_synthetic
    model = make_model("knn").fit(ds.X_train, ds.y_train)
    scaled = model[:-1].transform
    distances = np.sort(cdist(scaled(ds.X_test[:20]), scaled(ds.X_train)), axis=1)[:, :3]  # k = 3
    scores = fit_scorer(model, "neighbour_distance").score_images(ds.X_test[:20])
    np.testing.assert_allclose(scores, -distances.mean(axis=1), rtol=1e-6)


# --- which detector for which model ------------------------------------------------------------------------


def test_detectors_per_model_and_one_line_refusals():
    assert detectors_for(make_model("cnn")) == ("msp", "max_logit", "energy", "mahalanobis", "knn", "layer_knn",
                                                "layerwise_knn")
    assert detectors_for(make_model("logreg")) == ("msp", "energy")
    assert detectors_for(make_model("knn")) == ("msp", "neighbour_distance")
    assert detectors_for(make_model("cascade")) == ("msp",)
    assert set().union(*map(detectors_for, map(make_model, ["cnn", "logreg", "knn"]))) == set(DETECTORS)
    with pytest.raises(HwrError, match=r"^detector 'mahalanobis' does not apply to KNeighborsClassifier; it "
                                       r"supports: msp, neighbour_distance$"):
        check_detector(make_model("knn"), "mahalanobis")
    with pytest.raises(HwrError, match=r"unknown detector 'energi' \(did you mean 'energy'\?\)"):
        check_detector(make_model("cnn"), "energi")


# --- metrics and thresholds, by hand ---------------------------------------------------------------------


def test_metrics_by_hand():
    # Ranked: .9 K, .8 K, .75 U, .7 K, .6 K, .5 U.
    m = unknown_metrics([0.9, 0.8, 0.7, 0.6], [0.75, 0.5])
    assert m["auroc"] == pytest.approx(6 / 8)  # known above unknown in 6 of the 8 pairs
    assert m["aupr_in"] == pytest.approx((1 + 1 + 3 / 4 + 4 / 5) / 4)  # precision at each known image
    assert m["aupr_out"] == pytest.approx((1 + 2 / 4) / 2)  # unknown first from the bottom: .5, then .75
    assert m["fpr_at_95_tpr"] == pytest.approx(0.5)  # keeping all 4 known (>= .6) lets .75 in


def test_fpr_at_95_tpr_is_read_where_95_percent_are_first_kept():
    known = np.arange(1.0, 21.0)  # 20 known: 95% is 19 of them, threshold 2
    assert unknown_metrics(known, [1.5, 10.5])["fpr_at_95_tpr"] == pytest.approx(0.5)
    assert unknown_metrics(known, [0.5, 1.5])["fpr_at_95_tpr"] == 0.0
    assert unknown_metrics(known, [2.0, 1.5])["fpr_at_95_tpr"] == pytest.approx(0.5)  # a tie counts as accepted


def test_known_threshold_keeps_the_share_asked_for():
    scores = np.random.default_rng(0).permutation(np.arange(1.0, 21.0))
    assert known_threshold(scores) == 2.0  # 19 of 20 kept
    assert known_threshold(scores, keep=1.0) == 1.0
    assert known_threshold(scores, keep=0.5) == 11.0
    assert known_threshold(scores, keep=0.51) == 10.0  # ceil(10.2) = 11 kept
    with pytest.raises(HwrError, match="keep must be a share"):
        known_threshold(scores, keep=0)


# --- the table -------------------------------------------------------------------------------------------


def _unknowns():
    rng = np.random.default_rng(0)
    return {"blank": np.zeros((10, 784), np.uint8), "noise": rng.integers(0, 256, (12, 784)).astype(np.uint8)}


def test_table_has_a_row_per_detector_and_set_with_validation_thresholds(net_and_data):
    model, ds = net_and_data
    table = unknown_table(model, ds, _unknowns(), name="mlp", k=5)
    assert list(table.columns) == list(TABLE_COLUMNS)
    assert list(zip(table.detector, table.unknown_set)) == [(d, s) for d in detectors_for(model) for s in ("blank", "noise")]
    assert (table.model == "mlp").all() and list(table.n_unknown[:2]) == [10, 12]
    for detector, rows in table.groupby("detector", sort=False):
        scorer = fit_scorer(model, detector, ds.X_train, ds.y_train, k=5)
        threshold = known_threshold(scorer.score_images(ds.X_val))
        assert rows.threshold.tolist() == pytest.approx([threshold] * 2)
        known = scorer.score_images(ds.X_test)
        assert rows.known_test_kept.iloc[0] == pytest.approx(np.mean(known >= threshold))
        for (_, row), X in zip(rows.iterrows(), _unknowns().values()):
            unknown = scorer.score_images(X)
            assert row.unknown_rejected == pytest.approx(np.mean(unknown < threshold))
            assert row.auroc == pytest.approx(unknown_metrics(known, unknown)["auroc"])


def test_thresholds_come_from_the_validation_split_only(small_synthetic):
    ds = small_synthetic
    model = make_model("knn").fit(ds.X_train, ds.y_train)
    table = unknown_table(model, ds, _unknowns())
    # Other test images and other unknowns: the same thresholds.
    rng = np.random.default_rng(1)
    other = replace(ds, X_test=ds.X_test[rng.permutation(len(ds.X_test))[:40]] // 2, y_test=ds.y_test[:40])
    moved = unknown_table(model, other, {"noise": rng.integers(0, 256, (5, 784)).astype(np.uint8)})
    for detector in ("msp", "neighbour_distance"):
        assert moved.threshold[moved.detector == detector].iloc[0] == table.threshold[table.detector == detector].iloc[0]
    # Other validation images: another threshold.
    fainter = replace(ds, X_val=ds.X_val // 3)
    changed = unknown_table(model, fainter, _unknowns())
    nd = table.detector == "neighbour_distance"
    assert changed.threshold[nd].iloc[0] != table.threshold[nd].iloc[0]


def test_table_refuses_bad_input_before_any_work(small_synthetic):
    model = make_model("knn")  # unfitted: a refusal must come before it is used
    with pytest.raises(HwrError, match="does not apply to KNeighborsClassifier"):
        unknown_table(model, small_synthetic, _unknowns(), detectors=["energy"])
    with pytest.raises(HwrError, match=r"unknown set 'x' must have shape \(n >= 1, 784\)"):
        unknown_table(model, small_synthetic, {"x": np.zeros((3, 10))})
    with pytest.raises(HwrError, match="keep must be a share"):
        unknown_table(model, small_synthetic, _unknowns(), keep=1.5)


def test_model_outputs_compute_only_what_is_needed(small_synthetic):
    model = make_model("knn").fit(small_synthetic.X_train, small_synthetic.y_train)
    assert set(model_outputs(model, small_synthetic.X_test, ["neighbour_distance"])) == {"neighbour_distance"}
    assert set(model_outputs(model, small_synthetic.X_test, ["msp"])) == {"proba"}
