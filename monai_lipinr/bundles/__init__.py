"""MONAI bundles shipped with the package (``configs/`` + ``metadata.json``, run by ``monai.bundle``).

* ``lung_registration``: lung CT registration with a tissue-strain Lipschitz budget on the bundled demo
  pair (or any pair, by overriding ``fixed``/``moving``/``fixed_mask``), with MONAI handlers on the
  optimisation engine and the registration outputs written to ``output_dir``::

      python -m monai.bundle run --config_file "$(python -c 'from monai_lipinr.bundles import bundle_config;
          print(bundle_config("lung_registration"))')" --iterations 300 --output_dir out
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

from monai_lipinr.bundles.staging import StagedOutputDir

__all__ = ["BUNDLES", "StagedOutputDir", "bundle_root", "bundle_config"]

#: Names of the shipped bundles.
BUNDLES: tuple[str, ...] = ("lung_registration",)


def bundle_root(name: str = "lung_registration") -> Path:
    """Folder of a shipped bundle (holds ``configs/`` and ``docs/``).

    Raises:
        ValueError: for an unknown bundle name.
        FileNotFoundError: when the package was installed without its bundle files.
    """
    if name not in BUNDLES:
        raise ValueError(f"name must be one of {BUNDLES}, got {name!r}.")
    root = Path(str(importlib.resources.files(__package__) / name))
    if not (root / "configs" / "metadata.json").is_file():
        raise FileNotFoundError(f"bundle {name!r} not found at {str(root)!r}; reinstall monai_lipinr with its data.")
    return root


def bundle_config(name: str = "lung_registration", config: str = "inference.json") -> Path:
    """Path of a config file of a shipped bundle (e.g. for ``python -m monai.bundle run --config_file``)."""
    path = bundle_root(name) / "configs" / config
    if not path.is_file():
        raise FileNotFoundError(f"bundle {name!r} has no config {config!r} (looked at {str(path)!r}).")
    return path
