import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Format(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FORMAT_UNSPECIFIED: _ClassVar[Format]
    FORMAT_DEB: _ClassVar[Format]
    FORMAT_RPM: _ClassVar[Format]
    FORMAT_TAR: _ClassVar[Format]
    FORMAT_CONTAINER: _ClassVar[Format]

class PackageFamily(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PACKAGE_FAMILY_UNSPECIFIED: _ClassVar[PackageFamily]
    PACKAGE_FAMILY_DEB: _ClassVar[PackageFamily]
    PACKAGE_FAMILY_RPM: _ClassVar[PackageFamily]
FORMAT_UNSPECIFIED: Format
FORMAT_DEB: Format
FORMAT_RPM: Format
FORMAT_TAR: Format
FORMAT_CONTAINER: Format
PACKAGE_FAMILY_UNSPECIFIED: PackageFamily
PACKAGE_FAMILY_DEB: PackageFamily
PACKAGE_FAMILY_RPM: PackageFamily

class CommandProbe(_message.Message):
    __slots__ = ("argv",)
    ARGV_FIELD_NUMBER: _ClassVar[int]
    argv: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, argv: _Optional[_Iterable[str]] = ...) -> None: ...

class HealthCheck(_message.Message):
    __slots__ = ("command", "http_url", "timeout_seconds")
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    HTTP_URL_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    command: CommandProbe
    http_url: str
    timeout_seconds: int
    def __init__(self, command: _Optional[_Union[CommandProbe, _Mapping]] = ..., http_url: _Optional[str] = ..., timeout_seconds: _Optional[int] = ...) -> None: ...

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

class Package(_message.Message):
    __slots__ = ("id", "software_name", "version", "release", "format", "arch", "package_families", "description", "depends", "artifact_sha256", "artifact_size", "signature", "deploy_profile", "created_at", "created_by", "updated_at", "referenced_by")
    ID_FIELD_NUMBER: _ClassVar[int]
    SOFTWARE_NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    RELEASE_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    ARCH_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_FAMILIES_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    DEPENDS_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_SHA256_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_SIZE_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    DEPLOY_PROFILE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    REFERENCED_BY_FIELD_NUMBER: _ClassVar[int]
    id: str
    software_name: str
    version: str
    release: str
    format: Format
    arch: str
    package_families: _containers.RepeatedScalarFieldContainer[PackageFamily]
    description: str
    depends: _containers.RepeatedScalarFieldContainer[str]
    artifact_sha256: str
    artifact_size: int
    signature: str
    deploy_profile: DeployProfile
    created_at: _timestamp_pb2.Timestamp
    created_by: str
    updated_at: _timestamp_pb2.Timestamp
    referenced_by: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, id: _Optional[str] = ..., software_name: _Optional[str] = ..., version: _Optional[str] = ..., release: _Optional[str] = ..., format: _Optional[_Union[Format, str]] = ..., arch: _Optional[str] = ..., package_families: _Optional[_Iterable[_Union[PackageFamily, str]]] = ..., description: _Optional[str] = ..., depends: _Optional[_Iterable[str]] = ..., artifact_sha256: _Optional[str] = ..., artifact_size: _Optional[int] = ..., signature: _Optional[str] = ..., deploy_profile: _Optional[_Union[DeployProfile, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_by: _Optional[str] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., referenced_by: _Optional[_Iterable[str]] = ...) -> None: ...

class Software(_message.Message):
    __slots__ = ("name", "version_count", "latest_version", "formats", "updated_at")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_COUNT_FIELD_NUMBER: _ClassVar[int]
    LATEST_VERSION_FIELD_NUMBER: _ClassVar[int]
    FORMATS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    name: str
    version_count: int
    latest_version: str
    formats: _containers.RepeatedScalarFieldContainer[Format]
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., version_count: _Optional[int] = ..., latest_version: _Optional[str] = ..., formats: _Optional[_Iterable[_Union[Format, str]]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreatePackageRequest(_message.Message):
    __slots__ = ("software_name", "version", "release", "format", "arch", "package_families", "description", "depends", "artifact_sha256", "signature", "deploy_profile")
    SOFTWARE_NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    RELEASE_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    ARCH_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_FAMILIES_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    DEPENDS_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_SHA256_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    DEPLOY_PROFILE_FIELD_NUMBER: _ClassVar[int]
    software_name: str
    version: str
    release: str
    format: Format
    arch: str
    package_families: _containers.RepeatedScalarFieldContainer[PackageFamily]
    description: str
    depends: _containers.RepeatedScalarFieldContainer[str]
    artifact_sha256: str
    signature: str
    deploy_profile: DeployProfile
    def __init__(self, software_name: _Optional[str] = ..., version: _Optional[str] = ..., release: _Optional[str] = ..., format: _Optional[_Union[Format, str]] = ..., arch: _Optional[str] = ..., package_families: _Optional[_Iterable[_Union[PackageFamily, str]]] = ..., description: _Optional[str] = ..., depends: _Optional[_Iterable[str]] = ..., artifact_sha256: _Optional[str] = ..., signature: _Optional[str] = ..., deploy_profile: _Optional[_Union[DeployProfile, _Mapping]] = ...) -> None: ...

class CreatePackageResponse(_message.Message):
    __slots__ = ("package",)
    PACKAGE_FIELD_NUMBER: _ClassVar[int]
    package: Package
    def __init__(self, package: _Optional[_Union[Package, _Mapping]] = ...) -> None: ...

class GetPackageRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetPackageResponse(_message.Message):
    __slots__ = ("package",)
    PACKAGE_FIELD_NUMBER: _ClassVar[int]
    package: Package
    def __init__(self, package: _Optional[_Union[Package, _Mapping]] = ...) -> None: ...

class ListPackagesRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "software_name", "format", "package_family", "arch", "query")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    SOFTWARE_NAME_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_FAMILY_FIELD_NUMBER: _ClassVar[int]
    ARCH_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    software_name: str
    format: Format
    package_family: PackageFamily
    arch: str
    query: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., software_name: _Optional[str] = ..., format: _Optional[_Union[Format, str]] = ..., package_family: _Optional[_Union[PackageFamily, str]] = ..., arch: _Optional[str] = ..., query: _Optional[str] = ...) -> None: ...

class ListPackagesResponse(_message.Message):
    __slots__ = ("packages", "next_page_token", "total_size")
    PACKAGES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    packages: _containers.RepeatedCompositeFieldContainer[Package]
    next_page_token: str
    total_size: int
    def __init__(self, packages: _Optional[_Iterable[_Union[Package, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class UpdatePackageRequest(_message.Message):
    __slots__ = ("id", "description", "deploy_profile", "clear_deploy_profile", "signature")
    ID_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    DEPLOY_PROFILE_FIELD_NUMBER: _ClassVar[int]
    CLEAR_DEPLOY_PROFILE_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    id: str
    description: str
    deploy_profile: DeployProfile
    clear_deploy_profile: bool
    signature: str
    def __init__(self, id: _Optional[str] = ..., description: _Optional[str] = ..., deploy_profile: _Optional[_Union[DeployProfile, _Mapping]] = ..., clear_deploy_profile: _Optional[bool] = ..., signature: _Optional[str] = ...) -> None: ...

class UpdatePackageResponse(_message.Message):
    __slots__ = ("package",)
    PACKAGE_FIELD_NUMBER: _ClassVar[int]
    package: Package
    def __init__(self, package: _Optional[_Union[Package, _Mapping]] = ...) -> None: ...

class DeletePackageRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class DeletePackageResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListVersionsRequest(_message.Message):
    __slots__ = ("software_name", "page_size", "page_token", "format", "package_family", "arch")
    SOFTWARE_NAME_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_FAMILY_FIELD_NUMBER: _ClassVar[int]
    ARCH_FIELD_NUMBER: _ClassVar[int]
    software_name: str
    page_size: int
    page_token: str
    format: Format
    package_family: PackageFamily
    arch: str
    def __init__(self, software_name: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., format: _Optional[_Union[Format, str]] = ..., package_family: _Optional[_Union[PackageFamily, str]] = ..., arch: _Optional[str] = ...) -> None: ...

class ListVersionsResponse(_message.Message):
    __slots__ = ("packages", "next_page_token")
    PACKAGES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    packages: _containers.RepeatedCompositeFieldContainer[Package]
    next_page_token: str
    def __init__(self, packages: _Optional[_Iterable[_Union[Package, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetLatestRequest(_message.Message):
    __slots__ = ("software_name", "package_family", "arch", "format")
    SOFTWARE_NAME_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_FAMILY_FIELD_NUMBER: _ClassVar[int]
    ARCH_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    software_name: str
    package_family: PackageFamily
    arch: str
    format: Format
    def __init__(self, software_name: _Optional[str] = ..., package_family: _Optional[_Union[PackageFamily, str]] = ..., arch: _Optional[str] = ..., format: _Optional[_Union[Format, str]] = ...) -> None: ...

class GetLatestResponse(_message.Message):
    __slots__ = ("package",)
    PACKAGE_FIELD_NUMBER: _ClassVar[int]
    package: Package
    def __init__(self, package: _Optional[_Union[Package, _Mapping]] = ...) -> None: ...

class ListSoftwareRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "query")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    query: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., query: _Optional[str] = ...) -> None: ...

class ListSoftwareResponse(_message.Message):
    __slots__ = ("software", "next_page_token", "total_size")
    SOFTWARE_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    software: _containers.RepeatedCompositeFieldContainer[Software]
    next_page_token: str
    total_size: int
    def __init__(self, software: _Optional[_Iterable[_Union[Software, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class AddReferenceRequest(_message.Message):
    __slots__ = ("package_id", "holder")
    PACKAGE_ID_FIELD_NUMBER: _ClassVar[int]
    HOLDER_FIELD_NUMBER: _ClassVar[int]
    package_id: str
    holder: str
    def __init__(self, package_id: _Optional[str] = ..., holder: _Optional[str] = ...) -> None: ...

class AddReferenceResponse(_message.Message):
    __slots__ = ("package",)
    PACKAGE_FIELD_NUMBER: _ClassVar[int]
    package: Package
    def __init__(self, package: _Optional[_Union[Package, _Mapping]] = ...) -> None: ...

class RemoveReferenceRequest(_message.Message):
    __slots__ = ("package_id", "holder")
    PACKAGE_ID_FIELD_NUMBER: _ClassVar[int]
    HOLDER_FIELD_NUMBER: _ClassVar[int]
    package_id: str
    holder: str
    def __init__(self, package_id: _Optional[str] = ..., holder: _Optional[str] = ...) -> None: ...

class RemoveReferenceResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
