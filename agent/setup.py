"""Installs the node agent and its `convoy-agent` command: `python3 -m pip install ./agent`.

Plain setuptools, so that the pip of Python 3.6 (CentOS 7/8) installs it too.
"""

import os
import re

from setuptools import find_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def _version():
    with open(os.path.join(HERE, "convoy_agent", "__init__.py")) as handle:
        return re.search(r'__version__ = "([^"]+)"', handle.read()).group(1)


def _requirements():
    with open(os.path.join(HERE, "requirements.txt")) as handle:
        return [line.strip() for line in handle if line.strip() and not line.startswith("#")]


setup(
    name="convoy-agent",
    version=_version(),
    description="The Convoy node agent",
    packages=find_packages(include=["convoy_agent", "convoy_agent.*"]),
    python_requires=">=3.6",
    install_requires=_requirements(),
    entry_points={"console_scripts": ["convoy-agent = convoy_agent.cli:main"]},
)
