"""m2msim: simulator.

Scenario files (YAML) describe a fleet, its behaviour and the network's events; a run
simulates it on the gateway and bills it with accounting:

    from simulator.scenario import load_scenario
    from simulator.run import simulate
    result = simulate(load_scenario("scenarios/default.yaml", days=2), Path("runs/x"), workers=2)
    result.summary, result.invoice

Modules: `scenario` (schema and validation), `profiles` (bytes on the wire, data in
`data/profiles.yaml`), `traffic_models` (the registry of arrival models: names, defaults,
draws), `traffic` (a device's traffic between two decisions, numpy), `rng` (per-device streams),
`device` (SimPy processes of one device), `batch` (bulk sessions to usage records),
`engine` (one shard), `run` (shards on processes or Dask, merged outputs, invoice),
`summary`, `progress`, `estimate` (what a run will cost the machine), `cli` (`m2msim run`).
"""
