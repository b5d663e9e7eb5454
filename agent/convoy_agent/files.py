"""Durable writes to the agent's files: what a crash or a power loss leaves is the old state or the new one."""

import os
import tempfile


def write_atomically(path: str, data: bytes, mode: int = 0o600) -> None:
    """Replaces `path` with `data` in one rename, so a crash leaves the old file or the new one, never half.

    The temporary file sits in the same directory (a rename cannot cross file systems) under a name of
    its own (two writers never share one, and the leading dot keeps it out of name patterns), and gets
    `mode` before any byte is written, so a key is never readable by others even for a moment.
    """
    directory = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".tmp-", dir=directory)
    try:
        os.fchmod(handle, mode)
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.rename(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
    fsync_directory(directory)


def fsync_directory(path: str) -> None:
    """Makes a rename, creation or removal in the directory `path` itself durable."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
