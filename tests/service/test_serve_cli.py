"""``musicgraph serve`` as a user runs it: bind checks, and two worker processes that both reload after a change."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.service.conftest import API_KEY


def test_public_host_needs_an_api_key(service_settings, fixture_data_dir, tmp_path):
    from musicgraph.config import Settings
    from musicgraph.service.server import ServeError, check_bind

    no_keys = Settings(home=tmp_path, data_dir=fixture_data_dir, serve_api_keys=None)
    for host in ("127.0.0.1", "localhost", "::1"):
        check_bind(no_keys, host)  # loopback: fine without a key
    for host in ("0.0.0.0", "192.168.1.20", "::"):
        with pytest.raises(ServeError, match=f"refusing to listen on {host}"):
            check_bind(no_keys, host)
    check_bind(service_settings, "0.0.0.0")  # with a key configured


def test_cli_refuses_public_host_without_key(tmp_path, fixture_data_dir):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MUSICGRAPH_SERVE_")}
    env.update(MUSICGRAPH_HOME=str(tmp_path), MUSICGRAPH_DATA_DIR=str(fixture_data_dir))
    proc = subprocess.run([sys.executable, "-c", "from musicgraph.cli import main; main()", "serve", "--host", "0.0.0.0"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "refusing to listen on 0.0.0.0" in proc.stderr and "MUSICGRAPH_SERVE_API_KEYS" in proc.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_workers_both_serve_a_catalog_change_without_restart(make_home, fixture_data_dir):
    import httpx2 as httpx

    home = make_home(dense=False)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MUSICGRAPH_") and k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update(MUSICGRAPH_HOME=str(home.settings.home), MUSICGRAPH_DATA_DIR=str(fixture_data_dir),
               MUSICGRAPH_SERVE_API_KEYS=API_KEY, MUSICGRAPH_SERVE_RELOAD_INTERVAL="0.1",
               MUSICGRAPH_SERVE_CHECK_INTERVAL="0", MUSICGRAPH_SERVE_RATE_LIMIT="0")
    proc = subprocess.Popen([sys.executable, "-c", "from musicgraph.cli import main; main()", "serve", "--port",
                             str(port), "--workers", "2", "--log-level", "warning"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    retrieves = 0
    try:
        ready: set[str] = set()
        deadline = time.monotonic() + 180
        while len(ready) < 2:
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else "server exited"
            assert time.monotonic() < deadline, f"workers ready: {ready}"
            try:
                r = httpx.get(url + "/health", timeout=5)
                if r.status_code == 200 and r.json()["ready"]:
                    ready.add(r.headers["x-musicgraph-worker"])
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        song = {"type": "song", "artist": "Zebra Parade", "title": "Unique Stripes", "moods": ["happy"]}
        resp = httpx.post(url + "/catalog/changes", json={"change_id": "two-workers", "op": "add", "changes": [song]},
                          headers={"Authorization": f"Bearer {API_KEY}"}, timeout=60)
        assert resp.status_code == 200, resp.text
        served_by: set[str] = set()
        deadline = time.monotonic() + 90
        while served_by != ready:
            assert time.monotonic() < deadline, f"the new song served by {served_by} of {ready}"
            r = httpx.post(url + "/retrieve", json={"query": "songs by Zebra Parade", "k": 3}, timeout=30)
            retrieves += 1
            assert r.status_code == 200, r.text  # never an error while a worker reloads
            if r.json()["results"][0]["id"] == "zebra parade|unique stripes":
                served_by.add(r.headers["x-musicgraph-worker"])
        # the metrics of both workers in one scrape
        text = httpx.get(url + "/metrics", timeout=10).text
        total = sum(float(ln.rsplit(" ", 1)[1]) for ln in text.splitlines()
                    if ln.startswith("musicgraph_http_requests_total{") and 'endpoint="/retrieve"' in ln)
        assert total == retrieves
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
