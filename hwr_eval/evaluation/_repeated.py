"""Comparisons judged across training runs: each model trained several times (seeds, splits or folds).

The single-run statistics of :mod:`._metrics` (McNemar, the bootstrap interval) see only the noise of
the test images for one trained model each. Here every model is trained several times and the spread of
its scores across those runs is the training randomness. Input is the tidy ``seeds.csv`` table
(:data:`SEED_COLUMNS`, one row per model and run); out come a per-model summary (:func:`seed_summary`)
and, per pair of models, the Bayesian correlated t-test of Benavoli, Corani, Demšar and Zaffalon
("Time for a change", JMLR 18, 2017) with a region of practical equivalence, a frequentist
Nadeau-Bengio corrected t-test and a verdict in words (:func:`comparisons_table`).

The three designs and their correlation ``rho`` between runs (:func:`design_correlation`):

``"seeds"`` (the default)
    One fixed split, only the model seed changes. Every run is scored on the same test images, but
    what varies between runs (initial weights, batch order, dropout) is drawn afresh for each seed, so
    the runs' scores are independent draws of the training randomness *given this split*: ``rho = 0``.
    The shared test set is a fixed condition, not a correlation between runs; its own noise is what
    McNemar and the bootstrap interval cover, and conclusions here hold for this split.
``"split"``
    The split is redrawn for each run too: training sets overlap, so runs are correlated, and Nadeau
    and Bengio's correction applies with ``rho = n_test / n_total`` (the test fraction).
``"cv"``
    Repeated k-fold cross-validation: ``rho = 1 / k`` (the test fraction of one fold).

Runs are paired by ``split_seed`` (and ``fold`` when the table has that column): within one split a
model with a single row there was fitted once because the model seed does not change it (see
:func:`hwr_eval.models.is_seed_deterministic`), and that row pairs with every run of the other model
on the same split; otherwise rows pair on equal ``seed``. A model with a single run overall has standard deviation 0
(its training randomness is nil, not unknown), and a pair of such models differs exactly: its
posterior is a point mass at the observed difference.
"""

from __future__ import annotations

import functools
from itertools import combinations
from numbers import Integral, Real

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.utils._param_validation import Interval, InvalidParameterError, StrOptions, validate_params

from ..errors import HwrError

#: Columns of ``seeds.csv``: one row per model and training run. An optional ``fold`` column (repeated
#: cross-validation) joins ``split_seed`` in pairing runs.
SEED_COLUMNS = ("model", "seed", "split_seed", "accuracy", "macro_f1", "fit_time_s")
#: Scores in ``seeds.csv`` that can be compared (fractions in [0, 1]).
SCORES = ("accuracy", "macro_f1")
#: Region of practical equivalence: differences within 0.1 accuracy points (as a fraction) count as none.
ROPE = 0.001
#: Posterior probability at which a pair is decided (one model better, or practically equivalent).
DECISION_PROB = 0.95
#: Coverage of the t-intervals.
CONFIDENCE = 0.95
#: Experimental designs, and the word for one run of each in verdicts.
DESIGNS = {"seeds": "seeds", "split": "splits", "cv": "folds"}
#: Largest number of runs :func:`seeds_to_decide` looks at.
MAX_RUNS_TO_DECIDE = 1000
#: Columns of :func:`comparisons_table`: the fixed ones first, then the extras.
COMPARISON_COLUMNS = ("model_a", "model_b", "mean_diff", "ci_low", "ci_high", "p_a_better", "p_equivalent",
                      "p_b_better", "verdict", "decision", "n_runs", "wins_a", "ties", "seeds_to_decide",
                      "p_value", "rho", "rope", "design")

# Differences of scores closer than this are equal (float rounding; see _spread).
_EXACT = 1e-12


def _hwr_params(constraints: dict):
    """sklearn's :func:`validate_params`, raising :class:`HwrError` (one line) instead of its own error."""
    def decorate(func):
        checked = validate_params(constraints, prefer_skip_nested_validation=True)(func)

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            try:
                return checked(*args, **kwargs)
            except InvalidParameterError as exc:
                raise HwrError(str(exc)) from None
        return wrapper
    return decorate


_RHO = [Interval(Real, 0, 1, closed="left")]
_ROPE = [Interval(Real, 0, 1, closed="left")]
_DESIGN = {"design": [StrOptions(set(DESIGNS))], "test_fraction": [Interval(Real, 0, 1, closed="neither"), None],
           "n_folds": [Interval(Integral, 2, None, closed="left"), None]}


@_hwr_params(_DESIGN)
def design_correlation(design: str = "seeds", *, test_fraction: float | None = None, n_folds: int | None = None) -> float:
    """The correlation ``rho`` between the runs of a design (see the module docstring for why).

    Parameters
    ----------
    design : {"seeds", "split", "cv"}, default="seeds"
    test_fraction : float, optional
        Share of the images in the test split; required for ``"split"``.
    n_folds : int, optional
        Folds ``k`` of the repeated cross-validation; required for ``"cv"``.
    """
    if design == "split":
        if test_fraction is None:
            raise HwrError("design 'split' needs test_fraction (n_test / n_total) for its correlation")
        return float(test_fraction)
    if design == "cv":
        if n_folds is None:
            raise HwrError("design 'cv' needs n_folds (k of the repeated k-fold) for its correlation")
        return 1.0 / n_folds
    return 0.0


@_hwr_params({"seeds": [pd.DataFrame]})
def check_seeds_frame(seeds: pd.DataFrame) -> pd.DataFrame:
    """Validate a ``seeds.csv`` table; return it with numeric columns as floats and keys as strings.

    Raises :class:`HwrError` for missing columns, no rows, NaN, scores outside [0, 1], a repeated
    (model, seed, split) row, or a table in which every model ran only once.
    """
    missing = [c for c in SEED_COLUMNS if c not in seeds.columns]
    if missing:
        raise HwrError(f"seeds table lacks column(s) {', '.join(missing)}; expected {', '.join(SEED_COLUMNS)}")
    if seeds.empty:
        raise HwrError("seeds table has no rows")
    keys = _keys(seeds)
    frame = seeds.copy()
    for column in (c for c in SEED_COLUMNS if c not in keys):
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    nan = [c for c in [*SEED_COLUMNS, *keys] if frame[c].isna().any()]
    if nan:
        raise HwrError(f"seeds table has missing or non-numeric values in column(s) {', '.join(dict.fromkeys(nan))}")
    for column in SCORES:
        if not frame[column].between(0.0, 1.0).all():
            raise HwrError(f"seeds table column {column!r} must hold fractions in [0, 1]")
    frame[keys] = frame[keys].astype(str)
    repeated = frame.duplicated(keys)
    if repeated.any():
        row = frame.loc[repeated, keys].iloc[0].to_dict()
        raise HwrError(f"seeds table repeats the run {row}")
    if frame.groupby("model", sort=False).size().max() < 2:
        raise HwrError("every model in the seeds table ran only once: nothing varies across training runs; use 2 or more seeds")
    return frame


def _keys(frame: pd.DataFrame) -> list[str]:
    return ["model", "seed", "split_seed", *(["fold"] if "fold" in frame.columns else [])]


def _scale(sd: float, n: int, rho: float) -> float:
    """Standard error of a mean of ``n`` correlated runs (Nadeau-Bengio): ``sd * sqrt(1/n + rho/(1-rho))``."""
    return sd * np.sqrt(1.0 / n + rho / (1.0 - rho))


def _interval(mean: float, sd: float, n: int, rho: float, confidence: float) -> tuple[float, float]:
    if sd == 0.0:  # no spread (or one exact run): the interval collapses to the mean
        return (mean, mean)
    half = stats.t.ppf(0.5 + confidence / 2, n - 1) * _scale(sd, n, rho)
    return (mean - half, mean + half)


def _sd(values: np.ndarray) -> float:
    """Sample standard deviation (ddof=1); 0 for one run, which stands for a seed-deterministic model."""
    return float(np.std(values, ddof=1)) if values.size > 1 else 0.0


def _spread(diff: np.ndarray) -> tuple[float, float]:
    """Mean and sd of paired differences, float rounding taken for what it is.

    Scores are counts over the test images, so differences that agree to 1e-12 are equal and one that
    small is zero: in floats ``0.961 - 0.921`` is 0.039999999999999925 but ``0.897 - 0.857`` is
    0.040000000000000036, and ``0.1 + 0.2 - 0.3`` is 5.6e-17; a t-test on that rounding would be noise.
    """
    if np.ptp(diff) <= _EXACT:
        mean = float(diff.mean())
        return (0.0 if abs(mean) <= _EXACT else mean), 0.0
    return float(diff.mean()), _sd(diff)


@_hwr_params({"seeds": [pd.DataFrame], "metric": [StrOptions(set(SCORES))], **_DESIGN,
              "confidence": [Interval(Real, 0, 1, closed="neither")]})
def seed_summary(seeds: pd.DataFrame, *, metric: str = "accuracy", design: str = "seeds",
                 test_fraction: float | None = None, n_folds: int | None = None,
                 confidence: float = CONFIDENCE) -> pd.DataFrame:
    """Per model: ``metric`` over its runs, with a t-interval for the mean.

    Parameters
    ----------
    seeds : DataFrame
        The ``seeds.csv`` table (:data:`SEED_COLUMNS`).
    metric : {"accuracy", "macro_f1"}, default="accuracy"
    design, test_fraction, n_folds
        As in :func:`design_correlation`; the interval's standard error is corrected for ``rho``.
    confidence : float, default=0.95

    Returns
    -------
    DataFrame
        One row per model in order of first appearance: ``model, n, mean, sd, min, max, ci_low, ci_high``
        (``sd`` with ddof=1; a model with one run has ``sd`` 0 and the interval ``[mean, mean]``,
        see the module docstring), then the mean of the other score and of ``fit_time_s``.
    """
    frame = check_seeds_frame(seeds)
    rho = design_correlation(design, test_fraction=test_fraction, n_folds=n_folds)
    rows = []
    for model, group in frame.groupby("model", sort=False):
        values = group[metric].to_numpy(dtype=float)
        mean, sd = float(values.mean()), _sd(values)
        low, high = _interval(mean, sd, values.size, rho, confidence)
        rows.append({"model": model, "n": values.size, "mean": mean, "sd": sd, "min": float(values.min()),
                     "max": float(values.max()), "ci_low": low, "ci_high": high,
                     **{f"{c}_mean": float(group[c].mean()) for c in (*SCORES, "fit_time_s") if c != metric}})
    return pd.DataFrame(rows)


@_hwr_params({"seeds": [pd.DataFrame], "model_a": [str], "model_b": [str], "metric": [StrOptions(set(SCORES))]})
def paired_scores(seeds: pd.DataFrame, model_a: str, model_b: str, metric: str = "accuracy") -> tuple[np.ndarray, np.ndarray]:
    """Scores of two models on paired runs (pairing rule in the module docstring), in run order."""
    frame = check_seeds_frame(seeds)
    split = _keys(frame)[2:]
    sides = []
    for model in (model_a, model_b):
        rows = frame[frame["model"] == str(model)]
        if rows.empty:
            raise HwrError(f"model {model!r} is not in the seeds table")
        sides.append(rows.assign(_n=rows.groupby(split)["seed"].transform("size")))
    merged = sides[0].merge(sides[1], on=split, suffixes=("_a", "_b"))
    merged = merged[(merged["seed_a"] == merged["seed_b"]) | (merged["_n_a"] == 1) | (merged["_n_b"] == 1)]
    if merged.empty:
        raise HwrError(f"models {model_a!r} and {model_b!r} share no run (seed and split) in the seeds table")
    merged = merged.sort_values([*split, "seed_a", "seed_b"])
    return merged[f"{metric}_a"].to_numpy(dtype=float), merged[f"{metric}_b"].to_numpy(dtype=float)


def _posterior(diff: np.ndarray, rho: float, rope: float) -> dict:
    """Posterior of the mean difference (Student t, df n-1); a point mass when the differences do not vary."""
    n, (mean, sd) = diff.size, _spread(diff)
    if sd == 0.0:
        better, worse = float(mean > rope), float(mean < -rope)
    else:
        t = stats.t(n - 1, loc=mean, scale=_scale(sd, n, rho))
        better, worse = float(t.sf(rope)), float(t.cdf(-rope))
    return {"p_a_better": better, "p_equivalent": max(0.0, 1.0 - better - worse), "p_b_better": worse,
            "mean": mean, "sd": sd, "n": n}


def _pair(scores_a, scores_b) -> np.ndarray:
    a, b = np.asarray(scores_a, dtype=float), np.asarray(scores_b, dtype=float)
    if a.ndim != 1 or a.shape != b.shape or a.size < 2 or not np.isfinite(a).all() or not np.isfinite(b).all():
        raise HwrError(f"need two equally long 1-d arrays of 2 or more finite paired scores, got shapes {a.shape} and {b.shape}")
    return a - b


@_hwr_params({"scores_a": ["array-like"], "scores_b": ["array-like"], "rho": _RHO, "rope": _ROPE})
def correlated_ttest(scores_a, scores_b, *, rho: float = 0.0, rope: float = ROPE) -> dict:
    """Bayesian correlated t-test (Benavoli et al. 2017) of paired scores, A minus B.

    The mean difference has a Student-t posterior with ``n - 1`` degrees of freedom, location the mean
    of the differences ``d`` and scale ``s * sqrt(1/n + rho/(1-rho))`` (``s`` their sd, ddof=1). When
    every difference is the same (``s = 0``, e.g. a model against itself) the posterior is a point mass
    at ``d``, as in baycomp.

    Returns
    -------
    dict
        ``p_a_better`` = P(diff > rope), ``p_equivalent`` = P(|diff| <= rope), ``p_b_better`` = P(diff < -rope),
        and ``mean``, ``sd``, ``n`` of the differences.
    """
    return _posterior(_pair(scores_a, scores_b), rho, rope)


@_hwr_params({"scores_a": ["array-like"], "scores_b": ["array-like"], "rho": _RHO})
def corrected_ttest(scores_a, scores_b, *, rho: float) -> dict:
    """Nadeau-Bengio corrected resampled t-test of paired scores (two-sided), A minus B.

    ``t = d / (s * sqrt(1/n + rho/(1-rho)))`` with ``n - 1`` degrees of freedom, where ``rho/(1-rho)`` is
    Nadeau and Bengio's ``n_test / n_train`` (``1/(k-1)`` for k-fold cross-validation); ``rho = 0`` is
    the plain paired t-test. Differences that do not vary give ``t = 0, p = 1`` when they are all 0 and
    ``t = ±inf, p = 0`` otherwise.

    Returns
    -------
    dict
        ``statistic``, ``p_value``, ``df``.
    """
    diff = _pair(scores_a, scores_b)
    return _nb_test(*_spread(diff), diff.size, rho)


def _nb_test(mean: float, sd: float, n: int, rho: float) -> dict:
    if sd == 0.0:
        statistic = 0.0 if mean == 0.0 else float(np.sign(mean) * np.inf)
        return {"statistic": statistic, "p_value": float(mean == 0.0), "df": n - 1}
    statistic = mean / _scale(sd, n, rho)
    return {"statistic": float(statistic), "p_value": float(2 * stats.t.sf(abs(statistic), n - 1)), "df": n - 1}


@_hwr_params({"mean": [Real], "sd": [Interval(Real, 0, None, closed="left")], "n": [Interval(Integral, 1, None, closed="left")],
              "rho": _RHO, "rope": _ROPE, "prob": [Interval(Real, 0, 1, closed="neither")]})
def seeds_to_decide(mean: float, sd: float, n: int, *, rho: float = 0.0, rope: float = ROPE,
                    prob: float = DECISION_PROB) -> int | None:
    """Runs that would likely decide a pair, or None when more runs of the same design would not.

    The smallest ``m >= n`` at which, if the observed mean and sd of the differences held, one posterior
    probability (A better, equivalent, B better) reaches ``prob``; ``n`` itself when already decided.
    None when no ``m`` up to :data:`MAX_RUNS_TO_DECIDE` does: a mean difference right at the ROPE's edge,
    or with ``rho > 0`` a variance floor ``rho/(1-rho) s^2`` that more runs of the same design do not shrink.
    """
    if sd == 0.0:
        return n  # a point mass is decided at once
    m = np.arange(max(n, 2), MAX_RUNS_TO_DECIDE + 1)
    scale = sd * np.sqrt(1.0 / m + rho / (1.0 - rho))
    better = stats.t.sf(rope, m - 1, loc=mean, scale=scale)
    worse = stats.t.cdf(-rope, m - 1, loc=mean, scale=scale)
    decided = np.flatnonzero(np.maximum.reduce([better, worse, 1.0 - better - worse]) >= prob)
    return int(m[decided[0]]) if decided.size else None


def verdict(model_a: str, model_b: str, post: dict, needed: int | None, unit: str = "seeds") -> tuple[str, str]:
    """The verdict in words and as a code (``a_better``, ``b_better``, ``equivalent`` or ``undecided``).

    ``"<A> better"`` when P(A better) >= :data:`DECISION_PROB` (likewise B), ``"practically equivalent"``
    when P(equivalent) does; otherwise ``"undecided with N seeds"`` and the :func:`seeds_to_decide`
    estimate.
    """
    if post["p_a_better"] >= DECISION_PROB:
        return f"{model_a} better", "a_better"
    if post["p_b_better"] >= DECISION_PROB:
        return f"{model_b} better", "b_better"
    if post["p_equivalent"] >= DECISION_PROB:
        return "practically equivalent", "equivalent"
    hint = f"about {needed} would likely decide it" if needed else "more of the same would likely not decide it"
    return f"undecided with {post['n']} {unit} ({hint})", "undecided"


@_hwr_params({"seeds": [pd.DataFrame], "rope": _ROPE, **_DESIGN, "metric": [StrOptions(set(SCORES))],
              "confidence": [Interval(Real, 0, 1, closed="neither")]})
def comparisons_table(seeds: pd.DataFrame, *, rope: float = ROPE, design: str = "seeds", test_fraction: float | None = None,
                      n_folds: int | None = None, metric: str = "accuracy", confidence: float = CONFIDENCE) -> pd.DataFrame:
    """Every pair of models judged across training runs.

    Parameters
    ----------
    seeds : DataFrame
        The ``seeds.csv`` table (:data:`SEED_COLUMNS`); models compared in order of first appearance.
    rope : float, default=0.001
        Half-width of the region of practical equivalence, in the metric's units (fractions).
    design, test_fraction, n_folds
        As in :func:`design_correlation`.
    metric : {"accuracy", "macro_f1"}, default="accuracy"
    confidence : float, default=0.95
        Coverage of the interval of the mean difference (corrected for ``rho``, so it equals the
        central credible interval of the posterior).

    Returns
    -------
    DataFrame
        :data:`COMPARISON_COLUMNS`: ``model_a, model_b, mean_diff`` (A minus B), ``ci_low, ci_high``,
        ``p_a_better, p_equivalent, p_b_better`` (:func:`correlated_ttest`), ``verdict`` (:func:`verdict`),
        then ``decision``, ``n_runs`` (paired runs), ``wins_a`` (share of runs where A scores higher, ties
        counted half), ``ties`` (share of equal scores), ``seeds_to_decide`` (:func:`seeds_to_decide`, only
        for undecided pairs), ``p_value`` (:func:`corrected_ttest`), ``rho``, ``rope``, ``design``.
    """
    frame = check_seeds_frame(seeds)
    rho = design_correlation(design, test_fraction=test_fraction, n_folds=n_folds)
    models = list(dict.fromkeys(frame["model"]))
    if len(models) < 2:
        raise HwrError(f"the seeds table holds one model ({models[0]!r}); a comparison needs two or more")
    rows = []
    for model_a, model_b in combinations(models, 2):
        a, b = paired_scores(frame, model_a, model_b, metric)
        diff = a - b
        if diff.size < 2 and (frame["model"] == model_a).sum() + (frame["model"] == model_b).sum() > 2:
            raise HwrError(f"models {model_a!r} and {model_b!r} share only one run; pairing needs the same seeds for both")
        post = _posterior(diff, rho, rope)
        undecided = max(post["p_a_better"], post["p_equivalent"], post["p_b_better"]) < DECISION_PROB
        needed = seeds_to_decide(post["mean"], post["sd"], diff.size, rho=rho, rope=rope) if undecided else None
        text, code = verdict(model_a, model_b, post, needed, DESIGNS[design])
        low, high = _interval(post["mean"], post["sd"], diff.size, rho, confidence)
        ties = float(np.mean(np.abs(diff) <= _EXACT))
        rows.append({"model_a": model_a, "model_b": model_b, "mean_diff": post["mean"], "ci_low": low, "ci_high": high,
                     "p_a_better": post["p_a_better"], "p_equivalent": post["p_equivalent"],
                     "p_b_better": post["p_b_better"], "verdict": text, "decision": code, "n_runs": diff.size,
                     "wins_a": float(np.mean(diff > _EXACT)) + ties / 2, "ties": ties, "seeds_to_decide": needed,
                     "p_value": _nb_test(post["mean"], post["sd"], diff.size, rho)["p_value"], "rho": rho,
                     "rope": float(rope), "design": design})
    table = pd.DataFrame(rows, columns=list(COMPARISON_COLUMNS))
    table["seeds_to_decide"] = table["seeds_to_decide"].astype("Int64")
    return table
