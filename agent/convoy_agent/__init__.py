"""The Convoy node agent: enrolls a node, keeps one control stream to the scheduler, and installs catalogued
artifacts with the node's own package tools. Runs on the distribution's python3 (3.6 and later)."""

__version__ = "0.4.0"
