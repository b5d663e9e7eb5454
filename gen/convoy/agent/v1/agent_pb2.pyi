import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PackageFamily(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PACKAGE_FAMILY_UNSPECIFIED: _ClassVar[PackageFamily]
    PACKAGE_FAMILY_DEB: _ClassVar[PackageFamily]
    PACKAGE_FAMILY_RPM: _ClassVar[PackageFamily]

class Format(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FORMAT_UNSPECIFIED: _ClassVar[Format]
    FORMAT_DEB: _ClassVar[Format]
    FORMAT_RPM: _ClassVar[Format]
    FORMAT_TAR: _ClassVar[Format]
    FORMAT_CONTAINER: _ClassVar[Format]

class Action(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACTION_UNSPECIFIED: _ClassVar[Action]
    ACTION_INSTALL: _ClassVar[Action]
    ACTION_UPDATE: _ClassVar[Action]
    ACTION_UNINSTALL: _ClassVar[Action]
    ACTION_ROLLBACK: _ClassVar[Action]

class TaskState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TASK_STATE_UNSPECIFIED: _ClassVar[TaskState]
    TASK_STATE_ASSIGNED: _ClassVar[TaskState]
    TASK_STATE_DOWNLOADING: _ClassVar[TaskState]
    TASK_STATE_INSTALLING: _ClassVar[TaskState]
    TASK_STATE_SUCCEEDED: _ClassVar[TaskState]
    TASK_STATE_UNCHANGED: _ClassVar[TaskState]
    TASK_STATE_FAILED: _ClassVar[TaskState]
    TASK_STATE_SKIPPED: _ClassVar[TaskState]
    TASK_STATE_CANCELLED: _ClassVar[TaskState]
    TASK_STATE_AWAITING_APPROVAL: _ClassVar[TaskState]
PACKAGE_FAMILY_UNSPECIFIED: PackageFamily
PACKAGE_FAMILY_DEB: PackageFamily
PACKAGE_FAMILY_RPM: PackageFamily
FORMAT_UNSPECIFIED: Format
FORMAT_DEB: Format
FORMAT_RPM: Format
FORMAT_TAR: Format
FORMAT_CONTAINER: Format
ACTION_UNSPECIFIED: Action
ACTION_INSTALL: Action
ACTION_UPDATE: Action
ACTION_UNINSTALL: Action
ACTION_ROLLBACK: Action
TASK_STATE_UNSPECIFIED: TaskState
TASK_STATE_ASSIGNED: TaskState
TASK_STATE_DOWNLOADING: TaskState
TASK_STATE_INSTALLING: TaskState
TASK_STATE_SUCCEEDED: TaskState
TASK_STATE_UNCHANGED: TaskState
TASK_STATE_FAILED: TaskState
TASK_STATE_SKIPPED: TaskState
TASK_STATE_CANCELLED: TaskState
TASK_STATE_AWAITING_APPROVAL: TaskState

class Facts(_message.Message):
    __slots__ = ("hostname", "ip_addresses", "os_id", "id_like", "version_id", "pretty_name", "package_family", "arch", "kernel", "python_version", "agent_version")
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    IP_ADDRESSES_FIELD_NUMBER: _ClassVar[int]
    OS_ID_FIELD_NUMBER: _ClassVar[int]
    ID_LIKE_FIELD_NUMBER: _ClassVar[int]
    VERSION_ID_FIELD_NUMBER: _ClassVar[int]
    PRETTY_NAME_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_FAMILY_FIELD_NUMBER: _ClassVar[int]
    ARCH_FIELD_NUMBER: _ClassVar[int]
    KERNEL_FIELD_NUMBER: _ClassVar[int]
    PYTHON_VERSION_FIELD_NUMBER: _ClassVar[int]
    AGENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    hostname: str
    ip_addresses: _containers.RepeatedScalarFieldContainer[str]
    os_id: str
    id_like: _containers.RepeatedScalarFieldContainer[str]
    version_id: str
    pretty_name: str
    package_family: PackageFamily
    arch: str
    kernel: str
    python_version: str
    agent_version: str
    def __init__(self, hostname: _Optional[str] = ..., ip_addresses: _Optional[_Iterable[str]] = ..., os_id: _Optional[str] = ..., id_like: _Optional[_Iterable[str]] = ..., version_id: _Optional[str] = ..., pretty_name: _Optional[str] = ..., package_family: _Optional[_Union[PackageFamily, str]] = ..., arch: _Optional[str] = ..., kernel: _Optional[str] = ..., python_version: _Optional[str] = ..., agent_version: _Optional[str] = ...) -> None: ...

class InstalledSoftware(_message.Message):
    __slots__ = ("name", "version", "format")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    format: Format
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., format: _Optional[_Union[Format, str]] = ...) -> None: ...

class EnrollRequest(_message.Message):
    __slots__ = ("token", "csr_pem", "facts")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    CSR_PEM_FIELD_NUMBER: _ClassVar[int]
    FACTS_FIELD_NUMBER: _ClassVar[int]
    token: str
    csr_pem: str
    facts: Facts
    def __init__(self, token: _Optional[str] = ..., csr_pem: _Optional[str] = ..., facts: _Optional[_Union[Facts, _Mapping]] = ...) -> None: ...

class EnrollResponse(_message.Message):
    __slots__ = ("node_id", "certificate_pem", "ca_certificate_pem", "not_after", "agent_address")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_PEM_FIELD_NUMBER: _ClassVar[int]
    CA_CERTIFICATE_PEM_FIELD_NUMBER: _ClassVar[int]
    NOT_AFTER_FIELD_NUMBER: _ClassVar[int]
    AGENT_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    certificate_pem: str
    ca_certificate_pem: str
    not_after: _timestamp_pb2.Timestamp
    agent_address: str
    def __init__(self, node_id: _Optional[str] = ..., certificate_pem: _Optional[str] = ..., ca_certificate_pem: _Optional[str] = ..., not_after: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., agent_address: _Optional[str] = ...) -> None: ...

class RenewRequest(_message.Message):
    __slots__ = ("csr_pem",)
    CSR_PEM_FIELD_NUMBER: _ClassVar[int]
    csr_pem: str
    def __init__(self, csr_pem: _Optional[str] = ...) -> None: ...

class RenewResponse(_message.Message):
    __slots__ = ("certificate_pem", "not_after")
    CERTIFICATE_PEM_FIELD_NUMBER: _ClassVar[int]
    NOT_AFTER_FIELD_NUMBER: _ClassVar[int]
    certificate_pem: str
    not_after: _timestamp_pb2.Timestamp
    def __init__(self, certificate_pem: _Optional[str] = ..., not_after: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Hello(_message.Message):
    __slots__ = ("facts", "installed")
    FACTS_FIELD_NUMBER: _ClassVar[int]
    INSTALLED_FIELD_NUMBER: _ClassVar[int]
    facts: Facts
    installed: _containers.RepeatedCompositeFieldContainer[InstalledSoftware]
    def __init__(self, facts: _Optional[_Union[Facts, _Mapping]] = ..., installed: _Optional[_Iterable[_Union[InstalledSoftware, _Mapping]]] = ...) -> None: ...

class Heartbeat(_message.Message):
    __slots__ = ("sent_at",)
    SENT_AT_FIELD_NUMBER: _ClassVar[int]
    sent_at: _timestamp_pb2.Timestamp
    def __init__(self, sent_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class TaskProgress(_message.Message):
    __slots__ = ("assignment_id", "attempt", "state", "percent", "log_lines")
    ASSIGNMENT_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PERCENT_FIELD_NUMBER: _ClassVar[int]
    LOG_LINES_FIELD_NUMBER: _ClassVar[int]
    assignment_id: str
    attempt: int
    state: TaskState
    percent: int
    log_lines: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, assignment_id: _Optional[str] = ..., attempt: _Optional[int] = ..., state: _Optional[_Union[TaskState, str]] = ..., percent: _Optional[int] = ..., log_lines: _Optional[_Iterable[str]] = ...) -> None: ...

class TaskResult(_message.Message):
    __slots__ = ("assignment_id", "attempt", "state", "installed_version", "message", "log_tail", "started_at", "finished_at", "spans")
    ASSIGNMENT_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    INSTALLED_VERSION_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    LOG_TAIL_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    SPANS_FIELD_NUMBER: _ClassVar[int]
    assignment_id: str
    attempt: int
    state: TaskState
    installed_version: str
    message: str
    log_tail: _containers.RepeatedScalarFieldContainer[str]
    started_at: _timestamp_pb2.Timestamp
    finished_at: _timestamp_pb2.Timestamp
    spans: _containers.RepeatedCompositeFieldContainer[TaskSpan]
    def __init__(self, assignment_id: _Optional[str] = ..., attempt: _Optional[int] = ..., state: _Optional[_Union[TaskState, str]] = ..., installed_version: _Optional[str] = ..., message: _Optional[str] = ..., log_tail: _Optional[_Iterable[str]] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finished_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., spans: _Optional[_Iterable[_Union[TaskSpan, _Mapping]]] = ...) -> None: ...

class TaskSpan(_message.Message):
    __slots__ = ("span_id", "name", "start_time_unix_nano", "end_time_unix_nano", "failed", "error", "attributes")
    SPAN_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    START_TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    END_TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    span_id: str
    name: str
    start_time_unix_nano: int
    end_time_unix_nano: int
    failed: bool
    error: str
    attributes: _containers.RepeatedCompositeFieldContainer[SpanAttribute]
    def __init__(self, span_id: _Optional[str] = ..., name: _Optional[str] = ..., start_time_unix_nano: _Optional[int] = ..., end_time_unix_nano: _Optional[int] = ..., failed: _Optional[bool] = ..., error: _Optional[str] = ..., attributes: _Optional[_Iterable[_Union[SpanAttribute, _Mapping]]] = ...) -> None: ...

class SpanAttribute(_message.Message):
    __slots__ = ("key", "string_value", "int_value")
    KEY_FIELD_NUMBER: _ClassVar[int]
    STRING_VALUE_FIELD_NUMBER: _ClassVar[int]
    INT_VALUE_FIELD_NUMBER: _ClassVar[int]
    key: str
    string_value: str
    int_value: int
    def __init__(self, key: _Optional[str] = ..., string_value: _Optional[str] = ..., int_value: _Optional[int] = ...) -> None: ...

class InstalledReport(_message.Message):
    __slots__ = ("installed",)
    INSTALLED_FIELD_NUMBER: _ClassVar[int]
    installed: _containers.RepeatedCompositeFieldContainer[InstalledSoftware]
    def __init__(self, installed: _Optional[_Iterable[_Union[InstalledSoftware, _Mapping]]] = ...) -> None: ...

class Watch(_message.Message):
    __slots__ = ("software_names",)
    SOFTWARE_NAMES_FIELD_NUMBER: _ClassVar[int]
    software_names: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, software_names: _Optional[_Iterable[str]] = ...) -> None: ...

class AgentMessage(_message.Message):
    __slots__ = ("hello", "heartbeat", "progress", "result", "installed")
    HELLO_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    INSTALLED_FIELD_NUMBER: _ClassVar[int]
    hello: Hello
    heartbeat: Heartbeat
    progress: TaskProgress
    result: TaskResult
    installed: InstalledReport
    def __init__(self, hello: _Optional[_Union[Hello, _Mapping]] = ..., heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ..., progress: _Optional[_Union[TaskProgress, _Mapping]] = ..., result: _Optional[_Union[TaskResult, _Mapping]] = ..., installed: _Optional[_Union[InstalledReport, _Mapping]] = ...) -> None: ...

class HealthCheck(_message.Message):
    __slots__ = ("command", "http_url", "timeout_seconds")
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    HTTP_URL_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    command: CommandProbe
    http_url: str
    timeout_seconds: int
    def __init__(self, command: _Optional[_Union[CommandProbe, _Mapping]] = ..., http_url: _Optional[str] = ..., timeout_seconds: _Optional[int] = ...) -> None: ...

class CommandProbe(_message.Message):
    __slots__ = ("argv",)
    ARGV_FIELD_NUMBER: _ClassVar[int]
    argv: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, argv: _Optional[_Iterable[str]] = ...) -> None: ...

class DeployProfile(_message.Message):
    __slots__ = ("pre_hook", "post_hook", "health_check", "restart_service")
    PRE_HOOK_FIELD_NUMBER: _ClassVar[int]
    POST_HOOK_FIELD_NUMBER: _ClassVar[int]
    HEALTH_CHECK_FIELD_NUMBER: _ClassVar[int]
    RESTART_SERVICE_FIELD_NUMBER: _ClassVar[int]
    pre_hook: str
    post_hook: str
    health_check: HealthCheck
    restart_service: str
    def __init__(self, pre_hook: _Optional[str] = ..., post_hook: _Optional[str] = ..., health_check: _Optional[_Union[HealthCheck, _Mapping]] = ..., restart_service: _Optional[str] = ...) -> None: ...

class PackageFacts(_message.Message):
    __slots__ = ("name", "version", "release", "format", "arch", "sha256", "size", "signature")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    RELEASE_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    ARCH_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    release: str
    format: Format
    arch: str
    sha256: str
    size: int
    signature: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., release: _Optional[str] = ..., format: _Optional[_Union[Format, str]] = ..., arch: _Optional[str] = ..., sha256: _Optional[str] = ..., size: _Optional[int] = ..., signature: _Optional[str] = ...) -> None: ...

class Assignment(_message.Message):
    __slots__ = ("assignment_id", "deployment_id", "attempt", "action", "package", "download_grant", "transfer_address", "deploy_profile", "deadline", "require_approval", "traceparent")
    ASSIGNMENT_ID_FIELD_NUMBER: _ClassVar[int]
    DEPLOYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_FIELD_NUMBER: _ClassVar[int]
    DOWNLOAD_GRANT_FIELD_NUMBER: _ClassVar[int]
    TRANSFER_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    DEPLOY_PROFILE_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_FIELD_NUMBER: _ClassVar[int]
    REQUIRE_APPROVAL_FIELD_NUMBER: _ClassVar[int]
    TRACEPARENT_FIELD_NUMBER: _ClassVar[int]
    assignment_id: str
    deployment_id: str
    attempt: int
    action: Action
    package: PackageFacts
    download_grant: str
    transfer_address: str
    deploy_profile: DeployProfile
    deadline: _timestamp_pb2.Timestamp
    require_approval: bool
    traceparent: str
    def __init__(self, assignment_id: _Optional[str] = ..., deployment_id: _Optional[str] = ..., attempt: _Optional[int] = ..., action: _Optional[_Union[Action, str]] = ..., package: _Optional[_Union[PackageFacts, _Mapping]] = ..., download_grant: _Optional[str] = ..., transfer_address: _Optional[str] = ..., deploy_profile: _Optional[_Union[DeployProfile, _Mapping]] = ..., deadline: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., require_approval: _Optional[bool] = ..., traceparent: _Optional[str] = ...) -> None: ...

class Cancel(_message.Message):
    __slots__ = ("assignment_id", "reason")
    ASSIGNMENT_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    assignment_id: str
    reason: str
    def __init__(self, assignment_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class Ack(_message.Message):
    __slots__ = ("assignment_id", "attempt")
    ASSIGNMENT_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    assignment_id: str
    attempt: int
    def __init__(self, assignment_id: _Optional[str] = ..., attempt: _Optional[int] = ...) -> None: ...

class Approve(_message.Message):
    __slots__ = ("assignment_id", "attempt")
    ASSIGNMENT_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    assignment_id: str
    attempt: int
    def __init__(self, assignment_id: _Optional[str] = ..., attempt: _Optional[int] = ...) -> None: ...

class Disconnect(_message.Message):
    __slots__ = ("reason", "reconnect_after_seconds")
    REASON_FIELD_NUMBER: _ClassVar[int]
    RECONNECT_AFTER_SECONDS_FIELD_NUMBER: _ClassVar[int]
    reason: str
    reconnect_after_seconds: int
    def __init__(self, reason: _Optional[str] = ..., reconnect_after_seconds: _Optional[int] = ...) -> None: ...

class ServerMessage(_message.Message):
    __slots__ = ("assignment", "cancel", "ack", "disconnect", "approve", "watch")
    ASSIGNMENT_FIELD_NUMBER: _ClassVar[int]
    CANCEL_FIELD_NUMBER: _ClassVar[int]
    ACK_FIELD_NUMBER: _ClassVar[int]
    DISCONNECT_FIELD_NUMBER: _ClassVar[int]
    APPROVE_FIELD_NUMBER: _ClassVar[int]
    WATCH_FIELD_NUMBER: _ClassVar[int]
    assignment: Assignment
    cancel: Cancel
    ack: Ack
    disconnect: Disconnect
    approve: Approve
    watch: Watch
    def __init__(self, assignment: _Optional[_Union[Assignment, _Mapping]] = ..., cancel: _Optional[_Union[Cancel, _Mapping]] = ..., ack: _Optional[_Union[Ack, _Mapping]] = ..., disconnect: _Optional[_Union[Disconnect, _Mapping]] = ..., approve: _Optional[_Union[Approve, _Mapping]] = ..., watch: _Optional[_Union[Watch, _Mapping]] = ...) -> None: ...
