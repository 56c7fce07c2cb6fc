"""A local Neo4j 5.26 Community server, materialized from Maven Central and run in the background.

Layout of the server home (``MUSICGRAPH_HOME/neo4j`` by default, never inside the repository)::

    lib/             neo4j-server, neo4j, neo4j-browser and their dependencies (from neo4j/pom.xml)
    plugins/         APOC (apoc-core + apoc-common)
    conf/neo4j.conf  written by install and rewritten by every start from the settings
    conf/extra.conf  optional, your own lines, appended verbatim to neo4j.conf
    data/ logs/ run/ import/
    run/neo4j.pid    PID of the background ``java ... CommunityEntryPoint`` process
    logs/console.log the process's stdout/stderr; logs/neo4j.log and logs/debug.log are Neo4j's own

The server listens on 127.0.0.1 only: Bolt on ``MUSICGRAPH_NEO4J_BOLT_PORT`` (7687), HTTP and the
Neo4j Browser on ``MUSICGRAPH_NEO4J_HTTP_PORT`` (7474, at ``/browser/``), HTTPS off. Authentication
is off unless a password is given (``--password`` or ``MUSICGRAPH_NEO4J_PASSWORD``): then it is on,
and the password is set for user ``neo4j`` before the first start with auth.

Everything raises :class:`Neo4jServerError` with a message saying what is wrong and where.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from musicgraph.config import REPO_ROOT, Settings, get_settings
from musicgraph.cypher.guard import APOC_ALLOWLIST
from musicgraph.errors import MusicgraphError
from musicgraph.redact import redact, register_secret

log = logging.getLogger(__name__)

NEO4J_VERSION = "5.26.31"
MAIN_CLASS = "org.neo4j.server.CommunityEntryPoint"
ADMIN_CLASS = "org.neo4j.cli.AdminTool"
POM_PATH = REPO_ROOT / "neo4j" / "pom.xml"

#: JVM options of the official 5.26 ``neo4j.conf`` plus the ``--add-opens`` the page cache needs.
JVM_OPTIONS: tuple[str, ...] = (
    "-XX:+UseG1GC",
    "-XX:-OmitStackTraceInFastThrow",
    "-XX:+UnlockExperimentalVMOptions",
    "-XX:+TrustFinalNonStaticFields",
    "-XX:+DisableExplicitGC",
    "-Djdk.nio.maxCachedBufferSize=1024",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Dlog4j2.disable.jmx=true",
    "-Dfile.encoding=UTF-8",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--enable-native-access=ALL-UNNAMED",
)


class Neo4jServerError(MusicgraphError, RuntimeError):
    """Installing, starting or stopping the local Neo4j server failed."""


@dataclass(slots=True)
class ServerStatus:
    """What :meth:`Neo4jServer.status` found."""

    home: str
    installed: bool
    running: bool
    pid: int | None
    bolt_uri: str
    browser_url: str
    bolt_ok: bool
    auth_enabled: bool
    stale_pid_file: bool = False

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (our own exited child not yet reaped) counts as dead.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except (OSError, IndexError):
        return True


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _java_major(java: str) -> int:
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise Neo4jServerError(f"cannot run {java} -version: {exc}") from exc
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not match:
        raise Neo4jServerError(f"cannot read the Java version from `{java} -version`: {out.stderr.strip()!r}")
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a text file ('' if it does not exist)."""
    if not path.exists():
        return ""
    with path.open("rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        fh.seek(max(0, size - 256 * 1024))
        data = fh.read().decode("utf-8", errors="replace")
    return "\n".join(data.splitlines()[-lines:])


class Neo4jServer:
    """Install, configure, start, stop and inspect the local Neo4j server of ``settings``.

    Args:
        settings: musicgraph settings (home, ports, heap, page cache, password).
        home: override of the server home (default ``settings.neo4j_home``).
    """

    def __init__(self, settings: Settings | None = None, home: Path | None = None):
        self.settings = settings or get_settings()
        self.home = Path(home or self.settings.neo4j_home).expanduser().resolve()

    # ------------------------------------------------------------------ paths
    @property
    def conf_file(self) -> Path:
        return self.home / "conf" / "neo4j.conf"

    @property
    def pid_file(self) -> Path:
        return self.home / "run" / "neo4j.pid"

    @property
    def console_log(self) -> Path:
        return self.home / "logs" / "console.log"

    @property
    def neo4j_log(self) -> Path:
        return self.home / "logs" / "neo4j.log"

    @property
    def bolt_uri(self) -> str:
        return f"bolt://127.0.0.1:{self.settings.neo4j_bolt_port}"

    @property
    def browser_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.neo4j_http_port}/browser/"

    @property
    def auth_enabled(self) -> bool:
        return bool(self.settings.neo4j_password)

    def is_installed(self) -> bool:
        """Whether lib/ holds the server jars and plugins/ holds APOC."""
        lib = self.home / "lib"
        return (
            (lib / f"neo4j-{NEO4J_VERSION}.jar").exists()
            and (lib / f"neo4j-server-{NEO4J_VERSION}.jar").exists()
            and any((self.home / "plugins").glob("apoc-core-*.jar"))
        )

    # ---------------------------------------------------------------- install
    def java(self) -> str:
        """The ``java`` executable (``JAVA_HOME/bin/java`` or on PATH), checked to be Java 17+."""
        java_home = os.environ.get("JAVA_HOME")
        java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
        if not java or not Path(java).exists():
            raise Neo4jServerError(
                "Java not found: Neo4j 5.26 needs Java 17 or newer on PATH (or JAVA_HOME); "
                "on Debian: apt-get install -y openjdk-17-jre-headless"
            )
        major = _java_major(java)
        if major < 17:
            raise Neo4jServerError(f"{java} is Java {major}; Neo4j 5.26 needs Java 17 or newer")
        return java

    def install(self, force: bool = False, pom: Path | None = None, quiet: bool = True) -> Path:
        """Materialize the server jars with Maven into the home directory and write the configuration.

        Args:
            force: rerun Maven even if the jars are already there.
            pom: the project's ``neo4j/pom.xml`` (default: beside the package in the checkout).
            quiet: pass ``-q`` to Maven.

        Returns:
            The server home.
        """
        self.java()
        pom = Path(pom or POM_PATH)
        if not pom.exists():
            raise Neo4jServerError(f"{pom} not found: `musicgraph neo4j install` needs the repository's neo4j/pom.xml")
        if force or not self.is_installed():
            mvn = shutil.which("mvn")
            if not mvn:
                raise Neo4jServerError(
                    "Maven (mvn) not found on PATH: it materializes Neo4j from Maven Central; "
                    "on Debian: apt-get install -y maven"
                )
            build = self.home / "build"
            build.mkdir(parents=True, exist_ok=True)
            shutil.copy2(pom, build / "pom.xml")
            cmd = [mvn, "-B", *(["-q"] if quiet else []), "package", "-f", str(build / "pom.xml"),
                   f"-Dneo4j.home={self.home}"]
            log.info("materializing Neo4j %s into %s (%s)", NEO4J_VERSION, self.home, " ".join(cmd))
            started = time.monotonic()
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                out = "\n".join((proc.stdout + proc.stderr).splitlines()[-30:])
                raise Neo4jServerError(f"Maven failed (exit {proc.returncode}) building {pom}:\n{out}")
            log.info("Maven done in %.1f s", time.monotonic() - started)
            if not self.is_installed():
                raise Neo4jServerError(f"Maven succeeded but {self.home}/lib lacks the Neo4j jars")
        for sub in ("data", "logs", "run", "import", "conf", "plugins"):
            (self.home / sub).mkdir(parents=True, exist_ok=True)
        self.write_conf()
        return self.home

    def conf_lines(self) -> list[str]:
        """The lines of ``conf/neo4j.conf`` for the current settings."""
        s = self.settings
        lines = [
            "# Written by `musicgraph neo4j install/start` from MUSICGRAPH_* settings; rewritten on every start.",
            "# Put your own settings into conf/extra.conf (appended below).",
            "server.directories.data=data",
            "server.directories.logs=logs",
            "server.directories.plugins=plugins",
            "server.directories.lib=lib",
            "server.directories.run=run",
            "server.directories.import=import",
            "server.directories.transaction.logs.root=data/transactions",
            "server.default_listen_address=127.0.0.1",
            "server.default_advertised_address=127.0.0.1",
            "server.bolt.enabled=true",
            f"server.bolt.listen_address=:{s.neo4j_bolt_port}",
            f"server.bolt.advertised_address=:{s.neo4j_bolt_port}",
            "server.bolt.tls_level=DISABLED",
            "server.http.enabled=true",
            f"server.http.listen_address=:{s.neo4j_http_port}",
            f"server.http.advertised_address=:{s.neo4j_http_port}",
            "server.https.enabled=false",
            f"dbms.security.auth_enabled={'true' if self.auth_enabled else 'false'}",
            f"server.memory.heap.initial_size={s.neo4j_heap}",
            f"server.memory.heap.max_size={s.neo4j_heap}",
            f"server.memory.pagecache.size={s.neo4j_pagecache}",
            "db.tx_log.rotation.retention_policy=2 days 1G",
            # LOAD CSV reads file:/// URLs from import/ only; APOC without file or network access
            # (musicgraph.cypher.guard: no apoc.load/import/export/cypher/...), for Browser users too
            "dbms.security.allow_csv_import_from_file_urls=true",
            "dbms.security.procedures.unrestricted=apoc.*",
            f"dbms.security.procedures.allowlist={APOC_ALLOWLIST}",
        ]
        extra = self.home / "conf" / "extra.conf"
        if extra.exists():
            lines.append(f"# --- {extra}")
            lines += extra.read_text().splitlines()
        return lines

    def write_conf(self) -> Path:
        """Write ``conf/neo4j.conf`` for the current settings."""
        self.conf_file.parent.mkdir(parents=True, exist_ok=True)
        self.conf_file.write_text("\n".join(self.conf_lines()) + "\n")
        return self.conf_file

    # ------------------------------------------------------------------ state
    def read_pid(self) -> int | None:
        """The PID in the PID file, or None (no file or unreadable)."""
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def _our_pid(self) -> int | None:
        """The PID of this home's running server, or None; raises on a PID file naming a foreign process."""
        pid = self.read_pid()
        if pid is None:
            return None
        if not _pid_alive(pid):
            return None
        cmd = _cmdline(pid)
        if cmd and (MAIN_CLASS not in cmd or str(self.home) not in cmd):
            raise Neo4jServerError(
                f"stale PID file {self.pid_file}: PID {pid} is another process ({cmd[:120]!r}); "
                "remove the file if no Neo4j of this home is running"
            )
        return pid

    def bolt_ok(self, timeout: float = 3.0) -> bool:
        """Whether the server answers a Bolt query."""
        from neo4j import GraphDatabase
        from neo4j.exceptions import AuthError, Neo4jError, ServiceUnavailable

        if not _port_in_use(self.settings.neo4j_bolt_port):
            return False
        auth = (self.settings.neo4j_user, self.settings.neo4j_password) if self.auth_enabled else None
        try:
            with GraphDatabase.driver(self.bolt_uri, auth=auth, connection_timeout=timeout,
                                      connection_acquisition_timeout=timeout) as driver:
                driver.execute_query("RETURN 1", database_=self.settings.neo4j_database)
            return True
        except AuthError:
            return True  # it answers; the credentials are another matter
        except (ServiceUnavailable, Neo4jError, OSError):
            return False

    def status(self) -> ServerStatus:
        """Installed? running (PID alive)? answering on Bolt?"""
        pid = self.read_pid()
        stale = pid is not None and not _pid_alive(pid)
        try:
            running_pid = self._our_pid()
        except Neo4jServerError:
            running_pid, stale = None, True
        return ServerStatus(
            home=str(self.home),
            installed=self.is_installed(),
            running=running_pid is not None,
            pid=running_pid,
            bolt_uri=self.bolt_uri,
            browser_url=self.browser_url,
            bolt_ok=self.bolt_ok(),
            auth_enabled=self.auth_enabled,
            stale_pid_file=stale,
        )

    # ------------------------------------------------------------ start/stop
    def command(self, java: str | None = None) -> list[str]:
        """The ``java`` command line of the server."""
        h = self.home
        return [
            java or self.java(),
            f"-Xms{self.settings.neo4j_heap}",
            f"-Xmx{self.settings.neo4j_heap}",
            *JVM_OPTIONS,
            "-cp",
            f"{h}/plugins/*:{h}/conf/*:{h}/lib/*",
            MAIN_CLASS,
            f"--home-dir={h}",
            f"--config-dir={h}/conf",
        ]

    def _set_initial_password(self, java: str) -> None:
        """Set user neo4j's password with neo4j-admin (only works before the first start with users)."""
        marker = self.home / "data" / "dbms" / "auth.ini"
        if marker.exists():
            return
        h = self.home
        register_secret(self.settings.neo4j_password)
        env = {**os.environ, "NEO4J_HOME": str(h), "NEO4J_CONF": str(h / "conf")}
        proc = subprocess.run(
            [java, "-cp", f"{h}/plugins/*:{h}/conf/*:{h}/lib/*", ADMIN_CLASS, "dbms", "set-initial-password",
             str(self.settings.neo4j_password)],
            capture_output=True, text=True, env=env, timeout=120,
        )
        if proc.returncode != 0:
            output = redact((proc.stdout + proc.stderr).strip()[-800:])
            raise Neo4jServerError(f"setting the initial password failed (exit {proc.returncode}): {output}")
        log.info("initial password of user neo4j set")

    def start(self, timeout: float = 180.0, install: bool = False) -> ServerStatus:
        """Start the server in the background and wait until Bolt answers.

        Returns the status at once if this home's server is already running.

        Args:
            timeout: seconds to wait for Bolt.
            install: install first if the jars are missing (else that is an error).

        Raises:
            Neo4jServerError: Java missing, not installed, a port taken by another process, a PID file
                naming another process, the process exiting early, or no Bolt answer in time
                (with the last log lines).
        """
        pid = self._our_pid()
        if pid is not None:
            log.info("Neo4j already running (PID %d)", pid)
            return self.status()
        if self.pid_file.exists():
            log.warning("removing stale PID file %s (PID %s is not running)", self.pid_file, self.read_pid())
            self.pid_file.unlink()
        java = self.java()
        if not self.is_installed():
            if not install:
                raise Neo4jServerError(f"Neo4j is not installed in {self.home}: run `musicgraph neo4j install`")
            self.install()
        for name, port in (("Bolt", self.settings.neo4j_bolt_port), ("HTTP", self.settings.neo4j_http_port)):
            if _port_in_use(port):
                raise Neo4jServerError(
                    f"port {port} ({name}) on 127.0.0.1 is already in use by another process; stop it or set "
                    f"MUSICGRAPH_NEO4J_{name.upper()}_PORT to a free port"
                )
        for sub in ("data", "logs", "run", "import", "plugins"):
            (self.home / sub).mkdir(parents=True, exist_ok=True)
        self.write_conf()
        if self.auth_enabled:
            self._set_initial_password(java)
        cmd = self.command(java)
        log.info("starting Neo4j: %s", " ".join(cmd))
        with self.console_log.open("ab") as out:
            out.write(f"\n--- musicgraph start {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())
            out.flush()
            proc = subprocess.Popen(
                cmd, cwd=self.home, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid_file.write_text(f"{proc.pid}\n")
        started = time.monotonic()
        while True:
            code = proc.poll()
            if code is not None:
                self.pid_file.unlink(missing_ok=True)
                raise Neo4jServerError(
                    f"Neo4j exited with code {code} during start-up; last lines of {self.console_log}:\n"
                    f"{tail(self.console_log, 25)}\n--- {self.neo4j_log}:\n{tail(self.neo4j_log, 15)}"
                )
            if self.bolt_ok(timeout=2.0):
                break
            if time.monotonic() - started > timeout:
                raise Neo4jServerError(
                    f"Neo4j (PID {proc.pid}) did not answer on {self.bolt_uri} within {timeout:.0f} s; "
                    f"it is still running (`musicgraph neo4j stop` ends it). Last lines of {self.neo4j_log}:\n"
                    f"{tail(self.neo4j_log, 25)}"
                )
            time.sleep(0.5)
        # The server rewrites the PID file itself on some paths; make sure ours is there.
        if self.read_pid() != proc.pid:
            self.pid_file.write_text(f"{proc.pid}\n")
        log.info("Neo4j up in %.1f s: %s, Browser %s", time.monotonic() - started, self.bolt_uri, self.browser_url)
        return self.status()

    def stop(self, timeout: float = 90.0) -> bool:
        """Stop the server (SIGTERM, then SIGKILL after ``timeout``); returns False if it was not running."""
        pid = self._our_pid()
        if pid is None:
            if self.pid_file.exists():
                log.warning("removing stale PID file %s", self.pid_file)
                self.pid_file.unlink()
            return False
        log.info("stopping Neo4j (PID %d)", pid)
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _pid_alive(pid):
            if time.monotonic() > deadline:
                log.warning("Neo4j (PID %d) did not stop within %.0f s: killing it", pid, timeout)
                os.kill(pid, signal.SIGKILL)
                time.sleep(1.0)
                break
            time.sleep(0.3)
            try:  # reap if it is our child
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
        self.pid_file.unlink(missing_ok=True)
        return True

    def logs(self, lines: int = 50, which: Sequence[str] = ("console", "neo4j")) -> str:
        """The last lines of the console log and of ``neo4j.log``."""
        files = {"console": self.console_log, "neo4j": self.neo4j_log, "debug": self.home / "logs" / "debug.log"}
        parts = []
        for name in which:
            path = files[name]
            parts.append(f"==> {path} <==\n{tail(path, lines) or '(empty or missing)'}")
        return "\n\n".join(parts)


def ensure_running(settings: Settings | None = None, timeout: float = 180.0) -> tuple[Neo4jServer, bool]:
    """Reuse this home's running server or install and start it; returns (server, started_here)."""
    server = Neo4jServer(settings)
    if server._our_pid() is not None and server.bolt_ok():
        return server, False
    server.start(timeout=timeout, install=True)
    return server, True


def start_for_tests(settings: Settings | None = None, timeout: float = 300.0) -> tuple[Neo4jServer, bool]:
    """For test suites: reuse the server answering on the configured Bolt port (one started by
    ``musicgraph neo4j start``, e.g. by ``.ci/run``, possibly from another MUSICGRAPH_HOME), else
    install and start this home's server with the project's own command
    (``musicgraph neo4j start --install`` in a subprocess).

    Returns (server, started_here). Raises :class:`Neo4jServerError` with the command's output when
    that fails (no Java, no Maven, a port taken by something that is not Neo4j, ...).
    """
    server = Neo4jServer(settings)
    if server.bolt_ok():
        return server, False
    env = dict(os.environ)
    if settings is not None:
        env["MUSICGRAPH_HOME"] = str(settings.home)
        env["MUSICGRAPH_NEO4J_BOLT_PORT"] = str(settings.neo4j_bolt_port)
        env["MUSICGRAPH_NEO4J_HTTP_PORT"] = str(settings.neo4j_http_port)
    proc = subprocess.run(
        [sys.executable, "-c", "from musicgraph.cli import main; main()", "neo4j", "start", "--install",
         "--timeout", str(timeout)],
        capture_output=True, text=True, env=env, timeout=timeout + 600,
    )
    if proc.returncode != 0:
        raise Neo4jServerError(
            f"`musicgraph neo4j start --install` failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    return server, True


def open_test_store(settings: Settings | None = None, wipe: bool = False) -> tuple[Any, Neo4jServer | None, bool]:
    """For test suites: a :class:`~musicgraph.graph.neo4j_store.Neo4jStore` on a cleared test database.

    With ``MUSICGRAPH_NEO4J_URI`` set, that server is used as is; otherwise this home's server is reused
    or started (:func:`start_for_tests`). Returns (store, server or None, started_here).
    """
    from musicgraph.graph.neo4j_store import Neo4jStore

    settings = settings or get_settings()
    server: Neo4jServer | None = None
    started = False
    if not settings.neo4j_uri:
        server, started = start_for_tests(settings)
    store = Neo4jStore.from_settings(settings)
    store.claim_for_tests(wipe=wipe)
    return store, server, started


if __name__ == "__main__":  # pragma: no cover - debugging aid
    logging.basicConfig(level=logging.INFO)
    print(Neo4jServer().status(), file=sys.stderr)
