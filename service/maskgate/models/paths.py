"""Where the model directory is."""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "MASKGATE_MODEL_DIR"
MANIFEST_NAME = "manifest.toml"


def source_tree_models() -> Path:
    """``models/`` of the checkout this package was installed from (editable installs)."""
    return Path(__file__).resolve().parents[3] / "models"


def default_model_dir() -> Path:
    """``$MASKGATE_MODEL_DIR``, else the checkout's ``models/``, else ``./models``."""
    if env := os.environ.get(ENV_VAR):
        return Path(env)
    tree = source_tree_models()
    if (tree / MANIFEST_NAME).is_file():
        return tree
    return Path.cwd() / "models"
