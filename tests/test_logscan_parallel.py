"""A big log cut into ranges, one forked process each: the same result as one process, always.

Each case forces the ranges (`workers=`) on a small file, so the cuts land in tracebacks, between
chained exceptions and next to untimestamped lines; the results must equal one process's exactly.
"""

from __future__ import annotations

import gzip
import itertools
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from neondoctor.errors import ConfigError
from neondoctor.triage import logscan
from neondoctor.triage.logscan import parallel, scan
from neondoctor.triage.logscan import plan as planning
from neondoctor.triage.logscan.backends import BACKENDS
from neondoctor.triage.logscan.records import is_continuation
from neondoctor.triage.matcher import Matcher
from neondoctor.triage.runbook import load_runbooks

AUTH = 'FATAL:  password authentication failed for user "app"'


def _record(n: int) -> str:
    """A timestamped error, then a traceback of chained exceptions (continuation lines) of some length."""
    frames = "".join(f'  File "/app/m{k}.py", line {k}, in handler\n    conn = engine.connect()\n' for k in range(n % 7))
    return (f"2026-11-24T10:{n // 60 % 60:02d}:{n % 60:02d}Z ERROR request {n} failed\n"
            f"Traceback (most recent call last):\n{frames}"
            f'psycopg2.OperationalError: connection to server at "db" (10.0.0.1), port 5432 failed: {AUTH}\n\n'
            "The above exception was the direct cause of the following exception:\n\n"
            "Traceback (most recent call last):\n"
            f"sqlalchemy.exc.OperationalError: (psycopg2.OperationalError) {AUTH}\n"
            "(Background on this error at: https://sqlalche.me/e/20/e3q8)\n"
            f"2026-11-24T10:{n // 60 % 60:02d}:{n % 60:02d}Z INFO web: GET /api/orders 200 12.5ms\n"
            + ("2026-11-24T11:00:00Z ERROR sqlalchemy.exc.TimeoutError: QueuePool limit of size 5 overflow 10 "
               "reached, connection timed out, timeout 30.00\n" if n % 5 == 0 else "")
            + ("    an indented line with no timestamp: server closed the connection unexpectedly\n" if n % 3 == 0
               else ""))


def _pieces(fd: int, size: int | None, workers: int | None, *, setup: bool = False) -> list[tuple[int, int]]:
    """Every piece the scan would read, in file order ([(0, size)] when the file is not cut)."""
    count = planning.processes(fd, size, workers)
    if count < 2 or size is None:
        return [(0, size or 0)]
    found = planning.cut(fd, size, count, setup=setup)
    return [found.own, *found.ranges, *found.spare]


def _plan(path: Path, workers: int | None, *, setup: bool = False) -> list[tuple[int, int]]:
    with path.open("rb") as fh:
        return _pieces(fh.fileno(), path.stat().st_size, workers, setup=setup)


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher(load_runbooks())


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("parallel") / "app.log"
    path.write_text("".join(_record(n) for n in range(600)), encoding="utf-8")
    return path


@pytest.fixture(params=["streamed", "matched where read"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways a reader hands its range over: its candidate lines to this process's matcher, or (a
    range dense with candidates) matched by the reader itself. The test log is dense: every record
    is an error, so only a threshold out of reach keeps it streamed."""
    monkeypatch.setattr(planning, "DENSE", 10**9 if request.param == "streamed" else 0)
    return str(request.param)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("workers", [2, 3, 8])
def test_ranges_give_exactly_the_result_of_one_process(log: Path, matcher: Matcher, backend: str,
                                                        workers: int, mode: str) -> None:
    one = scan(log, matcher, backend=backend, workers=1).to_json()
    with log.open("rb") as fh:
        plan = planning.cut(fh.fileno(), log.stat().st_size, workers, local=mode != "streamed")
    assert len(plan.ranges) == workers - 1  # the cuts really happen
    assert bool(plan.spare) == (mode == "streamed")
    many = scan(log, matcher, backend=backend, workers=workers).to_json()
    assert many == one
    counts = {i["runbook"]: i["count"] for i in one["incidents"]}
    assert counts["auth-failure"] == 600  # each traceback once, however the file is cut
    assert counts["pool-timeout"] == 120


def test_every_cut_is_at_a_line_that_starts_a_record(log: Path) -> None:
    data = log.read_bytes()
    ranges = _plan(log, 8)
    assert ranges[0][0] == 0 and ranges[-1][1] == len(data)
    for (_, end), (start, _) in itertools.pairwise(ranges):
        assert end == start and data[start - 1:start] == b"\n"
        assert not is_continuation(data[start:data.index(b"\n", start)])


def test_one_process_for_gzip_stdin_and_small_files(tmp_path: Path, log: Path) -> None:
    packed = tmp_path / "app.log.gz"
    packed.write_bytes(gzip.compress(log.read_bytes()))
    assert len(_plan(packed, 4)) == 1
    with log.open("rb") as fh:
        assert len(_pieces(fh.fileno(), None, 4)) == 1  # a size not known (a pipe)
    assert len(_plan(log, None)) == 1  # below MIN_RANGE per process


def _reader_that_fails_in_a_child(monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    """A child's reader sends its first block, then dies (SIGKILL) or fails to read; this process's is intact."""
    parent, real = os.getpid(), logscan.read_range

    def read_range(*args, **kwargs):  # type: ignore[no-untyped-def]
        for n, item in enumerate(real(*args, **kwargs)):
            if os.getpid() != parent and n == 1:
                if how == "killed":
                    os.kill(os.getpid(), signal.SIGKILL)
                raise ConfigError("reading app.log failed: Input/output error")
            yield item

    monkeypatch.setattr(logscan, "read_range", read_range)


def test_a_child_killed_has_its_range_read_again_here(log: Path, matcher: Matcher, mode: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Its first block was already matched: the record state goes back to where the range began."""
    one = scan(log, matcher, workers=1, chunk_size=1 << 16).to_json()
    _reader_that_fails_in_a_child(monkeypatch, "killed")
    before = _children()
    assert scan(log, matcher, workers=3, chunk_size=1 << 16).to_json() == one
    assert _children() <= before


def test_a_childs_read_error_is_the_scans_error(log: Path, matcher: Matcher, mode: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    _reader_that_fails_in_a_child(monkeypatch, "error")
    before = _children()
    with pytest.raises(ConfigError, match="Input/output error"):
        scan(log, matcher, workers=2, chunk_size=1 << 16)
    assert _children() <= before  # every child was reaped: no zombie left behind


def _build(matcher: Matcher, seen: list[set[int]]):  # type: ignore[no-untyped-def]
    def build() -> Matcher:
        seen.append(_children())
        return matcher

    return build


def test_readers_start_before_the_matcher_is_built(log: Path, matcher: Matcher, tmp_path: Path, mode: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """With the anchors the last scan of the same runbooks used, the children read while this process
    builds its matcher; the result is the one of a single process."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    one = scan(log, matcher, workers=1).to_json()
    seen: list[set[int]] = []
    assert scan(log, _build(matcher, seen), workers=2, remember="k").to_json() == one  # nothing remembered yet
    assert scan(log, _build(matcher, seen), workers=2, remember="k").to_json() == one
    assert not seen[0] and len(seen[1]) == 1  # the second scan had a reader running while it built


def test_stale_remembered_anchors_are_never_used(log: Path, matcher: Matcher, tmp_path: Path, mode: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Anchors remembered from other runbooks (here without the one the auth failures need) are a
    wrong guess: its readers are stopped and the scan starts again with the matcher's own."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    from neondoctor.triage.logscan.anchors import anchors, remember_anchors, remembered_anchors

    own = anchors(matcher.literals)
    stale = tuple(a for a in own if b"password" not in a and b"auth" not in a)
    remember_anchors("k", stale)
    one = scan(log, matcher, workers=1).to_json()
    before = _children()
    assert scan(log, _build(matcher, []), workers=2, remember="k").to_json() == one
    assert remembered_anchors("k") == own
    assert _children() <= before


def test_the_first_range_is_smaller_when_this_process_also_builds_and_matches(log: Path) -> None:
    size = 50_000_000
    for count in (2, 4, 8):
        with_setup, without = planning._targets(size, count, True, 2.0), planning._targets(size, count, False, 2.0)
        assert len(with_setup) == count - 1
        assert size / (4 * count) <= with_setup[0] <= without[0] < size / count  # this process reads least
        assert with_setup == sorted(with_setup)
    ranges = _plan(log, 2)
    early = _plan(log, 2, setup=True)
    assert early[0][1] < ranges[0][1] and early[-1][1] == ranges[-1][1]


def _children() -> set[int]:
    """This process's child processes, zombies included (Linux /proc)."""
    found: set[int] = set()
    for task in Path("/proc/self/task").iterdir():
        found.update(int(pid) for pid in (task / "children").read_text().split())
    return found


@pytest.mark.parametrize("value", ["0", "two", "-1"])
def test_a_bad_worker_count_is_a_usage_error(log: Path, value: str) -> None:
    env = {**os.environ, planning.ENV: value}
    proc = subprocess.run([sys.executable, "-m", "neondoctor", "triage", "--log", str(log)],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert planning.ENV in proc.stderr and "Traceback" not in proc.stderr


def test_the_cli_cuts_a_big_log_when_asked(log: Path) -> None:
    outs = []
    for workers in ("1", "4"):
        env = {**os.environ, planning.ENV: workers}
        proc = subprocess.run([sys.executable, "-m", "neondoctor", "triage", "--log", str(log), "--json"],
                              capture_output=True, text=True, env=env, timeout=120)
        assert proc.returncode == 0, proc.stderr
        outs.append(proc.stdout)
    assert outs[0] == outs[1]


def test_a_big_log_is_cut_by_itself_in_a_single_threaded_process(tmp_path: Path) -> None:
    """The automatic choice: one process per CPU once the file holds two MIN_RANGEs (a fresh process,
    as the CLI is: no other thread)."""
    path = tmp_path / "big.log"
    line = b"2026-11-24T10:00:00Z INFO web: GET /api/orders 200 12.5ms\n"
    path.write_bytes(line * (2 * planning.MIN_RANGE // len(line) + 1))
    code = ("import os, sys; from neondoctor.triage.logscan import plan as p; "
            "fd = os.open(sys.argv[1], os.O_RDONLY); "
            "print(p.processes(fd, os.fstat(fd).st_size), min(p._cpus(), 2))")
    env = {k: v for k, v in os.environ.items() if k != planning.ENV}
    proc = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, env=env, timeout=60)
    planned, expected = proc.stdout.split()
    assert planned == expected, proc.stderr


def test_a_log_dense_with_candidates_is_matched_where_it_is_read(tmp_path: Path, log: Path) -> None:
    """The samples decide: the test log (every record an error) is dense; ordinary lines are not."""
    from neondoctor.triage.logscan import _finder
    from neondoctor.triage.logscan.anchors import anchors

    finder = _finder(anchors(Matcher(load_runbooks()).literals), None)
    quiet = tmp_path / "quiet.log"
    quiet.write_bytes(b"2026-11-24T10:00:00Z INFO web: GET /api/orders 200 12.5ms\n" * 20000)
    for path, expected in ((log, True), (quiet, False)):
        with path.open("rb") as fh:
            assert planning.dense(fh.fileno(), path.stat().st_size, 2, finder) is expected


@pytest.mark.parametrize("who", ["the reader", "this process", "both"])
def test_spare_pieces_give_the_same_result_whoever_reads_them(log: Path, matcher: Matcher, who: str,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The spare pieces at the end go to whichever process takes their token first: the reader (front
    first), this process (back first), or some to each; the incidents are the same every way."""
    monkeypatch.setattr(planning, "DENSE", 10**9)
    one = scan(log, matcher, workers=1, chunk_size=1 << 16).to_json()
    parent, real = os.getpid(), parallel._take
    taken_by_child: list[int] = []

    def take(token: int) -> bool:
        here = os.getpid() == parent
        if (who == "the reader" and here) or (who == "this process" and not here):
            return False  # leaves the token for the other one
        if who == "both" and not here and taken_by_child:
            return False
        got = real(token)
        if got and not here:
            taken_by_child.append(token)
        return got

    monkeypatch.setattr(parallel, "_take", take)
    assert scan(log, matcher, workers=2, chunk_size=1 << 16).to_json() == one
