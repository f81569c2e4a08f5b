"""The package list: every package under custody/ plus the folders pyproject.toml maps into the distribution.

Computed rather than listed, so a new subpackage of custody/ can never be left out of the wheel.
"""

from setuptools import find_packages, setup

setup(packages=[*find_packages(include=["custody", "custody.*"]), "custody_cli", "custody._alembic", "custody._schemas"])
