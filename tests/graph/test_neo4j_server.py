"""The local Neo4j server manager: configuration, clear errors, and (marked neo4j) the running server."""

from __future__ import annotations

import os
import socket
import subprocess
import urllib.request
from pathlib import Path

import pytest

from musicgraph.config import Settings
from musicgraph.graph.neo4j_server import NEO4J_VERSION, Neo4jServer, Neo4jServerError


def make_server(tmp_path: Path, **overrides) -> Neo4jServer:
    settings = Settings(home=tmp_path / "home", **overrides)
    return Neo4jServer(settings)


def fake_install(server: Neo4jServer) -> None:
    (server.home / "lib").mkdir(parents=True)
    (server.home / "plugins").mkdir(parents=True)
    for name in (f"neo4j-{NEO4J_VERSION}.jar", f"neo4j-server-{NEO4J_VERSION}.jar"):
        (server.home / "lib" / name).write_bytes(b"")
    (server.home / "plugins" / "apoc-core-5.26.19.jar").write_bytes(b"")


def conf(server: Neo4jServer) -> dict[str, str]:
    return dict(line.split("=", 1) for line in server.conf_lines() if line and not line.startswith("#"))


def test_conf_loopback_ports_memory_and_auth_off_by_default(tmp_path) -> None:
    server = make_server(tmp_path, neo4j_bolt_port=7999, neo4j_http_port=7998, neo4j_heap="3g",
                         neo4j_pagecache="700m")
    c = conf(server)
    assert c["server.default_listen_address"] == "127.0.0.1"
    assert c["server.bolt.listen_address"] == ":7999" and c["server.http.listen_address"] == ":7998"
    assert c["server.https.enabled"] == "false" and c["server.bolt.tls_level"] == "DISABLED"
    assert c["dbms.security.auth_enabled"] == "false"
    assert c["server.memory.heap.max_size"] == "3g" and c["server.memory.pagecache.size"] == "700m"
    assert c["dbms.security.procedures.unrestricted"] == "apoc.*"
    assert server.browser_url == "http://127.0.0.1:7998/browser/"
    assert server.bolt_uri == "bolt://127.0.0.1:7999"


def test_password_turns_auth_on_and_extra_conf_is_appended(tmp_path) -> None:
    server = make_server(tmp_path, neo4j_password="s3cret-pass")
    (server.home / "conf").mkdir(parents=True)
    (server.home / "conf" / "extra.conf").write_text("db.logs.query.enabled=VERBOSE\n")
    c = conf(server)
    assert c["dbms.security.auth_enabled"] == "true"
    assert c["db.logs.query.enabled"] == "VERBOSE"
    assert "s3cret-pass" not in server.conf_file.read_text() if server.conf_file.exists() else True


def test_command_line(tmp_path) -> None:
    server = make_server(tmp_path)
    cmd = server.command(java="/usr/bin/java")
    h = str(server.home)
    assert cmd[0] == "/usr/bin/java" and "org.neo4j.server.CommunityEntryPoint" in cmd
    assert f"--home-dir={h}" in cmd and f"--config-dir={h}/conf" in cmd
    assert "--add-opens=java.base/java.nio=ALL-UNNAMED" in cmd and "-Xmx2g" in cmd
    assert cmd[cmd.index("-cp") + 1] == f"{h}/plugins/*:{h}/conf/*:{h}/lib/*"


def test_java_missing_is_a_clear_error(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(Neo4jServerError, match="Java not found"):
        make_server(tmp_path).start()


def test_old_java_is_a_clear_error(tmp_path, monkeypatch) -> None:
    java = tmp_path / "jdk" / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text('#!/bin/sh\necho \'openjdk version "11.0.2" 2019-01-15\' >&2\n')
    java.chmod(0o755)
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "jdk"))
    with pytest.raises(Neo4jServerError, match="Java 11; Neo4j 5.26 needs Java 17"):
        make_server(tmp_path).java()


def test_maven_missing_is_a_clear_error(tmp_path, monkeypatch) -> None:
    import shutil

    real_which = shutil.which
    monkeypatch.setattr("musicgraph.graph.neo4j_server.shutil.which",
                        lambda name: None if name == "mvn" else real_which(name))
    with pytest.raises(Neo4jServerError, match=r"Maven \(mvn\) not found"):
        make_server(tmp_path).install()


def test_not_installed_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(Neo4jServerError, match="not installed.*musicgraph neo4j install"):
        make_server(tmp_path).start()


def test_port_in_use_is_a_clear_error(tmp_path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        server = make_server(tmp_path, neo4j_bolt_port=port, neo4j_http_port=port + 1 if port < 65535 else 1)
        fake_install(server)
        with pytest.raises(Neo4jServerError, match=rf"port {port} \(Bolt\).*already in use"):
            server.start()


def test_stale_pid_files(tmp_path) -> None:
    server = make_server(tmp_path)
    fake_install(server)
    server.pid_file.parent.mkdir(parents=True)
    # a PID that no longer runs: reported as stale, removed by stop
    dead = subprocess.Popen(["true"])
    dead.wait()
    server.pid_file.write_text(f"{dead.pid}\n")
    st = server.status()
    assert not st.running and st.stale_pid_file
    assert server.stop() is False and not server.pid_file.exists()
    # a PID of some other live process: a clear error, never signalled
    server.pid_file.write_text(f"{os.getpid()}\n")
    with pytest.raises(Neo4jServerError, match="stale PID file .* another process"):
        server.stop()
    assert server.status().stale_pid_file


# ------------------------------------------------------------------ with the running server
@pytest.mark.neo4j
def test_running_server_status_browser_and_cli(request) -> None:
    from test_store_parity import neo4j_session_store
    from typer.testing import CliRunner

    from musicgraph.cli import app

    store = neo4j_session_store(request)
    server = Neo4jServer(Settings())
    assert server.bolt_ok()
    with urllib.request.urlopen(server.browser_url, timeout=10) as resp:
        assert resp.status == 200 and b"Neo4j Browser" in resp.read()
    res = CliRunner().invoke(app, ["neo4j", "status", "--json"])
    assert res.exit_code == 0 and '"bolt_ok": true' in res.output
    assert store.query("RETURN apoc.version() AS v")[0]["v"].startswith("5.26")
    store.close()
