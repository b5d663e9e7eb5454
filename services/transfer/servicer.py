"""gRPC servicer of the transfer service: proto messages in, use cases called, proto messages out."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from convoy.transfer.v1 import transfer_pb2 as pb
from convoy.transfer.v1 import transfer_pb2_grpc as pb_grpc
from services.kit.errors import InvalidArgument
from services.kit.timestamps import to_timestamp
from services.kit.tls import peer_certificate
from services.transfer.downloads import DownloadHeader, DownloadUseCases
from services.transfer.inspection import CONTAINER, DEB, RPM, TAR, Inspection
from services.transfer.service import BlobUseCases, BlobView
from services.transfer.uploads import UploadMetadata, UploadUseCases

__all__ = ["TransferServicer", "FORMAT_TO_PROTO", "FORMAT_FROM_PROTO"]

FORMAT_TO_PROTO = {
    DEB: pb.ARTIFACT_FORMAT_DEB,
    RPM: pb.ARTIFACT_FORMAT_RPM,
    TAR: pb.ARTIFACT_FORMAT_TAR,
    CONTAINER: pb.ARTIFACT_FORMAT_CONTAINER,
}
FORMAT_FROM_PROTO = {value: name for name, value in FORMAT_TO_PROTO.items()}


def _format_name(value: int, field: str) -> str:
    """The format's name, empty for unspecified; an unknown enum number is the client's mistake."""
    if value == pb.ARTIFACT_FORMAT_UNSPECIFIED:
        return ""
    if value not in FORMAT_FROM_PROTO:
        raise InvalidArgument(f"{field} {value} is not a known artifact format")
    return FORMAT_FROM_PROTO[value]


def blob_to_proto(view: BlobView) -> pb.Blob:
    blob = view.blob
    return pb.Blob(
        sha256=blob.sha256,
        size=blob.size,
        format=FORMAT_TO_PROTO.get(blob.format, pb.ARTIFACT_FORMAT_UNSPECIFIED),
        filename=blob.filename,
        content_type=blob.content_type,
        created_at=to_timestamp(blob.created_at),
        reference_count=view.reference_count,
    )


def inspection_to_proto(inspection: Inspection) -> pb.Inspection:
    return pb.Inspection(
        format=FORMAT_TO_PROTO[inspection.format],
        name=inspection.name,
        version=inspection.version,
        release=inspection.release,
        arch=inspection.arch,
        depends=list(inspection.depends),
        description=inspection.description,
        image_name=inspection.image_name,
        image_tag=inspection.image_tag,
        has_uninstall_script=inspection.has_uninstall_script,
    )


async def _metadata(requests: AsyncIterator[pb.UploadRequest]) -> UploadMetadata:
    first = await anext(requests, None)
    if first is None or first.WhichOneof("payload") != "metadata":
        raise InvalidArgument("the first upload message must carry the metadata")
    meta = first.metadata
    return UploadMetadata(
        filename=meta.filename,
        declared_format=_format_name(meta.declared_format, "declared_format"),
        size=meta.size,
        content_type=meta.content_type,
    )


async def _chunks(requests: AsyncIterator[pb.UploadRequest]) -> AsyncIterator[bytes]:
    async for request in requests:
        payload = request.WhichOneof("payload")
        if payload == "metadata":
            raise InvalidArgument("only the first upload message may carry metadata")
        if payload is None:
            raise InvalidArgument("every upload message after the first must carry a chunk")
        if request.chunk:
            yield request.chunk


class TransferServicer(pb_grpc.TransferServiceServicer):
    def __init__(self, blobs: BlobUseCases, uploads: UploadUseCases, downloads: DownloadUseCases) -> None:
        self._blobs, self._uploads, self._downloads = blobs, uploads, downloads

    async def Upload(
        self, request_iterator: AsyncIterator[pb.UploadRequest], context: object
    ) -> pb.UploadResponse:
        requests = aiter(request_iterator)
        result = await self._uploads.upload(await _metadata(requests), _chunks(requests))
        return pb.UploadResponse(
            blob=blob_to_proto(result.blob),
            inspection=inspection_to_proto(result.inspection),
            created=result.created,
        )

    async def Download(
        self, request: pb.DownloadRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.DownloadResponse]:
        parts = self._downloads.download(
            request.sha256, request.offset, request.grant, certificate=peer_certificate(context)
        )
        async for part in parts:
            if isinstance(part, DownloadHeader):
                header = pb.DownloadHeader(
                    sha256=part.sha256,
                    total_size=part.total_size,
                    chunk_size=part.chunk_size,
                    offset=part.offset,
                )
                yield pb.DownloadResponse(header=header)
            else:
                yield pb.DownloadResponse(chunk=part)

    async def Stat(self, request: pb.StatRequest, context: object) -> pb.StatResponse:
        return pb.StatResponse(blob=blob_to_proto(await self._blobs.stat(request.sha256)))

    async def Delete(self, request: pb.DeleteRequest, context: object) -> pb.DeleteResponse:
        await self._blobs.delete(request.sha256)
        return pb.DeleteResponse()

    async def ListBlobs(self, request: pb.ListBlobsRequest, context: object) -> pb.ListBlobsResponse:
        page = await self._blobs.list(
            size=request.page_size, token=request.page_token, format=_format_name(request.format, "format")
        )
        return pb.ListBlobsResponse(
            blobs=[blob_to_proto(view) for view in page.blobs], next_page_token=page.next_page_token
        )

    async def AddReference(self, request: pb.AddReferenceRequest, context: object) -> pb.AddReferenceResponse:
        view = await self._blobs.add_reference(request.sha256, request.holder)
        return pb.AddReferenceResponse(blob=blob_to_proto(view))

    async def RemoveReference(
        self, request: pb.RemoveReferenceRequest, context: object
    ) -> pb.RemoveReferenceResponse:
        deleted = await self._blobs.remove_reference(
            request.sha256, request.holder, delete_unreferenced=request.delete_unreferenced
        )
        return pb.RemoveReferenceResponse(deleted=deleted)
