"""Fixtures shared by the CLI tests: run a command in-process, and check a bad-input result."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from hwr_eval.cli import app


@pytest.fixture
def invoke():
    """``invoke(*args)`` runs ``hwr-eval ARGS...`` in-process; paths and numbers are turned into strings."""
    runner = CliRunner()
    return lambda *args: runner.invoke(app, [str(arg) for arg in args])


@pytest.fixture
def one_line_error():
    """``one_line_error(result, *fragments, code=2)`` -> the error line, after checking the bad-input contract.

    The contract: exit status ``code``, no traceback, and one ``error:`` line containing every fragment,
    last on stderr (a warning, such as the synthetic-data one, may come before it).
    """

    def check(result, *fragments: str, code: int = 2) -> str:
        assert result.exit_code == code, result.output
        assert "Traceback" not in result.output
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("error:")]
        assert len(errors) == 1 and lines[-1] == errors[0], result.stderr
        for fragment in fragments:
            assert fragment in errors[0], errors[0]
        return errors[0]

    return check
