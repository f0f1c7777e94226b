"""Prometheus metrics of neondoctor.db engines (optional extra: ``pip install 'neondoctor[metrics]'``).

    engine = create_engine(name="api", metrics=True)   # default registry
    prometheus_client.start_http_server(9100)          # or the app's own /metrics endpoint

Gauges (pool size, checked out, idle, overflow, capacity) are read from the live pool at scrape
time; counters and histograms are fed by the pool events. Every series carries an ``engine``
label: the engine's name, redacted, never the URL.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from typing import Any

from neondoctor.errors import ConfigError

PREFIX = "neondoctor"
WAIT_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
CONNECT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

_LOCK = threading.Lock()
_FAMILIES: weakref.WeakKeyDictionary[Any, _Families] = weakref.WeakKeyDictionary()


def _prometheus() -> Any:
    try:
        import prometheus_client
    except ImportError:
        raise ConfigError("Prometheus metrics need prometheus_client: pip install 'neondoctor[metrics]'") from None
    return prometheus_client


class _PoolCollector:
    """Reads every tracked engine's pool at scrape time (no sampling thread, never stale)."""

    def __init__(self) -> None:
        self.engines: dict[str, weakref.ref[Any]] = {}

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        gauges = {
            "size": GaugeMetricFamily(f"{PREFIX}_pool_size", "Configured pool_size (connections kept open)",
                                      labels=["engine"]),
            "capacity": GaugeMetricFamily(f"{PREFIX}_pool_capacity", "pool_size + max_overflow", labels=["engine"]),
            "checked_out": GaugeMetricFamily(f"{PREFIX}_pool_checked_out", "Connections checked out now",
                                             labels=["engine"]),
            "checked_in": GaugeMetricFamily(f"{PREFIX}_pool_checked_in", "Idle connections in the pool",
                                            labels=["engine"]),
            "overflow": GaugeMetricFamily(f"{PREFIX}_pool_overflow", "Overflow connections open now (0..max_overflow)",
                                          labels=["engine"]),
        }
        for name, ref in list(self.engines.items()):
            engine = ref()
            if engine is None:
                continue
            pool = engine.pool
            size = pool.size()
            gauges["size"].add_metric([name], size)
            gauges["capacity"].add_metric([name], size + max(0, pool._max_overflow))
            gauges["checked_out"].add_metric([name], pool.checkedout())
            gauges["checked_in"].add_metric([name], pool.checkedin())
            gauges["overflow"].add_metric([name], max(0, pool.overflow()))
        yield from gauges.values()


class _Families:
    """The metric families of one registry, shared by every engine registered on it."""

    def __init__(self, registry: Any) -> None:
        prom = _prometheus()
        self.collector = _PoolCollector()
        registry.register(self.collector)
        self.checkout_wait = prom.Histogram(
            f"{PREFIX}_pool_checkout_wait_seconds", "Time to get a connection from the pool (incl. pre-ping/connect)",
            ["engine"], registry=registry, buckets=WAIT_BUCKETS)
        self.checkout_timeouts = prom.Counter(
            f"{PREFIX}_pool_checkout_timeouts", "Checkouts that gave up after pool_timeout", ["engine"],
            registry=registry)
        self.pre_ping_invalidations = prom.Counter(
            f"{PREFIX}_pool_preping_invalidations", "Dead connections found by pool_pre_ping", ["engine"],
            registry=registry)
        self.connect_retries = prom.Counter(
            f"{PREFIX}_connect_retries", "Retries of transient connect failures", ["engine"], registry=registry)
        self.connect_latency = prom.Histogram(
            f"{PREFIX}_connect_seconds", "Time to open a new database connection", ["engine"], registry=registry,
            buckets=CONNECT_BUCKETS)


class EngineMetrics:
    """One engine's labelled children; the pool events call these."""

    def __init__(self, name: str, families: _Families) -> None:
        self.name = name
        self._families = families
        self._wait = families.checkout_wait.labels(name)
        self._timeouts = families.checkout_timeouts.labels(name)
        self._pre_ping = families.pre_ping_invalidations.labels(name)
        self._retries = families.connect_retries.labels(name)
        self._connect = families.connect_latency.labels(name)

    def track(self, sync_engine: Any) -> None:
        engines = self._families.collector.engines
        with _LOCK:
            current = engines.get(self.name)
            if current is not None and current() is not None and current() is not sync_engine:
                raise ConfigError(f"an engine named {self.name!r} already reports to this registry: pass name=...")
            engines[self.name] = weakref.ref(sync_engine)

    def checkout_wait(self, seconds: float) -> None:
        self._wait.observe(seconds)

    def checkout_timeout(self, waited: float) -> None:
        self._timeouts.inc()
        self._wait.observe(waited)

    def pre_ping_invalidation(self) -> None:
        self._pre_ping.inc()

    def connect_retry(self) -> None:
        self._retries.inc()

    def connect_latency(self, seconds: float) -> None:
        self._connect.observe(seconds)


def engine_metrics(name: str, registry: Any = None) -> EngineMetrics:
    """Metrics for engine `name` on `registry` (prometheus_client's default REGISTRY when None)."""
    prom = _prometheus()
    registry = prom.REGISTRY if registry is None else registry
    with _LOCK:
        families = _FAMILIES.get(registry)
        if families is None:
            families = _FAMILIES[registry] = _Families(registry)
    return EngineMetrics(name, families)
