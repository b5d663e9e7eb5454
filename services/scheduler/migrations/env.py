"""Alembic environment of the scheduler schema."""

from sqlmodel import SQLModel

import services.scheduler.models  # noqa: F401 - registers the tables on the metadata
from services.kit.migrations import run_env

run_env(SQLModel.metadata)
