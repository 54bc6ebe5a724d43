"""Which store the runs of a token share: a Redis URL, checked and shown without its password.

:func:`store_url` reads ``store=`` (the report option, ``--store`` on the
command line) or else ``$CHAINER_SLACK_REPORT_STORE``; :class:`StoreURL` is
the checked URL.  A URL's password is kept only to connect: every text made
here (:attr:`StoreURL.shown`, ``repr``, error messages) has ``***`` in place
of the URL's user information.
"""

from __future__ import annotations

import importlib.util
import os
import re
from typing import Optional
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = ["STORE_ENV", "SCHEMES", "StoreURL", "store_url", "mask"]

#: Environment variable naming the Redis server every run of a token shares its budget in.
STORE_ENV = "CHAINER_SLACK_REPORT_STORE"
#: The URL schemes of redis-py's ``Redis.from_url``: TCP, TCP over TLS, a Unix socket.
SCHEMES = ("redis", "rediss", "unix")
_FORM = ("redis://[:password@]host[:port][/db], rediss://… (TLS) or "
         "unix://[:password@]/path/to/socket[?db=N]")
# Query parameters redis-py's Redis.from_url understands besides its typed ones.
_SSL_PARAMETERS = {"ssl_cert_reqs", "ssl_ca_certs", "ssl_ca_path", "ssl_certfile",
                   "ssl_keyfile", "ssl_check_hostname", "ssl_password"}
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)(.*)@", re.DOTALL)


def mask(text: str) -> str:
    """``text`` with the user information of a URL at its start (``user:password@``,
    up to the last ``@``) replaced by ``***``; any other text unchanged."""
    return _USERINFO.sub(r"\1***@", text, count=1)


class StoreURL:
    """A checked Redis URL.

    Args:
        url (str): ``redis://[:password@]host[:port][/db]`` (port 6379 and db 0
            by default), ``rediss://…`` (the same over TLS) or
            ``unix://[:password@]/path/to/socket[?db=N]``; redis-py's query
            parameters (``?socket_timeout=2``, ``ssl_ca_certs=…``) are allowed.
        source (str): Where it came from, put before the URL in error
            messages: ``"store="``, ``"$CHAINER_SLACK_REPORT_STORE="``, ``"--store "``.

    Raises:
        TypeError: ``url`` is not a str.
        ValueError: An unknown scheme, no host (no socket path), a port or db
            that is not a number, an unknown query parameter.  The message
            names ``source`` and the URL with its password masked.
    """

    __slots__ = ("url", "scheme", "where", "db", "has_password")

    def __init__(self, url: str, *, source: str = "store=") -> None:
        if not isinstance(url, str):
            raise TypeError(f"{source.rstrip('= ')} must be a Redis URL (str), got "
                            f"{type(url).__name__}")
        url = url.strip()
        shown = mask(url)

        def bad(why: str) -> ValueError:
            return ValueError(f"{source}{shown!r}: {why}; a store is a Redis URL: {_FORM}")

        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:  # a port that is no number, a broken IPv6 address
            raise bad(str(exc)) from None
        scheme = parts.scheme.lower()
        if "://" not in url or scheme not in SCHEMES:
            raise bad(f"unknown scheme {parts.scheme or url!r}")
        query = parse_qs(parts.query, keep_blank_values=True)
        db = query.pop("db", [None])[-1]
        if scheme == "unix":
            if not parts.path:
                raise bad("no socket path")
            where = unquote(parts.path)
        else:
            if not parts.hostname:
                raise bad("no host")
            where = f"{parts.hostname}:{port or 6379}"
            path = unquote(parts.path).strip("/")
            if path and db is None:
                db = path
        try:
            db_number = int(db) if db not in (None, "") else 0
        except ValueError:
            raise bad(f"db {db!r} is not a number") from None
        if db_number < 0:
            raise bad(f"db {db_number} is below 0")
        unknown = sorted(set(query) - _known_parameters())
        if unknown:
            raise bad(f"unknown query parameter{'s' if len(unknown) > 1 else ''} "
                      f"{', '.join(unknown)}")
        self.url = url  #: the URL as given (with its password: never show it)
        self.scheme = scheme  #: ``"redis"``, ``"rediss"`` or ``"unix"``
        self.where = where  #: ``host:port``, or the socket's path
        self.db = db_number  #: the database number
        #: whether the URL has user information (a password): keep it off command lines
        self.has_password = "@" in parts.netloc

    @property
    def shown(self) -> str:
        """The URL with its user information (password) replaced by ``***``."""
        return mask(self.url)

    def __repr__(self) -> str:
        return f"StoreURL({self.shown!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StoreURL) and other.url == self.url

    def __hash__(self) -> int:
        return hash(self.url)


def _known_parameters() -> set:
    try:
        from redis.connection import URL_QUERY_ARGUMENT_PARSERS
    except ImportError:  # redis-py not installed: checked when a store is opened
        return {"socket_timeout", "socket_connect_timeout", "socket_keepalive",
                "retry_on_timeout", "max_connections", "health_check_interval",
                "client_name"} | _SSL_PARAMETERS
    return set(URL_QUERY_ARGUMENT_PARSERS) | {"client_name"} | _SSL_PARAMETERS


def store_url(store: Optional[str] = None) -> Optional[StoreURL]:
    """The store the runs share: ``store`` if given, else ``$CHAINER_SLACK_REPORT_STORE``.

    Args:
        store (str or None): A Redis URL (see :class:`StoreURL`); None or
            ``""`` reads the environment variable.

    Returns:
        StoreURL or None: None when neither names one: each host then keeps
        its own state file (:mod:`.store`).

    Raises:
        TypeError: ``store`` is neither a str nor None.
        ValueError: The URL is malformed (the message names the option or the
            variable, and the URL without its password).
        ImportError: A store is named but redis-py is not installed.
    """
    if store is not None and not isinstance(store, str):
        raise TypeError(f"store must be a Redis URL (str) or None, got {type(store).__name__}")
    if store and store.strip():
        url = StoreURL(store, source="store=")
    else:
        value = os.environ.get(STORE_ENV, "")
        if not value.strip():
            return None
        url = StoreURL(value, source=f"${STORE_ENV}=")
    if importlib.util.find_spec("redis") is None:
        raise ImportError(f"the store {url.shown} needs redis-py: pip install "
                          f"'chainer_slack_report[redis]' (or 'redis>=5')")
    return url
