"""convoyctl: the Convoy command line (servers, groups, packages, deployments, policies)."""

__all__ = ["__version__"]

__version__ = "0.1.0"
