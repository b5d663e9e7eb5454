"""Sync policies on a real scheduler, inventory and catalog: create, read, list, change and delete them,
checks with named reasons, contradicting policies refused, audit, generations, roles, and compliance reads
over rows written straight into the scheduler's database (the reconciler is off here)."""

import asyncio
import uuid
from datetime import UTC, datetime

import asyncpg
import grpc
import pytest
from sqlmodel import col, select

from convoy.inventory.v1 import inventory_pb2 as inv_pb
from convoy.scheduler.v1 import scheduler_pb2 as pb
from services.kit.hints import RECONCILE_CHANNEL
from services.scheduler.models import Compliance, Policy
from services.scheduler.notify import plain_dsn
from tests.support.mistakes import server_faults
from tests.support.scheduler import Fleet, SchedulerStack
from tests.support.stack import AuthStack
from tests.support.users import Users, audit_by_request, grpc_auth, request_id

# Without its reconciler: the compliance rows these tests read are the ones they write.
SCHEDULER_SETTINGS = {"with_reconciler": False}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def request(name: str, software: str, target: inv_pb.Target, **fields: object) -> pb.CreatePolicyRequest:
    """Present at latest, enforced and enabled unless `fields` say otherwise."""
    values: dict[str, object] = {"state": pb.DESIRED_STATE_PRESENT, "mode": pb.POLICY_MODE_ENFORCE}
    values.update(enabled=True)
    values.update(fields)
    if "exact_version" not in values and values["state"] == pb.DESIRED_STATE_PRESENT:
        values.setdefault("latest", True)
    return pb.CreatePolicyRequest(name=name, software_name=software, target=target, **values)


async def create(client, token: str, message: pb.CreatePolicyRequest, rid: str = "") -> pb.SyncPolicy:
    return (await client.CreatePolicy(message, metadata=grpc_auth(token, rid), timeout=10)).policy


async def refused(call, message, token: str) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(message, metadata=grpc_auth(token), timeout=10)
    return caught.value


async def stored(scheduler: SchedulerStack, policy_id: str) -> Policy | None:
    async with scheduler.process.db.transaction() as session:
        return await session.get(Policy, uuid.UUID(policy_id))


async def software(fleet: Fleet, *versions: str) -> str:
    name = unique("pol")
    for version in versions:
        await fleet.package(name, version)
    return name


async def test_a_policy_is_created_read_listed_changed_and_deleted(
    client, scheduler: SchedulerStack, fleet: Fleet, users: Users
):
    nodes = [await fleet.server() for _ in range(2)]
    group = await fleet.group(*nodes)
    name = await software(fleet, "1.0", "2.0")
    message = request(
        unique("Alpha web"),
        name,
        inv_pb.Target(group_id=group),
        exact_version="1.0",
        strategy=pb.Strategy(batch_size=1, canary=True),
        mode=pb.POLICY_MODE_REPORT,
    )
    policy = await create(client, users.operator, message)
    assert (policy.name, policy.software_name, policy.exact_version) == (message.name, name, "1.0")
    assert policy.target.group_id == group and policy.state == pb.DESIRED_STATE_PRESENT
    assert policy.mode == pb.POLICY_MODE_REPORT and policy.enabled
    assert policy.strategy.batch_size == 1 and policy.strategy.canary
    assert policy.created_by == users.operator_name and policy.HasField("created_at")
    viewer = grpc_auth(users.viewer)
    got = await client.GetPolicy(pb.GetPolicyRequest(id=policy.id), metadata=viewer, timeout=10)
    assert got.policy == policy

    second = await create(
        client,
        users.operator,
        request(unique("beta web"), name, inv_pb.Target(group_id=group), enabled=False),
    )
    assert second.latest and second.WhichOneof("desired_version") == "latest"
    listed = await client.ListPolicies(
        pb.ListPoliciesRequest(software_name=name, page_size=1), metadata=viewer, timeout=10
    )
    assert listed.total_size == 2 and [p.id for p in listed.policies] == [policy.id]
    rest = await client.ListPolicies(
        pb.ListPoliciesRequest(software_name=name, page_size=1, page_token=listed.next_page_token),
        metadata=viewer,
        timeout=10,
    )
    assert [p.id for p in rest.policies] == [second.id] and not rest.next_page_token
    reported = await client.ListPolicies(
        pb.ListPoliciesRequest(software_name=name, mode=pb.POLICY_MODE_REPORT, enabled=True),
        metadata=viewer,
        timeout=10,
    )
    assert [p.id for p in reported.policies] == [policy.id]

    # A new name changes nothing the policy wants: same generation.
    renamed = await client.UpdatePolicy(
        pb.UpdatePolicyRequest(id=policy.id, name="renamed " + policy.name),
        metadata=grpc_auth(users.operator),
        timeout=10,
    )
    assert renamed.policy.name.startswith("renamed ") and renamed.policy.exact_version == "1.0"
    assert (await stored(scheduler, policy.id)).generation == 1
    changed = await client.UpdatePolicy(
        pb.UpdatePolicyRequest(id=policy.id, exact_version="2.0", mode=pb.POLICY_MODE_ENFORCE),
        metadata=grpc_auth(users.operator),
        timeout=10,
    )
    assert changed.policy.exact_version == "2.0" and changed.policy.mode == pb.POLICY_MODE_ENFORCE
    assert changed.policy.strategy.batch_size == 1, "fields left out stay as they were"
    assert (await stored(scheduler, policy.id)).generation == 2
    absent = await client.UpdatePolicy(
        pb.UpdatePolicyRequest(id=policy.id, state=pb.DESIRED_STATE_ABSENT),
        metadata=grpc_auth(users.operator),
        timeout=10,
    )
    assert absent.policy.state == pb.DESIRED_STATE_ABSENT
    assert absent.policy.WhichOneof("desired_version") is None
    assert (await stored(scheduler, policy.id)).generation == 3

    await write_compliance(scheduler, policy.id, [("n-1", "compliant", [])])
    await client.DeletePolicy(
        pb.DeletePolicyRequest(id=policy.id), metadata=grpc_auth(users.operator), timeout=10
    )
    gone = await refused(client.GetPolicy, pb.GetPolicyRequest(id=policy.id), users.viewer)
    assert gone.code() == grpc.StatusCode.NOT_FOUND
    async with scheduler.process.db.transaction() as session:
        rows = await session.exec(select(Compliance).where(col(Compliance.policy_id) == uuid.UUID(policy.id)))
        assert list(rows) == [], "its compliance rows went with it"


async def test_an_absent_policy_needs_no_package_and_a_disabled_one_is_kept_disabled(
    client, fleet: Fleet, users: Users
):
    node = await fleet.server()
    message = request(
        unique("no telnet"), unique("telnetd"), inv_pb.Target(server_id=node), state=pb.DESIRED_STATE_ABSENT
    )
    policy = await create(client, users.operator, message)
    assert policy.state == pb.DESIRED_STATE_ABSENT and policy.WhichOneof("desired_version") is None
    # proto3: a CreatePolicyRequest that does not say enabled makes a disabled policy.
    quiet = request(unique("quiet"), unique("x"), inv_pb.Target(all=True), state=pb.DESIRED_STATE_ABSENT)
    quiet.ClearField("enabled")
    assert not (await create(client, users.operator, quiet)).enabled


@pytest.mark.parametrize(
    ("change", "code", "words"),
    [
        ({"name": "  "}, grpc.StatusCode.INVALID_ARGUMENT, "name must be 1-128 characters"),
        ({"name": "a\x1bb"}, grpc.StatusCode.INVALID_ARGUMENT, "without control characters"),
        ({"name": "n" * 129}, grpc.StatusCode.INVALID_ARGUMENT, "name must be 1-128"),
        ({"software_name": "Bad Name!"}, grpc.StatusCode.INVALID_ARGUMENT, "software_name must be"),
        ({"target": None}, grpc.StatusCode.INVALID_ARGUMENT, "target must set one of"),
        ({"target": inv_pb.Target(all=False)}, grpc.StatusCode.INVALID_ARGUMENT, "target"),
        ({"target": inv_pb.Target(group_id=str(uuid.uuid4()))}, grpc.StatusCode.NOT_FOUND, "group"),
        ({"target": inv_pb.Target(selector="group=nosuchgroup")}, grpc.StatusCode.NOT_FOUND, "nosuchgroup"),
        ({"latest": False}, grpc.StatusCode.INVALID_ARGUMENT, "latest must be true"),
        ({"exact_version": "1 .0"}, grpc.StatusCode.INVALID_ARGUMENT, "exact_version must be"),
        ({"exact_version": "9.9"}, grpc.StatusCode.NOT_FOUND, "at version '9.9'"),
        ({"latest": None}, grpc.StatusCode.INVALID_ARGUMENT, "state present needs exact_version or latest"),
        (
            {"state": pb.DESIRED_STATE_ABSENT},
            grpc.StatusCode.INVALID_ARGUMENT,
            "state absent takes no version",
        ),
        ({"state": 99}, grpc.StatusCode.INVALID_ARGUMENT, "state must be present or absent"),
        ({"mode": 99}, grpc.StatusCode.INVALID_ARGUMENT, "mode must be enforce or report"),
        (
            {"strategy": pb.Strategy(batch_size=2, batch_percent=10)},
            grpc.StatusCode.INVALID_ARGUMENT,
            "batch_size or batch_percent",
        ),
        ({"software_name": "nothing-uploaded"}, grpc.StatusCode.NOT_FOUND, "has no package in the catalog"),
    ],
)
async def test_mistakes_in_a_new_policy_are_named(client, fleet: Fleet, users: Users, change, code, words):
    node = await fleet.server()
    name = await software(fleet, "1.0")
    fields = {
        "target": inv_pb.Target(server_id=node),
        "software_name": name,
        "state": pb.DESIRED_STATE_PRESENT,
    }
    if "exact_version" not in change:
        fields["latest"] = True
    fields = {key: value for key, value in {**fields, **change}.items() if value is not None}
    message = pb.CreatePolicyRequest(name=fields.pop("name", unique("bad")), enabled=True, **fields)
    error = await refused(client.CreatePolicy, message, users.operator)
    assert error.code() == code, error.details()
    assert words in error.details()


async def test_names_are_unique_whatever_their_case(client, fleet: Fleet, users: Users):
    node = await fleet.server()
    first = await create(
        client,
        users.operator,
        request(unique("Nightly"), unique("s"), inv_pb.Target(server_id=node), state=pb.DESIRED_STATE_ABSENT),
    )
    again = request(
        first.name.upper(), unique("t"), inv_pb.Target(server_id=node), state=pb.DESIRED_STATE_ABSENT
    )
    error = await refused(client.CreatePolicy, again, users.operator)
    assert error.code() == grpc.StatusCode.ALREADY_EXISTS and first.id in error.details()
    again.name = unique("other")
    other = await create(client, users.operator, again)
    error = await refused(
        client.UpdatePolicy, pb.UpdatePolicyRequest(id=other.id, name=first.name.lower()), users.operator
    )
    assert error.code() == grpc.StatusCode.ALREADY_EXISTS and first.id in error.details()


async def test_contradicting_policies_on_shared_nodes_are_refused_naming_the_other(
    client, fleet: Fleet, users: Users
):
    hostname = unique("shared")
    shared = await fleet.server(hostname=hostname)
    left, right = (
        await fleet.group(await fleet.server(), shared),
        await fleet.group(shared, await fleet.server()),
    )
    name = await software(fleet, "1.0", "2.0")
    first = await create(
        client,
        users.operator,
        request(unique("left"), name, inv_pb.Target(group_id=left), exact_version="1.0"),
    )
    cases = [
        {"exact_version": "2.0"},
        {"latest": True},
        {"state": pb.DESIRED_STATE_ABSENT},
    ]
    for wish in cases:
        message = request(unique("right"), name, inv_pb.Target(group_id=right), **wish)
        error = await refused(client.CreatePolicy, message, users.operator)
        assert error.code() == grpc.StatusCode.ABORTED, wish
        details = error.details()
        assert first.name in details and first.id in details and f"e.g. {hostname}" in details
    # The same wish on overlapping targets is no contradiction.
    same = await create(
        client,
        users.operator,
        request(unique("right"), name, inv_pb.Target(group_id=right), exact_version="1.0"),
    )
    # Nor is a contradiction while one of them is disabled; enabling it is refused.
    dormant = await create(
        client,
        users.operator,
        request(unique("dormant"), name, inv_pb.Target(server_id=shared), exact_version="2.0", enabled=False),
    )
    error = await refused(
        client.UpdatePolicy, pb.UpdatePolicyRequest(id=dormant.id, enabled=True), users.operator
    )
    assert error.code() == grpc.StatusCode.ABORTED
    # Changing what an enabled policy wants is checked as well, and the refusal changes nothing.
    error = await refused(
        client.UpdatePolicy, pb.UpdatePolicyRequest(id=same.id, latest=True), users.operator
    )
    assert error.code() == grpc.StatusCode.ABORTED and first.name in error.details()
    kept = await client.GetPolicy(
        pb.GetPolicyRequest(id=same.id), metadata=grpc_auth(users.viewer), timeout=10
    )
    assert kept.policy.exact_version == "1.0"
    # Targets that share no node may want different things.
    elsewhere = await fleet.group(await fleet.server())
    await create(
        client,
        users.operator,
        request(unique("apart"), name, inv_pb.Target(group_id=elsewhere), exact_version="2.0"),
    )


async def test_writes_are_audited_bump_generations_and_wake_the_reconcilers(
    client, scheduler: SchedulerStack, auth_stack: AuthStack, fleet: Fleet, users: Users
):
    node = await fleet.server()
    name = await software(fleet, "1.0")
    connection = await asyncpg.connect(plain_dsn(scheduler.database_url))
    heard: list[str] = []
    await connection.add_listener(RECONCILE_CHANNEL, lambda *args: heard.append(args[-1]))
    try:
        rid = request_id("pc")
        policy = await create(
            client, users.operator, request(unique("audited"), name, inv_pb.Target(server_id=node)), rid
        )
        (record,) = await audit_by_request(auth_stack, users.admin, rid)
        assert (record.action, record.target) == ("policy.create", f"policy:{policy.id}")
        assert f"{name} present at latest on server_id {node}, enforce, enabled" in record.reason
        await until(lambda: f"policy:{policy.id}" in heard)

        rid = request_id("pu")
        update = pb.UpdatePolicyRequest(id=policy.id, enabled=False, strategy=pb.Strategy(batch_percent=50))
        await client.UpdatePolicy(update, metadata=grpc_auth(users.operator, rid), timeout=10)
        (record,) = await audit_by_request(auth_stack, users.admin, rid)
        assert record.action == "policy.update"
        assert "enabled true -> false" in record.reason and '{"batch_percent": 50}' in record.reason
        assert (await stored(scheduler, policy.id)).generation == 2

        heard.clear()
        rid = request_id("pd")
        await client.DeletePolicy(
            pb.DeletePolicyRequest(id=policy.id), metadata=grpc_auth(users.operator, rid), timeout=10
        )
        (record,) = await audit_by_request(auth_stack, users.admin, rid)
        assert record.action == "policy.delete" and name in record.reason
        await until(lambda: f"policy:{policy.id}" in heard)
    finally:
        await connection.close()


async def until(predicate, timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


async def test_viewers_read_and_only_operators_and_admins_write(client, fleet: Fleet, users: Users):
    node = await fleet.server()
    message = request(
        unique("roles"), unique("r"), inv_pb.Target(server_id=node), state=pb.DESIRED_STATE_ABSENT
    )
    error = await refused(client.CreatePolicy, message, users.viewer)
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    policy = await create(client, users.admin, message)
    for call, payload in (
        (client.UpdatePolicy, pb.UpdatePolicyRequest(id=policy.id, enabled=False)),
        (client.DeletePolicy, pb.DeletePolicyRequest(id=policy.id)),
    ):
        assert (await refused(call, payload, users.viewer)).code() == grpc.StatusCode.PERMISSION_DENIED
    viewer = grpc_auth(users.viewer)
    await client.GetPolicy(pb.GetPolicyRequest(id=policy.id), metadata=viewer, timeout=10)
    await client.ListPolicies(pb.ListPoliciesRequest(), metadata=viewer, timeout=10)
    await client.GetPolicyCompliance(
        pb.GetPolicyComplianceRequest(policy_id=policy.id), metadata=viewer, timeout=10
    )
    await client.GetComplianceSummary(pb.GetComplianceSummaryRequest(), metadata=viewer, timeout=10)
    unauthenticated = await refused(client.GetPolicy, pb.GetPolicyRequest(id=policy.id), "not-a-token")
    assert unauthenticated.code() == grpc.StatusCode.UNAUTHENTICATED


async def write_compliance(
    scheduler: SchedulerStack, policy_id: str, nodes: list[tuple[str, str, list[str]]]
) -> list[str]:
    """Rows as the reconciler writes them: (hostname, state, group ids) per node; returns the server ids."""
    now, ids = datetime.now(UTC), []
    async with scheduler.process.db.transaction() as session:
        for hostname, state, groups in nodes:
            server_id = uuid.uuid4()
            ids.append(str(server_id))
            session.add(
                Compliance(
                    policy_id=uuid.UUID(policy_id),
                    server_id=server_id,
                    hostname=hostname,
                    group_ids=groups,
                    desired_version="2.0",
                    installed_version="1.0" if state != "compliant" else "2.0",
                    state=state,
                    message=f"{hostname} is {state}",
                    failed_attempts=2 if state == "failed" else 0,
                    retry_at=now if state == "failed" else None,
                    checked_at=now,
                    changed_at=now,
                )
            )
    return ids


async def test_compliance_of_a_policy_is_paged_by_hostname_with_counts_and_a_state_filter(
    client, scheduler: SchedulerStack, fleet: Fleet, users: Users
):
    node = await fleet.server()
    message = request(
        unique("comp"), unique("c"), inv_pb.Target(server_id=node), state=pb.DESIRED_STATE_ABSENT
    )
    policy = await create(client, users.operator, message)
    states = ["compliant", "drifted", "failed", "compliant", "converging", "incompatible"]
    ids = await write_compliance(scheduler, policy.id, [(f"h{i}", s, []) for i, s in enumerate(states)])
    viewer = grpc_auth(users.viewer)
    seen, token = [], ""
    while True:
        page = await client.GetPolicyCompliance(
            pb.GetPolicyComplianceRequest(policy_id=policy.id, page_size=4, page_token=token),
            metadata=viewer,
            timeout=10,
        )
        seen += page.nodes
        assert page.counts == pb.ComplianceCounts(
            total=6, compliant=2, drifted=1, converging=1, failed=1, incompatible=1
        )
        token = page.next_page_token
        if not token:
            break
    assert [n.hostname for n in seen] == [f"h{i}" for i in range(6)]
    assert [n.server_id for n in seen] == ids
    failed = seen[2]
    assert failed.state == pb.COMPLIANCE_STATE_FAILED and failed.policy_id == policy.id
    assert failed.failed_attempts == 2 and failed.HasField("retry_at") and failed.message == "h2 is failed"
    assert (failed.desired_version, failed.installed_version) == ("2.0", "1.0")
    only = await client.GetPolicyCompliance(
        pb.GetPolicyComplianceRequest(policy_id=policy.id, state=pb.COMPLIANCE_STATE_COMPLIANT),
        metadata=viewer,
        timeout=10,
    )
    assert [n.hostname for n in only.nodes] == ["h0", "h3"] and only.counts.total == 6
    for wrong, code in (
        (pb.GetPolicyComplianceRequest(policy_id=str(uuid.uuid4())), grpc.StatusCode.NOT_FOUND),
        (pb.GetPolicyComplianceRequest(policy_id="nope"), grpc.StatusCode.INVALID_ARGUMENT),
        (pb.GetPolicyComplianceRequest(policy_id=policy.id, state=42), grpc.StatusCode.INVALID_ARGUMENT),
        (
            pb.GetPolicyComplianceRequest(policy_id=policy.id, page_token="x"),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
    ):
        assert (await refused(client.GetPolicyCompliance, wrong, users.viewer)).code() == code


async def test_disabling_a_policy_deletes_its_compliance_rows_and_only_its_own(
    client, scheduler: SchedulerStack, fleet: Fleet, users: Users
):
    node = await fleet.server()

    def absent(name: str) -> pb.CreatePolicyRequest:
        return request(name, unique("off"), inv_pb.Target(server_id=node), state=pb.DESIRED_STATE_ABSENT)

    policy = await create(client, users.operator, absent(unique("disabled")))
    other = await create(client, users.operator, absent(unique("kept")))
    await write_compliance(scheduler, policy.id, [("a", "drifted", []), ("b", "compliant", [])])
    await write_compliance(scheduler, other.id, [("c", "drifted", [])])
    operator, viewer = grpc_auth(users.operator), grpc_auth(users.viewer)

    async def compliance(policy_id: str) -> pb.GetPolicyComplianceResponse:
        message = pb.GetPolicyComplianceRequest(policy_id=policy_id)
        return await client.GetPolicyCompliance(message, metadata=viewer, timeout=10)

    # A change that leaves it enabled keeps the rows.
    update = pb.UpdatePolicyRequest(id=policy.id, mode=pb.POLICY_MODE_REPORT)
    await client.UpdatePolicy(update, metadata=operator, timeout=10)
    assert (await compliance(policy.id)).counts.total == 2

    update = pb.UpdatePolicyRequest(id=policy.id, enabled=False)
    assert not (await client.UpdatePolicy(update, metadata=operator, timeout=10)).policy.enabled
    gone = await compliance(policy.id)
    assert list(gone.nodes) == [] and gone.counts == pb.ComplianceCounts()
    summary = await client.GetComplianceSummary(pb.GetComplianceSummaryRequest(), metadata=viewer, timeout=10)
    assert {item.policy_id: item.counts.total for item in summary.policies}[policy.id] == 0
    assert [n.hostname for n in (await compliance(other.id)).nodes] == ["c"], "another policy's rows stay"


async def test_the_summary_counts_per_policy_in_total_over_enabled_ones_and_per_group(
    client, scheduler: SchedulerStack, fleet: Fleet, users: Users
):
    node = await fleet.server()
    web, db = await fleet.group(), await fleet.group()
    deleted_group = str(uuid.uuid4())
    viewer = grpc_auth(users.viewer)
    before = (
        await client.GetComplianceSummary(pb.GetComplianceSummaryRequest(), metadata=viewer, timeout=10)
    ).total

    def absent(name: str, **fields: object) -> pb.CreatePolicyRequest:
        return request(
            name, unique("sum"), inv_pb.Target(server_id=node), state=pb.DESIRED_STATE_ABSENT, **fields
        )

    on = await create(client, users.operator, absent(unique("on"), mode=pb.POLICY_MODE_REPORT))
    off = await create(client, users.operator, absent(unique("off"), enabled=False))
    await write_compliance(
        scheduler,
        on.id,
        [("a", "compliant", [web]), ("b", "drifted", [web, db]), ("c", "failed", [deleted_group])],
    )
    await write_compliance(scheduler, off.id, [("d", "drifted", [web]), ("e", "drifted", [db])])
    async with scheduler.process.db.transaction() as session:
        row = await session.get(Policy, uuid.UUID(on.id))
        row.checked_at = datetime.now(UTC)

    summary = await client.GetComplianceSummary(pb.GetComplianceSummaryRequest(), metadata=viewer, timeout=10)
    by_id = {item.policy_id: item for item in summary.policies}
    assert by_id[on.id].counts == pb.ComplianceCounts(total=3, compliant=1, drifted=1, failed=1)
    assert by_id[on.id].mode == pb.POLICY_MODE_REPORT and by_id[on.id].enabled
    assert by_id[on.id].policy_name == on.name and by_id[on.id].software_name == on.software_name
    assert by_id[on.id].HasField("checked_at") and not by_id[off.id].HasField("checked_at")
    assert by_id[off.id].counts == pb.ComplianceCounts(total=2, drifted=2) and not by_id[off.id].enabled
    # The disabled policy's nodes are not in the total.
    assert summary.total.total - before.total == 3
    assert summary.total.drifted - before.drifted == 1 and summary.total.failed - before.failed == 1
    groups = {item.group_id: item for item in summary.groups}
    assert groups[web].counts == pb.ComplianceCounts(total=2, compliant=1, drifted=1)
    assert groups[db].counts == pb.ComplianceCounts(total=1, drifted=1)
    assert groups[web].group_name and groups[db].group_name
    assert deleted_group not in groups, "a group inventory no longer has is left out"
    names = [item.group_name.lower() for item in summary.groups]
    assert names == sorted(names)


async def test_wrong_policy_requests_are_client_errors(client, fleet: Fleet, users: Users):
    node = await fleet.server()
    name = await software(fleet, "1.0")
    policy = await create(
        client, users.operator, request(unique("fuzz"), name, inv_pb.Target(server_id=node))
    )
    valid = request(unique("fuzz"), name, inv_pb.Target(server_id=node), exact_version="1.0", enabled=False)
    auth = grpc_auth(users.operator)
    calls = [
        (client.CreatePolicy, lambda: pb.CreatePolicyRequest.FromString(valid.SerializeToString())),
        (client.GetPolicy, lambda: pb.GetPolicyRequest(id=policy.id)),
        (client.ListPolicies, lambda: pb.ListPoliciesRequest(page_size=5, software_name=name)),
        (
            client.UpdatePolicy,
            lambda: pb.UpdatePolicyRequest(
                id=policy.id, name=policy.name, target=inv_pb.Target(server_id=node), strategy=pb.Strategy()
            ),
        ),
        (client.GetPolicyCompliance, lambda: pb.GetPolicyComplianceRequest(policy_id=policy.id, page_size=5)),
        (client.DeletePolicy, lambda: pb.DeletePolicyRequest(id=str(uuid.uuid4()))),
    ]
    faults = []
    for method, make in calls:
        faults += await server_faults(lambda message, m=method: m(message, metadata=auth, timeout=10), make)
    assert faults == []
