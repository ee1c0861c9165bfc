"""The lake's warehouse as lakegate's own files see it: a folder on this disk (``paths.warehouse``) or a prefix
in an S3 bucket (``s3_warehouse``), reached through one pyarrow filesystem; and where Flink keeps a job's
checkpoints (a folder, or ``s3_checkpoints``).

Iceberg's tables live under its root (JDBC catalogs; a REST catalog's server decides), and lakegate keeps its
own files beside them, under ``_lakegate/``: the coverage journal the job's pack writes and the read-model
state a fresh start rebuilds (docs/resume.md). Python reads and writes them here; the JVM reads and writes
the same files by :attr:`Location.uri` through Flink's filesystems.

Invariant: a :class:`Location`'s ``uri`` and its ``path`` on ``fs`` name the same file, and a file written with
:meth:`Location.write_atomically` is either absent or complete for every reader.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pyarrow.fs as pafs

from lakegate import objectstore
from lakegate.settings import Settings


def uri(settings: Settings) -> str:
    """The warehouse's URI, as catalogs take it: ``s3://bucket/prefix`` or ``file:///...``, without a trailing
    slash."""
    if settings.objectstore.warehouse:
        return settings.objectstore.warehouse.rstrip("/")
    return settings.paths.warehouse_path.as_uri()


def on_object_store(settings: Settings) -> bool:
    return bool(settings.objectstore.warehouse)


def root(settings: Settings) -> Location:
    """The warehouse's root folder (created on this disk when missing; a bucket is the operator's)."""
    if on_object_store(settings):
        return in_bucket(settings, settings.objectstore.warehouse)
    settings.paths.warehouse_path.mkdir(parents=True, exist_ok=True)
    return local(settings.paths.warehouse_path)


def flink_state(settings: Settings, local_root: Path) -> Location:
    """Where Flink keeps a job's ``checkpoints``, ``savepoints`` and ``changelog`` (state changes): under
    ``s3_checkpoints`` when set, else under ``local_root`` (the home for a local job, the cluster's folder)."""
    if settings.objectstore.checkpoints:
        return in_bucket(settings, settings.objectstore.checkpoints)
    return local(local_root)


def in_bucket(settings: Settings, s3_uri: str) -> Location:
    """``s3://bucket[/prefix]`` (as Settings checked it) on the settings' object store."""
    return Location(objectstore.filesystem(settings), s3_uri.removeprefix("s3://").rstrip("/"))


def local(path: Path) -> Location:
    """A folder on this disk as a :class:`Location` (tests, tools that take a path)."""
    return Location(pafs.LocalFileSystem(), str(path.resolve()))


@dataclass(frozen=True, slots=True)
class Location:
    """A file or folder on ``fs`` (``path`` in its terms: an absolute path, or ``bucket/key`` on S3)."""

    fs: pafs.FileSystem
    path: str

    def __truediv__(self, name: str) -> Location:
        return Location(self.fs, f"{self.path}/{name}")

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def parent(self) -> Location:
        return Location(self.fs, self.path.rsplit("/", 1)[0])

    @property
    def local(self) -> bool:
        return isinstance(self.fs, pafs.LocalFileSystem)

    @property
    def uri(self) -> str:
        """What the JVM (Flink's filesystems, Iceberg's FileIO) names this file or folder by."""
        return Path(self.path).as_uri() if self.local else f"s3://{self.path}"

    def files(self, *, recursive: bool = True) -> list[Location]:
        """Every file under this folder, at any depth unless not ``recursive`` (none when the folder does not
        exist), sorted."""
        found = self.fs.get_file_info(pafs.FileSelector(self.path, allow_not_found=True, recursive=recursive))
        return sorted(
            (Location(self.fs, info.path) for info in found if info.type == pafs.FileType.File),
            key=lambda each: each.path,
        )

    def relative_parts(self, inner: Location) -> tuple[str, ...]:
        """``inner``'s path below this folder, as parts."""
        return tuple(inner.path.removeprefix(self.path + "/").split("/"))

    def modified_s(self) -> float:
        """When this file was last written (seconds since the epoch)."""
        mtime = self.fs.get_file_info(self.path).mtime
        return mtime.timestamp() if mtime is not None else 0.0

    def read_bytes(self) -> bytes:
        with self.fs.open_input_stream(self.path) as stream:
            return bytes(stream.read())

    @contextlib.contextmanager
    def write_atomically(self) -> Iterator[BinaryIO]:
        """A stream for this file's new content: written under a hidden name beside it, then moved over it
        (S3 makes an object visible only once complete, so there the move is a copy)."""
        if self.local:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        partial = self.parent / f".{self.name}.partial"
        try:
            with self.fs.open_output_stream(partial.path) as out:
                yield out
        except BaseException:
            with contextlib.suppress(OSError):
                partial.delete()
            raise
        self.fs.move(partial.path, self.path)

    def delete(self) -> None:
        self.fs.delete_file(self.path)
