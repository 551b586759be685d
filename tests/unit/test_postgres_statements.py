"""The PostgreSQL store's SQL as rendered, without a server: outcomes from their one
description, select lists from their row types, parameters numbered by name."""

from __future__ import annotations

from typing import Any, cast

import attrs
import pytest

from proletarian.adapters.postgres import rows, statements
from proletarian.adapters.postgres.prepared import numbered
from proletarian.adapters.postgres.schema import Names

NAMES = Names.of(schema="s", job_table="job", archived_job_table="archived_job", channel=None)


def build(bigint_ids: bool = False) -> statements.Statements:
    return statements.Statements.build(NAMES, bigint_ids=bigint_ids)


def test_a_column_added_to_the_archive_reaches_every_outcome_that_archives(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A column added to ARCHIVE's description is written by every form that archives: one
    job, leased or not, and the batch; the retries are unchanged."""
    before = build()
    archive = attrs.evolve(
        statements.ARCHIVE,
        computed={**statements.ARCHIVE.computed, "trial": "locked_by"},
        given={**statements.ARCHIVE.given, "outcome_note": "text"},
    )
    monkeypatch.setattr(statements, "ARCHIVE", archive)
    after = build()
    archiving = [
        after.claim["succeed"].query,
        after.claim["fail"].query,
        after.leased["succeed"],
        after.leased["fail"],
        after.write_outcomes,
    ]
    for query in archiving:
        assert b"trial" in query
    for query in (after.claim["fail"].query, after.leased["fail"], after.write_outcomes):
        assert b"outcome_note" in query
    assert after.claim["retry"].query == before.claim["retry"].query
    assert after.leased["retry"] == before.leased["retry"]


def test_one_job_outcomes_end_by_failing_when_nothing_was_written() -> None:
    """Every outcome of one job ends with the step that raises NothingWritten when it wrote
    no row; a leased one writes only while the claim's token holds the job."""
    sql = build()
    for key in ("succeed", "fail", "retry"):
        assert sql.claim[key].query.endswith(statements.one_written("written").encode())
        assert sql.leased[key].endswith(statements.one_written("written").encode())
        assert b"locked_by = %(token)s" in sql.leased[key]
        assert b"%(token)s" not in sql.claim[key].query


def test_success_gives_only_its_times() -> None:
    """The common outcome sends the job id and two times, and leaves the error columns NULL."""
    body, params = numbered(build().claim["succeed"].query)
    assert params == ("job_id", "started_at", "finished_at")
    archived_columns = body.split(b"INSERT INTO")[1].split(b")")[0]
    assert b"status" in archived_columns
    assert b"error_type" not in archived_columns


def test_parameters_are_numbered_by_first_appearance_each_name_once() -> None:
    """A name used twice gets one number; the names come back in the order they are bound."""
    body, params = numbered(b"SELECT %(b)s, %(a)s, %(b)s, %(c)s")
    assert body == b"SELECT $1, $2, $1, $3"
    assert params == ("b", "a", "c")


def test_every_parameter_of_the_claim_has_a_declared_type() -> None:
    """The statements prepared on the server declare a type for each parameter they number,
    with the id column's type of the tables in use."""
    for bigint_ids, id_type in ((False, "uuid"), (True, "bigint")):
        for definition in build(bigint_ids).claim.values():
            _, params = numbered(definition.query)
            assert set(params) <= set(definition.types)
        assert build(bigint_ids).claim["fail"].types["job_id"] == id_type


def test_a_select_list_names_each_field_of_its_row_once() -> None:
    """A select list is built in its row type's field order, and refused if it misses a field
    or names one the row doesn't have."""
    assert rows.select_list(("b", "a"), {"a": "x", "b": "y"}) == "y, x"
    with pytest.raises(ValueError, match="select list"):
        rows.select_list(("a", "b"), {"a": "x"})
    with pytest.raises(ValueError, match="select list"):
        rows.select_list(("a",), {"a": "x", "extra": "y"})


def test_a_claim_row_nests_the_job_read_by_name() -> None:
    """The claim's row factory reads the job's columns, then whether its last claim was
    abandoned, in the order of the select list."""
    values = [f"v{i}" for i in range(len(rows.JOB_COLUMNS))]
    # The factory makes the same maker for any cursor: none is needed here.
    row = rows.claim_rows(cast(Any, None))([*values, True])
    assert row.abandoned is True
    assert row.job == rows.JobRow._make(values)
    assert row.job.queue == values[rows.JOB_COLUMNS.index("queue")]
    assert statements.CLAIM_SELECT.startswith(statements.JOB_SELECT + ", ")
