from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from medfed.core.audit_chain import GENESIS_HASH, AuditRecord, seal, verify_chain


def build_chain(actions: list[str]) -> list[AuditRecord]:
    chain: list[AuditRecord] = []
    previous = GENESIS_HASH
    for seq, action in enumerate(actions, start=1):
        record = seal(
            AuditRecord(
                seq=seq,
                occurred_at=f"2026-01-01T00:00:{seq % 60:02d}.000000+00:00",
                actor="user:a",
                action=action,
                object=None,
                outcome="success",
                details={"n": seq},
                prev_hash=previous,
            )
        )
        chain.append(record)
        previous = record.row_hash
    return chain


actions = st.lists(st.sampled_from(["login", "logout", "user_created"]), min_size=2, max_size=30)


@given(actions)
def test_untouched_chain_verifies(names: list[str]) -> None:
    chain = build_chain(names)
    verdict = verify_chain(chain, len(chain), chain[-1].row_hash)
    assert verdict.ok and verdict.rows_checked == len(chain)


@given(actions, st.data())
def test_any_edit_is_found_at_its_row(names: list[str], data: st.DataObject) -> None:
    chain = build_chain(names)
    index = data.draw(st.integers(0, len(chain) - 1))
    chain[index] = replace(chain[index], outcome="failure")
    verdict = verify_chain(chain, len(chain), chain[-1].row_hash)
    assert not verdict.ok
    assert verdict.first_bad_seq == index + 1
    assert "edited" in (verdict.problem or "")


@given(actions, st.data())
def test_any_deletion_is_found_at_its_row(names: list[str], data: st.DataObject) -> None:
    chain = build_chain(names)
    index = data.draw(st.integers(0, len(chain) - 1))
    head_hash = chain[-1].row_hash
    del chain[index]
    verdict = verify_chain(chain, len(names), head_hash)
    assert not verdict.ok
    assert verdict.first_bad_seq == index + 1
    assert "deleted" in (verdict.problem or "")


@given(actions)
def test_appended_row_not_in_head_is_an_insertion(names: list[str]) -> None:
    chain = build_chain(names)
    head_seq, head_hash = len(chain), chain[-1].row_hash
    forged = seal(replace(chain[-1], seq=head_seq + 1, prev_hash=head_hash, action="login"))
    verdict = verify_chain([*chain, forged], head_seq, head_hash)
    assert not verdict.ok and verdict.first_bad_seq == head_seq + 1
    assert "inserted" in (verdict.problem or "")


def test_rehashed_edit_is_caught_at_the_next_link() -> None:
    chain = build_chain(["login", "logout", "login"])
    chain[1] = seal(replace(chain[1], actor="user:mallory"))
    verdict = verify_chain(chain, 3, chain[-1].row_hash)
    assert not verdict.ok and verdict.first_bad_seq == 3


def test_recomputing_the_whole_tail_still_disagrees_with_the_head() -> None:
    chain = build_chain(["login", "logout"])
    head_hash = chain[-1].row_hash
    chain[1] = seal(replace(chain[1], actor="user:mallory"))
    verdict = verify_chain(chain, 2, head_hash)
    assert not verdict.ok and verdict.first_bad_seq == 2
