"""Packages of the flat layout for `pip install .` (metadata and data files: pyproject.toml)."""
from setuptools import find_packages, setup

ATELIER = find_packages("platform", include=["atelier", "atelier.*"])
OTHERS = find_packages(".", include=["ml_core", "ml_core.*", "plugins", "plugins.*"])

setup(
    packages=ATELIER + OTHERS + ["atelier.frontend"],
    package_dir={"atelier": "platform/atelier", "atelier.frontend": "frontend"},
)
