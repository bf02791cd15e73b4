"""Fixtures shared by the report tests: the storm run, read by the page's tests and by `m2msim sql`'s."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from simulator.run import simulate
from simulator.scenario import parse_scenario


def _storm_doc() -> dict[str, Any]:
    """Eight meters for a day: a 2-hour server outage they retry through at once, and SIM swaps."""
    return {
        "name": "storm-unit",
        "seed": 5,
        "period": {"start": "2026-03-01", "days": 1},
        "inventory": {
            "customer": "unit",
            "month": "2026-03",
            "lines": [
                {
                    "id_prefix": "M",
                    "count": 6,
                    "offer": "business-m2m",
                    "plan": "compteur",
                    "commitment": 24,
                    "since": "2025-01-01",
                    "options": ["autogestion", "autodiagnostic"],
                },
                {
                    "id_prefix": "T",
                    "count": 2,
                    "offer": "europe",
                    "plan": "forfait-2mo",
                    "commitment": 24,
                    "since": "2025-01-01",
                },
            ],
        },
        "groups": [
            {
                "name": "meters",
                "lines": "M",
                "schedule": {"period": "15min", "jitter": "tr37868-model1"},
                "application": {"profile": "mqtt-qos1", "payload": {"fixed": 100}},
                "reconnect": {"policy": "immediate"},
                "sim_swaps": [{"at": "2026-03-01T15:00:00Z", "share": 1.0}],
                "alarms": {"imei_change": True},
            },
            {
                "name": "trackers",
                "lines": "T",
                "schedule": {"period": "1h", "jitter": "uniform", "jitter_s": "5min"},
                "application": {"profile": "coap", "payload": {"fixed": 48}},
                "mobility": {
                    "trips": [
                        {
                            "share": 1.0,
                            "start": "2026-03-01T12:00:00Z",
                            "end": "2026-03-01T18:00:00Z",
                            "plmn": "26201",
                        }
                    ]
                },
            },
        ],
        "events": {
            "outages": [
                {"kind": "server", "start": "2026-03-01T06:00:00Z", "duration": "2h", "groups": ["meters"]}
            ]
        },
    }


@pytest.fixture
def storm_doc() -> dict[str, Any]:
    """The storm scenario as a document (a fresh copy for each test)."""
    return _storm_doc()


@pytest.fixture(scope="module")
def storm_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("storm") / "run"
    simulate(parse_scenario(_storm_doc(), "storm-unit.yaml"), out)
    return out
