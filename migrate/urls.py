"""Database URLs: parse, resolve relative SQLite paths, and never print a secret.

Every URL the toolkit parses registers its secrets (password and secret-looking query
parameters) here, and `redact()` scrubs them from any text before it is shown, logged
or stored. SQLAlchemy's own `str(url)` masks the password but not `sslpassword=`.
"""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from migrate.errors import ConfigError
from migrate.yamlio import excerpt

MASK = "***"
_SECRET_QUERY = re.compile(r"(pass|secret|token|key|credential|auth)", re.IGNORECASE)
_known_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    if value and len(value) >= 3:
        _known_secrets.add(value)


def parse_url(text: str, *, base_dir: Path | None = None, where: str = "URL") -> URL:
    """Parse a SQLAlchemy URL, register its secrets, make relative SQLite paths absolute."""
    try:
        url = make_url(text)
    except ArgumentError:
        raise ConfigError(f"{where} is not a database URL: {redact(text)!r}.") from None
    except ValueError:  # a port that is no number: often a password's `:` or `@`; never shown
        raise ConfigError(
            f"{where}: the URL's parts cannot be told apart (its port is not a number).",
            hint="Percent-encode @ : / # ? % in a user name or password written in the URL "
            "(`@` as %40); a ${VAR} in project.yaml is encoded for you.",
        ) from None
    _require_dialect(url, where)
    if url.password:
        register_secret(str(url.password))
    for name, value in url.query.items():
        if _SECRET_QUERY.search(name):
            for v in value if isinstance(value, tuple) else (value,):
                register_secret(v)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        path = Path(url.database)
        if not path.is_absolute() and base_dir is not None:
            url = url.set(database=str((base_dir / path).resolve()))
    return url


def _require_dialect(url: URL, where: str) -> None:
    """A scheme SQLAlchemy has no dialect for is a configuration error, named with the fix:
    `postgres://` (Heroku's, libpq's spelling) is refused by SQLAlchemy since 1.4."""
    scheme = url.drivername
    if scheme.split("+")[0] == "postgres":
        raise ConfigError(
            f"{where}: the scheme {scheme}:// is not one SQLAlchemy reads.",
            hint="Write postgresql+psycopg:// instead (the rest of the URL stays as it is).",
        )
    try:
        url.get_dialect()
    except NoSuchModuleError:
        raise ConfigError(
            f"{where}: no database driver for the scheme {excerpt(scheme)}://.",
            hint="Use postgresql+psycopg://USER@HOST:PORT/DATABASE or sqlite:///PATH.",
        ) from None


def libpq_options(url: URL, *ours: str) -> str:
    """libpq `options` for a connection that sets some of its own: the URL's (a search_path,
    say), which passing ours alone would replace, then ours."""
    given = url.query.get("options")
    given = given[-1] if isinstance(given, tuple) else given
    return " ".join(filter(None, (given, *ours)))


def mask_url(url: URL | str) -> str:
    """The URL as text with its password and secret query parameters masked."""
    if isinstance(url, str):
        try:
            url = make_url(url)
        except ArgumentError:
            return redact(url)
    if url.password:
        register_secret(str(url.password))
        url = url.set(password=MASK)
    query = {}
    for name, value in url.query.items():
        if _SECRET_QUERY.search(name):
            for v in value if isinstance(value, tuple) else (value,):
                register_secret(v)
            query[name] = MASK
        else:
            query[name] = value
    return redact(url.set(query=query).render_as_string(hide_password=False))


_URL_PASSWORD = re.compile(r"(?P<scheme>[a-z][a-z0-9+.\-]*://[^:/@\s]*:)(?P<pw>[^@\s]+)(?=@)", re.IGNORECASE)
_QUERY_SECRET = re.compile(
    r"(?P<name>[?&;\s](?:[a-z_]*(?:pass|secret|token|key|credential)[a-z_]*))=(?P<value>[^&\s'\"]+)",
    re.IGNORECASE,
)


def redact(text: str) -> str:
    """Remove every known secret, and anything shaped like a URL password, from text."""
    if not text:
        return text
    for secret in sorted(_known_secrets, key=len, reverse=True):
        text = text.replace(secret, MASK)
    text = _URL_PASSWORD.sub(lambda m: m.group("scheme") + MASK, text)
    return _QUERY_SECRET.sub(lambda m: m.group("name") + "=" + MASK, text)
