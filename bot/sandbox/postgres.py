"""A throwaway PostgreSQL cluster for the tests, the bench and trying replicas out (a dev tool).

It runs Debian's binaries (`apt-get install postgresql`: /usr/lib/postgresql/<n>/bin) on a unix
socket in a temporary directory, never on a network port. PostgreSQL refuses to run as root, so
when this process is root the server runs as the unprivileged `postgres` account the Debian
package creates (`runuser -u postgres`), and the directory is handed to that account.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

SUPERUSER = "opscord_admin"
PORT = 5432


class ClusterUnavailable(RuntimeError):
    """PostgreSQL cannot be started here; the message says why (and what to install)."""


def binaries() -> Path | None:
    """The directory holding initdb and pg_ctl (the newest Debian version), or None."""
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                      key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0)
    if versions:
        return versions[-1].parent
    found = shutil.which("initdb")
    return Path(found).resolve().parent if found else None


class ThrowawayCluster:
    """`start()` a fresh cluster in a temporary directory, `url(db)` to reach it, `stop()` to remove it."""

    def __init__(self, *, durable: bool = False, root: Path | None = None) -> None:
        """`durable`: fsync and synchronous commit on (for measuring); off by default (tests)."""
        self.durable = durable
        self.root = root
        self.bin = binaries()
        self._as: list[str] = []
        self.started = False

    @property
    def data(self) -> Path:
        """The data directory."""
        assert self.root is not None
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        """Where the server's unix socket is."""
        assert self.root is not None
        return self.root / "sock"

    def url(self, database: str = "postgres", user: str = SUPERUSER) -> str:
        """A libpq URL for `database` as `user`, over the socket."""
        return f"postgresql://{user}@/{database}?host={self.socket_dir}&port={PORT}"

    def _run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        assert self.bin is not None
        return subprocess.run([*self._as, str(self.bin / argv[0]), *argv[1:]], capture_output=True, text=True,
                              timeout=120, check=False)

    def start(self) -> ThrowawayCluster:
        """initdb and start; raises ClusterUnavailable with the reason when it cannot."""
        if self.bin is None:
            raise ClusterUnavailable("PostgreSQL binaries (initdb, pg_ctl) not found: apt-get install postgresql")
        self.root = self.root or Path(tempfile.mkdtemp(prefix="opscord-pg-"))
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            try:
                account = pwd.getpwnam("postgres")
            except KeyError:
                raise ClusterUnavailable("running as root and there is no `postgres` account to run the server as "
                                         "(Debian's postgresql package creates it)") from None
            for path in (self.root, self.socket_dir):
                os.chown(path, account.pw_uid, account.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]
        init = self._run("initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust", "--no-sync",
                         "--encoding=UTF8", "--locale=C")
        if init.returncode != 0:
            raise ClusterUnavailable(f"initdb failed: {init.stderr.strip()[-500:]}")
        options = [f"-c listen_addresses='' -k {self.socket_dir} -p {PORT} -c max_connections=300",
                   "-c shared_buffers=64MB"]
        if not self.durable:
            options.append("-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
        started = self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-o",
                            " ".join(options), "-w", "-t", "60", "start")
        if started.returncode != 0:
            server_log = self.root / "server.log"
            log = server_log.read_text(errors="replace")[-1500:] if server_log.exists() else ""
            raise ClusterUnavailable(f"pg_ctl start failed: {started.stderr.strip()[-500:]} {log}")
        self.started = True
        return self

    def stop(self) -> None:
        """Stop the server at once and remove its directory."""
        if self.started:
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
            self.started = False
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
