"""The Space's README.md: front matter (sdk, sdk_version, app_file, datasets) rendered from cards/."""

from __future__ import annotations

import re
from pathlib import Path

SPACE_DIR = Path(__file__).resolve().parent
TEMPLATE = "space_readme.md.j2"
#: The dataset repository the committed README points at.
DEFAULT_DATASET = "allenai/WildChat-50m"


def gradio_version() -> str:
    """The gradio version the Space pins in requirements.txt: the one owner of ``sdk_version``."""
    text = (SPACE_DIR / "requirements.txt").read_text(encoding="utf-8")
    match = re.search(r"^gradio==([\w.]+)\s*$", text, flags=re.MULTILINE)
    if not match:
        raise ValueError(f"{SPACE_DIR / 'requirements.txt'} must pin gradio==X.Y.Z")
    return match.group(1)


def render_space_readme(dataset: str = DEFAULT_DATASET) -> str:
    """README.md of the Space showing ``dataset`` (a Hub id)."""
    import jinja2

    from wildchat50m.resources import cards_dir

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(cards_dir())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    return environment.get_template(TEMPLATE).render(
        dataset=dataset, sdk_version=gradio_version(), app_file="app.py"
    )
