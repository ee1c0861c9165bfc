"""The import contracts in pyproject.toml (which room may import which) hold, and they bite.

lint-imports runs on a copy of the packages: it passes as they are, and fails, naming the contract, once a
forbidden import is added to one module. The rule for udfs (standard library and fastavro only) is also
checked on the import graph itself, since its contract can only list the packages it forbids.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import grimp
import pytest

from .support import REPO

PACKAGES = ("bench", "jobs", "lakegate", "udfs")
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
CONTRACTS = {
    contract["id"]: contract["name"]
    for contract in tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
}


def _python_only(folder: str, names: list[str]) -> list[str]:
    return [n for n in names if n == "__pycache__" or ((Path(folder) / n).is_file() and not n.endswith(".py"))]


def _copy_of_the_packages(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    for package in PACKAGES:
        shutil.copytree(REPO / package, tree / package, ignore=_python_only)
    shutil.copy(REPO / "pyproject.toml", tree / "pyproject.toml")
    return tree


def _lint_imports(tree: Path) -> tuple[int, str]:
    """lint-imports' exit code and its output, one space between words (it wraps long contract names)."""
    done = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo"], cwd=tree, capture_output=True, text=True, check=False
    )
    return done.returncode, " ".join((done.stdout + done.stderr).split())


def test_the_packages_keep_every_contract(tmp_path: Path) -> None:
    code, output = _lint_imports(_copy_of_the_packages(tmp_path))
    assert code == 0, output
    assert f"Contracts: {len(CONTRACTS)} kept, 0 broken" in output


@pytest.mark.parametrize(
    ("module", "forbidden_import", "broken"),
    [
        # Even inside a function, where nothing runs at import time: the control plane starts jobs by name.
        ("lakegate/produce.py", "def _start() -> None:\n    import jobs.ingest\n", "lakegate-starts-jobs-by-name"),
        ("udfs/wire.py", "import pyflink\n", "udfs-stdlib-fastavro-cel"),
        ("lakegate/demo.py", "import lakegate.testing.ports\n", "product-without-test-kit"),
        ("jobs/common.py", "import bench.data\n", "rooms"),
    ],
)
def test_a_forbidden_import_breaks_its_contract(
    tmp_path: Path, module: str, forbidden_import: str, broken: str
) -> None:
    tree = _copy_of_the_packages(tmp_path)
    with (tree / module).open("a") as source:
        source.write("\n\n" + forbidden_import)
    code, output = _lint_imports(tree)
    assert code != 0, output
    assert f"{CONTRACTS[broken]} BROKEN" in output, output


def test_udfs_imports_only_the_standard_library_fastavro_and_cel() -> None:
    graph = grimp.build_graph("udfs", include_external_packages=True, cache_dir=None)
    imported = {
        found.split(".")[0]
        for module in graph.find_descendants("udfs") | {"udfs"}
        for found in graph.find_modules_directly_imported_by(module)
    }
    outside = imported - {"udfs", "fastavro", "cel"} - set(sys.stdlib_module_names)
    assert not outside, (
        f"udfs runs inside Flink workers and may import only the stdlib, fastavro and cel (the CEL rules): {outside}"
    )
