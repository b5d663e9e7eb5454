import datetime

from convoy.inventory.v1 import inventory_pb2 as _inventory_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Action(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACTION_UNSPECIFIED: _ClassVar[Action]
    ACTION_INSTALL: _ClassVar[Action]
    ACTION_UPDATE: _ClassVar[Action]
    ACTION_UNINSTALL: _ClassVar[Action]
    ACTION_ROLLBACK: _ClassVar[Action]

class DeploymentState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DEPLOYMENT_STATE_UNSPECIFIED: _ClassVar[DeploymentState]
    DEPLOYMENT_STATE_SCHEDULED: _ClassVar[DeploymentState]
    DEPLOYMENT_STATE_PENDING: _ClassVar[DeploymentState]
    DEPLOYMENT_STATE_RUNNING: _ClassVar[DeploymentState]
    DEPLOYMENT_STATE_PAUSED: _ClassVar[DeploymentState]
    DEPLOYMENT_STATE_SUCCEEDED: _ClassVar[DeploymentState]
    DEPLOYMENT_STATE_FAILED: _ClassVar[DeploymentState]
    DEPLOYMENT_STATE_CANCELLED: _ClassVar[DeploymentState]

class TargetState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TARGET_STATE_UNSPECIFIED: _ClassVar[TargetState]
    TARGET_STATE_PENDING: _ClassVar[TargetState]
    TARGET_STATE_ASSIGNED: _ClassVar[TargetState]
    TARGET_STATE_DOWNLOADING: _ClassVar[TargetState]
    TARGET_STATE_INSTALLING: _ClassVar[TargetState]
    TARGET_STATE_SUCCEEDED: _ClassVar[TargetState]
    TARGET_STATE_UNCHANGED: _ClassVar[TargetState]
    TARGET_STATE_FAILED: _ClassVar[TargetState]
    TARGET_STATE_SKIPPED: _ClassVar[TargetState]
    TARGET_STATE_CANCELLED: _ClassVar[TargetState]
    TARGET_STATE_AWAITING_APPROVAL: _ClassVar[TargetState]

class Origin(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ORIGIN_UNSPECIFIED: _ClassVar[Origin]
    ORIGIN_MANUAL: _ClassVar[Origin]
    ORIGIN_POLICY: _ClassVar[Origin]

class DesiredState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DESIRED_STATE_UNSPECIFIED: _ClassVar[DesiredState]
    DESIRED_STATE_PRESENT: _ClassVar[DesiredState]
    DESIRED_STATE_ABSENT: _ClassVar[DesiredState]

class PolicyMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    POLICY_MODE_UNSPECIFIED: _ClassVar[PolicyMode]
    POLICY_MODE_ENFORCE: _ClassVar[PolicyMode]
    POLICY_MODE_REPORT: _ClassVar[PolicyMode]

class ComplianceState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COMPLIANCE_STATE_UNSPECIFIED: _ClassVar[ComplianceState]
    COMPLIANCE_STATE_COMPLIANT: _ClassVar[ComplianceState]
    COMPLIANCE_STATE_DRIFTED: _ClassVar[ComplianceState]
    COMPLIANCE_STATE_CONVERGING: _ClassVar[ComplianceState]
    COMPLIANCE_STATE_FAILED: _ClassVar[ComplianceState]
    COMPLIANCE_STATE_INCOMPATIBLE: _ClassVar[ComplianceState]

class ScheduleState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SCHEDULE_STATE_UNSPECIFIED: _ClassVar[ScheduleState]
    SCHEDULE_STATE_ACTIVE: _ClassVar[ScheduleState]
    SCHEDULE_STATE_DONE: _ClassVar[ScheduleState]
    SCHEDULE_STATE_CANCELLED: _ClassVar[ScheduleState]
ACTION_UNSPECIFIED: Action
ACTION_INSTALL: Action
ACTION_UPDATE: Action
ACTION_UNINSTALL: Action
ACTION_ROLLBACK: Action
DEPLOYMENT_STATE_UNSPECIFIED: DeploymentState
DEPLOYMENT_STATE_SCHEDULED: DeploymentState
DEPLOYMENT_STATE_PENDING: DeploymentState
DEPLOYMENT_STATE_RUNNING: DeploymentState
DEPLOYMENT_STATE_PAUSED: DeploymentState
DEPLOYMENT_STATE_SUCCEEDED: DeploymentState
DEPLOYMENT_STATE_FAILED: DeploymentState
DEPLOYMENT_STATE_CANCELLED: DeploymentState
TARGET_STATE_UNSPECIFIED: TargetState
TARGET_STATE_PENDING: TargetState
TARGET_STATE_ASSIGNED: TargetState
TARGET_STATE_DOWNLOADING: TargetState
TARGET_STATE_INSTALLING: TargetState
TARGET_STATE_SUCCEEDED: TargetState
TARGET_STATE_UNCHANGED: TargetState
TARGET_STATE_FAILED: TargetState
TARGET_STATE_SKIPPED: TargetState
TARGET_STATE_CANCELLED: TargetState
TARGET_STATE_AWAITING_APPROVAL: TargetState
ORIGIN_UNSPECIFIED: Origin
ORIGIN_MANUAL: Origin
ORIGIN_POLICY: Origin
DESIRED_STATE_UNSPECIFIED: DesiredState
DESIRED_STATE_PRESENT: DesiredState
DESIRED_STATE_ABSENT: DesiredState
POLICY_MODE_UNSPECIFIED: PolicyMode
POLICY_MODE_ENFORCE: PolicyMode
POLICY_MODE_REPORT: PolicyMode
COMPLIANCE_STATE_UNSPECIFIED: ComplianceState
COMPLIANCE_STATE_COMPLIANT: ComplianceState
COMPLIANCE_STATE_DRIFTED: ComplianceState
COMPLIANCE_STATE_CONVERGING: ComplianceState
COMPLIANCE_STATE_FAILED: ComplianceState
COMPLIANCE_STATE_INCOMPATIBLE: ComplianceState
SCHEDULE_STATE_UNSPECIFIED: ScheduleState
SCHEDULE_STATE_ACTIVE: ScheduleState
SCHEDULE_STATE_DONE: ScheduleState
SCHEDULE_STATE_CANCELLED: ScheduleState

class Strategy(_message.Message):
    __slots__ = ("batch_size", "batch_percent", "max_failures", "max_failure_percent", "canary", "pause_between_batches_seconds", "require_approval")
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    BATCH_PERCENT_FIELD_NUMBER: _ClassVar[int]
    MAX_FAILURES_FIELD_NUMBER: _ClassVar[int]
    MAX_FAILURE_PERCENT_FIELD_NUMBER: _ClassVar[int]
    CANARY_FIELD_NUMBER: _ClassVar[int]
    PAUSE_BETWEEN_BATCHES_SECONDS_FIELD_NUMBER: _ClassVar[int]
    REQUIRE_APPROVAL_FIELD_NUMBER: _ClassVar[int]
    batch_size: int
    batch_percent: int
    max_failures: int
    max_failure_percent: int
    canary: bool
    pause_between_batches_seconds: int
    require_approval: bool
    def __init__(self, batch_size: _Optional[int] = ..., batch_percent: _Optional[int] = ..., max_failures: _Optional[int] = ..., max_failure_percent: _Optional[int] = ..., canary: _Optional[bool] = ..., pause_between_batches_seconds: _Optional[int] = ..., require_approval: _Optional[bool] = ...) -> None: ...

class CronSchedule(_message.Message):
    __slots__ = ("expression", "timezone")
    EXPRESSION_FIELD_NUMBER: _ClassVar[int]
    TIMEZONE_FIELD_NUMBER: _ClassVar[int]
    expression: str
    timezone: str
    def __init__(self, expression: _Optional[str] = ..., timezone: _Optional[str] = ...) -> None: ...

class Schedule(_message.Message):
    __slots__ = ("at", "cron")
    AT_FIELD_NUMBER: _ClassVar[int]
    CRON_FIELD_NUMBER: _ClassVar[int]
    at: _timestamp_pb2.Timestamp
    cron: CronSchedule
    def __init__(self, at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., cron: _Optional[_Union[CronSchedule, _Mapping]] = ...) -> None: ...

class TargetCounts(_message.Message):
    __slots__ = ("total", "pending", "assigned", "downloading", "installing", "succeeded", "unchanged", "failed", "skipped", "cancelled", "awaiting_approval")
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    PENDING_FIELD_NUMBER: _ClassVar[int]
    ASSIGNED_FIELD_NUMBER: _ClassVar[int]
    DOWNLOADING_FIELD_NUMBER: _ClassVar[int]
    INSTALLING_FIELD_NUMBER: _ClassVar[int]
    SUCCEEDED_FIELD_NUMBER: _ClassVar[int]
    UNCHANGED_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    CANCELLED_FIELD_NUMBER: _ClassVar[int]
    AWAITING_APPROVAL_FIELD_NUMBER: _ClassVar[int]
    total: int
    pending: int
    assigned: int
    downloading: int
    installing: int
    succeeded: int
    unchanged: int
    failed: int
    skipped: int
    cancelled: int
    awaiting_approval: int
    def __init__(self, total: _Optional[int] = ..., pending: _Optional[int] = ..., assigned: _Optional[int] = ..., downloading: _Optional[int] = ..., installing: _Optional[int] = ..., succeeded: _Optional[int] = ..., unchanged: _Optional[int] = ..., failed: _Optional[int] = ..., skipped: _Optional[int] = ..., cancelled: _Optional[int] = ..., awaiting_approval: _Optional[int] = ...) -> None: ...

class Deployment(_message.Message):
    __slots__ = ("id", "package_id", "software_name", "version", "action", "target", "strategy", "schedule", "state", "state_reason", "origin", "policy_id", "schedule_id", "counts", "current_batch", "batch_count", "created_by", "created_at", "updated_at", "started_at", "finished_at", "rollback_deployment_id", "override_maintenance_window")
    ID_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_ID_FIELD_NUMBER: _ClassVar[int]
    SOFTWARE_NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STATE_REASON_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    POLICY_ID_FIELD_NUMBER: _ClassVar[int]
    SCHEDULE_ID_FIELD_NUMBER: _ClassVar[int]
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    CURRENT_BATCH_FIELD_NUMBER: _ClassVar[int]
    BATCH_COUNT_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    ROLLBACK_DEPLOYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    OVERRIDE_MAINTENANCE_WINDOW_FIELD_NUMBER: _ClassVar[int]
    id: str
    package_id: str
    software_name: str
    version: str
    action: Action
    target: _inventory_pb2.Target
    strategy: Strategy
    schedule: Schedule
    state: DeploymentState
    state_reason: str
    origin: Origin
    policy_id: str
    schedule_id: str
    counts: TargetCounts
    current_batch: int
    batch_count: int
    created_by: str
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    started_at: _timestamp_pb2.Timestamp
    finished_at: _timestamp_pb2.Timestamp
    rollback_deployment_id: str
    override_maintenance_window: bool
    def __init__(self, id: _Optional[str] = ..., package_id: _Optional[str] = ..., software_name: _Optional[str] = ..., version: _Optional[str] = ..., action: _Optional[_Union[Action, str]] = ..., target: _Optional[_Union[_inventory_pb2.Target, _Mapping]] = ..., strategy: _Optional[_Union[Strategy, _Mapping]] = ..., schedule: _Optional[_Union[Schedule, _Mapping]] = ..., state: _Optional[_Union[DeploymentState, str]] = ..., state_reason: _Optional[str] = ..., origin: _Optional[_Union[Origin, str]] = ..., policy_id: _Optional[str] = ..., schedule_id: _Optional[str] = ..., counts: _Optional[_Union[TargetCounts, _Mapping]] = ..., current_batch: _Optional[int] = ..., batch_count: _Optional[int] = ..., created_by: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finished_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., rollback_deployment_id: _Optional[str] = ..., override_maintenance_window: _Optional[bool] = ...) -> None: ...

class DeploymentTarget(_message.Message):
    __slots__ = ("deployment_id", "server_id", "hostname", "attempt", "state", "progress_percent", "message", "started_at", "finished_at", "batch", "previous_version", "installed_version", "updated_at")
    DEPLOYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_PERCENT_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_VERSION_FIELD_NUMBER: _ClassVar[int]
    INSTALLED_VERSION_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    deployment_id: str
    server_id: str
    hostname: str
    attempt: int
    state: TargetState
    progress_percent: int
    message: str
    started_at: _timestamp_pb2.Timestamp
    finished_at: _timestamp_pb2.Timestamp
    batch: int
    previous_version: str
    installed_version: str
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, deployment_id: _Optional[str] = ..., server_id: _Optional[str] = ..., hostname: _Optional[str] = ..., attempt: _Optional[int] = ..., state: _Optional[_Union[TargetState, str]] = ..., progress_percent: _Optional[int] = ..., message: _Optional[str] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finished_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., batch: _Optional[int] = ..., previous_version: _Optional[str] = ..., installed_version: _Optional[str] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ResolvedServer(_message.Message):
    __slots__ = ("server_id", "hostname", "installed_version", "batch")
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    INSTALLED_VERSION_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    server_id: str
    hostname: str
    installed_version: str
    batch: int
    def __init__(self, server_id: _Optional[str] = ..., hostname: _Optional[str] = ..., installed_version: _Optional[str] = ..., batch: _Optional[int] = ...) -> None: ...

class IncompatibleServer(_message.Message):
    __slots__ = ("server_id", "hostname", "reason")
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    server_id: str
    hostname: str
    reason: str
    def __init__(self, server_id: _Optional[str] = ..., hostname: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class LogLine(_message.Message):
    __slots__ = ("time", "text")
    TIME_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    time: _timestamp_pb2.Timestamp
    text: str
    def __init__(self, time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., text: _Optional[str] = ...) -> None: ...

class DeploymentEvent(_message.Message):
    __slots__ = ("sequence", "time", "deployment_id", "deployment", "target", "compliance")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    DEPLOYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    DEPLOYMENT_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    COMPLIANCE_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    time: _timestamp_pb2.Timestamp
    deployment_id: str
    deployment: Deployment
    target: DeploymentTarget
    compliance: NodeCompliance
    def __init__(self, sequence: _Optional[int] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., deployment_id: _Optional[str] = ..., deployment: _Optional[_Union[Deployment, _Mapping]] = ..., target: _Optional[_Union[DeploymentTarget, _Mapping]] = ..., compliance: _Optional[_Union[NodeCompliance, _Mapping]] = ...) -> None: ...

class SyncPolicy(_message.Message):
    __slots__ = ("id", "name", "target", "software_name", "exact_version", "latest", "state", "strategy", "mode", "enabled", "created_by", "created_at", "updated_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    SOFTWARE_NAME_FIELD_NUMBER: _ClassVar[int]
    EXACT_VERSION_FIELD_NUMBER: _ClassVar[int]
    LATEST_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    target: _inventory_pb2.Target
    software_name: str
    exact_version: str
    latest: bool
    state: DesiredState
    strategy: Strategy
    mode: PolicyMode
    enabled: bool
    created_by: str
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., target: _Optional[_Union[_inventory_pb2.Target, _Mapping]] = ..., software_name: _Optional[str] = ..., exact_version: _Optional[str] = ..., latest: _Optional[bool] = ..., state: _Optional[_Union[DesiredState, str]] = ..., strategy: _Optional[_Union[Strategy, _Mapping]] = ..., mode: _Optional[_Union[PolicyMode, str]] = ..., enabled: _Optional[bool] = ..., created_by: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class NodeCompliance(_message.Message):
    __slots__ = ("server_id", "hostname", "desired_version", "installed_version", "state", "deployment_id", "message", "checked_at", "policy_id", "failed_attempts", "retry_at", "changed_at")
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    DESIRED_VERSION_FIELD_NUMBER: _ClassVar[int]
    INSTALLED_VERSION_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    DEPLOYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    CHECKED_AT_FIELD_NUMBER: _ClassVar[int]
    POLICY_ID_FIELD_NUMBER: _ClassVar[int]
    FAILED_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    RETRY_AT_FIELD_NUMBER: _ClassVar[int]
    CHANGED_AT_FIELD_NUMBER: _ClassVar[int]
    server_id: str
    hostname: str
    desired_version: str
    installed_version: str
    state: ComplianceState
    deployment_id: str
    message: str
    checked_at: _timestamp_pb2.Timestamp
    policy_id: str
    failed_attempts: int
    retry_at: _timestamp_pb2.Timestamp
    changed_at: _timestamp_pb2.Timestamp
    def __init__(self, server_id: _Optional[str] = ..., hostname: _Optional[str] = ..., desired_version: _Optional[str] = ..., installed_version: _Optional[str] = ..., state: _Optional[_Union[ComplianceState, str]] = ..., deployment_id: _Optional[str] = ..., message: _Optional[str] = ..., checked_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., policy_id: _Optional[str] = ..., failed_attempts: _Optional[int] = ..., retry_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., changed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ComplianceCounts(_message.Message):
    __slots__ = ("total", "compliant", "drifted", "converging", "failed", "incompatible")
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    COMPLIANT_FIELD_NUMBER: _ClassVar[int]
    DRIFTED_FIELD_NUMBER: _ClassVar[int]
    CONVERGING_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    INCOMPATIBLE_FIELD_NUMBER: _ClassVar[int]
    total: int
    compliant: int
    drifted: int
    converging: int
    failed: int
    incompatible: int
    def __init__(self, total: _Optional[int] = ..., compliant: _Optional[int] = ..., drifted: _Optional[int] = ..., converging: _Optional[int] = ..., failed: _Optional[int] = ..., incompatible: _Optional[int] = ...) -> None: ...

class PolicyComplianceSummary(_message.Message):
    __slots__ = ("policy_id", "policy_name", "counts", "checked_at", "mode", "enabled", "software_name")
    POLICY_ID_FIELD_NUMBER: _ClassVar[int]
    POLICY_NAME_FIELD_NUMBER: _ClassVar[int]
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    CHECKED_AT_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    SOFTWARE_NAME_FIELD_NUMBER: _ClassVar[int]
    policy_id: str
    policy_name: str
    counts: ComplianceCounts
    checked_at: _timestamp_pb2.Timestamp
    mode: PolicyMode
    enabled: bool
    software_name: str
    def __init__(self, policy_id: _Optional[str] = ..., policy_name: _Optional[str] = ..., counts: _Optional[_Union[ComplianceCounts, _Mapping]] = ..., checked_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., mode: _Optional[_Union[PolicyMode, str]] = ..., enabled: _Optional[bool] = ..., software_name: _Optional[str] = ...) -> None: ...

class GroupComplianceSummary(_message.Message):
    __slots__ = ("group_id", "group_name", "counts")
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    GROUP_NAME_FIELD_NUMBER: _ClassVar[int]
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    group_id: str
    group_name: str
    counts: ComplianceCounts
    def __init__(self, group_id: _Optional[str] = ..., group_name: _Optional[str] = ..., counts: _Optional[_Union[ComplianceCounts, _Mapping]] = ...) -> None: ...

class DeploymentSchedule(_message.Message):
    __slots__ = ("id", "package_id", "software_name", "version", "action", "target", "strategy", "schedule", "state", "next_run_at", "last_run_at", "last_deployment_id", "next_deployment_id", "created_by", "created_at", "updated_at", "override_maintenance_window", "last_error")
    ID_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_ID_FIELD_NUMBER: _ClassVar[int]
    SOFTWARE_NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    NEXT_RUN_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_RUN_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_DEPLOYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    NEXT_DEPLOYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    OVERRIDE_MAINTENANCE_WINDOW_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    id: str
    package_id: str
    software_name: str
    version: str
    action: Action
    target: _inventory_pb2.Target
    strategy: Strategy
    schedule: Schedule
    state: ScheduleState
    next_run_at: _timestamp_pb2.Timestamp
    last_run_at: _timestamp_pb2.Timestamp
    last_deployment_id: str
    next_deployment_id: str
    created_by: str
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    override_maintenance_window: bool
    last_error: str
    def __init__(self, id: _Optional[str] = ..., package_id: _Optional[str] = ..., software_name: _Optional[str] = ..., version: _Optional[str] = ..., action: _Optional[_Union[Action, str]] = ..., target: _Optional[_Union[_inventory_pb2.Target, _Mapping]] = ..., strategy: _Optional[_Union[Strategy, _Mapping]] = ..., schedule: _Optional[_Union[Schedule, _Mapping]] = ..., state: _Optional[_Union[ScheduleState, str]] = ..., next_run_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_run_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_deployment_id: _Optional[str] = ..., next_deployment_id: _Optional[str] = ..., created_by: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., override_maintenance_window: _Optional[bool] = ..., last_error: _Optional[str] = ...) -> None: ...

class CreateDeploymentRequest(_message.Message):
    __slots__ = ("package_id", "action", "target", "strategy", "schedule", "dry_run", "rollback_deployment_id", "override_maintenance_window")
    PACKAGE_ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    ROLLBACK_DEPLOYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    OVERRIDE_MAINTENANCE_WINDOW_FIELD_NUMBER: _ClassVar[int]
    package_id: str
    action: Action
    target: _inventory_pb2.Target
    strategy: Strategy
    schedule: Schedule
    dry_run: bool
    rollback_deployment_id: str
    override_maintenance_window: bool
    def __init__(self, package_id: _Optional[str] = ..., action: _Optional[_Union[Action, str]] = ..., target: _Optional[_Union[_inventory_pb2.Target, _Mapping]] = ..., strategy: _Optional[_Union[Strategy, _Mapping]] = ..., schedule: _Optional[_Union[Schedule, _Mapping]] = ..., dry_run: _Optional[bool] = ..., rollback_deployment_id: _Optional[str] = ..., override_maintenance_window: _Optional[bool] = ...) -> None: ...

class CreateDeploymentResponse(_message.Message):
    __slots__ = ("deployment", "resolved", "incompatible", "schedule")
    DEPLOYMENT_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_FIELD_NUMBER: _ClassVar[int]
    INCOMPATIBLE_FIELD_NUMBER: _ClassVar[int]
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    deployment: Deployment
    resolved: _containers.RepeatedCompositeFieldContainer[ResolvedServer]
    incompatible: _containers.RepeatedCompositeFieldContainer[IncompatibleServer]
    schedule: DeploymentSchedule
    def __init__(self, deployment: _Optional[_Union[Deployment, _Mapping]] = ..., resolved: _Optional[_Iterable[_Union[ResolvedServer, _Mapping]]] = ..., incompatible: _Optional[_Iterable[_Union[IncompatibleServer, _Mapping]]] = ..., schedule: _Optional[_Union[DeploymentSchedule, _Mapping]] = ...) -> None: ...

class GetDeploymentRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetDeploymentResponse(_message.Message):
    __slots__ = ("deployment",)
    DEPLOYMENT_FIELD_NUMBER: _ClassVar[int]
    deployment: Deployment
    def __init__(self, deployment: _Optional[_Union[Deployment, _Mapping]] = ...) -> None: ...

class ListDeploymentsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "state", "package_id", "software_name", "policy_id", "server_id", "created_by", "since", "until")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_ID_FIELD_NUMBER: _ClassVar[int]
    SOFTWARE_NAME_FIELD_NUMBER: _ClassVar[int]
    POLICY_ID_FIELD_NUMBER: _ClassVar[int]
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    state: DeploymentState
    package_id: str
    software_name: str
    policy_id: str
    server_id: str
    created_by: str
    since: _timestamp_pb2.Timestamp
    until: _timestamp_pb2.Timestamp
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., state: _Optional[_Union[DeploymentState, str]] = ..., package_id: _Optional[str] = ..., software_name: _Optional[str] = ..., policy_id: _Optional[str] = ..., server_id: _Optional[str] = ..., created_by: _Optional[str] = ..., since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListDeploymentsResponse(_message.Message):
    __slots__ = ("deployments", "next_page_token", "total_size")
    DEPLOYMENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    deployments: _containers.RepeatedCompositeFieldContainer[Deployment]
    next_page_token: str
    total_size: int
    def __init__(self, deployments: _Optional[_Iterable[_Union[Deployment, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class ListDeploymentTargetsRequest(_message.Message):
    __slots__ = ("deployment_id", "page_size", "page_token", "state", "attempt", "batch", "query", "server_id")
    DEPLOYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    deployment_id: str
    page_size: int
    page_token: str
    state: TargetState
    attempt: int
    batch: int
    query: str
    server_id: str
    def __init__(self, deployment_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., state: _Optional[_Union[TargetState, str]] = ..., attempt: _Optional[int] = ..., batch: _Optional[int] = ..., query: _Optional[str] = ..., server_id: _Optional[str] = ...) -> None: ...

class ListDeploymentTargetsResponse(_message.Message):
    __slots__ = ("targets", "next_page_token", "total_size")
    TARGETS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    targets: _containers.RepeatedCompositeFieldContainer[DeploymentTarget]
    next_page_token: str
    total_size: int
    def __init__(self, targets: _Optional[_Iterable[_Union[DeploymentTarget, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class PauseDeploymentRequest(_message.Message):
    __slots__ = ("id", "reason")
    ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    id: str
    reason: str
    def __init__(self, id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class PauseDeploymentResponse(_message.Message):
    __slots__ = ("deployment",)
    DEPLOYMENT_FIELD_NUMBER: _ClassVar[int]
    deployment: Deployment
    def __init__(self, deployment: _Optional[_Union[Deployment, _Mapping]] = ...) -> None: ...

class ResumeDeploymentRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class ResumeDeploymentResponse(_message.Message):
    __slots__ = ("deployment",)
    DEPLOYMENT_FIELD_NUMBER: _ClassVar[int]
    deployment: Deployment
    def __init__(self, deployment: _Optional[_Union[Deployment, _Mapping]] = ...) -> None: ...

class CancelDeploymentRequest(_message.Message):
    __slots__ = ("id", "reason")
    ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    id: str
    reason: str
    def __init__(self, id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class CancelDeploymentResponse(_message.Message):
    __slots__ = ("deployment",)
    DEPLOYMENT_FIELD_NUMBER: _ClassVar[int]
    deployment: Deployment
    def __init__(self, deployment: _Optional[_Union[Deployment, _Mapping]] = ...) -> None: ...

class RetryFailedRequest(_message.Message):
    __slots__ = ("id", "server_ids")
    ID_FIELD_NUMBER: _ClassVar[int]
    SERVER_IDS_FIELD_NUMBER: _ClassVar[int]
    id: str
    server_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, id: _Optional[str] = ..., server_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class RetryFailedResponse(_message.Message):
    __slots__ = ("deployment", "retried")
    DEPLOYMENT_FIELD_NUMBER: _ClassVar[int]
    RETRIED_FIELD_NUMBER: _ClassVar[int]
    deployment: Deployment
    retried: int
    def __init__(self, deployment: _Optional[_Union[Deployment, _Mapping]] = ..., retried: _Optional[int] = ...) -> None: ...

class ApproveDeploymentRequest(_message.Message):
    __slots__ = ("id", "server_ids")
    ID_FIELD_NUMBER: _ClassVar[int]
    SERVER_IDS_FIELD_NUMBER: _ClassVar[int]
    id: str
    server_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, id: _Optional[str] = ..., server_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class ApproveDeploymentResponse(_message.Message):
    __slots__ = ("deployment", "approved")
    DEPLOYMENT_FIELD_NUMBER: _ClassVar[int]
    APPROVED_FIELD_NUMBER: _ClassVar[int]
    deployment: Deployment
    approved: int
    def __init__(self, deployment: _Optional[_Union[Deployment, _Mapping]] = ..., approved: _Optional[int] = ...) -> None: ...

class WatchDeploymentRequest(_message.Message):
    __slots__ = ("deployment_id", "since_sequence")
    DEPLOYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    SINCE_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    deployment_id: str
    since_sequence: int
    def __init__(self, deployment_id: _Optional[str] = ..., since_sequence: _Optional[int] = ...) -> None: ...

class GetTargetLogRequest(_message.Message):
    __slots__ = ("deployment_id", "server_id", "attempt")
    DEPLOYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    deployment_id: str
    server_id: str
    attempt: int
    def __init__(self, deployment_id: _Optional[str] = ..., server_id: _Optional[str] = ..., attempt: _Optional[int] = ...) -> None: ...

class GetTargetLogResponse(_message.Message):
    __slots__ = ("lines", "dropped_lines")
    LINES_FIELD_NUMBER: _ClassVar[int]
    DROPPED_LINES_FIELD_NUMBER: _ClassVar[int]
    lines: _containers.RepeatedCompositeFieldContainer[LogLine]
    dropped_lines: int
    def __init__(self, lines: _Optional[_Iterable[_Union[LogLine, _Mapping]]] = ..., dropped_lines: _Optional[int] = ...) -> None: ...

class RevokeServerRequest(_message.Message):
    __slots__ = ("server_id", "reason")
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    server_id: str
    reason: str
    def __init__(self, server_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class RevokeServerResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CreatePolicyRequest(_message.Message):
    __slots__ = ("name", "target", "software_name", "exact_version", "latest", "state", "strategy", "mode", "enabled")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    SOFTWARE_NAME_FIELD_NUMBER: _ClassVar[int]
    EXACT_VERSION_FIELD_NUMBER: _ClassVar[int]
    LATEST_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    name: str
    target: _inventory_pb2.Target
    software_name: str
    exact_version: str
    latest: bool
    state: DesiredState
    strategy: Strategy
    mode: PolicyMode
    enabled: bool
    def __init__(self, name: _Optional[str] = ..., target: _Optional[_Union[_inventory_pb2.Target, _Mapping]] = ..., software_name: _Optional[str] = ..., exact_version: _Optional[str] = ..., latest: _Optional[bool] = ..., state: _Optional[_Union[DesiredState, str]] = ..., strategy: _Optional[_Union[Strategy, _Mapping]] = ..., mode: _Optional[_Union[PolicyMode, str]] = ..., enabled: _Optional[bool] = ...) -> None: ...

class CreatePolicyResponse(_message.Message):
    __slots__ = ("policy",)
    POLICY_FIELD_NUMBER: _ClassVar[int]
    policy: SyncPolicy
    def __init__(self, policy: _Optional[_Union[SyncPolicy, _Mapping]] = ...) -> None: ...

class GetPolicyRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetPolicyResponse(_message.Message):
    __slots__ = ("policy",)
    POLICY_FIELD_NUMBER: _ClassVar[int]
    policy: SyncPolicy
    def __init__(self, policy: _Optional[_Union[SyncPolicy, _Mapping]] = ...) -> None: ...

class ListPoliciesRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "software_name", "mode", "enabled")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    SOFTWARE_NAME_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    software_name: str
    mode: PolicyMode
    enabled: bool
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., software_name: _Optional[str] = ..., mode: _Optional[_Union[PolicyMode, str]] = ..., enabled: _Optional[bool] = ...) -> None: ...

class ListPoliciesResponse(_message.Message):
    __slots__ = ("policies", "next_page_token", "total_size")
    POLICIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    policies: _containers.RepeatedCompositeFieldContainer[SyncPolicy]
    next_page_token: str
    total_size: int
    def __init__(self, policies: _Optional[_Iterable[_Union[SyncPolicy, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class UpdatePolicyRequest(_message.Message):
    __slots__ = ("id", "name", "target", "exact_version", "latest", "state", "strategy", "mode", "enabled")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    EXACT_VERSION_FIELD_NUMBER: _ClassVar[int]
    LATEST_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    target: _inventory_pb2.Target
    exact_version: str
    latest: bool
    state: DesiredState
    strategy: Strategy
    mode: PolicyMode
    enabled: bool
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., target: _Optional[_Union[_inventory_pb2.Target, _Mapping]] = ..., exact_version: _Optional[str] = ..., latest: _Optional[bool] = ..., state: _Optional[_Union[DesiredState, str]] = ..., strategy: _Optional[_Union[Strategy, _Mapping]] = ..., mode: _Optional[_Union[PolicyMode, str]] = ..., enabled: _Optional[bool] = ...) -> None: ...

class UpdatePolicyResponse(_message.Message):
    __slots__ = ("policy",)
    POLICY_FIELD_NUMBER: _ClassVar[int]
    policy: SyncPolicy
    def __init__(self, policy: _Optional[_Union[SyncPolicy, _Mapping]] = ...) -> None: ...

class DeletePolicyRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class DeletePolicyResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetPolicyComplianceRequest(_message.Message):
    __slots__ = ("policy_id", "page_size", "page_token", "state")
    POLICY_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    policy_id: str
    page_size: int
    page_token: str
    state: ComplianceState
    def __init__(self, policy_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., state: _Optional[_Union[ComplianceState, str]] = ...) -> None: ...

class GetPolicyComplianceResponse(_message.Message):
    __slots__ = ("nodes", "next_page_token", "counts")
    NODES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    nodes: _containers.RepeatedCompositeFieldContainer[NodeCompliance]
    next_page_token: str
    counts: ComplianceCounts
    def __init__(self, nodes: _Optional[_Iterable[_Union[NodeCompliance, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., counts: _Optional[_Union[ComplianceCounts, _Mapping]] = ...) -> None: ...

class GetComplianceSummaryRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetComplianceSummaryResponse(_message.Message):
    __slots__ = ("policies", "total", "groups")
    POLICIES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    policies: _containers.RepeatedCompositeFieldContainer[PolicyComplianceSummary]
    total: ComplianceCounts
    groups: _containers.RepeatedCompositeFieldContainer[GroupComplianceSummary]
    def __init__(self, policies: _Optional[_Iterable[_Union[PolicyComplianceSummary, _Mapping]]] = ..., total: _Optional[_Union[ComplianceCounts, _Mapping]] = ..., groups: _Optional[_Iterable[_Union[GroupComplianceSummary, _Mapping]]] = ...) -> None: ...

class ListSchedulesRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "state")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    state: ScheduleState
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., state: _Optional[_Union[ScheduleState, str]] = ...) -> None: ...

class ListSchedulesResponse(_message.Message):
    __slots__ = ("schedules", "next_page_token")
    SCHEDULES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    schedules: _containers.RepeatedCompositeFieldContainer[DeploymentSchedule]
    next_page_token: str
    def __init__(self, schedules: _Optional[_Iterable[_Union[DeploymentSchedule, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateScheduleRequest(_message.Message):
    __slots__ = ("id", "schedule", "strategy")
    ID_FIELD_NUMBER: _ClassVar[int]
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    id: str
    schedule: Schedule
    strategy: Strategy
    def __init__(self, id: _Optional[str] = ..., schedule: _Optional[_Union[Schedule, _Mapping]] = ..., strategy: _Optional[_Union[Strategy, _Mapping]] = ...) -> None: ...

class GetScheduleRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetScheduleResponse(_message.Message):
    __slots__ = ("schedule",)
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    schedule: DeploymentSchedule
    def __init__(self, schedule: _Optional[_Union[DeploymentSchedule, _Mapping]] = ...) -> None: ...

class UpdateScheduleResponse(_message.Message):
    __slots__ = ("schedule",)
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    schedule: DeploymentSchedule
    def __init__(self, schedule: _Optional[_Union[DeploymentSchedule, _Mapping]] = ...) -> None: ...

class CancelScheduleRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class CancelScheduleResponse(_message.Message):
    __slots__ = ("schedule",)
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    schedule: DeploymentSchedule
    def __init__(self, schedule: _Optional[_Union[DeploymentSchedule, _Mapping]] = ...) -> None: ...
