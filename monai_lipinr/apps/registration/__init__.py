"""Lung CT registration with tissue-strain Lipschitz budgets."""

from __future__ import annotations

from monai_lipinr.apps.registration.config import RegistrationConfig
from monai_lipinr.apps.registration.engine import INRRegistration, RegistrationResult

__all__ = ["INRRegistration", "RegistrationConfig", "RegistrationResult"]
