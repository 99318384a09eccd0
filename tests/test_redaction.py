"""The one redactor (mlrepro.redaction): what it hides, in which spellings, and what it leaves."""

from __future__ import annotations

import html
import json

import pytest

from mlrepro import redaction
from mlrepro.redaction import redact

ENV = {
    "MLFLOW_TRACKING_TOKEN": "tok-9fQ2wZ7e",
    "AWS_SECRET_ACCESS_KEY": 'wJalr"XUtn<FEMI>/K7&MDENG',
    "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE7QZ4XR2M",
    "MLFLOW_TRACKING_URI": "https://ci:uri-pw-551@mlflow.example.com",
    "AWS_SESSION_TOKEN": "abc",  # too short to hide: replacing it everywhere would wreck the text
    "HOME": "/home/analyst",  # not a secret variable
}


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("🏃 View run tidy-cod-12 at: http://alice:s3cret@10.0.0.5:5000/#/experiments/1/runs/ab",
         "🏃 View run tidy-cod-12 at: http://***@10.0.0.5:5000/#/experiments/1/runs/ab"),
        ("connect postgresql+psycopg2://mlflow:pw@db:5432/mlflow failed", "connect postgresql+psycopg2://***@db:5432/mlflow failed"),
        ("GET /api?token=abc&page=2 and password=hunter22;", "GET /api?token=***&page=2 and password=***;"),
        ("MLFLOW_TRACKING_TOKEN=xyz-1 X-Amz-Security-Token=FQoG X-Amz-Signature=9f8e", "MLFLOW_TRACKING_TOKEN=*** X-Amz-Security-Token=*** X-Amz-Signature=***"),
        ('{"a":"http://x","who":"a@b.org"}', '{"a":"http://x","who":"a@b.org"}'),  # never across a JSON string
        ("n_tokens=512 Philox(key=12345) sqlite:////var/lib/mlflow.db file:///srv/mlruns", "n_tokens=512 Philox(key=12345) sqlite:////var/lib/mlflow.db file:///srv/mlruns"),
        ("aws_secret_key=AbC1 api-key=xyz2 ?apikey=q3", "aws_secret_key=*** api-key=*** ?apikey=***"),
    ],
)
def test_credentials_in_text(text: str, shown: str) -> None:
    assert redact(text, environ={}) == shown


def test_secret_variables_are_hidden_in_every_spelling_the_formats_write() -> None:
    key = ENV["AWS_SECRET_ACCESS_KEY"]
    for spelling in (key, json.dumps(key)[1:-1], html.escape(key), html.escape(key, quote=False)):
        text = f"aws={spelling} token {ENV['MLFLOW_TRACKING_TOKEN']} id:{ENV['AWS_ACCESS_KEY_ID']} pw uri-pw-551 home {ENV['HOME']} abc"
        assert redact(text, environ=ENV) == "aws=*** token *** id:*** pw *** home /home/analyst abc"
    document = json.dumps({"log": f"key {key}", "n": 1})
    assert json.loads(redact(document, environ=ENV)) == {"log": "key ***", "n": 1}


def test_a_remembered_uri_hides_its_password_alone() -> None:
    redaction.remember_uri("http://analyst:remembered-77@127.0.0.1:5000")
    assert redact("basic auth for analyst with remembered-77 refused", environ={}) == "basic auth for analyst with *** refused"


def test_redaction_is_idempotent_and_leaves_clean_text_alone() -> None:
    text = "All checks passed!\nrun 0123: identical (http://127.0.0.1:5000)\n"
    assert redact(text, environ=ENV) == text
    once = redact("http://u:p@h token=abc", environ=ENV)
    assert redact(once, environ=ENV) == once == "http://***@h token=***"


def test_capture_errors_kept_in_tags_are_redacted() -> None:
    # mlrepro.capture_error lives on the tracking server for anyone to read.
    import warnings

    from mlrepro.capture import collect, guarded

    failure = ConnectionError("API request to https://ci:tagged-pw-42@mlflow.example.com/api failed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kept = [guarded._capture_error(failure, "the tags"), collect._error("git", failure)]
    for text in kept:
        assert "tagged-pw-42" not in text and "https://***@mlflow.example.com/api" in text
