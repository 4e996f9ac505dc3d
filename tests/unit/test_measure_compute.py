"""RTO / outage / RPO definitions on synthetic probe series (DESIGN section 7)."""

from __future__ import annotations

import pytest

from orchestrator.measure.compute import Ack, Restoration, combine, data_loss, restoration
from orchestrator.measure.ledger import Ledger, decode_ledger
from orchestrator.measure.samples import Sample, decode_series, encode_series

IV = 0.1  # probe interval
LAT = 0.004  # answer latency of a healthy probe


def series(pattern: str, t0: float = 1000.0) -> list[Sample]:
    """'1' = success, '0' = failure, one sample per interval starting at t0."""
    return [
        Sample(t0 + i * IV, t0 + i * IV + LAT, ch == "1", None if ch == "1" else "down")
        for i, ch in enumerate(pattern)
    ]


def test_restored_is_first_success_followed_by_a_stable_window() -> None:
    s = series("1111" + "0000" + "1" + "0" + "1" * 20)
    fault = 1000.0 + 4 * IV - 0.01  # just before the first failure
    r = restoration(s, fault, stability_s=1.0, observed_from=1000.0)
    # the lone success at index 8 is followed by a failure: not stable
    assert r.restored_at == pytest.approx(1000.0 + 10 * IV)  # when that request was issued
    assert r.outage_start == pytest.approx(1000.0 + 4 * IV)
    assert r.failures == 5
    assert r.outage_s == pytest.approx(6 * IV)


def test_not_restored_until_window_observed() -> None:
    s = series("1" * 3 + "0" * 5 + "1" * 5)  # only 0.5 s green at the end
    r = restoration(s, 1000.0, stability_s=1.0, observed_from=1000.0)
    assert r.restored_at is None
    assert r.outage_start == pytest.approx(1000.0 + 3 * IV)


def test_successes_before_the_fault_takes_effect_do_not_count() -> None:
    # fault marked at t0; the fault action needs 0.3 s to bite, then 0.5 s outage
    s = series("111" + "00000" + "1" * 15)
    r = restoration(s, 1000.0, stability_s=0.2, observed_from=999.0)
    assert r.restored_at == pytest.approx(1000.0 + 8 * IV)


def test_no_outage_seen_means_restored_at_the_fault() -> None:
    s = series("1" * 30)
    r = restoration(s, 1000.5, stability_s=1.0, observed_from=1000.0)
    assert r.no_outage_seen and r.restored_at == 1000.5 and r.outage_s is None


def test_probe_started_after_the_fault_is_restored_at_its_first_stable_success() -> None:
    s = series("00" + "1" * 20, t0=1010.0)  # e.g. the dataset on a restored instance
    r = restoration(s, 1000.0, stability_s=1.0, observed_from=1010.0)
    assert r.restored_at == pytest.approx(1010.0 + 2 * IV)
    assert not r.no_outage_seen


def test_a_slow_success_counts_from_its_answer_not_its_request() -> None:
    # a connection queued while the server was frozen, answered 0.8 s later after a thaw
    s = series("1" + "00")
    s.append(Sample(1000.3, 1001.1, True))
    s += [Sample(1001.2 + i * IV, 1001.2 + i * IV + LAT, True) for i in range(15)]
    r = restoration(s, 1000.05, stability_s=1.0, observed_from=1000.0, interval_s=IV)
    assert r.restored_at == pytest.approx(1001.1)


def test_on_a_busy_host_a_success_as_slow_as_the_baseline_counts_from_its_request() -> None:
    busy = [Sample(1000.0 + i * IV, 1000.0 + i * IV + 0.06, True) for i in range(5)]
    busy += [Sample(1000.5 + i * IV, 1000.5 + i * IV + 0.06, False, "down") for i in range(5)]
    busy += [Sample(1001.0 + i * IV, 1001.0 + i * IV + 0.186, True) for i in range(15)]
    r = restoration(busy, 1000.45, stability_s=1.0, observed_from=1000.0, interval_s=IV)
    assert r.restored_at == pytest.approx(1001.0)  # 0.186 s ≤ 4 × 0.06 s baseline


def test_combine_takes_the_latest_restoration_and_the_earliest_failure() -> None:
    a = Restoration(1005.0, 1001.0, 3)
    b = Restoration(1007.0, 1002.0, 4)
    c = combine([a, b])
    assert (c.restored_at, c.outage_start, c.failures) == (1007.0, 1001.0, 7)
    assert combine([a, Restoration(None, 1000.5, 9)]).restored_at is None
    assert combine([]).restored_at is None


def acks(times: list[float]) -> list[Ack]:
    return [Ack(i + 1, t - 0.002, t) for i, t in enumerate(times)]


def test_rpo_zero_when_nothing_acknowledged_is_lost() -> None:
    ledger = acks([1.0, 1.1, 1.2, 1.3])
    loss = data_loss(ledger, {1, 2, 3, 4, 99})
    assert loss.rpo_s == 0 and loss.lost == [] and loss.considered == 4


def test_rpo_newest_lost_minus_newest_surviving_before_it() -> None:
    # writes 1-5 before the fault, 3-5 never replicated; 6-8 written after recovery
    ledger = acks([1.0, 1.1, 1.2, 1.3, 1.4, 5.0, 5.1, 5.2])
    loss = data_loss(ledger, {1, 2, 6, 7, 8})
    assert loss.lost == [3, 4, 5]
    assert loss.rpo_s == pytest.approx(1.4 - 1.1)
    assert not loss.lower_bound


def test_rpo_lower_bound_when_nothing_earlier_survived() -> None:
    loss = data_loss(acks([1.0, 1.5, 2.0]), set())
    assert loss.lost == [1, 2, 3] and loss.lower_bound
    assert loss.rpo_s == pytest.approx(1.0)


def test_backup_restore_rpo_is_measured_from_the_disaster() -> None:
    ledger = acks([1.0, 1.1, 1.2, 1.3, 2.5, 2.6])  # disaster at 2.0; 5, 6 came after it
    exact = data_loss(ledger, {1, 2, 3, 4}, disaster_at=2.0)
    assert exact.lost == [] and exact.rpo_s == 0 and exact.considered == 4
    lossy = data_loss(ledger, {1, 2}, disaster_at=2.0)
    assert lossy.lost == [3, 4]
    assert lossy.rpo_s == pytest.approx(2.0 - 1.1)


def test_series_round_trip_is_compact_and_exact_to_the_millisecond() -> None:
    s = series("1" * 300 + "0" * 100 + "1" * 200)
    data = encode_series(s)
    assert len(data) < 2000  # 600 samples
    back = decode_series(data)
    assert len(back) == len(s)
    for a, b in zip(s, back, strict=True):
        assert a.ok == b.ok and a.error == b.error
        assert abs(a.start - b.start) < 0.0015 and abs(a.end - b.end) < 0.0015


def test_ledger_encodes_acks_and_indeterminate_commits() -> None:
    ledger = Ledger("r-1/az-loss/abc")
    for t in (10.0, 10.1, 10.2):
        seq = ledger.next_seq()
        ledger.acked(seq, t, t + 0.003)
    ledger.indeterminate(ledger.next_seq())
    writer, back, unknown = decode_ledger(ledger.encode())
    assert writer == "r-1/az-loss/abc" and unknown == {4}
    assert [a.seq for a in back] == [1, 2, 3]
    assert back[2].acked_at == pytest.approx(10.203, abs=1e-5)
