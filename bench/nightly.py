"""Nightly scoring as centres run it: small nights against a year's store, and one big batch.

    python bench/nightly.py [--nights 121,1000000,10000000] [--sizes 1000000] [--dask-sizes 100000]

Setup (not timed): `fengqiao demo` trains and promotes the champion on the default 45,000-case
demo city; the afternoon alternative (bench/afternoon.py: jieba + TF-IDF + logistic regression)
is trained on the same history.

Nights (--nights): each is `fengqiao score` of one day's export in its own process, against a
history store holding the days before it, exactly as the nightly deployment runs it: ingest (read,
validate, normalise, mask, quarantine), loading the champion, reading the history the windows need,
context (history, merges, spatial intensity), scoring, storing the day and publishing the
watchlist, feed, map and report. A Prefect server runs beside it as in production (its start is not
timed, its memory is counted; the smallest night runs once against it untimed before the timed
nights, since a production server has run the flow before); the smallest night is also run
without one, on Prefect's temporary server, to say what that costs.
  121:     the demo's last day against the demo store (45,000 cases), from a cold process.
  N > 121: the last day (about N/365 cases) of a year of an N-case city (another seed) against a
           store of the year before it, filled by scoring that history as one batch (timed too:
           the single-batch row).
  10000000: a province of ten 1,000,000-case cities side by side (the 1,000,000-case city's last
           night and the half-year of its store before it, copied ten times with their own case
           ids, grids and coordinates 0.6 degrees apart; the parties are the same people in every
           copy): about 30,000 cases against a store of about 4,900,000.
Each night is timed next to the afternoon alternative scoring the same export in its own process.

Single batches (--sizes): an export of N cases (a year of a city N cases big) scored as one day
into an empty store; --dask-sizes does the same with --executor dask (a 2-worker LocalCluster), as
a ratio to local.

Stage times come from the run's manifest; peak memory is the sum over the process and all its
children (feature workers, Prefect's server), sampled every 0.2 s. Targets: a 121-case night 8 s,
a 3,000-case night against a year of a 1,000,000-case city 15 s and 1.5 GB, a 30,000-case night
against 5,000,000 60 s and 4 GB, within 2x of the afternoon alternative; 1,000,000 cases in one batch 10 minutes and 8 GB. A night or size that is
not run keeps its last result in bench/results/nightly.json; every result says at which commit and
on which day it was measured.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import (
    CACHE,
    TreeMemory,
    machine,
    read_results,
    report_checks,
    stamp,
    write_results,
)

FENGQIAO = Path(sys.executable).with_name("fengqiao")


def champion_home() -> Path:
    """Return a data folder whose champion was trained by `fengqiao demo` (made once)."""
    home = CACHE / "nightly-home"
    if not (home / "mlflow" / "mlflow.db").exists():
        shutil.rmtree(home, ignore_errors=True)
        subprocess.run([FENGQIAO, "demo", "--home", home], check=True, capture_output=True)
    return home


def export(n: int) -> Path:
    """Return a CSV export of n demo cases (generated once per size)."""
    from pipelines.demo_city import DemoConfig, generate_demo_city

    path = CACHE / f"nightly-export-{n}.csv"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        city = generate_demo_city(DemoConfig(n_cases=n, seed=7))
        city.export.to_csv(path, index=False, encoding="utf-8")
    return path


AFTERNOON = Path(__file__).with_name("afternoon.py")
SMALL_NIGHT = 121  # the demo's last day
PROVINCE = 10_000_000  # ten copies of the 1,000,000-case city
PROVINCE_COPIES, PROVINCE_MONTHS, PROVINCE_SHIFT = 10, 6, 0.6


def _timed(command: list, env: dict | None = None) -> tuple[float, TreeMemory]:
    """Run a command in its own process; return its wall time and its memory tree."""
    with TreeMemory(include_self=False) as memory:
        started = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True, env=env)
        seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, command))} failed:\n{result.stderr[-4000:]}")
    return seconds, memory


def _manifest(out: Path) -> dict:
    return json.loads(next(out.glob("*/manifest.json")).read_text(encoding="utf-8"))


def _record(seconds: float, memory: TreeMemory, manifest: dict) -> dict:
    """Return what every timed `fengqiao score` run reports: wall time, memory, rows, stages."""
    return {
        "seconds": round(seconds, 1),
        "cases_per_s": round(manifest["rows"]["in"] / seconds),
        "peak_pss_mib": round(memory.peak_mib),
        "peak_rss_sum_mib": round(memory.peak_rss_sum_mib),
        "peak_at_s": round(memory.peak_at, 1),
        "peak_by_process_mib": memory.peak_parts,
        "rows": {k: manifest["rows"][k] for k in ("in", "scored", "quarantined")},
        "stages": {k: round(v, 1) for k, v in manifest["timings_seconds"].items()},
    }


def score(n: int, home: Path, executor: str) -> dict:
    """Run `fengqiao score` on the n-case export; return wall time, stages and peak memory."""
    out = Path(tempfile.mkdtemp(prefix=f"nightly-{n}-", dir=CACHE))
    run_home = out / "home"
    shutil.copytree(home / "mlflow", run_home / "mlflow")  # an empty history store each run
    command = [FENGQIAO, "score", "--cases", export(n), "--home", run_home, "--out", out / "o"]
    seconds, memory = _timed([*command, "--executor", executor])
    manifest = _manifest(out / "o")
    shutil.rmtree(out, ignore_errors=True)
    return {"cases": n, "executor": executor, **_record(seconds, memory, manifest)}


def afternoon_model(home: Path) -> Path:
    """Return the afternoon alternative trained on the champion's own training history."""
    path = CACHE / "afternoon.joblib"
    if not path.exists():
        history = home / "demo" / "history.csv"
        subprocess.run([sys.executable, AFTERNOON, "train", history, path], check=True)
    return path


def night_setup(n: int, home: Path) -> tuple[Path, Path, dict]:
    """Return (day export, data folder whose store holds the days before it, store facts).

    121: the demo's own last day and store. Larger: a year of an n-case city (seed 7), its history
    scored into the store as one batch (timed once, cached).
    """
    if n == PROVINCE:
        return province_setup(home)
    if n == SMALL_NIGHT:
        day = next((home / "demo").glob("day-*.csv"))
        import pyarrow.dataset as ds

        stored = ds.dataset(home / "store" / "cases", format="parquet").count_rows()
        return day, home, {"store_cases": stored, "single_batch": None}
    folder = CACHE / f"night-{n}"
    done = folder / "store.json"
    if not done.exists():
        shutil.rmtree(folder, ignore_errors=True)
        # In a process of its own: the bench's memory is counted with every run it times.
        code = (
            "import sys; from pipelines.demo_city import write_demo_exports; "
            "write_demo_exports(sys.argv[1], int(sys.argv[2]), seed=7)"
        )
        root = Path(__file__).resolve().parents[1]
        subprocess.run(
            [sys.executable, "-c", code, folder / "exports", str(n)], check=True, cwd=root
        )
        history = folder / "exports" / "history.csv"
        store_home = folder / "home"
        shutil.copytree(home / "mlflow", store_home / "mlflow")
        out = folder / "store-out"
        command = [FENGQIAO, "score", "--cases", history, "--home", store_home]
        seconds, memory = _timed([*command, "--out", out])
        manifest = _manifest(out)
        shutil.rmtree(out, ignore_errors=True)
        # The year stays in the store; its staging goes. A centre's drift window is the six
        # nights before tonight (about 18,000 cases here), not a year staged as one day.
        shutil.rmtree(store_home / "scored", ignore_errors=True)
        facts = {
            "store_cases": manifest["rows"]["in"],
            "single_batch": {
                "cases": manifest["rows"]["in"],
                "executor": "local",
                **_record(seconds, memory, manifest),
                "note": f"the history of the {n:,}-case city's year, filling the night's store",
                **stamp(),
            },
        }
        done.write_text(json.dumps(facts, ensure_ascii=False), encoding="utf-8")
    facts = json.loads(done.read_text(encoding="utf-8"))
    return next((folder / "exports").glob("day-*.csv")), folder / "home", facts


def province_setup(home: Path) -> tuple[Path, Path, dict]:
    """Return the province's night, data folder and store facts (made once from the city's)."""
    import pandas as pd

    from pipelines.store import HistoryStore

    city_day, city_home, _ = night_setup(1_000_000, home)
    folder = CACHE / f"night-{PROVINCE}"
    done = folder / "store.json"
    if done.exists():
        facts = json.loads(done.read_text(encoding="utf-8"))
        _draw_counties(folder / "home")
        return folder / "exports" / city_day.name, folder / "home", facts
    shutil.rmtree(folder, ignore_errors=True)
    day = pd.read_csv(city_day, dtype=str, encoding="gb18030")
    last = pd.Timestamp(city_day.stem.removeprefix("day-"))  # the night's date
    stored = HistoryStore(city_home / "store").read(
        start=last.normalize() - pd.DateOffset(months=PROVINCE_MONTHS), end=last.normalize()
    )
    parties = _stored_parties(city_day.with_name("history.csv"), stored["case_id"])
    sample = parties.head(5000)
    if _party_keys(sample, 0) != [list(keys) for keys in stored["party_keys"].head(5000)]:
        raise SystemExit("the city's party keys could not be made again: ingest has changed")
    store = HistoryStore(folder / "home" / "store")
    nights = []
    for k in range(PROVINCE_COPIES):
        prefix, shift = f"P{k}-", k * PROVINCE_SHIFT
        store.append(
            stored.assign(
                case_id=prefix + stored["case_id"],
                group_id=prefix + stored["group_id"],
                grid_id=prefix + stored["grid_id"],
                lon=stored["lon"] + shift,
                **_own_places(stored, "street", "community", k),
                party_keys=stored["party_keys"] if k == 0 else _party_keys(parties, k),
            ),
            f"history-{k}",
        )
        nights.append(
            day.assign(
                案件编号=prefix + day["案件编号"],
                网格=prefix + day["网格"],
                经度=(pd.to_numeric(day["经度"], errors="coerce") + shift).round(6).astype(str),
                **_own_places(day, "街道(乡镇)", "社区(村)", k),
                联系电话=[_own_phone(phone, k) for phone in day["联系电话"]],
                身份证号=[_own_id_number(number, k) for number in day["身份证号"]],
            )
        )
    shutil.copytree(city_home / "mlflow", folder / "home" / "mlflow")
    shutil.copy(city_home / "store" / "names.parquet", folder / "home" / "store")
    (folder / "exports").mkdir(parents=True)
    pd.concat(nights).to_csv(folder / "exports" / city_day.name, index=False, encoding="utf-8-sig")
    facts = {"store_cases": len(stored) * PROVINCE_COPIES, "single_batch": None}
    done.write_text(json.dumps(facts), encoding="utf-8")
    _draw_counties(folder / "home")
    return folder / "exports" / city_day.name, folder / "home", facts


# Each copy of the city is a city of its own: its streets and communities, and its parties. With
# the city's names and keys in every copy, each dispute and its nine copies were one 同案 group of
# ten (every case of the night had group_size 6-10) and every party had ten times its history.
# Copy 0 is the city; copy k renames its streets and communities and changes its parties' phone
# and ID numbers, in its night's export and in its stored past alike, so that its parties' keys
# are their own and still find their earlier reports.


def _own_places(frame, street: str, community: str, k: int) -> dict:
    if k == 0:
        return {}
    return {c: f"P{k}" + frame[c].fillna("") for c in (street, community)}


def _stored_parties(export: Path, case_ids):
    """Return the raw party fields of the stored cases, from the city's history export, as ingest
    reads them (names split and normalised, cells stripped), in the order of case_ids."""

    from features.pii import split_parties
    from features.text import normalise_text
    from pipelines.ingest.core import _text  # ingest's own cell cleaning
    from pipelines.ingest.readers import read_table

    columns = {"案件编号": "case_id", "区县": "district", "街道(乡镇)": "street",
               "社区(村)": "community", "当事人": "parties", "联系电话": "phone",
               "身份证号": "id_number"}  # fmt: skip
    raw = read_table(export).frame[list(columns)].rename(columns=columns)
    raw = raw.drop_duplicates("case_id").set_index("case_id").reindex(case_ids)
    raw = raw.apply(_text)
    names = [split_parties(normalise_text(p)) if isinstance(p, str) else [] for p in raw["parties"]]
    return raw.assign(names=names, district=raw["district"].fillna(""))


def _party_keys(parties, k: int) -> list[list[str]]:
    """Return copy k's party keys, as ingest makes them from copy k's parties and places."""
    from features.pii import party_keys
    from pipelines.config import DEMO_SECRET

    places = parties.assign(**_own_places(parties, "street", "community", k))
    street, community = (places[c].fillna("") for c in ("street", "community"))
    return [
        party_keys(DEMO_SECRET, names, _own_phone(phone, k), _own_id_number(number, k), f"{d}|{s}|{c}")
        for names, phone, number, d, s, c in zip(
            parties["names"], parties["phone"], parties["id_number"], parties["district"],
            street, community, strict=True,
        )
    ]  # fmt: skip


def _own_phone(phone, k: int):
    if k == 0 or not isinstance(phone, str) or len(phone) < 7 or not phone[-4:].isdigit():
        return phone
    return phone[:-4] + f"{(int(phone[-4:]) + 1009 * k) % 10000:04d}"


def _own_id_number(number, k: int):
    """Return another valid ID number: the same birth date, another sequence number."""
    from features.pii import valid_id_number

    if k == 0 or not isinstance(number, str) or not valid_id_number(number):
        return number
    body = number[:14] + f"{(int(number[14:17]) + 101 * k) % 1000:03d}"
    return next(body + check for check in "0123456789X" if valid_id_number(body + check))


def _draw_counties(home: Path) -> None:
    """Keep the county outlines around the store's cases in the data folder, as the province's
    earlier nights would have (the city's store was filled by a night that published; this one
    was written directly)."""
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    from pipelines.publish.boundaries import county_boundaries

    points = ds.dataset(home / "store" / "cases", format="parquet").to_table(columns=["lon", "lat"])
    lon, lat = pc.min_max(points["lon"]), pc.min_max(points["lat"])
    bounds = (lon["min"].as_py(), lat["min"].as_py(), lon["max"].as_py(), lat["max"].as_py())
    county_boundaries(bounds, cache=home / "cache" / "counties")


def night(n: int, home: Path, api_url: str | None, model: Path) -> dict:
    """Score one night against its store with fengqiao and with the afternoon alternative."""
    day, data, facts = night_setup(n, home)
    # On a copy of the data folder, so that every run starts from the store as it was made.
    copy = Path(tempfile.mkdtemp(prefix="night-home-", dir=CACHE))
    shutil.copytree(data, copy / "home")
    data = copy / "home"
    # The county outlines the store's earlier days drew stay in its cache, as in production.
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    if api_url:
        env["PREFECT_API_URL"] = api_url
    out = Path(tempfile.mkdtemp(prefix=f"night-{n}-", dir=CACHE))
    command = [FENGQIAO, "score", "--cases", day, "--home", data, "--out", out / "o"]
    seconds, memory = _timed(command, env)
    manifest = _manifest(out / "o")
    alt_seconds, alt_memory = _timed(
        [sys.executable, AFTERNOON, "score", day, model, out / "afternoon.xlsx"]
    )
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(copy, ignore_errors=True)
    return {
        "night": n,
        "cases": manifest["rows"]["in"],
        "store_cases": facts["store_cases"],
        "prefect": "server running" if api_url else "temporary server",
        **_record(seconds, memory, manifest),
        "afternoon_seconds": round(alt_seconds, 1),
        "afternoon_peak_pss_mib": round(alt_memory.peak_mib),
        "over_afternoon": round(seconds / alt_seconds, 2),
        **stamp(),
    }


def peak_mib(r: dict) -> int:
    """Return a run's peak memory: PSS summed over its processes, or for runs measured before
    2026-12-03 the sum of resident sizes (which counts the pages forks share once per fork)."""
    return r.get("peak_pss_mib", r.get("peak_rss_mib", 0))


def peak(r: dict) -> str:
    """Return a run's peak memory for a table: PSS, with the RSS sum beside it."""
    if "peak_pss_mib" not in r:
        return f"{r['peak_rss_mib']:,} (RSS sum)"
    return f"{r['peak_pss_mib']:,} (RSS sum {r['peak_rss_sum_mib']:,})"


def print_nights(nights: list[dict]) -> None:
    print(
        "\n| night | store | Prefect | wall s | peak MiB (tree) | ingest | model | history | context "
        "| score | store write | publish (rest) | afternoon s | ratio |"
        "\n|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    for r in nights:
        s = r["stages"]
        named = sum(
            s.get(k, 0) for k in ("ingest", "model", "history", "context", "score", "store")
        )
        print(
            f"| {r['cases']:,} | {r['store_cases']:,} | {r['prefect']} | {r['seconds']} | "
            f"{peak(r)} | {s.get('ingest')} | {s.get('model')} | {s.get('history')} | "
            f"{s.get('context')} | {s.get('score')} | {s.get('store')} | "
            f"{r['seconds'] - named:.1f} | {r['afternoon_seconds']} | {r['over_afternoon']} |"
        )
    for r in nights:
        print(
            f"{r['cases']:,}-case night ({r['prefect']}): memory held by {r['peak_by_process_mib']}"
        )


def night_checks(nights: list[dict]) -> list[tuple[str, bool]]:
    checks = []
    for r in nights:
        label = f"{r['cases']:,}-case night against {r['store_cases']:,} ({r['prefect']})"
        checks.append(
            (
                f"{label}: every row accounted for",
                r["rows"]["in"] == r["rows"]["scored"] + r["rows"]["quarantined"],
            )
        )
        if r["prefect"] != "server running":
            continue
        if r["night"] == SMALL_NIGHT:
            checks.append((f"{label}: {r['seconds']} s <= 8 s", r["seconds"] <= 8))
        elif r["store_cases"] >= 4_500_000:
            checks += [
                (f"{label}: {r['seconds']} s <= 60 s", r["seconds"] <= 60),
                (f"{label}: peak {peak(r)} MiB <= 4096 MiB", peak_mib(r) <= 4096),
            ]
        elif r["store_cases"] >= 900_000:
            checks += [
                (f"{label}: {r['seconds']} s <= 15 s", r["seconds"] <= 15),
                (f"{label}: peak {peak(r)} MiB <= 1536 MiB", peak_mib(r) <= 1536),
            ]
        checks.append(
            (
                f"{label}: {r['over_afternoon']}x the afternoon alternative <= 2x",
                r["over_afternoon"] <= 2,
            )
        )
    return checks


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nights", default=f"{SMALL_NIGHT},1000000", help="121 and/or city sizes")
    parser.add_argument("--sizes", default="", help="single batches into an empty store")
    parser.add_argument("--dask-sizes", default="")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    home = champion_home()
    model = afternoon_model(home)
    previous = read_results("nightly")
    kept = {
        executor: {r["cases"]: r for r in previous.get(key, [])}
        for executor, key in (("local", "local"), ("dask", "dask"))
    }
    nights = {(r["night"], r["prefect"]): r for r in previous.get("nights", [])}
    asked = [int(n) for n in args.nights.split(",") if n]
    from pipelines.server import prefect_server

    with prefect_server(CACHE / "prefect-server") as api_url:
        if asked:
            # Not timed: a production server has seen the nightly flow before, and has long
            # finished its own start (the first night on a just-started server took 8.2-9.3 s
            # where the next took 7.1-7.2).
            night(SMALL_NIGHT, home, api_url, model)
        for n in asked:
            nights[(n, "server running")] = night(n, home, api_url, model)
            batch = night_setup(n, home)[2]["single_batch"]
            if batch:
                kept["local"][batch["cases"]] = batch
    if SMALL_NIGHT in asked:
        nights[(SMALL_NIGHT, "temporary server")] = night(SMALL_NIGHT, home, None, model)
    nights = [nights[k] for k in sorted(nights)]
    print_nights(nights)
    for executor, sizes in (("local", args.sizes), ("dask", args.dask_sizes)):
        for n in [int(n) for n in sizes.split(",") if n]:
            kept[executor][n] = {**score(n, home, executor), **stamp()}
    rows = [kept["local"][n] for n in sorted(kept["local"])]
    dask = [kept["dask"][n] for n in sorted(kept["dask"])]

    print(
        "\n| cases | executor | wall s | cases/s | peak MiB (tree) | ingest | context | score "
        "| publish (rest) | in = scored + quarantined |\n|---:|---|---:|---:|---:|---:|---:|---:|---:|---|"
    )
    for r in rows + dask:
        s = r["stages"]
        rest = r["seconds"] - s.get("ingest", 0) - s.get("context", 0) - s.get("score", 0)
        print(
            f"| {r['cases']:,} | {r['executor']} | {r['seconds']} | {r['cases_per_s']:,} | "
            f"{peak(r)} | {s.get('ingest')} | {s.get('context')} | {s.get('score')} | "
            f"{rest:.1f} | {r['rows']['in']:,} = {r['rows']['scored']:,} + {r['rows']['quarantined']:,} |"
        )
    for r in rows + dask:
        if "peak_at_s" in r:
            print(
                f"{r['cases']:,} {r['executor']}: memory peaked {r['peak_at_s']} s into the run, "
                f"held by {r['peak_by_process_mib']}"
            )
    ratios = []
    for d in dask:
        local = next((r for r in rows if r["cases"] == d["cases"]), None)
        if local:
            ratios.append(
                {"cases": d["cases"], "dask_over_local": round(d["seconds"] / local["seconds"], 2)}
            )
            print(
                f"\nDask 2 workers / local wall time at {d['cases']:,} cases: {ratios[-1]['dask_over_local']}"
            )
    checks = night_checks(nights)
    for r in rows:
        checks.append(
            (
                f"{r['cases']:,}: every row accounted for",
                r["rows"]["in"] == r["rows"]["scored"] + r["rows"]["quarantined"],
            )
        )
        if r["cases"] >= 900_000:
            # A batch kept from an earlier run (a night's store filled when it was cached) says
            # when and at which commit it ran: its check is that code's, not this one's.
            label = f"{r['cases']:,} in one batch (at {r.get('commit')}, {r.get('measured_on')})"
            checks += [
                (f"{label}: {r['seconds']} s <= 600 s", r["seconds"] <= 600),
                (f"{label}: peak {peak(r)} MiB <= 8192 MiB", peak_mib(r) <= 8192),
            ]
    write_results(
        "nightly",
        {
            "nights": nights,
            "local": rows,
            "dask": dask,
            "dask_ratios": ratios,
            "checks": report_checks(checks),
        },
    )
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
