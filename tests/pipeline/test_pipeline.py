"""Resolution and aggregation, the cardinality guard, and the checkpoint file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import cast

import pytest

from acs_exporter.catalog import (
    Catalog,
    Category,
    Domain,
    Entry,
    Provenance,
    Resolution,
    parse_code,
    parse_subcode,
)
from acs_exporter.definitions.tables import CALL_SUMMARY, MEDIA_SUMMARY, LabelPlan
from acs_exporter.pipeline.aggregate import Resolver, summarise
from acs_exporter.pipeline.checkpoint import Checkpoint, CheckpointError
from acs_exporter.pipeline.state import State
from acs_exporter.sources.base import Batch, Observation
from acs_exporter.sources.formats.reasons import Rejection

DOC = "https://learn.microsoft.com/azure/communication-services/resources/troubleshooting/voice-video-calling/troubleshooting-codes"


class TableCatalog:
    """A catalog with a fixed table, so these tests do not depend on the shipped data."""

    def __init__(self) -> None:
        self.entries = (
            Entry(0, 0, Category.SUCCESS, "ok", "", Domain.CALL_END, DOC),
            Entry(487, 10003, Category.EXPECTED_ERROR, "cancelled", "", Domain.CALL_END, DOC),
        )
        self.calls = 0

    def resolve(
        self,
        code: object,
        subcode: object,
        service_category: str | None = None,
        domain: Domain = Domain.CALL_END,
    ) -> Resolution:
        self.calls += 1
        number = parse_code(code)
        sub = parse_subcode(subcode)
        for entry in self.entries:
            if (entry.code, entry.subcode) == (number, sub) and entry.category:
                return Resolution(number, sub, entry.category, Provenance.DOCUMENTED, entry)
        if service_category in ("Success", "ExpectedError"):
            return Resolution(number, sub, Category(service_category), Provenance.SERVICE)
        if 200 <= number < 300:
            return Resolution(number, sub, Category.SUCCESS, Provenance.CODE_CLASS)
        if 500 <= number < 600:
            return Resolution(number, sub, Category.UNEXPECTED_SERVER_ERROR, Provenance.CODE_CLASS)
        return Resolution(number, sub, Category.UNKNOWN, Provenance.UNKNOWN)

    def resolve_code_alone(
        self, code: object, service_category: str | None = None, domain: Domain = Domain.CALL_END
    ) -> Resolution:
        return self.resolve(code, None, service_category, domain)


def catalog() -> Catalog:
    return cast(Catalog, TableCatalog())


PLAN = LabelPlan(extra_labels=("call_type",))


def test_counts_resolve_each_distinct_key_once_and_keep_every_call() -> None:
    table = TableCatalog()
    resolver = Resolver(cast(Catalog, table))
    batch = Batch(
        {
            CALL_SUMMARY: [
                *[Observation("0", "0", None, (("call_type", "P2P"),))] * 1000,
                Observation(0, "0", None, (("call_type", "P2P"),), 5),  # int code: same series
                Observation("560", "1", None, (("call_type", "Group"), ("endpoint_type", "VoIP"))),
                Observation("999", "1"),  # unknown to the catalog
                Observation("abc", "1"),  # malformed code
                Observation("487", None),  # no subcode: its own label value, not malformed
                Observation("", "", "ExpectedError"),  # malformed, the service said the category
                Observation(["not", "hashable"], "1"),
                Observation("0", "0", None, (), 0),  # nothing happened
            ],
            MEDIA_SUMMARY: [Observation("200", "0", None, (("operation", "Play"),), 3)],
        },
        rejected={"invalid_json": 2, "missing_field": 0},
    )
    delta = summarise(batch, resolver, PLAN)
    series = dict(delta.series)
    assert series[(CALL_SUMMARY.state_key, "0", "0", "Success", ("P2P",))] == 1005
    assert series[(CALL_SUMMARY.state_key, "560", "1", "UnexpectedServerError", ("Group",))] == 1
    assert series[(CALL_SUMMARY.state_key, "999", "1", "Unknown", ("",))] == 1
    assert series[(CALL_SUMMARY.state_key, "malformed", "1", "Unknown", ("",))] == 2
    assert series[(CALL_SUMMARY.state_key, "487", "none", "Unknown", ("",))] == 1
    assert series[(CALL_SUMMARY.state_key, "malformed", "none", "ExpectedError", ("",))] == 1
    assert series[(MEDIA_SUMMARY.state_key, "200", "0", "Success", ("Play",))] == 3
    assert delta.records_read == 1005 + 1 + 1 + 2 + 1 + 1 + 3
    assert delta.unknown == 1 + 2 + 1  # 999, two malformed codes, 487/none (this table: no rule)
    assert delta.malformed == 3
    assert dict(delta.rejected) == {"invalid_json": 2}
    # One resolution per distinct raw key, not per record.
    first = table.calls
    summarise(batch, resolver, PLAN)
    assert table.calls == first  # every distinct raw key came from the cache


def test_guard_folds_new_pairs_into_other_keeping_the_category() -> None:
    resolver = Resolver(catalog())
    state = State()
    first = summarise(
        Batch({CALL_SUMMARY: [Observation("0", "0"), Observation("487", "10003")]}),
        resolver,
        LabelPlan(),
    )
    state = state.apply("s", first, {"pos": 1}, max_series=2)
    later = summarise(
        Batch(
            {
                CALL_SUMMARY: [
                    Observation("0", "0", None, (), 4),
                    Observation("500", "1", None, (), 3),
                    Observation("503", "2", None, (), 2),
                    Observation("480", "1", "ExpectedError", (), 1),
                ]
            }
        ),
        resolver,
        LabelPlan(),
    )
    state = state.apply("s", later, {"pos": 2}, max_series=2)
    assert dict(state.series) == {
        ("s", (CALL_SUMMARY.state_key, "0", "0", "Success", ())): 5,
        ("s", (CALL_SUMMARY.state_key, "487", "10003", "ExpectedError", ())): 1,
        ("s", (CALL_SUMMARY.state_key, "other", "other", "UnexpectedServerError", ())): 5,
        ("s", (CALL_SUMMARY.state_key, "other", "other", "ExpectedError", ())): 1,
    }
    assert state.folded == 6
    assert state.cursors == {"s": {"pos": 2}}
    assert state.sources["s"].records_read == 2 + 10


def test_apply_never_changes_the_previous_state() -> None:
    resolver = Resolver(catalog())
    before = State()
    delta = summarise(Batch({CALL_SUMMARY: [Observation("0", "0")]}), resolver, LabelPlan())
    after = before.apply("s", delta, "c", 10)
    assert before.series == {}
    assert after.series != {}


def full_state() -> State:
    resolver = Resolver(catalog())
    delta = summarise(
        Batch(
            {
                CALL_SUMMARY: [Observation("0", "0", None, (("call_type", "P2P"),), 7)],
                MEDIA_SUMMARY: [Observation("200", "0", None, (("operation", "Play"),))],
            },
            rejected={"invalid_json": 1},
        ),
        resolver,
        PLAN,
    )
    return State().apply("sim", delta, {"position": 42, "f": 0.1}, 100)


def test_checkpoint_round_trip_is_atomic(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "state.ckpt"
    checkpoint = Checkpoint(path, PLAN)
    assert checkpoint.load() == State()
    state = full_state()
    checkpoint.save(state)
    checkpoint.save(state)
    assert checkpoint.load() == state
    assert os.listdir(path.parent) == ["state.ckpt"]  # no temporary file left behind


def test_reasons_raised_as_enum_members_are_saved_as_plain_strings(tmp_path: Path) -> None:
    """Sources count rejections under their StrEnum reasons (sources/formats/reasons.py); the
    checkpoint's JSON encoder takes only plain str keys, so the pipeline must hand it those."""
    batch = Batch({CALL_SUMMARY: [Observation("0", "0")]}, {Rejection.INVALID_JSON: 2}, cursor=1)
    delta = summarise(batch, Resolver(catalog()), PLAN)
    assert [type(k) for k in delta.rejected] == [str]
    state = State().apply("files", delta, 1, 100)
    checkpoint = Checkpoint(tmp_path / "state.ckpt", PLAN)
    checkpoint.save(state)
    assert checkpoint.load().sources["files"].rejected == {"invalid_json": 2}


def test_checkpoint_follows_a_change_of_extra_labels(tmp_path: Path) -> None:
    path = tmp_path / "state.ckpt"
    Checkpoint(path, PLAN).save(full_state())
    without = Checkpoint(path, LabelPlan()).load()
    assert without.series[("sim", (CALL_SUMMARY.state_key, "0", "0", "Success", ()))] == 7


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (lambda raw: raw[:-5], "checksum mismatch"),
        (lambda raw: raw.replace(b"42", b"43"), "checksum mismatch"),
        (lambda raw: b"", "the header line is not JSON"),
        (lambda raw: b"hello\n{}", "the header line is not JSON"),
        (lambda raw: b'{"format": "something-else"}\n{}', "not an acs-exporter-checkpoint file"),
        (
            lambda raw: raw.replace(b'"version":1', b'"version":9'),
            "format version 9 is not supported",
        ),
    ],
)
def test_bad_checkpoint_is_refused_with_the_way_out(
    tmp_path: Path, mutate: object, problem: str
) -> None:
    path = tmp_path / "state.ckpt"
    Checkpoint(path, PLAN).save(full_state())
    path.write_bytes(mutate(path.read_bytes()))  # type: ignore[operator]
    with pytest.raises(CheckpointError) as error:
        Checkpoint(path, PLAN).load()
    message = str(error.value)
    assert problem in message
    assert f"mv {path} {path}.broken" in message


def test_valid_checksum_over_a_wrong_body_is_refused(tmp_path: Path) -> None:
    import hashlib

    body = b'{"series": [{"source": "s"}]}'
    path = tmp_path / "state.ckpt"
    header = (
        b'{"format":"acs-exporter-checkpoint","version":1,"sha256":"'
        + hashlib.sha256(body).hexdigest().encode()
        + b'"}\n'
    )
    path.write_bytes(header + body)
    with pytest.raises(CheckpointError, match="the body is not a valid checkpoint"):
        Checkpoint(path, PLAN).load()


def test_unreadable_checkpoint(tmp_path: Path) -> None:
    (tmp_path / "dir.ckpt").mkdir()
    with pytest.raises(CheckpointError, match="cannot read it"):
        Checkpoint(tmp_path / "dir.ckpt", PLAN).load()


def test_lock_removes_temporary_files_of_a_killed_save(tmp_path: Path) -> None:
    path = tmp_path / "state.ckpt"
    checkpoint = Checkpoint(path, PLAN)
    checkpoint.save(full_state())
    # What a save killed between writing its temporary file and the rename leaves behind.
    (tmp_path / ".state.ckpt.k3x_9a2q").write_bytes(b"half a checkpoint")
    (tmp_path / ".other.ckpt.k3x_9a2q").write_bytes(b"not ours")
    (tmp_path / ".state.ckpt.notes").write_bytes(b"not a temporary name")
    checkpoint.lock()
    try:
        assert sorted(p.name for p in tmp_path.iterdir()) == [
            ".other.ckpt.k3x_9a2q",
            ".state.ckpt.notes",
            "state.ckpt",
            "state.ckpt.lock",
        ]
        assert checkpoint.load() == full_state()
    finally:
        checkpoint.unlock()
