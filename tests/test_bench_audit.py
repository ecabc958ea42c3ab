"""python -m bench audit's "same story" check: covariances within the tolerance, and the same order for
every two attributes further apart than it (near ties may swap under float rounding)."""

from __future__ import annotations

from bench.audit import TOLERANCE, same_order

REFERENCE = {"glasses": 0.149, "smiling": -0.018, "beard": -0.024, "dark_skin": 0.039}


def test_a_near_tie_may_swap_but_a_clear_order_may_not():
    # stop 33's faces-dcgan-sharp: smiling and beard swapped places (0.006 apart), nothing else moved
    swapped = {"glasses": 0.157, "smiling": -0.028, "beard": -0.009, "dark_skin": 0.042}
    assert same_order(REFERENCE, swapped, TOLERANCE)
    # glasses no longer the strongest: a different story
    assert not same_order(REFERENCE, {**swapped, "glasses": 0.03}, TOLERANCE)
    assert not same_order(REFERENCE, {**REFERENCE, "dark_skin": 0.2}, TOLERANCE)
