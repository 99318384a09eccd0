"""The one redactor: every text mlrepro shows or writes goes through :func:`redact`.

A tracking server's password reaches our output by many roads: the URI itself in a message,
MLflow's "View run at <tracking URI>" line in a reproduction's log tail (then in a finding's
message, and in every format and the report's history), a training script that prints its
environment. So outputs are redacted where they leave (the CLI's output and error lines, every
formatter, the HTML page, the history file) and the log tail where it is captured; this module is
the single place that knows what a secret looks like:

- credentials in URLs (``scheme://user:password@host`` -> ``scheme://***@host``), in a URI or
  anywhere in a sentence;
- the values of ``password=``/``token=``/``secret=``/... pairs (query strings, log lines);
- the values of the secret variables of our environment (:data:`SECRET_VARIABLES`) and the
  passwords of the tracking URIs we were given (:func:`remember_uri`), wherever they appear,
  also JSON-, HTML- or URL-escaped as the formats write them.

Imports nothing heavy: the lint path calls it on every output.
"""

from __future__ import annotations

import html
import json
import os
import re
import threading
from collections.abc import Iterable, Mapping
from urllib.parse import quote, unquote, urlsplit

MASK = "***"

# Values worth hiding wherever they appear. Names, not values, are what the user sees in docs.
SECRET_VARIABLES = (
    "MLFLOW_TRACKING_TOKEN",
    "MLFLOW_TRACKING_PASSWORD",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AZURE_STORAGE_ACCESS_KEY",
    "AZURE_STORAGE_CONNECTION_STRING",
    "DATABRICKS_TOKEN",
    "WANDB_API_KEY",
)
# Variables holding URIs whose userinfo is a secret even where it shows up alone.
URI_VARIABLES = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
# Shorter values are not hidden: replacing "ab" everywhere would wreck the text and protect nothing.
MIN_SECRET_LENGTH = 4

# userinfo ends at the first "@" before the host; it never holds "/", "?", "@", quotes, spaces or
# brackets unescaped. Stopping at a quote or a backslash keeps a JSON or HTML document intact.
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^\s/?@\"<>\\\[\]{}|^`]+@")
# Not a bare `key=`: code quoted in a lint message (`Philox(key=12345)`) is no secret.
_PAIR = re.compile(
    r"(?i)(?<![a-z0-9])((?:[a-z0-9]+[_.-])*(?:password|passwd|pwd|token|secret|(?:api|access|secret|private)[_-]?key|signature|sig)=)"
    r"[^\s&\"'<>\\,;]+"
)

_remembered: set[str] = set()
_lock = threading.Lock()


def remember_uri(uri: str) -> None:
    """Hide this URI's password (and a user-only token) wherever it appears from now on, not only
    inside the URI: an error message or a log line may quote it alone."""
    for value in _userinfo_secrets(uri):
        with _lock:
            _remembered.add(value)


def _userinfo_secrets(uri: str) -> list[str]:
    try:
        parts = urlsplit(uri)
        password, username = parts.password, parts.username
    except ValueError:
        return []
    if password:
        return [unquote(password)]
    if username and not password and parts.scheme.startswith("http"):
        return [unquote(username)]  # https://TOKEN@host: the user part is the token
    return []


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """The literal values :func:`redact` hides, longest first (so that no part of a longer one
    is left behind after a shorter one inside it was replaced)."""
    env = os.environ if environ is None else environ
    values = {env.get(name, "") for name in SECRET_VARIABLES}
    for name in URI_VARIABLES:
        values.update(_userinfo_secrets(env.get(name, "")))
    with _lock:
        values.update(_remembered)
    return sorted((v for v in values if len(v) >= MIN_SECRET_LENGTH), key=len, reverse=True)


def _spellings(value: str) -> Iterable[str]:
    """How a value appears in our outputs: as is, JSON-escaped, HTML/XML-escaped, URL-quoted."""
    yield value
    yield json.dumps(value)[1:-1]
    yield json.dumps(value, ensure_ascii=False)[1:-1]
    yield html.escape(value, quote=True)
    yield html.escape(value, quote=False)
    yield value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;").replace("'", "&apos;")
    yield quote(value, safe="")


def redact(text: str, environ: Mapping[str, str] | None = None) -> str:
    """``text`` with every credential we can recognise replaced by ``***``. Idempotent; a URI
    without credentials comes back unchanged (``sqlite:////abs.db`` keeps its slashes)."""
    if not text:
        return text
    text = _USERINFO.sub(lambda m: m.group(1) + MASK + "@", text)
    text = _PAIR.sub(lambda m: m.group(1) + MASK, text)
    for value in secret_values(environ):
        for spelling in dict.fromkeys(_spellings(value)):
            if spelling in text:
                text = text.replace(spelling, MASK)
    return text
