"""Convoy's services: one package per deployable, plus kit (shared infrastructure)."""
