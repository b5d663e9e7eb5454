"""Alembic environment of the auth schema."""

from sqlmodel import SQLModel

import services.auth.models  # noqa: F401 - registers the tables on the metadata
from services.kit.migrations import run_env

run_env(SQLModel.metadata)
