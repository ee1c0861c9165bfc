"""The local S3-compatible object store (lakegate/stack/objectstore.py, S3Proxy on loopback) as lakegate's
Python side reaches it (lakegate/objectstore.py): objects kept, signatures checked, the secret key on no
command line and in no log."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow.fs as pafs
import pytest

from lakegate.objectstore import filesystem
from lakegate.settings import Settings
from lakegate.stack import local, objectstore

pytestmark = pytest.mark.job


def test_the_local_object_store_keeps_objects_and_refuses_a_wrong_key(lakegate_object_store: Settings) -> None:
    settings = lakegate_object_store
    payload = os.urandom(300_000)  # more than one part of a multipart upload's buffer
    s3 = filesystem(settings, allow_bucket_creation=True)
    s3.create_dir("lake")
    with s3.open_output_stream("lake/coverage/1-0.json") as out:
        out.write(payload)
    assert s3.open_input_stream("lake/coverage/1-0.json").read() == payload
    listed = s3.get_file_info(pafs.FileSelector("lake", recursive=True))
    assert {(i.path, i.type) for i in listed} == {
        ("lake/coverage", pafs.FileType.Directory),
        ("lake/coverage/1-0.json", pafs.FileType.File),
    }
    # The filesystem backend keeps a bucket as a folder of the server's data.
    assert (objectstore.folder(settings) / "data" / "lake" / "coverage" / "1-0.json").read_bytes() == payload

    # Requests signed with another key are refused; without bucket creation allowed, no bucket appears.
    wrong = filesystem(settings.replace(s3_secret_access_key="not-the-secret"))
    with pytest.raises(OSError, match="ACCESS_DENIED"):
        wrong.open_input_stream("lake/coverage/1-0.json").read()
    with pytest.raises(OSError, match="allow_bucket_creation"):
        filesystem(settings).create_dir("another")

    # The secret key: in the server's properties file (its owner's alone), on no command line, in no log.
    pid = local.status(settings)["object-store"]
    assert pid is not None and pid == objectstore.service(settings).pid()
    secret = settings.objectstore.secret_access_key.reveal().encode()
    assert secret not in Path(f"/proc/{pid}/cmdline").read_bytes()
    log = objectstore.service(settings).log_file.read_bytes()
    assert b"Started" in log and secret not in log
    assert b"DEBUG" not in log, "the server logs at INFO"
    config = objectstore.folder(settings) / "s3proxy.properties"
    assert config.stat().st_mode & 0o077 == 0 and secret in config.read_bytes()
