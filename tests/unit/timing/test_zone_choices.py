"""ZoneChoices: each recipient's clock in columns, the same answers as a dict of choices."""

from __future__ import annotations

import numpy as np
import pytest

from sendflowr.timing.zone_choices import ZoneChoices, learned_zones
from sendflowr.timing.zones import ZoneChoice

NY, TYO, KOL = "America/New_York", "Asia/Tokyo", "Asia/Kolkata"
PLAIN = {
    "sf_a": ZoneChoice(NY, "stored", 1.0),
    "sf_b": ZoneChoice(),
    "sf_c": ZoneChoice(TYO, "inferred", 0.8125),
    "sf_d": ZoneChoice("UTC", "stored", 1.0),
    "sf_e": ZoneChoice(KOL, "request", 1.0),
    "sf_f": ZoneChoice(TYO, "stored", 1.0),
}


def _choices(plain: dict[str, ZoneChoice]) -> ZoneChoices:
    return ZoneChoices(plain, plain.values())


def test_it_answers_like_the_dict_it_was_built_from() -> None:
    zones = _choices(PLAIN)
    assert zones == PLAIN and dict(zones.items()) == PLAIN and list(zones) == list(PLAIN)
    assert zones["sf_c"].confidence == 0.8125 and "sf_b" in zones and "nobody" not in zones
    assert zones.get("nobody") is None
    with pytest.raises(KeyError):
        zones["nobody"]
    assert zones.choices(["sf_f", "nobody", "sf_a"]) == [PLAIN["sf_f"], None, PLAIN["sf_a"]]
    assert ZoneChoices() == {} and len(ZoneChoices()) == 0


def test_clocks_are_the_curve_clocks_of_the_ids_asked() -> None:
    zones = _choices(PLAIN)
    ids = ["sf_a", "sf_b", "sf_c", "sf_d", "sf_e", "sf_f", "nobody"]
    names, code = zones.clocks(ids)
    clocks = [names[c] if c >= 0 else "UTC" for c in code.tolist()]
    assert clocks == [PLAIN.get(u, ZoneChoice()).curve_clock for u in ids]
    assert names == sorted(set(clocks) - {"UTC"})
    names, code = zones.clocks([])
    assert names == [] and code.size == 0


def test_where_taken_and_updated_change_rows_like_dict_updates() -> None:
    zones = _choices(PLAIN)
    ids = list(PLAIN)
    other = _choices({u: ZoneChoice("Europe/Berlin", "inferred", 0.7) for u in ids})
    mask = np.array([u in ("sf_b", "sf_e") for u in ids])
    mixed = zones.where(mask, other)
    assert mixed == {u: (other[u] if u in ("sf_b", "sf_e") else PLAIN[u]) for u in ids}
    assert zones.stored().tolist() == [c.source == "stored" for c in PLAIN.values()]

    picked = zones.taken(["sf_c", "nobody", "sf_a"])
    assert list(picked) == ["sf_c", "nobody", "sf_a"]
    assert picked == {"sf_c": PLAIN["sf_c"], "nobody": ZoneChoice(), "sf_a": PLAIN["sf_a"]}

    later = {"sf_b": ZoneChoice(KOL, "stored", 1.0), "sf_new": ZoneChoice(NY, "inferred", 0.6)}
    grown = zones.updated(_choices(later))
    assert grown == PLAIN | later and list(grown) == [*PLAIN, "sf_new"]
    assert zones == PLAIN  # unchanged
    assert ZoneChoices().updated(_choices(later)) == later


def test_a_recipient_costs_its_id_and_eleven_bytes() -> None:
    ids = [f"sf_{i:016d}" for i in range(5000)]
    zones = ZoneChoices(ids, [ZoneChoice(NY, "stored", 1.0)] * len(ids))
    assert zones.nbytes / len(ids) == len(ids[0]) + 8 + 11


def test_learned_zones_asks_for_many_at_once_or_one_by_one() -> None:
    zones = _choices(PLAIN)

    class Many:
        def zones_of(self, ids: list[str]) -> list[ZoneChoice | None]:
            return zones.choices(ids)

    class One:
        def zone_of(self, uid: str) -> ZoneChoice | None:
            return zones.get(uid)

    want = [PLAIN["sf_c"], None]
    assert learned_zones(Many(), ["sf_c", "x"]) == want == learned_zones(One(), ["sf_c", "x"])
    assert learned_zones(object(), ["sf_c"]) == [None]
