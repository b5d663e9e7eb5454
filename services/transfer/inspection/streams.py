"""A read-only view of a (decompressed) tar stream that bounds how far it goes and what its headers hold."""

from __future__ import annotations

import re
import tarfile
from collections.abc import Callable
from typing import BinaryIO

from services.transfer.errors import Rejected

__all__ = ["GuardedStream", "MAX_HEADER_RECORD"]

# A pax or GNU long-name record: room for a 4 KiB path, a 4 KiB link target and a few attributes.
MAX_HEADER_RECORD = 16 * 1024
# Members we read whole after the scan are capped far lower by their readers (4 MiB at most).
_MAX_DATA_READ = 8 * 1024 * 1024
# Python before 3.11.10 parses pax records with regular expressions that take quadratic time on long runs
# of digits (CVE-2024-6232): a record of a few hundred KiB of digits keeps a core busy for hours. No real
# header has a run this long, so such a record is refused before tarfile parses it.
_DIGIT_RUN = re.compile(rb"[0-9]{65}")


class GuardedStream:
    """Refuses to go past `limit` bytes, and while `headers_only` (the scan) refuses oversized or
    hostile header records.

    While scanning, tarfile reads only 512-byte header blocks and, whole, the pax and GNU long-name
    records; it skips member data by seeking, which decompresses. So every read longer than a block is
    a header record, and every byte it decompresses passes through here.
    """

    def __init__(
        self,
        stream: BinaryIO,
        limit: int,
        overflow: Callable[[], Rejected],
        *,
        reason: str = "corrupt_archive",
    ) -> None:
        self._stream, self._limit, self._overflow, self._reason = stream, limit, overflow, reason
        self.headers_only = True

    def _refuse(self, message: str) -> Rejected:
        return Rejected(self._reason, message)

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            raise self._refuse("the archive has a header record of unknown length")
        if self.headers_only and size > MAX_HEADER_RECORD:
            raise self._refuse(f"the archive has a header record larger than {MAX_HEADER_RECORD // 1024} KiB")
        if size > _MAX_DATA_READ:
            raise self._refuse("the archive asks for a read larger than any member we read")
        if self._stream.tell() + size > self._limit:
            raise self._overflow()
        data = self._stream.read(size)
        if self.headers_only and size > tarfile.BLOCKSIZE and _DIGIT_RUN.search(data):
            raise self._refuse("the archive has a header record with an absurdly long number")
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        target = offset + (self._stream.tell() if whence == 1 else 0)
        if whence not in (0, 1):
            raise self._refuse("the archive cannot be read from its end")
        if target < 0:
            raise self._refuse("the archive is damaged: a member claims a negative size")
        if target > self._limit:
            raise self._overflow()
        return self._stream.seek(target)

    def tell(self) -> int:
        return self._stream.tell()
