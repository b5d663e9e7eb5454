"""The catalog service: packages, their versions, formats, architectures and deploy profiles."""
