"""Declarative argument checks with scikit-learn's constraint machinery, raised as one-line ``HwrError``.

scikit-learn states what a parameter accepts (``Interval(Integral, 1, None, closed="left")``,
``StrOptions({...})``, ``None``) and words every refusal the same way; this module reuses that for the
project's own functions and estimators, and adds the one rule scikit-learn leaves out: ``True`` and
``False`` are not numbers here (``per_class=True`` is a mistake, not ``per_class=1``).
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping

from sklearn.utils._param_validation import Interval, InvalidParameterError, validate_parameter_constraints

from .errors import HwrError


class _Shown:
    """Stands in for a refused value so that scikit-learn's message shows the value itself."""

    def __init__(self, value):
        self.value = value

    def __repr__(self) -> str:
        return repr(self.value)


def _numeric_only(constraints: list) -> bool:
    return not any(c == "boolean" or c is bool or (isinstance(c, type) and issubclass(bool, c)) for c in constraints) \
        and any(isinstance(c, Interval) for c in constraints)


def check_constraints(constraints: Mapping[str, list], params: Mapping[str, object], caller: str,
                      error: type[HwrError] = HwrError) -> None:
    """Check ``params`` against scikit-learn style ``constraints``; raise ``error`` with one line if one fails.

    Parameters
    ----------
    constraints : mapping of name to list of constraints
        As in scikit-learn's ``_parameter_constraints`` (only the names present in ``params`` are checked).
    params : mapping of name to value
    caller : str
        The function or class named in the message.
    error : subclass of HwrError, default=HwrError
    """
    shown = {}
    for name, value in params.items():
        # A bool passes Interval(Integral, ...) in scikit-learn: refuse it where only numbers make sense.
        if isinstance(value, bool) and name in constraints and _numeric_only(constraints[name]):
            shown[name] = _Shown(value)
    try:
        validate_parameter_constraints(
            {k: v for k, v in constraints.items() if k in params}, {**params, **shown}, caller_name=caller
        )
    except InvalidParameterError as exc:
        raise error(str(exc)) from None


class ParameterError(HwrError, InvalidParameterError):
    """A constructor parameter of an estimator that cannot work: one line for users, and scikit-learn's own
    ``InvalidParameterError`` for its checks and for code that catches it."""


class ValidatedParamsMixin:
    """``_validate_params`` over ``_parameter_constraints`` raising :class:`ParameterError` (bools are not numbers)."""

    def _validate_params(self) -> None:
        check_constraints(self._parameter_constraints, self.get_params(deep=False), type(self).__name__,
                          ParameterError)


def as_int(value):
    """``value`` as a plain ``int`` when it is an integer (numpy's included), so records stay JSON-serialisable."""
    return int(value) if isinstance(value, numbers.Integral) and not isinstance(value, bool) else value


__all__ = ["ParameterError", "ValidatedParamsMixin", "as_int", "check_constraints"]
