import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Category(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CATEGORY_UNSPECIFIED: _ClassVar[Category]
    CATEGORY_WEB: _ClassVar[Category]
    CATEGORY_DATABASE: _ClassVar[Category]
    CATEGORY_DATA_PROCESSING: _ClassVar[Category]
    CATEGORY_CONTAINER: _ClassVar[Category]
    CATEGORY_GENERAL: _ClassVar[Category]

class PackageFamily(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PACKAGE_FAMILY_UNSPECIFIED: _ClassVar[PackageFamily]
    PACKAGE_FAMILY_DEB: _ClassVar[PackageFamily]
    PACKAGE_FAMILY_RPM: _ClassVar[PackageFamily]

class ServerStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SERVER_STATUS_UNSPECIFIED: _ClassVar[ServerStatus]
    SERVER_STATUS_PENDING: _ClassVar[ServerStatus]
    SERVER_STATUS_ONLINE: _ClassVar[ServerStatus]
    SERVER_STATUS_OFFLINE: _ClassVar[ServerStatus]
    SERVER_STATUS_REVOKED: _ClassVar[ServerStatus]

class InstalledSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INSTALLED_SOURCE_UNSPECIFIED: _ClassVar[InstalledSource]
    INSTALLED_SOURCE_AGENT_REPORT: _ClassVar[InstalledSource]
    INSTALLED_SOURCE_DEPLOYMENT: _ClassVar[InstalledSource]
CATEGORY_UNSPECIFIED: Category
CATEGORY_WEB: Category
CATEGORY_DATABASE: Category
CATEGORY_DATA_PROCESSING: Category
CATEGORY_CONTAINER: Category
CATEGORY_GENERAL: Category
PACKAGE_FAMILY_UNSPECIFIED: PackageFamily
PACKAGE_FAMILY_DEB: PackageFamily
PACKAGE_FAMILY_RPM: PackageFamily
SERVER_STATUS_UNSPECIFIED: ServerStatus
SERVER_STATUS_PENDING: ServerStatus
SERVER_STATUS_ONLINE: ServerStatus
SERVER_STATUS_OFFLINE: ServerStatus
SERVER_STATUS_REVOKED: ServerStatus
INSTALLED_SOURCE_UNSPECIFIED: InstalledSource
INSTALLED_SOURCE_AGENT_REPORT: InstalledSource
INSTALLED_SOURCE_DEPLOYMENT: InstalledSource

class OsFacts(_message.Message):
    __slots__ = ("os_id", "id_like", "version_id", "pretty_name", "package_family", "arch", "kernel")
    OS_ID_FIELD_NUMBER: _ClassVar[int]
    ID_LIKE_FIELD_NUMBER: _ClassVar[int]
    VERSION_ID_FIELD_NUMBER: _ClassVar[int]
    PRETTY_NAME_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_FAMILY_FIELD_NUMBER: _ClassVar[int]
    ARCH_FIELD_NUMBER: _ClassVar[int]
    KERNEL_FIELD_NUMBER: _ClassVar[int]
    os_id: str
    id_like: _containers.RepeatedScalarFieldContainer[str]
    version_id: str
    pretty_name: str
    package_family: PackageFamily
    arch: str
    kernel: str
    def __init__(self, os_id: _Optional[str] = ..., id_like: _Optional[_Iterable[str]] = ..., version_id: _Optional[str] = ..., pretty_name: _Optional[str] = ..., package_family: _Optional[_Union[PackageFamily, str]] = ..., arch: _Optional[str] = ..., kernel: _Optional[str] = ...) -> None: ...

class Server(_message.Message):
    __slots__ = ("id", "hostname", "ip_address", "category", "labels", "os", "agent_version", "status", "last_seen", "created_at", "updated_at", "group_ids")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    IP_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    OS_FIELD_NUMBER: _ClassVar[int]
    AGENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    GROUP_IDS_FIELD_NUMBER: _ClassVar[int]
    id: str
    hostname: str
    ip_address: str
    category: Category
    labels: _containers.ScalarMap[str, str]
    os: OsFacts
    agent_version: str
    status: ServerStatus
    last_seen: _timestamp_pb2.Timestamp
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    group_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, id: _Optional[str] = ..., hostname: _Optional[str] = ..., ip_address: _Optional[str] = ..., category: _Optional[_Union[Category, str]] = ..., labels: _Optional[_Mapping[str, str]] = ..., os: _Optional[_Union[OsFacts, _Mapping]] = ..., agent_version: _Optional[str] = ..., status: _Optional[_Union[ServerStatus, str]] = ..., last_seen: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., group_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class MaintenanceWindow(_message.Message):
    __slots__ = ("cron", "duration_seconds", "timezone")
    CRON_FIELD_NUMBER: _ClassVar[int]
    DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    TIMEZONE_FIELD_NUMBER: _ClassVar[int]
    cron: str
    duration_seconds: int
    timezone: str
    def __init__(self, cron: _Optional[str] = ..., duration_seconds: _Optional[int] = ..., timezone: _Optional[str] = ...) -> None: ...

class Group(_message.Message):
    __slots__ = ("id", "name", "description", "category", "maintenance_window", "member_count", "created_at", "updated_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    MAINTENANCE_WINDOW_FIELD_NUMBER: _ClassVar[int]
    MEMBER_COUNT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    description: str
    category: Category
    maintenance_window: MaintenanceWindow
    member_count: int
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., category: _Optional[_Union[Category, str]] = ..., maintenance_window: _Optional[_Union[MaintenanceWindow, _Mapping]] = ..., member_count: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class InstalledSoftware(_message.Message):
    __slots__ = ("name", "version", "package_family", "observed_at", "source")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_FAMILY_FIELD_NUMBER: _ClassVar[int]
    OBSERVED_AT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    package_family: PackageFamily
    observed_at: _timestamp_pb2.Timestamp
    source: InstalledSource
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., package_family: _Optional[_Union[PackageFamily, str]] = ..., observed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., source: _Optional[_Union[InstalledSource, str]] = ...) -> None: ...

class Target(_message.Message):
    __slots__ = ("server_id", "group_id", "all", "selector")
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    ALL_FIELD_NUMBER: _ClassVar[int]
    SELECTOR_FIELD_NUMBER: _ClassVar[int]
    server_id: str
    group_id: str
    all: bool
    selector: str
    def __init__(self, server_id: _Optional[str] = ..., group_id: _Optional[str] = ..., all: _Optional[bool] = ..., selector: _Optional[str] = ...) -> None: ...

class CreateServerRequest(_message.Message):
    __slots__ = ("hostname", "ip_address", "category", "labels", "group_ids")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    IP_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    GROUP_IDS_FIELD_NUMBER: _ClassVar[int]
    hostname: str
    ip_address: str
    category: Category
    labels: _containers.ScalarMap[str, str]
    group_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, hostname: _Optional[str] = ..., ip_address: _Optional[str] = ..., category: _Optional[_Union[Category, str]] = ..., labels: _Optional[_Mapping[str, str]] = ..., group_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class CreateServerResponse(_message.Message):
    __slots__ = ("server",)
    SERVER_FIELD_NUMBER: _ClassVar[int]
    server: Server
    def __init__(self, server: _Optional[_Union[Server, _Mapping]] = ...) -> None: ...

class GetServerRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetServerResponse(_message.Message):
    __slots__ = ("server",)
    SERVER_FIELD_NUMBER: _ClassVar[int]
    server: Server
    def __init__(self, server: _Optional[_Union[Server, _Mapping]] = ...) -> None: ...

class ListServersRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "query", "group_id", "status", "package_family", "category", "label_selector")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_FAMILY_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    LABEL_SELECTOR_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    query: str
    group_id: str
    status: ServerStatus
    package_family: PackageFamily
    category: Category
    label_selector: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., query: _Optional[str] = ..., group_id: _Optional[str] = ..., status: _Optional[_Union[ServerStatus, str]] = ..., package_family: _Optional[_Union[PackageFamily, str]] = ..., category: _Optional[_Union[Category, str]] = ..., label_selector: _Optional[str] = ...) -> None: ...

class ListServersResponse(_message.Message):
    __slots__ = ("servers", "next_page_token", "total_size")
    SERVERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    servers: _containers.RepeatedCompositeFieldContainer[Server]
    next_page_token: str
    total_size: int
    def __init__(self, servers: _Optional[_Iterable[_Union[Server, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class UpdateServerRequest(_message.Message):
    __slots__ = ("id", "hostname", "ip_address", "category", "labels", "update_labels")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    IP_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    UPDATE_LABELS_FIELD_NUMBER: _ClassVar[int]
    id: str
    hostname: str
    ip_address: str
    category: Category
    labels: _containers.ScalarMap[str, str]
    update_labels: bool
    def __init__(self, id: _Optional[str] = ..., hostname: _Optional[str] = ..., ip_address: _Optional[str] = ..., category: _Optional[_Union[Category, str]] = ..., labels: _Optional[_Mapping[str, str]] = ..., update_labels: _Optional[bool] = ...) -> None: ...

class UpdateServerResponse(_message.Message):
    __slots__ = ("server",)
    SERVER_FIELD_NUMBER: _ClassVar[int]
    server: Server
    def __init__(self, server: _Optional[_Union[Server, _Mapping]] = ...) -> None: ...

class DeleteServerRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class DeleteServerResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CreateGroupRequest(_message.Message):
    __slots__ = ("name", "description", "category", "maintenance_window")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    MAINTENANCE_WINDOW_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    category: Category
    maintenance_window: MaintenanceWindow
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., category: _Optional[_Union[Category, str]] = ..., maintenance_window: _Optional[_Union[MaintenanceWindow, _Mapping]] = ...) -> None: ...

class CreateGroupResponse(_message.Message):
    __slots__ = ("group",)
    GROUP_FIELD_NUMBER: _ClassVar[int]
    group: Group
    def __init__(self, group: _Optional[_Union[Group, _Mapping]] = ...) -> None: ...

class GetGroupRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetGroupResponse(_message.Message):
    __slots__ = ("group",)
    GROUP_FIELD_NUMBER: _ClassVar[int]
    group: Group
    def __init__(self, group: _Optional[_Union[Group, _Mapping]] = ...) -> None: ...

class ListGroupsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "query", "category")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    query: str
    category: Category
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., query: _Optional[str] = ..., category: _Optional[_Union[Category, str]] = ...) -> None: ...

class ListGroupsResponse(_message.Message):
    __slots__ = ("groups", "next_page_token", "total_size")
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    groups: _containers.RepeatedCompositeFieldContainer[Group]
    next_page_token: str
    total_size: int
    def __init__(self, groups: _Optional[_Iterable[_Union[Group, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class UpdateGroupRequest(_message.Message):
    __slots__ = ("id", "name", "description", "category", "maintenance_window", "clear_maintenance_window")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    MAINTENANCE_WINDOW_FIELD_NUMBER: _ClassVar[int]
    CLEAR_MAINTENANCE_WINDOW_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    description: str
    category: Category
    maintenance_window: MaintenanceWindow
    clear_maintenance_window: bool
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., category: _Optional[_Union[Category, str]] = ..., maintenance_window: _Optional[_Union[MaintenanceWindow, _Mapping]] = ..., clear_maintenance_window: _Optional[bool] = ...) -> None: ...

class UpdateGroupResponse(_message.Message):
    __slots__ = ("group",)
    GROUP_FIELD_NUMBER: _ClassVar[int]
    group: Group
    def __init__(self, group: _Optional[_Union[Group, _Mapping]] = ...) -> None: ...

class DeleteGroupRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class DeleteGroupResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class AddGroupMembersRequest(_message.Message):
    __slots__ = ("group_id", "server_ids")
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    SERVER_IDS_FIELD_NUMBER: _ClassVar[int]
    group_id: str
    server_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, group_id: _Optional[str] = ..., server_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class AddGroupMembersResponse(_message.Message):
    __slots__ = ("added",)
    ADDED_FIELD_NUMBER: _ClassVar[int]
    added: int
    def __init__(self, added: _Optional[int] = ...) -> None: ...

class RemoveGroupMembersRequest(_message.Message):
    __slots__ = ("group_id", "server_ids")
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    SERVER_IDS_FIELD_NUMBER: _ClassVar[int]
    group_id: str
    server_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, group_id: _Optional[str] = ..., server_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class RemoveGroupMembersResponse(_message.Message):
    __slots__ = ("removed",)
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    removed: int
    def __init__(self, removed: _Optional[int] = ...) -> None: ...

class ListGroupMembersRequest(_message.Message):
    __slots__ = ("group_id", "page_size", "page_token")
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    group_id: str
    page_size: int
    page_token: str
    def __init__(self, group_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListGroupMembersResponse(_message.Message):
    __slots__ = ("servers", "next_page_token", "total_size")
    SERVERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    servers: _containers.RepeatedCompositeFieldContainer[Server]
    next_page_token: str
    total_size: int
    def __init__(self, servers: _Optional[_Iterable[_Union[Server, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class RecordInstalledRequest(_message.Message):
    __slots__ = ("server_id", "software", "merge")
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    SOFTWARE_FIELD_NUMBER: _ClassVar[int]
    MERGE_FIELD_NUMBER: _ClassVar[int]
    server_id: str
    software: _containers.RepeatedCompositeFieldContainer[InstalledSoftware]
    merge: bool
    def __init__(self, server_id: _Optional[str] = ..., software: _Optional[_Iterable[_Union[InstalledSoftware, _Mapping]]] = ..., merge: _Optional[bool] = ...) -> None: ...

class RecordInstalledResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListInstalledRequest(_message.Message):
    __slots__ = ("server_id", "name", "page_size", "page_token")
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    server_id: str
    name: str
    page_size: int
    page_token: str
    def __init__(self, server_id: _Optional[str] = ..., name: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListInstalledResponse(_message.Message):
    __slots__ = ("installed", "next_page_token")
    INSTALLED_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    installed: _containers.RepeatedCompositeFieldContainer[ServerInstalledSoftware]
    next_page_token: str
    def __init__(self, installed: _Optional[_Iterable[_Union[ServerInstalledSoftware, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ServerInstalledSoftware(_message.Message):
    __slots__ = ("server_id", "software")
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    SOFTWARE_FIELD_NUMBER: _ClassVar[int]
    server_id: str
    software: InstalledSoftware
    def __init__(self, server_id: _Optional[str] = ..., software: _Optional[_Union[InstalledSoftware, _Mapping]] = ...) -> None: ...

class RecordFactsRequest(_message.Message):
    __slots__ = ("server_id", "hostname", "ip_address", "os", "agent_version")
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    IP_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    OS_FIELD_NUMBER: _ClassVar[int]
    AGENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    server_id: str
    hostname: str
    ip_address: str
    os: OsFacts
    agent_version: str
    def __init__(self, server_id: _Optional[str] = ..., hostname: _Optional[str] = ..., ip_address: _Optional[str] = ..., os: _Optional[_Union[OsFacts, _Mapping]] = ..., agent_version: _Optional[str] = ...) -> None: ...

class RecordFactsResponse(_message.Message):
    __slots__ = ("server",)
    SERVER_FIELD_NUMBER: _ClassVar[int]
    server: Server
    def __init__(self, server: _Optional[_Union[Server, _Mapping]] = ...) -> None: ...

class SetServerStatusRequest(_message.Message):
    __slots__ = ("server_id", "status", "time", "enrolled")
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    ENROLLED_FIELD_NUMBER: _ClassVar[int]
    server_id: str
    status: ServerStatus
    time: _timestamp_pb2.Timestamp
    enrolled: bool
    def __init__(self, server_id: _Optional[str] = ..., status: _Optional[_Union[ServerStatus, str]] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., enrolled: _Optional[bool] = ...) -> None: ...

class SetServerStatusResponse(_message.Message):
    __slots__ = ("server",)
    SERVER_FIELD_NUMBER: _ClassVar[int]
    server: Server
    def __init__(self, server: _Optional[_Union[Server, _Mapping]] = ...) -> None: ...

class ResolveTargetsRequest(_message.Message):
    __slots__ = ("target",)
    TARGET_FIELD_NUMBER: _ClassVar[int]
    target: Target
    def __init__(self, target: _Optional[_Union[Target, _Mapping]] = ...) -> None: ...

class ResolveTargetsResponse(_message.Message):
    __slots__ = ("servers",)
    SERVERS_FIELD_NUMBER: _ClassVar[int]
    servers: _containers.RepeatedCompositeFieldContainer[Server]
    def __init__(self, servers: _Optional[_Iterable[_Union[Server, _Mapping]]] = ...) -> None: ...
