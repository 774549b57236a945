"""What a newcomer reads first says where the exporter listens: the default bind address (all
interfaces, not 127.0.0.1 as the quick start's URL might suggest) and how to change it."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from acs_exporter.cli import build_parser
from acs_exporter.config import WebSettings, load_settings

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()
DEFAULT = str(WebSettings.model_fields["listen_address"].default)


def _one_paragraph(text: str) -> str:
    return " ".join(text.split())


def test_the_readme_says_the_default_bind_and_that_127_is_only_local() -> None:
    text = _one_paragraph(README)
    assert DEFAULT == "0.0.0.0:10142"
    assert f"listens on every interface by default (`{DEFAULT}`" in text
    assert "127.0.0.1` above is only the way in from the same machine" in text
    assert "http://127.0.0.1:10142" in text  # the quick start's URL, which the note explains


def test_the_documented_ways_to_change_it_work() -> None:
    text = _one_paragraph(README)
    made = re.search(r"`make run ARGS='([^']+)'`", text)
    assert made, "the README shows `make run ARGS='--web.listen-address ...'`"
    args = build_parser().parse_args(["run", *shlex.split(made[1])])
    assert args.listen_address == "127.0.0.1:10142"
    assert "$(ARGS)" in (REPO / "Makefile").read_text()  # make run passes ARGS on
    assert load_settings(None, {"web": {"listen_address": args.listen_address}})
    assert "ACS_EXPORTER_WEB__LISTEN_ADDRESS=127.0.0.1:9999" in text
