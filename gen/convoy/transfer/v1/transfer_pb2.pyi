import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ArtifactFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ARTIFACT_FORMAT_UNSPECIFIED: _ClassVar[ArtifactFormat]
    ARTIFACT_FORMAT_DEB: _ClassVar[ArtifactFormat]
    ARTIFACT_FORMAT_RPM: _ClassVar[ArtifactFormat]
    ARTIFACT_FORMAT_TAR: _ClassVar[ArtifactFormat]
    ARTIFACT_FORMAT_CONTAINER: _ClassVar[ArtifactFormat]
ARTIFACT_FORMAT_UNSPECIFIED: ArtifactFormat
ARTIFACT_FORMAT_DEB: ArtifactFormat
ARTIFACT_FORMAT_RPM: ArtifactFormat
ARTIFACT_FORMAT_TAR: ArtifactFormat
ARTIFACT_FORMAT_CONTAINER: ArtifactFormat

class Blob(_message.Message):
    __slots__ = ("sha256", "size", "format", "filename", "content_type", "created_at", "reference_count")
    SHA256_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_COUNT_FIELD_NUMBER: _ClassVar[int]
    sha256: str
    size: int
    format: ArtifactFormat
    filename: str
    content_type: str
    created_at: _timestamp_pb2.Timestamp
    reference_count: int
    def __init__(self, sha256: _Optional[str] = ..., size: _Optional[int] = ..., format: _Optional[_Union[ArtifactFormat, str]] = ..., filename: _Optional[str] = ..., content_type: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reference_count: _Optional[int] = ...) -> None: ...

class Inspection(_message.Message):
    __slots__ = ("format", "name", "version", "release", "arch", "depends", "description", "image_name", "image_tag", "has_uninstall_script")
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    RELEASE_FIELD_NUMBER: _ClassVar[int]
    ARCH_FIELD_NUMBER: _ClassVar[int]
    DEPENDS_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    IMAGE_NAME_FIELD_NUMBER: _ClassVar[int]
    IMAGE_TAG_FIELD_NUMBER: _ClassVar[int]
    HAS_UNINSTALL_SCRIPT_FIELD_NUMBER: _ClassVar[int]
    format: ArtifactFormat
    name: str
    version: str
    release: str
    arch: str
    depends: _containers.RepeatedScalarFieldContainer[str]
    description: str
    image_name: str
    image_tag: str
    has_uninstall_script: bool
    def __init__(self, format: _Optional[_Union[ArtifactFormat, str]] = ..., name: _Optional[str] = ..., version: _Optional[str] = ..., release: _Optional[str] = ..., arch: _Optional[str] = ..., depends: _Optional[_Iterable[str]] = ..., description: _Optional[str] = ..., image_name: _Optional[str] = ..., image_tag: _Optional[str] = ..., has_uninstall_script: _Optional[bool] = ...) -> None: ...

class UploadMetadata(_message.Message):
    __slots__ = ("filename", "declared_format", "size", "content_type")
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    DECLARED_FORMAT_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    filename: str
    declared_format: ArtifactFormat
    size: int
    content_type: str
    def __init__(self, filename: _Optional[str] = ..., declared_format: _Optional[_Union[ArtifactFormat, str]] = ..., size: _Optional[int] = ..., content_type: _Optional[str] = ...) -> None: ...

class UploadRequest(_message.Message):
    __slots__ = ("metadata", "chunk")
    METADATA_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    metadata: UploadMetadata
    chunk: bytes
    def __init__(self, metadata: _Optional[_Union[UploadMetadata, _Mapping]] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class UploadResponse(_message.Message):
    __slots__ = ("blob", "inspection", "created")
    BLOB_FIELD_NUMBER: _ClassVar[int]
    INSPECTION_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    blob: Blob
    inspection: Inspection
    created: bool
    def __init__(self, blob: _Optional[_Union[Blob, _Mapping]] = ..., inspection: _Optional[_Union[Inspection, _Mapping]] = ..., created: _Optional[bool] = ...) -> None: ...

class DownloadHeader(_message.Message):
    __slots__ = ("sha256", "total_size", "chunk_size", "offset")
    SHA256_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    CHUNK_SIZE_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    sha256: str
    total_size: int
    chunk_size: int
    offset: int
    def __init__(self, sha256: _Optional[str] = ..., total_size: _Optional[int] = ..., chunk_size: _Optional[int] = ..., offset: _Optional[int] = ...) -> None: ...

class DownloadRequest(_message.Message):
    __slots__ = ("sha256", "offset", "grant")
    SHA256_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    GRANT_FIELD_NUMBER: _ClassVar[int]
    sha256: str
    offset: int
    grant: str
    def __init__(self, sha256: _Optional[str] = ..., offset: _Optional[int] = ..., grant: _Optional[str] = ...) -> None: ...

class DownloadResponse(_message.Message):
    __slots__ = ("header", "chunk")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    header: DownloadHeader
    chunk: bytes
    def __init__(self, header: _Optional[_Union[DownloadHeader, _Mapping]] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class StatRequest(_message.Message):
    __slots__ = ("sha256",)
    SHA256_FIELD_NUMBER: _ClassVar[int]
    sha256: str
    def __init__(self, sha256: _Optional[str] = ...) -> None: ...

class StatResponse(_message.Message):
    __slots__ = ("blob",)
    BLOB_FIELD_NUMBER: _ClassVar[int]
    blob: Blob
    def __init__(self, blob: _Optional[_Union[Blob, _Mapping]] = ...) -> None: ...

class DeleteRequest(_message.Message):
    __slots__ = ("sha256",)
    SHA256_FIELD_NUMBER: _ClassVar[int]
    sha256: str
    def __init__(self, sha256: _Optional[str] = ...) -> None: ...

class DeleteResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListBlobsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "format")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    format: ArtifactFormat
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., format: _Optional[_Union[ArtifactFormat, str]] = ...) -> None: ...

class ListBlobsResponse(_message.Message):
    __slots__ = ("blobs", "next_page_token")
    BLOBS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    blobs: _containers.RepeatedCompositeFieldContainer[Blob]
    next_page_token: str
    def __init__(self, blobs: _Optional[_Iterable[_Union[Blob, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class AddReferenceRequest(_message.Message):
    __slots__ = ("sha256", "holder")
    SHA256_FIELD_NUMBER: _ClassVar[int]
    HOLDER_FIELD_NUMBER: _ClassVar[int]
    sha256: str
    holder: str
    def __init__(self, sha256: _Optional[str] = ..., holder: _Optional[str] = ...) -> None: ...

class AddReferenceResponse(_message.Message):
    __slots__ = ("blob",)
    BLOB_FIELD_NUMBER: _ClassVar[int]
    blob: Blob
    def __init__(self, blob: _Optional[_Union[Blob, _Mapping]] = ...) -> None: ...

class RemoveReferenceRequest(_message.Message):
    __slots__ = ("sha256", "holder", "delete_unreferenced")
    SHA256_FIELD_NUMBER: _ClassVar[int]
    HOLDER_FIELD_NUMBER: _ClassVar[int]
    DELETE_UNREFERENCED_FIELD_NUMBER: _ClassVar[int]
    sha256: str
    holder: str
    delete_unreferenced: bool
    def __init__(self, sha256: _Optional[str] = ..., holder: _Optional[str] = ..., delete_unreferenced: _Optional[bool] = ...) -> None: ...

class RemoveReferenceResponse(_message.Message):
    __slots__ = ("deleted",)
    DELETED_FIELD_NUMBER: _ClassVar[int]
    deleted: bool
    def __init__(self, deleted: _Optional[bool] = ...) -> None: ...
