"""Helpers the tests share: real servers on port 0, real certificates, real databases."""
