"""lakegate's own files in the warehouse (lakegate/warehouse.py), on this disk: the same code reaches a bucket
through pyarrow's S3 filesystem (tests/job/test_catalog_services.py runs the lake on one)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakegate import warehouse
from lakegate.settings import Settings


def test_the_root_is_the_warehouse_folder_created_on_first_use(tmp_path: Path) -> None:
    settings = Settings.load(env={}, home=tmp_path)
    root = warehouse.root(settings)
    assert settings.paths.warehouse_path.is_dir() and root.local
    assert root.uri == settings.paths.warehouse_path.resolve().as_uri()
    assert (root / "_lakegate" / "x.json").uri == (settings.paths.warehouse_path / "_lakegate" / "x.json").as_uri()


def test_an_atomic_write_leaves_no_partial_file_and_files_lists_every_depth(tmp_path: Path) -> None:
    folder = warehouse.local(tmp_path) / "coverage"
    target = folder / "job" / "3-0.json"
    with target.write_atomically() as out:
        out.write(b"{}")
        assert not Path(target.path).exists(), "invisible until complete"
    assert Path(target.path).read_bytes() == b"{}" and target.read_bytes() == b"{}"
    with (folder / "top.bin").write_atomically() as out:
        out.write(b"x")
    assert [folder.relative_parts(f) for f in folder.files()] == [("job", "3-0.json"), ("top.bin",)]
    target.delete()
    assert [f.name for f in folder.files()] == ["top.bin"]
    assert (warehouse.local(tmp_path) / "missing").files() == []


def test_a_failed_write_keeps_the_old_content(tmp_path: Path) -> None:
    target = warehouse.local(tmp_path) / "state.bin"
    with target.write_atomically() as out:
        out.write(b"old")
    with pytest.raises(RuntimeError), target.write_atomically() as out:
        out.write(b"half")
        raise RuntimeError("the writer failed")
    assert target.read_bytes() == b"old"
    assert [f.name for f in warehouse.local(tmp_path).files()] == ["state.bin"], "no partial file left"


def test_a_bucket_location_names_its_objects_by_s3_uri() -> None:
    settings = Settings.load(env={}, s3_warehouse="s3://lake/wh/")
    root = warehouse.root(settings)
    assert not root.local and root.path == "lake/wh"
    assert (root / "_lakegate" / "coverage").uri == "s3://lake/wh/_lakegate/coverage"
    assert (root / "a").parent.path == "lake/wh" and (root / "a").name == "a"
