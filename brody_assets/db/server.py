"""The project's own MariaDB server: a project-local data directory, 127.0.0.1 only, no systemd.

``MariaDBServer(home, port)`` keeps everything under ``home``: ``data/`` (the data directory),
``mysqld.sock``, ``mysqld.pid``, ``error.log`` and ``files/`` (the only folder ``LOAD DATA INFILE``
and ``SELECT … INTO OUTFILE`` may touch: ``secure_file_priv``). Start is idempotent (a running
server of ours is reused) and guarded by a file lock so that two processes starting it at once do
not collide.

Locked down: the server's admin accounts (``root`` and the OS user that owns the server) log in
only through the Unix socket by the OS user of the same name (MariaDB's ``unix_socket``
authentication), never over TCP and never with a password; ``home`` is readable by the server's OS
user only. When started by root and the OS has a ``mysql`` user, ``mariadbd`` runs as ``mysql`` (the
data directory is handed to it). A data directory initialised the old way (root with an empty
password, reachable over TCP) is fixed on start.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pymysql

# The legacy side needs a permissive sql_mode: its tables hold zero dates (spec §5 #19).
LEGACY_SQL_MODE = "NO_ENGINE_SUBSTITUTION"


class ServerError(RuntimeError):
    """The project's database server could not be started, reached or stopped."""


class PortTakenError(ServerError):
    """Another program already listens on the port the project's server should use."""


def _binary(name: str, *alternatives: str) -> str:
    for candidate in (name, *alternatives):
        path = shutil.which(candidate) or (
            f"/usr/sbin/{candidate}" if os.path.exists(f"/usr/sbin/{candidate}") else None
        )
        if path:
            return path
    raise ServerError(
        f"'{name}' was not found. Install Debian's MariaDB server first: "
        "`apt-get install -y mariadb-server` (scripts/setup.sh does this for you)."
    )


def port_is_open(port: int, host: str = "127.0.0.1") -> bool:
    """True when something accepts TCP connections on host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


@dataclass(frozen=True)
class ServerStatus:
    running: bool
    pid: int | None
    port: int
    socket: Path
    datadir: Path
    initialized: bool
    user: str = ""

    def describe(self) -> str:
        state = f"running (pid {self.pid}, as OS user {self.user})" if self.running else "stopped"
        return (
            f"MariaDB {state}: 127.0.0.1:{self.port}, socket {self.socket}, data {self.datadir}"
            + ("" if self.initialized else " (data directory not initialised yet)")
        )


def _server_user(home: Path) -> str:
    """The OS user ``mariadbd`` runs as: ``mysql`` when we are root, the OS has that user and it can
    reach ``home``; otherwise the user running this process."""
    me = pwd.getpwuid(os.geteuid()).pw_name
    if os.geteuid() != 0:
        return me
    try:
        mysql = pwd.getpwnam("mysql")
    except KeyError:
        return me
    groups = {mysql.pw_gid, *(os.getgrouplist("mysql", mysql.pw_gid))}
    for folder in home.parents:
        if not folder.exists():
            continue  # created by us, with the default umask
        st = folder.stat()
        if st.st_uid == mysql.pw_uid:
            allowed = st.st_mode & 0o100
        elif st.st_gid in groups:
            allowed = st.st_mode & 0o010
        else:
            allowed = st.st_mode & 0o001
        if not allowed:
            return me  # the mysql user cannot reach the project folder: stay as we are
    return "mysql"


class MariaDBServer:
    """A MariaDB server owned by this project, in ``home``, listening on 127.0.0.1:``port``."""

    def __init__(self, home: Path | str, port: int) -> None:
        self.home = Path(home).resolve()
        self.port = int(port)
        self.datadir = self.home / "data"
        self.socket = self.home / "mysqld.sock"
        self.pid_file = self.home / "mysqld.pid"
        self.log_file = self.home / "error.log"
        self.files_dir = self.home / "files"
        self._lock_file = self.home / ".lock"
        self.admin_user = pwd.getpwuid(os.geteuid()).pw_name
        self.server_user = _server_user(self.home)

    # -- state ---------------------------------------------------------------------------------
    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return pid
        return pid

    def is_running(self) -> bool:
        return self.pid() is not None and self._ping()

    def status(self) -> ServerStatus:
        return ServerStatus(
            running=self.is_running(),
            pid=self.pid(),
            port=self.port,
            socket=self.socket,
            datadir=self.datadir,
            initialized=(self.datadir / "mysql").is_dir(),
            user=self.server_user,
        )

    def _ping(self) -> bool:
        if not self.socket.exists():
            return False
        try:
            conn = pymysql.connect(unix_socket=str(self.socket), user=self.admin_user, connect_timeout=2)
        except pymysql.err.OperationalError as error:
            # 1045/1698: the server answers, it only refuses this login (an old data directory,
            # fixed by ``_harden``)
            return bool(error.args) and error.args[0] in (1045, 1698)
        except pymysql.MySQLError:
            return False
        conn.close()
        return True

    def _running_port(self) -> int | None:
        try:
            with self.admin_connect() as conn, conn.cursor() as cursor:
                cursor.execute("SELECT @@port")
                return int(cursor.fetchone()[0])
        except pymysql.MySQLError:
            return None

    @contextlib.contextmanager
    def _locked(self):
        self.home.mkdir(parents=True, exist_ok=True)
        with open(self._lock_file, "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self, timeout_s: float = 60.0) -> ServerStatus:
        """Start the server (initialising the data directory on first use); reuse it if running."""
        with self._locked():
            if self.is_running():
                running_port = self._running_port()
                if running_port != self.port:
                    raise ServerError(
                        f"the project's server in {self.home} is already running on port "
                        f"{running_port}, not {self.port}. Stop it first (`brody-assets db stop`)."
                    )
                self._harden()
                if self._locked_down():
                    return self.status()
                self._stop_locked()  # started before the lockdown: restart it locked down
            if port_is_open(self.port):
                raise PortTakenError(
                    f"Port {self.port} on 127.0.0.1 is already used by another program, not by this "
                    f"project's server in {self.home}. Stop that program, or choose another port "
                    "(BRODY_DB_PORT / 'database.port' in dj_local_conf.json)."
                )
            self._prepare_home()
            self._initialize()
            self.log_file.touch()
            self._hand_over()
            log_offset = self.log_file.stat().st_size
            command = [
                _binary("mariadbd", "mysqld"),
                f"--datadir={self.datadir}",
                f"--socket={self.socket}",
                f"--port={self.port}",
                "--bind-address=127.0.0.1",
                f"--user={self.server_user}",
                f"--pid-file={self.pid_file}",
                f"--secure-file-priv={self.files_dir}",
                f"--log-error={self.log_file}",
                "--skip-log-bin",
                "--max-allowed-packet=256M",
                "--character-set-server=utf8mb4",
                "--collation-server=utf8mb4_general_ci",
                "--innodb-buffer-pool-size=512M",
                "--innodb-flush-log-at-trx-commit=2",
                "--skip-name-resolve",
            ]
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                if process.poll() is not None:
                    raise ServerError(
                        f"mariadbd exited with code {process.returncode} while starting. "
                        f"Last lines of {self.log_file}:\n{self._log_tail(log_offset)}"
                    )
                if self._ping():
                    self._harden()
                    return self.status()
                time.sleep(0.2)
            process.terminate()
            raise ServerError(
                f"mariadbd did not answer within {timeout_s:.0f} s. See {self.log_file}:\n"
                f"{self._log_tail(log_offset)}"
            )

    def _initialize(self) -> None:
        if (self.datadir / "mysql").is_dir():
            return
        tmp = self.home / "data.initializing"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        self._hand_over()
        result = subprocess.run(
            [
                _binary("mariadb-install-db", "mysql_install_db"),
                f"--datadir={tmp}",
                f"--user={self.server_user}",
                "--skip-test-db",
            ],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            raise ServerError(
                f"mariadb-install-db failed (exit {result.returncode}): {result.stderr[-2000:]}"
            )
        # Only a complete data directory gets the real name: a failed bootstrap leaves nothing.
        shutil.rmtree(self.datadir, ignore_errors=True)
        tmp.rename(self.datadir)

    def _prepare_home(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.files_dir.mkdir(exist_ok=True)
        self.home.chmod(0o750 if self.server_user != self.admin_user else 0o700)
        self.files_dir.chmod(0o750)

    def _hand_over(self) -> None:
        """Give ``home`` to the server's OS user (when that is not us): the data, socket and log."""
        if self.server_user == self.admin_user:
            return
        entry = pwd.getpwnam(self.server_user)
        for folder, dirs, files in os.walk(self.home):
            for name in [folder, *(os.path.join(folder, n) for n in dirs + files)]:
                if os.lstat(name).st_uid != entry.pw_uid:
                    os.lchown(name, entry.pw_uid, entry.pw_gid)

    def _harden(self) -> None:
        """Admin logins through the socket only; no password-less root over TCP (fixes old data dirs).

        Data directories initialised before this lockdown had ``root`` with an empty password at
        ``localhost``, ``127.0.0.1`` and ``::1``. Here the admin accounts become ``unix_socket``
        only, and every other root account and every anonymous account is dropped. Idempotent.
        """
        try:
            conn = self.admin_connect()
        except pymysql.err.OperationalError as first:
            try:  # the old layout: root with an empty password
                conn = pymysql.connect(unix_socket=str(self.socket), user="root", password="",
                                       autocommit=True, connect_timeout=5)
            except pymysql.MySQLError:
                raise ServerError(
                    f"cannot log in to the project's server in {self.home} as '{self.admin_user}' "
                    f"through its socket ({first.args[-1]}). Run the command as the OS user that "
                    "created the server (or root), or `brody-assets db reset` to start afresh."
                ) from None
        with conn, conn.cursor() as cursor:
            cursor.execute("SELECT User, Host FROM mysql.user")
            accounts = {(user, host) for user, host in cursor.fetchall()}
            for user in sorted({"root", self.admin_user, self.server_user}):
                if (user, "localhost") in accounts:
                    cursor.execute("ALTER USER %s@'localhost' IDENTIFIED VIA unix_socket", (user,))
                else:
                    cursor.execute("CREATE USER %s@'localhost' IDENTIFIED VIA unix_socket", (user,))
                    cursor.execute(
                        "GRANT ALL PRIVILEGES ON *.* TO %s@'localhost' WITH GRANT OPTION", (user,)
                    )
            for user, host in sorted(accounts):
                if (user == "root" and host != "localhost") or user == "":
                    cursor.execute("DROP USER %s@%s", (user, host))
            cursor.execute("FLUSH PRIVILEGES")

    def _locked_down(self) -> bool:
        """True when the running server confines file I/O to ``files/`` and runs as ``server_user``."""
        with self.admin_connect() as conn, conn.cursor() as cursor:
            cursor.execute("SELECT @@secure_file_priv")
            folder = cursor.fetchone()[0]
        pid = self.pid()
        try:
            owner = pwd.getpwuid(os.stat(f"/proc/{pid}").st_uid).pw_name
        except (OSError, KeyError):
            owner = self.server_user
        return bool(folder) and Path(folder).resolve() == self.files_dir and owner == self.server_user

    def stop(self, timeout_s: float = 60.0) -> bool:
        """Stop the server. Returns False when it was not running."""
        with self._locked():
            return self._stop_locked(timeout_s)

    def _stop_locked(self, timeout_s: float = 60.0) -> bool:
        pid = self.pid()
        if pid is None:
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.pid() is None:
                break
            time.sleep(0.2)
        else:
            raise ServerError(f"mariadbd (pid {pid}) did not stop within {timeout_s:.0f} s")
        with contextlib.suppress(FileNotFoundError):
            self.pid_file.unlink()
        return True

    def reset(self) -> None:
        """Stop the server and delete its data directory (every schema in it)."""
        self.stop()
        with self._locked():
            shutil.rmtree(self.datadir, ignore_errors=True)
            shutil.rmtree(self.home / "data.initializing", ignore_errors=True)

    # -- connections ---------------------------------------------------------------------------
    def admin_connect(self, database: str | None = None, **kwargs) -> pymysql.Connection:
        """An admin connection over the Unix socket, as the OS user running this process
        (``unix_socket`` authentication: no password; autocommit, permissive legacy sql_mode)."""
        if not self.socket.exists():
            raise ServerError(
                f"The project's server is not running (no socket at {self.socket}). "
                "Start it with `brody-assets db start`."
            )
        options = {"autocommit": True, "charset": "utf8mb4", "sql_mode": LEGACY_SQL_MODE}
        options.update(kwargs)
        return pymysql.connect(
            unix_socket=str(self.socket), user=self.admin_user, database=database, **options
        )

    def _log_tail(self, offset: int = 0, lines: int = 15) -> str:
        try:
            with open(self.log_file, errors="replace") as handle:
                handle.seek(offset)
                return "\n".join(handle.read().splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"
