import itertools
from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from modelledger.core.events import GENESIS, first_unsound, new_event, verify_chain


def chain(n):
    events, prev = [], None
    for i in range(n):
        prev = new_event(
            prev,
            "model.registered",
            f"mv-{i}",
            "alice",
            f"2026-01-01T00:00:0{i % 10}.000000Z",
            {"i": i},
        )
        events.append(prev)
    return events


def test_chain_links_and_verifies():
    events = chain(5)
    assert events[0].prev_hash == GENESIS and events[0].seq == 1
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(events))
    check = verify_chain(events)
    assert check.ok and check.checked == 5 and check.head == events[-1].hash


def test_empty_chain_is_ok():
    check = verify_chain([])
    assert check.ok and check.checked == 0 and check.head == GENESIS


@given(
    st.integers(min_value=0, max_value=9),
    st.sampled_from(["payload", "actor", "kind", "at", "subject"]),
)
def test_any_tampered_field_names_that_event(index, field):
    events = chain(10)
    value = {
        "payload": {"i": -1},
        "actor": "mallory",
        "kind": "x",
        "at": "2020-01-01T00:00:00.000000Z",
        "subject": "s",
    }[field]
    events[index] = replace(events[index], **{field: value})
    check = verify_chain(events)
    assert check.broken is not None and check.broken.seq == index + 1
    assert check.checked == index


def test_deleted_event_is_named():
    events = chain(6)
    del events[3]
    check = verify_chain(events)
    assert check.broken.seq == 4 and "missing" in check.broken.reason


def test_rehashed_event_still_breaks_the_next_link():
    events = chain(4)
    forged = new_event(events[0], "model.registered", "mv-x", "mallory", events[1].at, {"i": 99})
    events[1] = forged
    check = verify_chain(events)
    assert check.broken.seq == 3 and "prev_hash" in check.broken.reason


@given(st.integers(min_value=1, max_value=12), st.data())
def test_first_unsound_finds_an_altered_or_unlinked_event(n, data):
    chain, prev = [], None
    for i in range(n):
        prev = new_event(prev, "k", f"s{i}", "a", "2026-01-01T00:00:00.000000Z", {"i": i})
        chain.append(prev.to_json())
    shown = data.draw(st.permutations(chain))  # in any order, as a page lists them
    assert first_unsound(shown) is None
    victim = data.draw(st.integers(min_value=0, max_value=n - 1))
    altered = [dict(e) for e in chain]
    altered[victim]["payload"] = {"i": -1}
    assert first_unsound(altered) == victim + 1
    if n > 1:  # a whole event recomputed on a forged predecessor no longer links
        forged = new_event(None, "k", "x", "a", "2026-01-01T00:00:00.000000Z", {})
        relinked = [dict(e) for e in chain]
        relinked[1] = new_event(forged, "k", "s1", "a", chain[1]["at"], {"i": 1}).to_json()
        assert first_unsound(relinked) == 2
