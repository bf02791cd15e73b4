"""Every rule of the tariff, with the amounts worked out by hand in each test."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from accounting import inventory_from_dict, rate
from accounting.invoice import Invoice, UsageCoverage
from accounting.usage_table import usage_table

T = "2026-03-10T10:00:00Z"
MO = 1024 * 1024  # octets in a Mo


def line(
    id_: str, offer: str = "business-m2m", plan: str = "forfait-2mo", commitment: int = 24, **kw: Any
) -> dict[str, Any]:
    d: dict[str, Any] = {
        "id": id_,
        "offer": offer,
        "plan": plan,
        "commitment": commitment,
        "since": "2025-01-15",
    }
    d.update(kw)
    return d


def bill(
    lines: list[dict[str, Any]], rows: list[dict[str, Any]], services: dict[str, Any] | None = None
) -> Invoice:
    inv: dict[str, Any] = {"customer": "c", "month": "2026-03", "lines": lines}
    if services:
        inv["services"] = services
    # Each row its own record (rows identical in every field would be billed once).
    distinct = [{"session": f"r{i}", **row} for i, row in enumerate(rows)]
    return rate(inventory_from_dict(inv), usage_table(distinct))


def data(line_id: str, octets: int, zone: str = "fr") -> dict[str, Any]:
    return {"line": line_id, "type": "data", "start": T, "bytes_up": octets, "bytes_down": 0, "zone": zone}


def items(invoice: Invoice, line_id: str) -> dict[str, str]:
    bill_ = next(b for b in invoice.lines if b.id == line_id)
    return {i.code: str(i.amount) for i in bill_.items}


def item(invoice: Invoice, line_id: str, code: str) -> tuple[str, str]:
    bill_ = next(b for b in invoice.lines if b.id == line_id)
    it = next(i for i in bill_.items if i.code == code)
    return str(it.quantity), str(it.amount)


def fleet(invoice: Invoice) -> dict[str, str]:
    return {i.code: str(i.amount) for i in invoice.fleet}


# --- data volume ---------------------------------------------------------------------------


def test_each_record_is_rounded_up_to_a_ko_on_its_own() -> None:
    # compteur: 3 EUR/Mo. Records of 1025 o (2 ko), 1 o (1 ko), 0 o (0 ko) and 1024 o (1 ko) = 4 ko.
    rows = [data("A", 1025), data("A", 1), data("A", 0), data("A", 1024)]
    inv = bill([line("A", plan="compteur")], rows)
    assert item(inv, "A", "data-fr-over") == ("4", "0.01")  # 4 x 3 / 1024 = 0.0117 -> 0.01
    assert items(inv, "A")["subscription"] == "5.50"


def test_bundle_then_overage_per_ko() -> None:
    # 2 Mo bundle = 2048 ko; 3072 ko used: 1024 ko over at 1.5 EUR/Mo = 1.50
    inv = bill([line("A")], [data("A", 3 * MO)])
    assert item(inv, "A", "data-fr-bundle") == ("2048", "0.00")
    assert item(inv, "A", "data-fr-over") == ("1024", "1.50")
    assert inv.lines[0].total == Decimal("9.50")


@pytest.mark.parametrize("source", ["table", "csv", "parquet"])
def test_a_data_record_running_past_the_month_end_is_billed_in_the_month_it_starts(
    tmp_path: Path, source: str
) -> None:
    # A session opened 2026-03-31 20:00 is cut at 12 h: its first record runs to 2026-04-01 08:00
    # with 2,359,296 o = 2,304 ko (2 Mo in the bundle, 256 ko over at 1.5 EUR/Mo: 0.375 -> 0.38).
    # The April invoice rejects it (its start is in March): March bills it, 8.00 + 0.38 = 8.38.
    row = {
        "line": "A",
        "type": "data",
        "start": "2026-03-31T20:00:00Z",
        "duration_s": 43_200,
        "bytes_up": 2_359_296,
        "bytes_down": 0,
        "zone": "fr",
    }
    table = usage_table([row])
    usage: Any = table
    if source == "csv":
        usage = tmp_path / "u.csv"
        usage.write_text(",".join(row) + "\n" + ",".join(str(v) for v in row.values()) + "\n")
    elif source == "parquet":
        import pyarrow.parquet as pq

        usage = tmp_path / "u.parquet"
        pq.write_table(table, usage)
    inv = rate(inventory_from_dict({"customer": "c", "month": "2026-03", "lines": [line("A")]}), usage)
    assert inv.rejects == []
    assert item(inv, "A", "data-fr-over") == ("256", "0.38")
    assert inv.total == Decimal("8.38")


def test_up_and_down_bytes_count_together() -> None:
    rows = [{"line": "A", "type": "data", "start": T, "bytes_up": 600, "bytes_down": 600}]
    inv = bill([line("A", plan="compteur")], rows)
    assert item(inv, "A", "data-fr-over")[0] == "2"  # 1200 o -> 2 ko, not 1 + 1


def test_business_data_abroad_is_outside_the_bundle() -> None:
    # eu 1024 ko at 7 EUR/Mo = 7.00; world 512 ko at 10 EUR/Mo = 5.00; fr 1 Mo inside the bundle
    rows = [data("A", MO, "eu"), data("A", MO // 2, "world"), data("A", MO)]
    inv = bill([line("A")], rows)
    got = items(inv, "A")
    assert got["data-eu"] == "7.00" and got["data-world"] == "5.00" and "data-fr-over" not in got
    assert inv.lines[0].total == Decimal("20.00")


def test_europe_bundle_covers_france_and_eu_together() -> None:
    # 1.5 Mo in fr + 1.5 Mo in eu = 3072 ko; 1024 over the 2 Mo at 3 EUR/Mo = 3.00; world 10 EUR/Mo
    rows = [data("E", 3 * MO // 2), data("E", 3 * MO // 2, "eu"), data("E", MO // 1024 * 10, "world")]
    inv = bill([line("E", offer="europe")], rows)
    assert item(inv, "E", "data-fr-eu-over") == ("1024", "3.00")
    assert item(inv, "E", "data-world") == ("10", "0.10")  # 10 x 10 / 1024 = 0.0977 -> 0.10
    assert items(inv, "E")["subscription"] == "9.00"


# --- optima -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("octets", "step", "total"),
    [
        (0, "0.5 Mo", "6.00"),
        (512 * 1024, "0.5 Mo", "6.00"),  # exactly the allowance
        (20 * MO, "0.5 Mo", "25.50"),  # 6 + 19.5 x 1 = 25.50 < 26
        (21 * MO, "500 Mo", "26.00"),  # 6 + 20.5 = 26.50 > 26
        (600 * MO, "500 Mo", "36.00"),  # 26 + 100 x 0.1 = 36 = 1 Go's 36: the first step wins a tie
        (1536 * MO, "2 Go", "60.00"),  # 1 Go: 36 + 512 x 0.1 = 87.20 > 60
        (6144 * MO, "5 Go", "177.40"),  # 75 + 1024 x 0.1: no cap beyond 5 Go
    ],
)
def test_optima_takes_the_cheapest_step_and_names_it(octets: int, step: str, total: str) -> None:
    inv = bill(
        [line("I", offer="intense", plan="optima", commitment=36)], [data("I", octets)] if octets else []
    )
    sub = next(i for i in inv.lines[0].items if i.code == "subscription")
    assert sub.step == step
    assert str(inv.lines[0].total) == total


def test_intense_abroad_is_billed_outside_optima() -> None:
    inv = bill(
        [line("I", offer="intense", plan="optima", commitment=36)],
        [data("I", MO, "eu"), data("I", MO, "world")],
    )
    got = items(inv, "I")
    assert (got["subscription"], got["data-eu"], got["data-world"]) == ("6.00", "7.00", "10.00")


# --- fleet discount -----------------------------------------------------------------------


@pytest.mark.parametrize(("count", "price"), [(49, "7.50"), (50, "7.13")])
def test_fleet_discount_from_50_business_lines(count: int, price: str) -> None:
    # 7.5 x 0.95 = 7.125 -> 7.13 on the subscription item itself
    lines = [
        {
            "id_prefix": "B",
            "count": count,
            "offer": "business-m2m",
            "plan": "forfait-2mo",
            "commitment": 36,
            "since": "2025-01-01",
        }
    ]
    lines.append(line("I", offer="intense", plan="optima", commitment=36))
    inv = bill(lines, [data("B01", 3 * MO)])
    assert all(items(inv, b.id)["subscription"] == price for b in inv.lines if b.offer == "business-m2m")
    assert items(inv, "B01")["data-fr-over"] == "1.50"  # usage is not reduced
    assert items(inv, "I")["subscription"] == "6.00"  # other offers are not reduced


def test_fleet_discount_counts_business_and_business_dtmf_together() -> None:
    lines = [
        {
            "id_prefix": "B",
            "count": 25,
            "offer": "business-m2m",
            "plan": "compteur",
            "commitment": 24,
            "since": "2025-01-01",
        },
        {
            "id_prefix": "D",
            "count": 25,
            "offer": "business-m2m-dtmf",
            "plan": "forfait-5mo",
            "commitment": 24,
            "since": "2025-01-01",
        },
    ]
    inv = bill(lines, [])
    assert items(inv, "B01")["subscription"] == "5.23"  # 5.5 x 0.95 = 5.225 -> 5.23
    assert items(inv, "D01")["subscription"] == "9.50"  # 10 x 0.95


def test_lines_with_inventory_errors_do_not_count_for_the_discount() -> None:
    lines = [
        {
            "id_prefix": "B",
            "count": 49,
            "offer": "business-m2m",
            "plan": "forfait-2mo",
            "commitment": 24,
            "since": "2025-01-01",
        }
    ]
    lines.append(line("X", options=["autodiagnostic"]))  # an error: not billed, not counted
    inv = bill(lines, [])
    assert items(inv, "B01")["subscription"] == "8.00"


# --- SMS ----------------------------------------------------------------------------------


def sms(line_id: str, n: int, zone: str = "fr", dest: str = "fr-mobile") -> list[dict[str, Any]]:
    return [{"line": line_id, "type": "sms", "start": T, "zone": zone, "dest": dest}] * n


@pytest.mark.parametrize(("n", "amount"), [(9_999, "699.93"), (10_000, "600.00")])
def test_sms_volume_step_prices_every_sms(n: int, amount: str) -> None:
    inv = bill([line("A", offer="intense", plan="optima", commitment=36)], sms("A", n))
    assert item(inv, "A", "sms") == (str(n), amount)  # 9,999 x 0.07; 10,000 x 0.06


def test_sms_steps_count_the_whole_fleet() -> None:
    # 30,000 + 20,000 = 50,000 SMS in the fleet: 0.056 each
    inv = bill([line("A"), line("B", offer="europe")], sms("A", 30_000) + sms("B", 20_000, dest="fr-fixed"))
    assert items(inv, "A")["sms"] == "1680.00" and items(inv, "B")["sms"] == "1120.00"


def test_sms_not_priced_here_are_rejected() -> None:
    rows = sms("A", 1) + sms("A", 1, zone="eu") + sms("A", 1, dest="intl") + sms("A", 1, dest="fr-premium")
    inv = bill([line("A")], rows)
    assert item(inv, "A", "sms") == ("1", "0.07")
    assert [r.row for r in inv.rejects] == [3, 4, 5]
    assert all(r.reason.startswith("price not in this catalog") for r in inv.rejects)


# --- calls --------------------------------------------------------------------------------


def call(
    line_id: str, kind: str, seconds: float | int, dest: str = "fr-mobile", zone: str = "fr"
) -> dict[str, Any]:
    return {"line": line_id, "type": kind, "start": T, "duration_s": seconds, "dest": dest, "zone": zone}


@pytest.mark.parametrize(
    ("durations", "seconds", "amount"),
    [
        ([60], "60", "0.15"),  # the first minute is indivisible
        ([1], "1", "0.15"),
        ([61, 61], "122", "0.31"),  # 2 x (0.15 + 0.0025) = 0.305 -> 0.31 half-up
        ([60.2], "61", "0.15"),  # rounded up to 61 s: 0.1525 -> 0.15
        ([120], "120", "0.30"),  # 0.15 + 60 x 0.0025
    ],
)
def test_dtmf_calls(durations: list[float], seconds: str, amount: str) -> None:
    inv = bill([line("D", offer="business-m2m-dtmf")], [call("D", "voice", s) for s in durations])
    assert item(inv, "D", "voice") == (seconds, amount)


def test_unanswered_call_costs_nothing() -> None:
    inv = bill([line("D", offer="intense-dtmf", plan="optima", commitment=36)], [call("D", "voice", 0)])
    assert "voice" not in items(inv, "D") and not inv.rejects


def test_csd_is_per_second_from_the_first() -> None:
    # 90 s + 1 s = 91 x 0.0025 = 0.2275 -> 0.23
    inv = bill([line("C")], [call("C", "csd", 90, "fr-fixed"), call("C", "csd", 0.4)])
    assert item(inv, "C", "csd") == ("91", "0.23")


@pytest.mark.parametrize(
    ("offer", "kind"), [("business-m2m", "voice"), ("business-m2m-dtmf", "csd"), ("europe-dtmf", "csd")]
)
def test_calls_the_offer_does_not_allow_are_rejected_even_at_0_s(offer: str, kind: str) -> None:
    inv = bill([line("A", offer=offer)], [call("A", kind, 30), call("A", kind, 0)])
    assert kind not in items(inv, "A")
    assert [r.row for r in inv.rejects] == [2, 3]
    assert inv.rejects[0].reason == f"service not in the offer: {kind} is not part of {offer}"


def test_calls_abroad_or_international_are_not_priced_here() -> None:
    inv = bill(
        [line("D", offer="business-m2m-dtmf")],
        [call("D", "voice", 30, zone="eu"), call("D", "voice", 30, "intl")],
    )
    assert len(inv.rejects) == 2 and all("price not in this catalog" in r.reason for r in inv.rejects)


@pytest.mark.parametrize("offer", ["business-m2m-dtmf", "business-m2m", "europe"])
def test_emergency_calls_are_free_on_every_offer_from_every_zone(offer: str) -> None:
    """A voice call to 112 was classed premium by the network and rejected as not priced; on a data
    offer it would have been rejected as voice not in the offer.  The network connects it whatever
    the subscription, and it is free: neither a reject nor a priced item."""
    usage = [call("E", "voice", 95, "emergency"), call("E", "voice", 30, "emergency", zone="world")]
    usage += sms("E", 1, dest="emergency")  # 114 takes SMS
    inv = bill([line("E", offer=offer)], usage)
    assert not inv.rejects
    assert "voice" not in items(inv, "E") and "sms" not in items(inv, "E")
    assert inv.total == bill([line("E", offer=offer)], []).total


# --- options and one-off fees -------------------------------------------------------------


def test_options_monthly_and_once() -> None:
    opts = ["autogestion", "autodiagnostic", "exclusive-fr", "secure-mobile-access-intranet",
            {"id": "first-traffic-billing", "since": "2026-03-20"}]  # fmt: skip
    later = [{"id": "first-traffic-billing", "since": "2026-02-20"}]
    inv = bill([line("A", options=opts), line("B", options=later)], [])
    got = items(inv, "A")
    assert got["option-autogestion"] == "0.00" and got["option-autodiagnostic"] == "1.00"
    assert got["option-exclusive-fr"] == "3.00" and got["option-secure-mobile-access-intranet"] == "4.00"
    assert got["option-first-traffic-billing-fee"] == "3.00"
    assert inv.lines[0].total == Decimal("19.00")  # 8 + 0 + 1 + 3 + 4 + 3
    assert list(items(inv, "B")) == ["subscription"]  # subscribed last month: nothing this month


def test_secure_mobile_access_setup_once_per_service_in_its_month() -> None:
    sma = ["secure-mobile-access-intranet", "secure-mobile-access-internet"]
    inv = bill(
        [line("A", options=sma)],
        [],
        {"secure_mobile_access": {"intranet": {"since": "2026-03-04"}, "internet": {"since": "2025-01-01"}}},
    )
    assert fleet(inv) == {"secure-mobile-access-intranet-setup": "2000.00"} and inv.errors == []


def test_secure_mobile_access_is_billed_from_the_service_and_set_up_with_a_line() -> None:
    """« 4 € HT/ligne/mois », « Frais forfaitaire de mise en service 2 000 € HT pour le service »,
    « service à souscrire en complément d'une ligne voix ou d'une ligne data ». A line's option (dated
    by the line, 2025-01-15) was billed 4.00 in months before the customer's service started, and the
    2,000 set-up was billed in the service's month though no line took the option. Now the option
    is billed from the service's month, and the set-up only with a line taking it (else said)."""
    sma = ["secure-mobile-access-intranet"]
    service = {"secure_mobile_access": {"intranet": {"since": "2026-04-10"}}}
    march = bill([line("A", options=sma)], [], service)
    assert items(march, "A") == {"subscription": "8.00"} and fleet(march) == {} and march.errors == []
    inv = {"customer": "c", "lines": [line("A", options=sma), line("B")], "services": service}
    april = rate(inventory_from_dict({**inv, "month": "2026-04"}), usage_table([]))
    assert items(april, "A")["option-secure-mobile-access-intranet"] == "4.00"
    assert fleet(april) == {"secure-mobile-access-intranet-setup": "2000.00"} and april.errors == []
    # the service dated in March, no line taking the option (B only): no set-up, and the invoice says so
    alone = bill([line("B")], [], {"secure_mobile_access": {"intranet": {"since": "2026-03-04"}}})
    assert fleet(alone) == {} and alone.total == Decimal("8.00")
    assert [(e.line, e.rule) for e in alone.errors] == [("", "secure-mobile-access-without-lines")]
    assert "no line billed in the month takes secure-mobile-access-intranet" in alone.errors[0].message


def test_a_secure_mobile_access_option_whose_service_is_undated_is_said_not_left_out() -> None:
    """Lines taking secure-mobile-access-intranet with no `services.secure_mobile_access.intranet`:
    the 2,000 set-up (once per customer and service, when first subscribed) was neither billed nor
    said. The option is billed (4.00 a line) and the invoice says the set-up could not be; a
    service that is dated, or an option from a later month, says nothing."""
    sma = ["secure-mobile-access-intranet"]
    later = [{"id": "secure-mobile-access-internet", "since": "2026-04-02"}]
    inv = bill([line("A", options=sma), line("B", options=sma), line("C", options=later)], [])
    assert [items(inv, x).get("option-secure-mobile-access-intranet") for x in "ABC"] == [
        "4.00",
        "4.00",
        None,
    ]
    assert [(e.line, e.rule) for e in inv.errors] == [("", "secure-mobile-access-setup-undated")]
    assert "A, B take secure-mobile-access-intranet" in inv.errors[0].message and fleet(inv) == {}
    dated = bill(
        [line("A", options=sma)], [], {"secure_mobile_access": {"intranet": {"since": "2025-01-01"}}}
    )
    assert dated.errors == [] and fleet(dated) == {}


# --- fleet services -----------------------------------------------------------------------


def group(n: int) -> list[dict[str, Any]]:
    return [
        {
            "id_prefix": "L",
            "count": n,
            "offer": "intense",
            "plan": "optima",
            "commitment": 36,
            "since": "2025-01-01",
        }
    ]


@pytest.mark.parametrize(("n", "amount"), [(100, "160.00"), (101, "600.00"), (5_000, "3000.00")])
def test_assistance_by_fleet_size(n: int, amount: str) -> None:
    inv = bill(group(n), [], {"assistance": {"hours": "8-20-weekdays", "managers": 5}})
    assert fleet(inv) == {"assistance": amount} and not inv.quotes


def test_assistance_from_5001_lines_is_a_quote_but_extra_managers_keep_their_price() -> None:
    inv = bill(group(5_001), [], {"assistance": {"hours": "24-7", "managers": 7}})
    assert fleet(inv) == {"assistance-extra-managers": "300.00"}
    assert [q.code for q in inv.quotes] == ["assistance"] and "quote" in inv.quotes[0].reason
    assert inv.total == Decimal("300.00") + 5_001 * Decimal("6.00")


def test_assistance_hours_price() -> None:
    inv = bill(group(3), [], {"assistance": {"hours": "8-22-all-days"}})
    assert fleet(inv) == {"assistance": "200.00"}


def smsi(n: int, delivered: bool = True, dest: str = "orange-fr") -> list[dict[str, Any]]:
    return [{"type": "sms_internet", "start": T, "dest": dest, "delivered": delivered}] * n


@pytest.mark.parametrize(("n", "amount"), [(2_000, "188.00"), (2_001, "152.08")])
def test_sms_internet_volume_steps(n: int, amount: str) -> None:
    # 2,000 x 0.094 = 188; 2,001 x 0.076 = 152.076 -> 152.08 (volume pricing)
    services = {"sms_internet": {"short_ids": 2, "popup": 1, "since": "2025-06-01"}}
    inv = bill([line("A")], smsi(n) + smsi(5, delivered=False), services)
    got = fleet(inv)
    assert got["sms-internet-messages"] == amount
    assert got["sms-internet-subscription"] == "280.00" and got["sms-internet-popup"] == "60.00"
    assert "sms-internet-activation" not in got


def test_sms_internet_activation_in_its_month_and_other_networks_rejected() -> None:
    services = {"sms_internet": {"short_ids": 1, "since": "2026-03-02"}}
    inv = bill([line("A")], smsi(1) + smsi(1, dest="other"), services)
    assert fleet(inv)["sms-internet-activation"] == "75.00"
    assert [r.row for r in inv.rejects] == [3]


@pytest.mark.parametrize(("hits", "amount"), [(2_000, "160.00"), (2_001, "132.87"), (30_001, "1824.06")])
def test_localisation_hits_volume_discount(hits: int, amount: str) -> None:
    # 2,001 x 0.08 x 0.83 = 132.8664; 30,001 x 0.08 x 0.76 = 1824.0608
    rows = [{"type": "location_hit", "start": T}] * hits
    inv = bill([line("A")], rows, {"localisation": {"since": "2026-03-01"}})
    got = fleet(inv)
    assert got["localisation-hits"] == amount
    assert got["localisation-activation"] == "200.00" and got["localisation-subscription"] == "100.00"


def test_services_not_subscribed_reject_their_usage() -> None:
    inv = bill([line("A")], [{"type": "location_hit", "start": T}, *smsi(1)])
    assert [r.reason for r in inv.rejects] == [
        "service not in the offer: localisation is not subscribed",
        "service not in the offer: SMS Internet is not subscribed",
    ]


def test_usage_of_a_service_starting_after_the_month_is_rejected_not_dropped() -> None:
    # SMS Internet from April, localisation from 10 April: March bills neither (no fee, no
    # subscription), and their messages and hits are rejects. The line alone: 8.00.
    services = {
        "sms_internet": {"short_ids": 1, "since": "2026-04-01"},
        "localisation": {"since": "2026-04-10"},
    }
    inv = bill([line("A")], [*smsi(2), {"type": "location_hit", "start": T}], services)
    assert inv.fleet == [] and inv.total == Decimal("8.00")
    assert [(r.row, r.reason) for r in inv.rejects] == [
        (2, "service not in the offer: SMS Internet starts 2026-04-01"),
        (3, "service not in the offer: SMS Internet starts 2026-04-01"),
        (4, "service not in the offer: localisation starts 2026-04-10"),
    ]


def test_a_partial_month_projects_the_usage_and_not_the_fleet_services_fees() -> None:
    # Usage of 10 of March's 31 days. Line A: subscription 8.00; 3 Mo on its 2 Mo bundle, 1 Mo over
    # at 1.5 = 1.50. Fleet: SMS Internet activation 2 x 75 = 150.00 (once), subscription 2 x 140 =
    # 280.00 and pop-up 60.00 a month, 1 message 0.094 -> 0.09; assistance 160.00 and 2 managers
    # beyond 5, 300.00 a month. Usage 1.50 + 0.09 = 1.59, projected 1.59 x 31 / 10 = 4.929 -> 4.93;
    # fixed 8 + 150 + 280 + 60 + 160 + 300 = 958.00; the projected month 962.93.
    services = {
        "sms_internet": {"short_ids": 2, "popup": 1, "since": "2026-03-01"},
        "assistance": {"hours": "8-20-weekdays", "managers": 7},
    }
    inv = bill([line("A")], [data("A", 3 * MO), *smsi(1)], services)
    inv.coverage = UsageCoverage("2026-03-01T00:00:00+00:00", "2026-03-11T00:00:00+00:00", Decimal(10), 31)
    p = inv.projection()
    assert p is not None
    assert (p.usage, p.usage_projected, p.fixed, p.total) == (
        Decimal("1.59"),
        Decimal("4.93"),
        Decimal("958.00"),
        Decimal("962.93"),
    )


# --- prototypes ---------------------------------------------------------------------------


def proto(id_: str, offer: str = "intense", since: str = "2026-02-10") -> dict[str, Any]:
    return {
        "id": id_,
        "offer": offer,
        "plan": "optima" if offer == "intense" else "forfait-2mo",
        "prototype": True,
        "since": since,
    }


@pytest.mark.parametrize(("ko", "over"), [(500, None), (501, "0.00"), (1524, "1.00")])
def test_prototype_500_ko_free(ko: int, over: str | None) -> None:
    inv = bill([proto("P")], [data("P", ko * 1024)])
    got = items(inv, "P")
    assert got["subscription"] == "0.00" and got["data-fr-free"] == "0.00"
    assert got.get("data-fr-over") == over


def test_europe_prototype_free_ko_cover_fr_and_eu_other_zones_as_usual() -> None:
    # 300 ko fr + 300 ko eu = 600: 100 over at 3 EUR/Mo = 0.29; world 1024 ko at 10 = 10.00
    inv = bill(
        [proto("P", "europe")], [data("P", 300 * 1024), data("P", 300 * 1024, "eu"), data("P", MO, "world")]
    )
    assert items(inv, "P") == {
        "subscription": "0.00",
        "data-fr-eu-free": "0.00",
        "data-fr-eu-over": "0.29",
        "data-world": "10.00",
    }


def test_prototype_limits_and_expiry() -> None:
    # an expired prototype is an error of its own and does not take one of the five places
    lines = [proto(f"P{i}") for i in range(1, 5)]
    lines += [proto("OLD", since="2025-12-31"), proto("M3", since="2026-01-01"), proto("P5")]
    inv = bill(lines, [])
    errors = {(e.line, e.rule) for e in inv.errors}
    assert errors == {("P5", "too-many-prototypes"), ("OLD", "prototype-expired")}
    assert [b.id for b in inv.lines] == ["P1", "P2", "P3", "P4", "M3"]  # M3 is in its 3rd month
    assert next(i.note for i in inv.lines[-1].items if i.code == "subscription") == "prototype, month 3 of 3"


def test_a_prototype_starting_after_the_month_takes_no_place_among_the_five() -> None:
    """« maximum 5 lignes »: five prototypes at a time. A prototype line starting next month is not
    there in March (listed with no items): it took one of the five places, and a fifth line running
    in March was refused as too-many-prototypes."""
    lines = [proto(f"P{i}") for i in range(1, 5)] + [proto("NEXT", since="2026-04-02"), proto("P5")]
    inv = bill(lines, [data("P5", 1024)])
    assert inv.errors == []
    assert [b.id for b in inv.lines] == ["P1", "P2", "P3", "P4", "NEXT", "P5"]
    assert next(b for b in inv.lines if b.id == "NEXT").items == []
    assert items(inv, "P5")["subscription"] == "0.00"
    # in April six run: the first five in inventory order are billed, P5 is the one refused
    april = rate(inventory_from_dict({"customer": "c", "month": "2026-04", "lines": lines}), usage_table([]))
    assert [(e.line, e.rule) for e in april.errors] == [("P5", "too-many-prototypes")]


def test_prototype_on_business_is_an_error() -> None:
    inv = bill([{**line("A"), "prototype": True}], [])
    assert [(e.line, e.rule) for e in inv.errors] == [("A", "prototype-not-offered")]


# --- inventory rule errors ----------------------------------------------------------------


def test_inventory_rule_errors_are_reported_and_not_billed() -> None:
    lines = [
        line("I24", offer="intense", plan="optima", commitment=24),
        line("U1", offer="gold"),
        line("U2", plan="forfait-9mo"),
        line("U3", options=["turbo"]),
        line("AD", options=["autodiagnostic"]),
        line("OK"),
    ]
    inv = bill(lines, [data("I24", 10)])
    assert {(e.line, e.rule) for e in inv.errors} == {
        ("I24", "commitment-not-offered"),
        ("U1", "unknown-offer"),
        ("U2", "unknown-plan"),
        ("U3", "unknown-option"),
        ("AD", "autodiagnostic-requires-autogestion"),
    }
    assert [b.id for b in inv.lines] == ["OK"]
    assert inv.rejects[0].reason == "line not billed (inventory error): line 'I24'"


def test_autodiagnostic_billed_in_a_month_before_its_autogestion_is_an_error() -> None:
    # autodiagnostic from the line's start, autogestion only from May: in March the line has
    # autodiagnostic without autogestion (an error, not billed); in May both (8.00 + 0 + 1.00).
    opts = ["autodiagnostic", {"id": "autogestion", "since": "2026-05-01"}]
    inv = bill([line("AD", options=opts), line("OK")], [])
    assert [(e.line, e.rule) for e in inv.errors] == [("AD", "autodiagnostic-requires-autogestion")]
    assert [b.id for b in inv.lines] == ["OK"] and inv.total == Decimal("8.00")
    may = inventory_from_dict({"customer": "c", "month": "2026-05", "lines": [line("AD", options=opts)]})
    assert rate(may, None).total == Decimal("9.00")


# --- rounding and totals ------------------------------------------------------------------


def test_each_item_is_rounded_once_and_totals_are_sums_of_rounded_items() -> None:
    # data-eu 1 ko x 7/1024 = 0.0068 -> 0.01; data-world 1 ko x 10/1024 = 0.0098 -> 0.01
    inv = bill([line("A"), line("B")], [data("A", 1, "eu"), data("A", 1, "world"), data("B", 1, "eu")])
    assert items(inv, "A") == {"subscription": "8.00", "data-eu": "0.01", "data-world": "0.01"}
    assert inv.lines[0].total == Decimal("8.02")
    assert inv.total == Decimal("16.03")


def test_line_activated_after_the_month_is_listed_unbilled_and_its_usage_rejected() -> None:
    inv = bill([line("A"), line("N", since="2026-04-02")], [data("N", 5)])
    assert items(inv, "N") == {}
    assert inv.rejects[0].reason == "line not active in the month: line 'N' starts 2026-04-02"
