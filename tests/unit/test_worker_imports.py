"""What the route operator costs a worker when its task starts: ``jobs.route`` is imported inside every
TaskManager (in thread mode, in the task's JVM), so it must not pull in the catalog's libraries (pyiceberg
and SQLAlchemy took about a second of every job's start) or the PyFlink gateway's environment setup."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("pyiceberg", "sqlalchemy", "jobs.runtime", "lakegate.catalog")


def test_the_route_operator_imports_no_catalog_library() -> None:
    probe = "import sys, jobs.route; print('\\n'.join(sorted(sys.modules)))"
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    assert "udfs.hotpath" in loaded, "the probe imported the route"
    heavy = sorted({name for name in loaded for prefix in HEAVY if name == prefix or name.startswith(prefix + ".")})
    assert not heavy, f"jobs.route imports {len(heavy)} modules it must not, e.g. {heavy[:5]}"
