"""gRPC servicer of the inventory: proto messages in, use cases called, proto messages out."""

from __future__ import annotations

import uuid

from convoy.inventory.v1 import inventory_pb2 as pb
from convoy.inventory.v1 import inventory_pb2_grpc as pb_grpc
from services.inventory.groups import GroupChanges, GroupDraft, GroupUseCases, GroupView
from services.inventory.models import Installed
from services.inventory.reports import Facts, InstalledItem, OsFacts, ReportUseCases
from services.inventory.servers import ServerChanges, ServerDraft, ServerFilter, ServerUseCases
from services.inventory.service import ServerView
from services.inventory.targets import Target, TargetUseCases
from services.inventory.validation import MaintenanceWindow
from services.kit.timestamps import from_timestamp, to_timestamp

__all__ = ["InventoryServicer", "server_to_proto", "group_to_proto"]

CATEGORY_TO_PROTO = {
    "web": pb.CATEGORY_WEB,
    "database": pb.CATEGORY_DATABASE,
    "data-processing": pb.CATEGORY_DATA_PROCESSING,
    "container": pb.CATEGORY_CONTAINER,
    "general": pb.CATEGORY_GENERAL,
}
FAMILY_TO_PROTO = {"deb": pb.PACKAGE_FAMILY_DEB, "rpm": pb.PACKAGE_FAMILY_RPM}
STATUS_TO_PROTO = {
    "pending": pb.SERVER_STATUS_PENDING,
    "online": pb.SERVER_STATUS_ONLINE,
    "offline": pb.SERVER_STATUS_OFFLINE,
    "revoked": pb.SERVER_STATUS_REVOKED,
}
SOURCE_TO_PROTO = {
    "agent_report": pb.INSTALLED_SOURCE_AGENT_REPORT,
    "deployment": pb.INSTALLED_SOURCE_DEPLOYMENT,
}


def _name(table: dict[str, int], value: int) -> str:
    """The domain name of an enum value: "" for UNSPECIFIED, and a name no use case accepts for an
    unknown number, so that the use case rejects it with its own message."""
    if value == 0:
        return ""
    return next((name for name, number in table.items() if number == value), f"unknown value {value}")


def server_to_proto(view: ServerView) -> pb.Server:
    server = view.server
    return pb.Server(
        id=str(server.id),
        hostname=server.hostname,
        ip_address=server.ip_address,
        category=CATEGORY_TO_PROTO.get(server.category, pb.CATEGORY_UNSPECIFIED),
        labels=server.labels,
        os=pb.OsFacts(
            os_id=server.os_id,
            id_like=server.id_like,
            version_id=server.version_id,
            pretty_name=server.pretty_name,
            package_family=FAMILY_TO_PROTO.get(server.package_family, pb.PACKAGE_FAMILY_UNSPECIFIED),
            arch=server.arch,
            kernel=server.kernel,
        ),
        agent_version=server.agent_version,
        status=STATUS_TO_PROTO.get(server.status, pb.SERVER_STATUS_UNSPECIFIED),
        last_seen=to_timestamp(server.last_seen),
        created_at=to_timestamp(server.created_at),
        updated_at=to_timestamp(server.updated_at),
        group_ids=[str(group_id) for group_id in view.group_ids],
    )


def group_to_proto(view: GroupView) -> pb.Group:
    group, window = view.group, view.window
    return pb.Group(
        id=str(group.id),
        name=group.name,
        description=group.description,
        category=CATEGORY_TO_PROTO.get(group.category or "", pb.CATEGORY_UNSPECIFIED),
        maintenance_window=(
            pb.MaintenanceWindow(
                cron=window.cron, duration_seconds=window.duration_seconds, timezone=window.timezone
            )
            if window
            else None
        ),
        member_count=view.member_count,
        created_at=to_timestamp(group.created_at),
        updated_at=to_timestamp(group.updated_at),
    )


def _installed_to_proto(server_id: uuid.UUID, row: Installed) -> pb.ServerInstalledSoftware:
    return pb.ServerInstalledSoftware(
        server_id=str(server_id),
        software=pb.InstalledSoftware(
            name=row.name,
            version=row.version,
            package_family=FAMILY_TO_PROTO.get(row.package_family, pb.PACKAGE_FAMILY_UNSPECIFIED),
            observed_at=to_timestamp(row.observed_at),
            source=SOURCE_TO_PROTO.get(row.source, pb.INSTALLED_SOURCE_UNSPECIFIED),
        ),
    )


def _window(message: pb.MaintenanceWindow) -> MaintenanceWindow:
    return MaintenanceWindow(message.cron, message.duration_seconds, message.timezone)


def _os(message: pb.OsFacts) -> OsFacts:
    return OsFacts(
        os_id=message.os_id,
        id_like=list(message.id_like),
        version_id=message.version_id,
        pretty_name=message.pretty_name,
        package_family=_name(FAMILY_TO_PROTO, message.package_family),
        arch=message.arch,
        kernel=message.kernel,
    )


def _installed_item(message: pb.InstalledSoftware) -> InstalledItem:
    return InstalledItem(
        name=message.name,
        version=message.version,
        package_family=_name(FAMILY_TO_PROTO, message.package_family),
        observed_at=from_timestamp(message, "observed_at"),
        source=_name(SOURCE_TO_PROTO, message.source),
    )


class InventoryServicer(pb_grpc.InventoryServiceServicer):
    def __init__(
        self, servers: ServerUseCases, groups: GroupUseCases, reports: ReportUseCases, targets: TargetUseCases
    ) -> None:
        self._servers, self._groups, self._reports, self._targets = servers, groups, reports, targets

    async def CreateServer(self, request: pb.CreateServerRequest, context: object) -> pb.CreateServerResponse:
        draft = ServerDraft(
            hostname=request.hostname,
            ip_address=request.ip_address,
            category=_name(CATEGORY_TO_PROTO, request.category),
            labels=dict(request.labels),
            group_ids=list(request.group_ids),
        )
        return pb.CreateServerResponse(server=server_to_proto(await self._servers.create(draft)))

    async def GetServer(self, request: pb.GetServerRequest, context: object) -> pb.GetServerResponse:
        return pb.GetServerResponse(server=server_to_proto(await self._servers.get(request.id)))

    async def ListServers(self, request: pb.ListServersRequest, context: object) -> pb.ListServersResponse:
        where = ServerFilter(
            query=request.query,
            group_id=request.group_id,
            status=_name(STATUS_TO_PROTO, request.status),
            package_family=_name(FAMILY_TO_PROTO, request.package_family),
            category=_name(CATEGORY_TO_PROTO, request.category),
            label_selector=request.label_selector,
        )
        page = await self._servers.list(where, size=request.page_size, token=request.page_token)
        return pb.ListServersResponse(
            servers=[server_to_proto(view) for view in page.items],
            next_page_token=page.next_page_token,
            total_size=page.total_size,
        )

    async def UpdateServer(self, request: pb.UpdateServerRequest, context: object) -> pb.UpdateServerResponse:
        changes = ServerChanges(
            hostname=request.hostname if request.HasField("hostname") else None,
            ip_address=request.ip_address if request.HasField("ip_address") else None,
            category=_name(CATEGORY_TO_PROTO, request.category) if request.HasField("category") else None,
            labels=dict(request.labels) if request.update_labels else None,
        )
        view = await self._servers.update(request.id, changes)
        return pb.UpdateServerResponse(server=server_to_proto(view))

    async def DeleteServer(self, request: pb.DeleteServerRequest, context: object) -> pb.DeleteServerResponse:
        await self._servers.delete(request.id)
        return pb.DeleteServerResponse()

    async def CreateGroup(self, request: pb.CreateGroupRequest, context: object) -> pb.CreateGroupResponse:
        draft = GroupDraft(
            name=request.name,
            description=request.description,
            category=_name(CATEGORY_TO_PROTO, request.category) or None,
            window=_window(request.maintenance_window) if request.HasField("maintenance_window") else None,
        )
        return pb.CreateGroupResponse(group=group_to_proto(await self._groups.create(draft)))

    async def GetGroup(self, request: pb.GetGroupRequest, context: object) -> pb.GetGroupResponse:
        return pb.GetGroupResponse(group=group_to_proto(await self._groups.get(request.id)))

    async def ListGroups(self, request: pb.ListGroupsRequest, context: object) -> pb.ListGroupsResponse:
        page = await self._groups.list(
            size=request.page_size,
            token=request.page_token,
            query=request.query,
            category=_name(CATEGORY_TO_PROTO, request.category),
        )
        return pb.ListGroupsResponse(
            groups=[group_to_proto(view) for view in page.items],
            next_page_token=page.next_page_token,
            total_size=page.total_size,
        )

    async def UpdateGroup(self, request: pb.UpdateGroupRequest, context: object) -> pb.UpdateGroupResponse:
        changes = GroupChanges(
            name=request.name if request.HasField("name") else None,
            description=request.description if request.HasField("description") else None,
            # Present but UNSPECIFIED removes the category.
            category=_name(CATEGORY_TO_PROTO, request.category) if request.HasField("category") else None,
            window=_window(request.maintenance_window) if request.HasField("maintenance_window") else None,
            clear_window=request.clear_maintenance_window,
        )
        return pb.UpdateGroupResponse(group=group_to_proto(await self._groups.update(request.id, changes)))

    async def DeleteGroup(self, request: pb.DeleteGroupRequest, context: object) -> pb.DeleteGroupResponse:
        await self._groups.delete(request.id)
        return pb.DeleteGroupResponse()

    async def AddGroupMembers(
        self, request: pb.AddGroupMembersRequest, context: object
    ) -> pb.AddGroupMembersResponse:
        added = await self._groups.add_members(request.group_id, list(request.server_ids))
        return pb.AddGroupMembersResponse(added=added)

    async def RemoveGroupMembers(
        self, request: pb.RemoveGroupMembersRequest, context: object
    ) -> pb.RemoveGroupMembersResponse:
        removed = await self._groups.remove_members(request.group_id, list(request.server_ids))
        return pb.RemoveGroupMembersResponse(removed=removed)

    async def ListGroupMembers(
        self, request: pb.ListGroupMembersRequest, context: object
    ) -> pb.ListGroupMembersResponse:
        page = await self._groups.list_members(
            request.group_id, size=request.page_size, token=request.page_token
        )
        return pb.ListGroupMembersResponse(
            servers=[server_to_proto(view) for view in page.items],
            next_page_token=page.next_page_token,
            total_size=page.total_size,
        )

    async def RecordInstalled(
        self, request: pb.RecordInstalledRequest, context: object
    ) -> pb.RecordInstalledResponse:
        items = [_installed_item(message) for message in request.software]
        await self._reports.record_installed(request.server_id, items, merge=request.merge)
        return pb.RecordInstalledResponse()

    async def ListInstalled(
        self, request: pb.ListInstalledRequest, context: object
    ) -> pb.ListInstalledResponse:
        page = await self._reports.list_installed(
            server_id=request.server_id, name=request.name, size=request.page_size, token=request.page_token
        )
        return pb.ListInstalledResponse(
            installed=[_installed_to_proto(server_id, row) for server_id, row in page.items],
            next_page_token=page.next_page_token,
        )

    async def RecordFacts(self, request: pb.RecordFactsRequest, context: object) -> pb.RecordFactsResponse:
        facts = Facts(
            server_id=request.server_id,
            hostname=request.hostname,
            ip_address=request.ip_address,
            os=_os(request.os) if request.HasField("os") else None,
            agent_version=request.agent_version,
        )
        return pb.RecordFactsResponse(server=server_to_proto(await self._reports.record_facts(facts)))

    async def SetServerStatus(
        self, request: pb.SetServerStatusRequest, context: object
    ) -> pb.SetServerStatusResponse:
        view = await self._reports.set_status(
            request.server_id,
            _name(STATUS_TO_PROTO, request.status),
            from_timestamp(request, "time"),
            enrolled=request.enrolled,
        )
        return pb.SetServerStatusResponse(server=server_to_proto(view))

    async def ResolveTargets(
        self, request: pb.ResolveTargetsRequest, context: object
    ) -> pb.ResolveTargetsResponse:
        target = request.target
        kind = target.WhichOneof("target")
        value = getattr(target, kind) if kind in ("server_id", "group_id", "selector") else ""
        views = await self._targets.resolve(Target(kind, value, all=target.all))  # type: ignore[arg-type]
        return pb.ResolveTargetsResponse(servers=[server_to_proto(view) for view in views])
