"""Every consumer of a built repository sees the same configs and the same data files.

The repository is the demo's, with what real repositories collect over time: a judgment
config, a stray parquet file beside a config's data files, a scratch folder holding no data
file and an editor's backup. The writer's check, mixes, analyses, the held-out split, the
lm-eval pack and the judgment readers all read it through ``wildchat50m.layout``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from wildchat50m.builders.repository import check_repository

from wildchat50m.analyses.sources import choose_configs
from wildchat50m.heldout import heldout_hashes
from wildchat50m.judging import judgment_files
from wildchat50m.layout import Repository, RepositoryError, is_hub_id, judgment_config_name
from wildchat50m.mixes.sources import config_stream

JUDGMENT = judgment_config_name("factuality", "tiny-a", "tiny-b")


@pytest.fixture(scope="module")
def cluttered(demo_output: Path, tmp_path_factory) -> Path:
    repo = tmp_path_factory.mktemp("layout") / "wildchat-50m"
    shutil.copytree(demo_output / "wildchat-50m", repo)
    data = repo / "data"
    first = Repository(repo).data_files("tiny-a")[0]
    (data / JUDGMENT).mkdir()
    shutil.copy(first, data / JUDGMENT / "train-00000-of-00001.parquet")
    shutil.copy(first, data / "tiny-a" / "scratch-copy.parquet")  # not a data file: wrong name
    (data / "scratch").mkdir()
    shutil.copy(first, data / "scratch" / "rows.parquet")
    (data / "tiny-b" / "train-00000-of-00001.parquet~").write_bytes(b"editor backup")
    return repo


def test_every_consumer_sees_the_same_configs(cluttered: Path, cli):
    repository = Repository.open(cluttered)
    assert repository.configs() == sorted(["tiny-a", "tiny-b", JUDGMENT])
    assert repository.answer_configs() == ["tiny-a", "tiny-b"]
    assert repository.judgment_configs() == [JUDGMENT]
    assert "scratch" in repository.config_folders() and "scratch" not in repository.configs()

    tiny_a_files = repository.data_files("tiny-a")
    assert [f.name for f in tiny_a_files] == [
        f.name for f in sorted((cluttered / "data" / "tiny-a").glob("train-*-of-*.parquet"))
    ]
    assert config_stream(cluttered, "tiny-a").files == tiny_a_files, "mixes read the same files"
    assert choose_configs(cluttered, None) == repository.answer_configs(), "analyses pick answer configs"
    assert judgment_files(cluttered) == repository.data_files(JUDGMENT), "judgment readers"

    rows = sum(
        pq.read_metadata(f).num_rows for c in repository.answer_configs() for f in repository.data_files(c)
    )
    hashes = heldout_hashes(cluttered, fraction=1.0)
    assert len(hashes) == len(set(hashes)) and 0 < len(hashes) <= rows, "held-out split over answer configs"

    pack = Path(cli("eval", "tasks-path", "--repo", str(cluttered)).stdout.strip())
    group = (pack / "wildchat50m.yaml").read_text(encoding="utf-8")
    assert "wildchat50m_tiny-a" in group and "wildchat50m_tiny-b" in group and JUDGMENT not in group

    problems = check_repository(cluttered)
    assert any("scratch" in p for p in problems), "the check names the folder without data files"
    assert any(JUDGMENT in p for p in problems), "and the config the card does not declare"
    assert not any("scratch-copy" in p or "~" in p for p in problems), "stray files are not data files"


def test_a_missing_config_names_the_ones_there_are(cluttered: Path):
    with pytest.raises(RepositoryError, match=r"has no config 'scratch'; it has: judgments--"):
        Repository(cluttered).data_files("scratch")
    with pytest.raises(RepositoryError, match="no data/ folder"):
        Repository.open(cluttered / "data")
    assert is_hub_id("allenai/WildChat-1M") and not is_hub_id(str(cluttered)) and not is_hub_id("a/b/c")
