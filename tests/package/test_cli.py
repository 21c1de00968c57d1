"""The command line's contract for errors: the package's own errors become one clean line at
the root (exit 1), wrong options a usage message (exit 2), and anything else a traceback."""

from __future__ import annotations

import pytest

from wildchat50m import heldout
from wildchat50m.errors import WildChat50mError


def test_a_package_error_is_one_line_without_traceback(cli_in_process):
    result = cli_in_process("dgms", "--show", "nope-70b", expect=1)
    assert result.stderr.startswith("Error: unknown DGM 'nope-70b'. Closest names:")
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_a_wrong_option_is_a_usage_error(cli_in_process):
    result = cli_in_process("generate", "--shard", "3/2", expect=2)
    assert "need 0 <= I < N, got 3/2" in result.stderr
    assert "--ray-address needs --executor ray" in (
        cli_in_process("generate", "--ray-address", "auto", expect=2).stderr
    )
    assert "write auto or a whole number of at least 1, not '0'" in (
        cli_in_process("generate", "--replicas", "0", expect=2).stderr
    )


def test_errors_of_nested_groups_reach_the_root(cli_in_process, tmp_path):
    assert "no data/ folder" in cli_in_process("eval", "heldout", "--repo", str(tmp_path), expect=1).stderr
    assert "re-wilde" in cli_in_process("mix", "show", "re-wilde", expect=1).stderr


def test_an_unexpected_exception_keeps_its_traceback(cli_in_process, tmp_path, monkeypatch):
    def broken(*_args, **_kwargs):
        raise ZeroDivisionError("a bug, not a user error")

    monkeypatch.setattr(heldout, "heldout_hashes", broken)
    (tmp_path / "data" / "x").mkdir(parents=True)
    with pytest.raises(ZeroDivisionError, match="a bug"):
        cli_in_process("eval", "heldout", "--repo", str(tmp_path))
    assert not issubclass(ZeroDivisionError, WildChat50mError)
