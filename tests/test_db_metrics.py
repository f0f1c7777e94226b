"""Prometheus metrics of neondoctor.db engines move with real checkouts, leaks and timeouts."""

from __future__ import annotations

import asyncio
from urllib.parse import quote

import pytest
from dbvariants import Variant
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import exc

from neondoctor.errors import ConfigError
from neondoctor.lab.cluster import LabCluster, free_port

SYNC, ASYNC = Variant("psycopg2", False), Variant("asyncpg", True)


def _samples(registry: CollectorRegistry, engine: str) -> dict[str, float]:
    text = generate_latest(registry).decode()
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):  # prometheus_client's own parser
        for s in family.samples:
            if s.labels.get("engine") == engine and "le" not in s.labels:
                out[s.name] = s.value
    return out


@pytest.mark.parametrize("variant", [SYNC, ASYNC], ids=lambda v: v.id)
def test_metrics_follow_checkouts_leaks_timeouts_and_pre_ping(variant: Variant, lab_primary: LabCluster) -> None:
    registry = CollectorRegistry()
    password = "Mx4-" + variant.driver + "@/:#q%w"
    user = f"metrics_{variant.driver}"
    lab_primary.create_role(user, password, grants=("app",))
    url = lab_primary.url(user=user, password=password, driver=variant.driver)
    name = f"api-{variant.id}"

    async def body() -> list[dict[str, float]]:
        seen = []
        engine = variant.make(url, name=name, metrics_registry=registry, pool_size=1, max_overflow=1,
                              pool_timeout=0.3, application_name=name)
        seen.append(_samples(registry, name))  # 0: nothing checked out yet
        a = await variant.checkout(engine)
        b = await variant.checkout(engine)  # the second one is overflow; both are "leaked" (held)
        seen.append(_samples(registry, name))  # 1: two out, one overflow
        with pytest.raises(exc.TimeoutError):
            await variant.checkout(engine)
        seen.append(_samples(registry, name))  # 2: one checkout timeout
        await variant.release(a)
        await variant.release(b)
        seen.append(_samples(registry, name))  # 3: back in the pool (the overflow one is closed)
        lab_primary.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
                            (name,))
        await asyncio.sleep(0.2)
        c = await variant.checkout(engine)
        await variant.release(c)
        seen.append(_samples(registry, name))  # 4: pre-ping found the killed backend
        refused = variant.make(lab_primary.url(user=user, password=password, driver=variant.driver, port=free_port()),
                               name=f"{name}-down", metrics_registry=registry, connect_timeout=2)
        with pytest.raises(Exception):  # noqa: B017 - each driver raises its own class
            await variant.connect_with_retry(refused, attempts=3, backoff=0.02)
        seen.append(_samples(registry, f"{name}-down"))  # 5: two retries
        with pytest.raises(ConfigError, match="already reports"):
            variant.make(url, name=name, metrics_registry=registry)
        await variant.dispose(refused)
        await variant.dispose(engine)
        return seen

    seen = asyncio.run(body())
    p = "neondoctor_"
    assert seen[0][p + "pool_size"] == 1 and seen[0][p + "pool_capacity"] == 2
    assert seen[0][p + "pool_checked_out"] == 0 and seen[0][p + "pool_checkout_timeouts_total"] == 0
    assert seen[1][p + "pool_checked_out"] == 2 and seen[1][p + "pool_overflow"] == 1
    assert seen[1][p + "pool_checkout_wait_seconds_count"] == 2 and seen[1][p + "connect_seconds_count"] == 2
    assert seen[2][p + "pool_checkout_timeouts_total"] == 1
    assert seen[2][p + "pool_checkout_wait_seconds_count"] == 3 and seen[2][p + "pool_checkout_wait_seconds_sum"] >= 0.3
    assert seen[3][p + "pool_checked_out"] == 0 and seen[3][p + "pool_checked_in"] == 1
    assert seen[3][p + "pool_overflow"] == 0
    assert seen[4][p + "pool_preping_invalidations_total"] == 1 and seen[4][p + "connect_seconds_count"] == 3
    assert seen[5][p + "connect_retries_total"] == 2
    text = generate_latest(registry).decode()
    assert password not in text and quote(password, safe="") not in text  # labels carry the name, never the URL
    assert f'engine="{name}"' in text and "postgresql" not in text


def test_a_secret_in_the_name_is_masked(lab_primary: LabCluster) -> None:
    registry = CollectorRegistry()
    url = lab_primary.app_url()
    engine = SYNC.make(url, name=url, metrics_registry=registry)  # a careless name: the URL itself
    text = generate_latest(registry).decode()
    assert lab_primary.state.app_password not in text and "****" in text
    engine.dispose()


def test_default_registry_when_metrics_true(lab_primary: LabCluster) -> None:
    from prometheus_client import REGISTRY

    engine = SYNC.make(lab_primary.app_url(), name="default-registry-engine", metrics=True)
    with engine.connect():
        assert REGISTRY.get_sample_value("neondoctor_pool_checked_out", {"engine": "default-registry-engine"}) == 1
    engine.dispose()
