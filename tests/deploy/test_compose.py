"""The compose files: valid against the Compose Specification, secrets that fail fast, a start gated on health
and on the migrate step, containers locked down, and only settings the services really read."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.deploy.manifests import (
    COMPOSE_FILES,
    GRPC_SERVICES,
    REPO,
    load_compose,
    merged_services,
    python,
    run_tool,
    setting_variables,
)

# `$$` (a literal dollar), `${...}` or `$NAME`.
INTERPOLATION = re.compile(r"\$(\$|\{[^}]*\}|[A-Za-z_][A-Za-z0-9_]*)")
# Inside the braces: a name and what happens when it is unset (`:-`/`-` a default, `:?`/`?` an error,
# `:+`/`+` an alternative).
BRACED = re.compile(r"\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<operator>:?[-?+])(?P<rest>.*)\}", re.DOTALL)
REQUIRED_SECRETS = ("CONVOY_DB_PASSWORD", "CONVOY_ADMIN_PASSWORD")
CONVOY_IMAGE = "${CONVOY_IMAGE"


def interpolations(name: str) -> list[str]:
    return [found for found in INTERPOLATION.findall((REPO / name).read_text()) if found != "$"]


def one_shot(services: dict[str, dict[str, Any]]) -> set[str]:
    """Steps that run to completion before others start (what others wait for with
    service_completed_successfully)."""
    return {
        target
        for body in services.values()
        for target, wanted in (body.get("depends_on") or {}).items()
        if isinstance(wanted, dict) and wanted.get("condition") == "service_completed_successfully"
    }


def is_convoy(body: dict[str, Any]) -> bool:
    return str(body.get("image", "")).startswith(CONVOY_IMAGE)


def environment(body: dict[str, Any]) -> dict[str, str]:
    env = body.get("environment") or {}
    assert isinstance(env, dict), "environment is written as a mapping"
    return {str(key): str(value) for key, value in env.items()}


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_the_compose_file_follows_the_compose_specification(name: str) -> None:
    assert (REPO / name).is_file(), f"{name} is missing"
    done = run_tool(python(), "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", name)
    assert done.returncode == 0, (
        f"{name} does not follow the Compose Specification:\n{done.stdout}{done.stderr}"
    )


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_every_variable_has_a_default_or_fails_fast(name: str) -> None:
    found = interpolations(name)
    assert found, f"{name} reads no variable at all"
    for reference in found:
        braced = BRACED.fullmatch(reference)
        assert braced is not None, (
            f"{name}: ${reference} has neither a default (${{VAR:-default}}) nor an error (${{VAR:?message}}): "
            "an unset variable would silently become empty"
        )
        if braced["operator"].endswith("?"):
            assert braced["rest"].strip(), (
                f"{name}: ${reference} fails without telling the operator what to set"
            )


def test_the_passwords_are_required_with_a_message() -> None:
    found = [BRACED.fullmatch(reference) for reference in interpolations("compose.yaml")]
    for secret in REQUIRED_SECRETS:
        uses = [match for match in found if match is not None and match["name"] == secret]
        assert uses, f"compose.yaml never reads {secret}"
        assert all(match["operator"] == ":?" and match["rest"].strip() for match in uses), (
            f"{secret} must be required: ${{{secret}:?message}} everywhere"
        )


def test_no_password_is_written_into_a_compose_file() -> None:
    for service, body in merged_services().items():
        for key, value in environment(body).items():
            if "PASSWORD" in key:
                assert BRACED.fullmatch(value.lstrip("$")), f"{service}: {key} is set to a literal value"


def test_every_long_running_service_reports_its_health() -> None:
    services = merged_services()
    steps = one_shot(services)
    waited_on = {
        target
        for body in services.values()
        for target, wanted in (body.get("depends_on") or {}).items()
        if wanted.get("condition") == "service_healthy"
    }
    for service, body in services.items():
        if service in steps:
            assert body.get("restart") == "no", f"the one-shot step {service} must not be restarted"
            continue
        check = body.get("healthcheck")
        assert check, f"{service} has no healthcheck"
        if check.get("disable"):
            # An image with nothing inside that could check it: said so explicitly, and nobody waits on it.
            assert service not in waited_on, f"{service} has no health check, yet services wait for it"
            continue
        assert check.get("test") and check["test"][0] in ("CMD", "CMD-SHELL"), f"{service}: healthcheck test"


def test_every_dependency_waits_for_health_or_completion() -> None:
    services = merged_services()
    steps = one_shot(services)
    for service, body in services.items():
        depends = body.get("depends_on") or {}
        assert isinstance(depends, dict), f"{service}: depends_on must name a condition for each dependency"
        for target, wanted in depends.items():
            assert target in services, f"{service} depends on {target}, which does not exist"
            condition = wanted.get("condition")
            expected = "service_completed_successfully" if target in steps else "service_healthy"
            assert condition == expected, f"{service} waits for {target} with {condition}, not {expected}"


def test_every_service_starts_after_the_migrations() -> None:
    services = load_compose("compose.yaml")["services"]

    def reaches(service: str, goal: str) -> bool:
        return any(t == goal or reaches(t, goal) for t in (services[service].get("depends_on") or {}))

    migrate = " ".join(services["migrate"]["command"])
    for svc in GRPC_SERVICES:
        assert f"python -m services.{svc} migrate" in migrate, f"the migrate step skips {svc}"
        assert reaches(svc, "migrate"), f"{svc} may start before the migrations ran"
    assert "services.auth create-admin" in migrate
    assert reaches("gateway", "migrate")
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert reaches("migrate", "pki"), "migrations need the PKI step's signing key"


def test_containers_are_locked_down() -> None:
    for service, body in load_compose("compose.yaml")["services"].items():
        assert body.get("read_only") is True, f"{service}: the root filesystem must be read-only"
        assert "no-new-privileges:true" in body.get("security_opt", []), f"{service}: no-new-privileges"
        if is_convoy(body):
            assert body.get("user") == "10001:10001", f"{service} must run as 10001"
            assert body.get("cap_drop") == ["ALL"], f"{service} must drop every capability"
            assert "/tmp" in body.get("tmpfs", []), f"{service}: /tmp is the only writable scratch space"


def test_services_serve_plaintext_health_and_metrics_on_9100() -> None:
    services = load_compose("compose.yaml")["services"]
    for svc in GRPC_SERVICES:
        env = environment(services[svc])
        prefix = f"CONVOY_{svc.upper()}_"
        port = env[prefix + "HEALTH_LISTEN"].rpartition(":")[2]
        assert env[prefix + "METRICS_LISTEN"] == "0.0.0.0:9100", f"{svc}: metrics on 0.0.0.0:9100"
        test = services[svc]["healthcheck"]["test"]
        assert test == ["CMD", "python", "-m", "services.kit.healthcheck", f"127.0.0.1:{port}"], svc
    gateway = services["gateway"]
    port = environment(gateway)["CONVOY_GATEWAY_ADDR"].rpartition(":")[2]
    assert f"https://127.0.0.1:{port}/healthz" in gateway["healthcheck"]["test"]
    assert {"CONVOY_GATEWAY_HTTPS_CERT", "CONVOY_GATEWAY_HTTPS_KEY"} <= set(environment(gateway))
    assert environment(gateway)["CONVOY_GATEWAY_METRICS_LISTEN"] == "0.0.0.0:9100", "gateway metrics on 9100"
    published = [mapping.rpartition(":")[2] for mapping in gateway.get("ports", [])]
    assert published == [port], f"the gateway publishes its HTTPS port only, not {published}"


def test_every_convoy_variable_is_a_setting_a_service_reads() -> None:
    known = setting_variables()
    for service, body in merged_services().items():
        for key in environment(body):
            if key.startswith("CONVOY_"):
                assert key in known, f"{service}: no Convoy process reads {key}"
