"""The one exception type that reaches users as a single line instead of a traceback."""


class HwrError(ValueError):
    """Bad input from the user: a missing or malformed file, an unknown name, an impossible setting.

    The message must stand on its own in one line and name the file or value at fault. The CLI prints it
    and exits with status 2. Subclassing ``ValueError`` keeps scikit-learn's parameter checks happy.
    """


class DataError(HwrError):
    """A data file or directory that cannot be read as what it claims to be."""


class SyntheticDataWarning(UserWarning):
    """No real data was found, so :func:`hwr_eval.load_dataset` used the synthetic demo set (rendered fonts).

    Results on it say nothing about handwriting. Silence it on purpose with
    ``warnings.filterwarnings("ignore", category=hwr_eval.SyntheticDataWarning)``.
    """
