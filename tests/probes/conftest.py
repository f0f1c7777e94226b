"""A real PgBouncer (transaction mode) in front of a lab PostgreSQL, for the probes that look at a pooler."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from neondoctor.lab.cluster import LabCluster, LabSpec
from neondoctor.lab.pgbouncer import PoolerSpec, find_pgbouncer
from tests.conftest import pooled_cluster

# Small limits so a test can reach them: 6 clients, no protocol-level prepared statements kept.
PROBE_POOLER = PoolerSpec(max_client_conn=6, default_pool_size=2, max_prepared_statements=0)


@pytest.fixture(scope="package")
def pgbouncer_lab(primary_install: Any) -> Iterator[LabCluster]:
    with pooled_cluster(LabSpec(max_connections=20), PROBE_POOLER, primary_install) as cluster:
        yield cluster


@pytest.fixture(scope="package")
def no_prepared_evidence(pgbouncer_lab: LabCluster) -> str:
    """How the probe tells this PgBouncer keeps no prepared statements: the setting, or a version before it."""
    install = find_pgbouncer()
    assert install is not None
    if install.supports_prepared_statements:
        return "max_prepared_statements = 0"
    return f"PgBouncer {install.version_text} predates max_prepared_statements (1.21)"
