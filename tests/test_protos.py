"""The generated protobuf modules are current, importable, and follow the contract conventions."""

from __future__ import annotations

import importlib
import inspect
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
PROTOGEN = REPO_ROOT / "tools" / "protogen.py"
SERVICES = ["auth", "inventory", "catalog", "scheduler", "transfer", "agent"]


def run_check(root: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(PROTOGEN), "--check", "--root", str(root)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def generated(service: str, suffix: str) -> ModuleType:
    return importlib.import_module(f"convoy.{service}.v1.{service}_{suffix}")


def test_generated_code_is_current() -> None:
    result = run_check(REPO_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_fails_after_a_proto_changes(tmp_path: Path) -> None:
    shutil.copytree(REPO_ROOT / "proto", tmp_path / "proto")
    shutil.copytree(REPO_ROOT / "gen", tmp_path / "gen", ignore=shutil.ignore_patterns("__pycache__"))
    assert run_check(tmp_path).returncode == 0
    proto = tmp_path / "proto" / "convoy" / "auth" / "v1" / "auth.proto"
    added_field = "message GetJwksRequest {\n  string kid = 1;\n}"
    proto.write_text(proto.read_text().replace("message GetJwksRequest {}", added_field))

    result = run_check(tmp_path)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "convoy/auth/v1/auth_pb2.py" in result.stdout


@pytest.mark.parametrize("service", SERVICES)
def test_each_package_defines_a_servicer(service: str) -> None:
    module = generated(service, "pb2_grpc")
    classes = [name for name, value in vars(module).items() if inspect.isclass(value)]
    servicers = [name for name in classes if name.endswith("Servicer")]
    assert servicers, f"{module.__name__} has no servicer class"


@pytest.mark.parametrize("service", SERVICES)
def test_list_rpcs_are_paginated(service: str) -> None:
    for descriptor in generated(service, "pb2").DESCRIPTOR.services_by_name.values():
        for method in descriptor.methods:
            if not method.name.startswith("List"):
                continue
            request, response = method.input_type.fields_by_name, method.output_type.fields_by_name
            assert {"page_size", "page_token"} <= set(request), f"{descriptor.name}.{method.name} request"
            assert "next_page_token" in response, f"{descriptor.name}.{method.name} response"
