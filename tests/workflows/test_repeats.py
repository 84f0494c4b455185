"""compare with repeated training runs: seeds.csv, comparisons.csv, the record, Ctrl-C keeps finished runs."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier

from hwr_eval.evaluation import comparisons_table
from hwr_eval.runs import DataSpec, RunSpec, open_run
from hwr_eval.workflows import CompareInterrupted, run_compare


class SeededGuess(ClassifierMixin, BaseEstimator):
    """Predicts a seeded random class for a seeded fraction of images, else the nearest neighbour's:
    its accuracy depends on ``random_state``, like a network's."""

    def __init__(self, random_state=0, interrupt_at=None):
        self.random_state = random_state
        self.interrupt_at = interrupt_at

    def fit(self, X, y):
        if self.interrupt_at is not None and self.random_state == self.interrupt_at:
            raise KeyboardInterrupt
        self.knn_ = KNeighborsClassifier(1).fit(X, y)
        self.classes_ = self.knn_.classes_
        return self

    def predict(self, X):
        rng = np.random.default_rng(self.random_state)
        pred = self.knn_.predict(X)
        noisy = rng.random(len(X)) < 0.2 + 0.1 * rng.random()
        pred[noisy] = rng.choice(self.classes_, size=int(noisy.sum()))
        return pred

    def predict_proba(self, X):
        pred = self.predict(X)
        return (pred[:, None] == self.classes_[None, :]).astype(float)


def test_every_model_is_trained_per_seed_except_those_the_seed_cannot_change(small_synthetic, tmp_path):
    models = {"knn": KNeighborsClassifier(3), "guess": SeededGuess(), "logreg": LogisticRegression(max_iter=300)}
    run = open_run(run_compare(models, small_synthetic, tmp_path / "run", seeds=4, model_seed=10, report=True))
    seeds = run.seeds
    assert seeds.groupby("model").size().to_dict() == {"guess": 4, "knn": 1, "logreg": 1}
    assert sorted(seeds.loc[seeds["model"] == "guess", "seed"]) == [10, 11, 12, 13]
    assert set(seeds["split_seed"]) == {small_synthetic.provenance["seed"]}
    assert run.record.seeds["fitted_once"] == ["knn", "logreg"]
    # The first seed's row is the run's own model, scored as everywhere else in the record.
    first = seeds[(seeds["model"] == "guess") & (seeds["seed"] == 10)].iloc[0]
    assert first["accuracy"] == pytest.approx(run.record.models["guess"].accuracy)
    # The seeded accuracies differ, and each one is that seed's own model's.
    y = np.asarray(small_synthetic.y_test).astype(str)
    for row in seeds[seeds["model"] == "guess"].itertuples():
        model = SeededGuess(random_state=row.seed).fit(small_synthetic.X_train, small_synthetic.y_train)
        assert row.accuracy == pytest.approx(np.mean(model.predict(small_synthetic.X_test) == y))
    assert seeds.loc[seeds["model"] == "guess", "accuracy"].nunique() > 1
    expected = comparisons_table(seeds, rope=0.001, design="seeds")
    pd.testing.assert_frame_equal(run.comparisons[expected.columns[:9]], expected[expected.columns[:9]],
                                  check_dtype=False)
    assert 'id="seeds"' in (run.path / "report.html").read_text()


def test_a_model_compared_with_itself_is_practically_equivalent(small_synthetic, tmp_path):
    run = open_run(run_compare({"a": SeededGuess(), "b": SeededGuess()}, small_synthetic, tmp_path / "run", seeds=3,
                               report=False))
    assert list(run.comparisons["verdict"]) == ["practically equivalent"]
    assert run.comparisons["mean_diff"].iloc[0] == 0


def test_one_model_gets_its_spread_over_seeds_and_no_pairs(small_synthetic, tmp_path):
    run = open_run(run_compare({"guess": SeededGuess()}, small_synthetic, tmp_path / "run", seeds=3, report=True))
    assert sorted(run.seeds["seed"]) == [0, 1, 2]
    assert run.comparisons.empty and "verdict" in run.comparisons.columns
    assert 'id="seeds"' in (run.path / "report.html").read_text()


def test_vary_split_redraws_the_split_for_every_run(small_synthetic, tmp_path, synthetic_env):
    spec = RunSpec(models={"knn": KNeighborsClassifier(3), "guess": SeededGuess()}, data=DataSpec(per_class=30, seed=5),
                   seeds=3, vary="split", report=False)
    run = open_run(run_compare(spec, out_dir=tmp_path / "split"))
    seeds = run.seeds
    assert sorted(seeds.loc[seeds["model"] == "knn", "split_seed"]) == [5, 6, 7]  # knn too: the data changed
    assert run.record.seeds["design"] == "split" and 0 < run.record.seeds["test_fraction"] < 0.2
    assert set(run.comparisons["design"]) == {"split"}


def test_ctrl_c_keeps_the_finished_runs(small_synthetic, tmp_path):
    models = {"guess": SeededGuess(interrupt_at=2)}
    with pytest.raises(CompareInterrupted):
        run_compare(models, small_synthetic, tmp_path / "run", seeds=4, report=False)
    kept = pd.read_csv(tmp_path / "run" / "seeds.csv")
    assert list(kept["seed"]) == [0, 1]  # the run's own model and the first repeat
    assert open_run(tmp_path / "run").record.status == "incomplete"


def test_repeated_cv_judges_pairs_across_every_fold_with_the_nadeau_bengio_correction(small_synthetic):
    from sklearn.model_selection import RepeatedStratifiedKFold, cross_val_score

    from hwr_eval.evaluation import corrected_ttest
    from hwr_eval.workflows import run_cv

    models = {"knn": KNeighborsClassifier(3), "guess": SeededGuess()}
    frame = run_cv(models, small_synthetic, folds=3, repeats=2, seed=4)
    runs = frame.attrs["runs"]
    assert runs.groupby("model").size().to_dict() == {"guess": 6, "knn": 6}
    # Every fold's score is scikit-learn's on the same repeated split.
    X = np.concatenate([small_synthetic.X_train, small_synthetic.X_val])
    y = np.concatenate([small_synthetic.y_train, small_synthetic.y_val])
    expected = cross_val_score(KNeighborsClassifier(3), X, y, cv=RepeatedStratifiedKFold(n_splits=3, n_repeats=2, random_state=4))
    assert np.allclose(runs.loc[runs["model"] == "knn", "accuracy"], expected)
    (row,) = frame.attrs["comparisons"].itertuples(index=False)
    assert (row.design, row.rho) == ("cv", pytest.approx(1 / 3))
    knn, guess = (runs.loc[runs["model"] == m, "accuracy"].to_numpy() for m in ("knn", "guess"))
    assert row.p_value == pytest.approx(corrected_ttest(knn, guess, rho=1 / 3)["p_value"])


def test_cv_repeats_must_be_positive(small_synthetic):
    from hwr_eval.errors import HwrError
    from hwr_eval.workflows import run_cv

    with pytest.raises(HwrError, match="--repeats 0"):
        run_cv({"knn": KNeighborsClassifier(3)}, small_synthetic, folds=2, repeats=0)


def test_repeats_that_could_not_differ_are_refused_before_training(small_synthetic, tmp_path):
    from hwr_eval.errors import HwrError

    with pytest.raises(HwrError, match="--seeds 3 would change nothing: knn, logreg do not depend on the model seed"):
        run_compare({"knn": KNeighborsClassifier(3), "logreg": LogisticRegression()}, small_synthetic, tmp_path / "run",
                    seeds=3)
    assert not (tmp_path / "run").exists()
