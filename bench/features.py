"""Segmentation speed and agreement, and full featurisation at scale; prints tables, writes JSON.

    python bench/features.py [--sizes 100000,1000000]

1. Segmentation on one core over demo descriptions: plain jieba (its default dictionary and HMM, as
   anyone would call it) against the engine fengqiao uses (rjieba with jieba's dictionary plus the
   domain dictionary, HMM off), and the share of descriptions on which rjieba's tokens equal
   jieba's under the same dictionary (the agreement bar is 99.5%).
2. Full featurisation (merge groups, party/place/spatial history, lexicon, calendar, word and
   character TF-IDF: build_context + CaseFeaturiser fit and transform) of N ingested demo cases,
   each size in a fresh process so that its peak RSS is its own. Targets at 1,000,000: 5 minutes,
   8 GB.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import (
    CACHE,
    TreeMemory,
    ingest_demo,
    machine,
    report_checks,
    run_isolated,
    timer,
    write_results,
)


def ingested_cases(n: int) -> Path:
    """Return a Parquet file of n ingested demo cases, generating it once per size."""
    from pipelines.demo_city import DemoConfig, generate_demo_city

    path = CACHE / f"cases-{n}.parquet"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        ingest_demo(generate_demo_city(DemoConfig(n_cases=n))).cases.to_parquet(path)
    return path


def segmentation(n_texts: int = 20000) -> dict:
    import jieba

    from features.segment import Segmenter, token_agreement
    from features.text import normalise_texts

    cases = __import__("pandas").read_parquet(ingested_cases(100_000), columns=["description"])
    texts = normalise_texts(cases["description"].head(n_texts))
    chars = sum(map(len, texts))
    jieba.setLogLevel(60)
    jieba.initialize()
    started = time.perf_counter()
    [jieba.lcut(t) for t in texts]
    plain = chars / (time.perf_counter() - started)
    chosen = Segmenter("rjieba", remove_stop_words=False).fit()
    chosen.transform(texts[:10])  # load the dictionary before timing
    started = time.perf_counter()
    chosen._segment(texts)
    fast = chars / (time.perf_counter() - started)
    agreement = token_agreement(
        texts,
        Segmenter("rjieba", remove_stop_words=False).fit(),
        Segmenter("jieba", remove_stop_words=False).fit(),
    )
    return {
        "texts": len(texts),
        "chars": chars,
        "plain_jieba_chars_per_s": round(plain),
        "rjieba_chars_per_s": round(fast),
        "ratio": round(fast / plain, 2),
        "agreement": round(agreement, 5),
    }


def measure(n: int, path: Path) -> dict:
    """Featurise n cases in this process; return the timings and the peak RSS."""
    import pandas as pd

    from features.context import build_context
    from features.featuriser import CaseFeaturiser

    cases = pd.read_parquet(path)
    timings, whole = {}, {}
    with TreeMemory() as memory, timer(whole, "total"):
        with timer(timings, "context"):
            ctx = build_context(cases, n_jobs=2)
        with timer(timings, "fit"):
            featuriser = CaseFeaturiser(n_jobs=2).fit(ctx)
        with timer(timings, "transform"):
            X = featuriser.transform(ctx)
    total = whole["total"]
    return {
        "cases": n,
        "columns": X.shape[1],
        "seconds": round(total, 1),
        "cases_per_s": round(n / total),
        "peak_rss_mib": round(memory.peak_rss_sum_mib),  # this process and its worker processes
        "peak_pss_mib": round(memory.peak_mib),
        "stages": {k: round(v, 1) for k, v in timings.items()},
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--measure", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, Path(args.path))))
        return 0
    print(f"machine: {machine()}")
    seg = segmentation()
    print("\n| engine | chars/s (one core) |\n|---|---:|")
    print(f"| plain jieba 0.42.1 (default dictionary, HMM) | {seg['plain_jieba_chars_per_s']:,} |")
    print(f"| rjieba + domain dictionary, HMM off (fengqiao) | {seg['rjieba_chars_per_s']:,} |")
    print(
        f"\nspeed ratio {seg['ratio']}x; token agreement with jieba (same dictionary) {seg['agreement']:.2%} "
        f"of {seg['texts']:,} demo descriptions"
    )
    rows = []
    for n in [int(s) for s in args.sizes.split(",")]:
        path = ingested_cases(n)
        rows.append(run_isolated(Path(__file__), "--measure", str(n), "--path", str(path)))
    print(
        "\n| cases | seconds | cases/s | peak RSS (MiB) | context | fit | transform |\n|---:|---:|---:|---:|---:|---:|---:|"
    )
    for r in rows:
        s = r["stages"]
        print(
            f"| {r['cases']:,} | {r['seconds']} | {r['cases_per_s']:,} | {r['peak_rss_mib']:,} | {s['context']} | {s['fit']} | {s['transform']} |"
        )
    checks = [
        (f"segmentation {seg['ratio']}x plain jieba >= 5x", seg["ratio"] >= 5),
        (f"agreement {seg['agreement']:.4f} >= 0.995", seg["agreement"] >= 0.995),
    ]
    for r in rows:
        if r["cases"] >= 1_000_000:
            checks += [
                (f"1M featurisation {r['seconds']}s <= 300s", r["seconds"] <= 300),
                (f"1M peak RSS {r['peak_rss_mib']} MiB <= 8192 MiB", r["peak_rss_mib"] <= 8192),
            ]
    records = report_checks(checks)
    write_results(
        "features",
        {
            "segmentation": seg,
            "featurisation": rows,
            "checks": records,
        },
    )
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
