"""The project-run MariaDB: server process, data directory, accounts, grants and bootstrap SQL."""

from brody_assets.db.accounts import BootstrapError, bootstrap
from brody_assets.db.grants import write_privileges
from brody_assets.db.server import MariaDBServer, PortTakenError, ServerError, port_is_open

__all__ = [
    "BootstrapError",
    "MariaDBServer",
    "PortTakenError",
    "ServerError",
    "bootstrap",
    "port_is_open",
    "write_privileges",
]
