"""`pool-stats report --html` opened in real headless Chromium: the charts render, offline."""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
from conftest import run_cli

from neondoctor.pool_stats.store import Store

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1200,1000",
         "--virtual-time-budget=8000"]


def recording(path: Path) -> None:
    """Two applications over 60 samples: web steady with a peak, leaky climbing idle in transaction, one gap."""
    store = Store(path, target="postgresql+psycopg2://app:****@db.example:5432/app", interval_s=1.0)
    t0 = 1_790_000_000.0
    store.event("start", t0)
    for i in range(60):
        if 30 <= i < 35:
            if i == 30:
                store.gap(t0 + i, "could not connect: server closed the connection unexpectedly")
            continue
        web = [8, 6, 2, 0, 0, None] if 40 <= i < 45 else [2, 0, 2, 0, 0, None]
        leak = min(i // 3, 9)
        leaky = [leak, 0, 0, leak, 0, float(i)]
        store.add({"t": t0 + i, "kind": "sample", "in_use": web[0] + leaky[0], "available": 20,
                   "max_connections": 23, "superuser_reserved": 3, "reserved": 0, "active": web[1],
                   "idle": web[2], "idle_in_transaction": leak, "hidden": 0,
                   "groups": json.dumps({"a": {"web": web, "leaky": leaky}, "u": {"app": [web[0] + leak, 0, 0, 0, 0, None]}})})
    store.event("stop", t0 + 60)
    store.close()


def png_pixels(data: bytes) -> tuple[int, int, set[bytes]]:
    """Width, height and the distinct pixel values of an 8-bit RGB/RGBA PNG (what Chromium writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height, channels = 8, b"", 0, 0, 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and color in (2, 6)
            channels = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    prev = bytearray(stride)
    colors: set[bytes] = set()
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - channels] if x >= channels else 0
            b = prev[x]
            c = prev[x - channels] if x >= channels else 0
            if f == 1:
                line[x] = (line[x] + a) & 0xFF
            elif f == 2:
                line[x] = (line[x] + b) & 0xFF
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 0xFF
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        if y % 4 == 0:  # every 4th row is plenty to tell a chart from a blank page
            colors.update(bytes(line[i:i + channels]) for i in range(0, stride, channels * 2))
        prev = line
    return width, height, colors


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs it)")
def test_html_report_renders_its_charts_in_headless_chromium(tmp_path: Path) -> None:
    rec = tmp_path / "pool.db"
    recording(rec)
    page = tmp_path / "pool.html"
    result = run_cli("pool-stats", "report", str(rec), "--processes", "2", "--html", str(page))
    assert result.returncode == 1, result.stderr  # the leak episode
    html = page.read_text()
    # Self-contained: no script, stylesheet or image fetched from anywhere.
    assert not re.search(r"<script[^>]+src=|<link[^>]+href=|<img[^>]+src=", html)
    assert html.count("Plotly.newPlot") == 3  # all sessions, web, leaky

    profile = tmp_path / "profile"
    dom = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    # plotly.js ran: each chart div became an interactive plot with its SVG, lines and shaded episodes.
    assert len(re.findall(r'class="[^"]*js-plotly-plot', dom.stdout)) == 3
    assert dom.stdout.count('class="main-svg"') >= 6
    assert len(re.findall(r'class="scatterlayer', dom.stdout)) == 3
    assert "leak: leaky" in dom.stdout and "pool_size=" in dom.stdout

    shot = tmp_path / "shot.png"
    snap = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile2'}", f"--screenshot={shot}",
                           page.as_uri()], capture_output=True, text=True, timeout=120)
    assert snap.returncode == 0 and shot.exists(), snap.stderr[-2000:]
    width, height, colors = png_pixels(shot.read_bytes())
    assert (width, height) == (1200, 1000)
    assert len(colors) > 50, f"a blank page has a handful of colours, this one {len(colors)}"
