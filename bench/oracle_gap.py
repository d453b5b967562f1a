"""How far below the demo's oracle can a grader get, and what would it need to know?

    python bench/oracle_gap.py [--cases 45000]

The oracle's probabilities come from each report's latent risk, which includes two things no model
can see: the party's latent volatility (0.3 v) and the latent's noise (N(0, 0.25)). This script
generates the demo city while keeping the generator's internal facts (it wraps three of its private
functions; nothing it writes changes) and prints:

- the oracle's log-loss with those two marginalised over their prior (what knowing everything
  else is worth);
- a LightGBM trained on the true facts of each report (the cues it says and negates, amount,
  mediation, the parties' prior disputes, the place's effect, channel, re-reports; no text) on the
  city's first three quarters, tested on its last, as a ratio to the oracle's log-loss there;
- the same with each group of facts taken away;
- a LightGBM on the grader's own named features (lexicon cues, history, 同案, place, channel; no
  text model) on the same rows, alone and with each group of true facts added;
- how often the lexicon finds each cue the generator wrote into a report.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pipelines.demo_city.generate as generator
from pipelines.demo_city import text as T

GRADE_INDEX = {"低": 0, "中": 1, "高": 2}
PARAMS = {
    "objective": "multiclass",
    "num_class": 3,
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_data_in_leaf": 50,
    "verbose": -1,
    "seed": 0,
}


def generate_keeping_facts(n_cases: int) -> dict:
    """Generate the city; return its reports with the facts the generator drew for them."""
    kept: dict = {}
    latent, history, communities, grade = (
        generator._latent,
        generator._party_history,
        generator._communities,
        generator._grade,
    )

    def keep_latent(rng, profile, facts, prior_90, prior_365, place_effect, v, n):
        state = rng.bit_generator.state  # the noise is _latent's only draw: replay it
        out = latent(rng, profile, facts, prior_90, prior_365, place_effect, v, n)
        replay = np.random.Generator(type(rng.bit_generator)())
        replay.bit_generator.state = state
        kept.update(unseen=0.3 * v + replay.normal(0, 0.25, n), latent=out)
        return out

    def keep_history(primary, respondent, t):
        kept["prior"] = history(primary, respondent, t)
        return kept["prior"]

    def keep_communities(*args):
        community, place_effect = communities(*args)
        kept["place_effect"] = place_effect
        return community, place_effect

    def keep_grade(rng, config, reports, disputes):
        out = grade(rng, config, reports, disputes)
        # _disputes sorts the disputes by time after drawing them: map back by latent value.
        drawn = pd.Series(np.arange(len(kept["latent"])), index=kept["latent"])
        kept.update(order=drawn.loc[disputes["latent"].to_numpy()].to_numpy())
        kept.update(disputes=disputes, reports=out)
        return out

    patched = {
        "_latent": keep_latent,
        "_party_history": keep_history,
        "_communities": keep_communities,
        "_grade": keep_grade,
    }
    originals = {name: getattr(generator, name) for name in patched}
    try:
        for name, function in patched.items():
            setattr(generator, name, function)
        kept["city"] = generator.generate_demo_city(generator.DemoConfig(n_cases=n_cases))
    finally:
        for name, function in originals.items():
            setattr(generator, name, function)
    return kept


def facts_table(kept: dict) -> pd.DataFrame:
    """Return the true facts of each report, as a model could in principle read them."""
    reports, disputes, order = kept["reports"], kept["disputes"], kept["order"]
    d = reports["dispute_id"].to_numpy()
    prior_90, prior_365 = kept["prior"]
    facts = pd.DataFrame(
        {
            "type": pd.Categorical(disputes["dispute_type"].to_numpy()[d]),
            "amount": disputes["amount"].to_numpy()[d],
            "people": disputes["people"].to_numpy()[d],
            "mitigated": disputes["mitigated"].to_numpy()[d].astype(int),
            "failed": disputes["failed"].to_numpy()[d].astype(int),
            "prior_90": prior_90[order][d],
            "prior_365": prior_365[order][d],
            "place_effect": kept["place_effect"][order][d],
            "channel": pd.Categorical(reports["channel"].to_numpy()),
            "n_channels": reports["n_channels"].to_numpy(),
            "seq": reports["seq"].to_numpy(),
        }
    )
    for c in T.CUE_CATEGORIES:
        facts[f"cue_{c}"] = reports[f"cue_{c}"].to_numpy().astype(int)
        facts[f"neg_{c}"] = disputes[f"neg_{c}"].to_numpy()[d].astype(int)
    return facts


GROUPS = {
    "the parties' prior disputes": ["prior_90", "prior_365"],
    "the place's effect": ["place_effect"],
    "re-reports (seq, channels so far)": ["seq", "n_channels"],
    "channel": ["channel"],
    "mediation (mitigated, failed)": ["mitigated", "failed"],
    "amount and people": ["amount", "people"],
    "the cues said and negated": [f"{k}_{c}" for c in T.CUE_CATEGORIES for k in ("cue", "neg")],
}


def log_loss(p: np.ndarray, y: np.ndarray) -> float:
    return float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-12, 1))))


def facts_model_log_loss(facts: pd.DataFrame, y: np.ndarray, times: pd.Series) -> float:
    """Train on the first three quarters (early stopping on their last 15%), test on the last."""
    train = (times < times.quantile(0.75)).to_numpy()
    fit = (times[train] < times[train].quantile(0.85)).to_numpy()
    X, y_train = facts[train], y[train]
    booster = lgb.train(
        PARAMS,
        lgb.Dataset(X[fit], y_train[fit]),
        2000,
        valid_sets=[lgb.Dataset(X[~fit], y_train[~fit])],
        callbacks=[lgb.early_stopping(50, verbose=False)],
    )
    return log_loss(booster.predict(facts[~train], num_iteration=booster.best_iteration), y[~train])


def named_features(city) -> tuple[pd.DataFrame, np.ndarray]:
    """Return the grader's named features of the exported city (ingested as a centre's export,
    context as at each report), and the facts' rows they belong to."""
    import datetime as dt
    import tempfile

    from features.context import build_context
    from features.featuriser import CaseFeaturiser
    from pipelines.ingest import ColumnMapping, ingest_file

    case_ids = pd.Index(city.truth["case_id"])  # in the generator's report order
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "export.csv"
        city.export.to_csv(path, index=False, encoding="utf-8-sig")
        ingested = ingest_file(path, ColumnMapping(), "bench-secret-" * 3, dt.date(2025, 12, 31))
    cases = build_context(ingested.cases)
    cases = cases[cases["case_id"].isin(case_ids)].reset_index(drop=True)
    featuriser = CaseFeaturiser(exclude=("risk_grade",)).fit(cases)
    named = featuriser.transform(cases).named.toarray()
    rows = case_ids.get_indexer(cases["case_id"])
    return pd.DataFrame(named, columns=featuriser.feature_names_), rows


LEXICON_OF = {"dv": "domestic_violence", "conflict": "violence"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=45_000)
    args = parser.parse_args()
    kept = generate_keeping_facts(args.cases)
    reports = kept["reports"]
    y = reports["risk_grade"].map(GRADE_INDEX).to_numpy()
    oracle = reports[["p_low", "p_medium", "p_high"]].to_numpy()
    d = reports["dispute_id"].to_numpy()
    unseen = kept["unseen"][kept["order"]][d]
    cut_medium, cut_high = generator._cut_points(
        reports["latent"].to_numpy(), generator.DemoConfig().grade_shares
    )
    known = reports["latent"].to_numpy() - unseen
    draws = np.random.default_rng(0).normal(0, unseen.std(), 400)
    marginalised = np.mean(
        [generator._ordered_logit(known + u, cut_medium, cut_high) for u in draws], axis=0
    )
    print(f"{len(y):,} reports; what no model sees has sd {unseen.std():.3f}")
    print(f"oracle log-loss {log_loss(oracle, y):.4f}; with volatility and noise marginalised "
          f"{log_loss(marginalised, y):.4f} ({log_loss(marginalised, y) / log_loss(oracle, y):.3f}x)")  # fmt: skip

    times = pd.to_datetime(reports["reported_at"]).reset_index(drop=True)
    test = (times >= times.quantile(0.75)).to_numpy()
    reference = log_loss(oracle[test], y[test])
    facts = facts_table(kept)
    print(f"last quarter ({test.sum():,} reports): oracle {reference:.4f}")
    full = facts_model_log_loss(facts, y, times)
    print(f"  LightGBM on the true facts: {full:.4f} ({full / reference:.3f}x the oracle)")
    for name, columns in GROUPS.items():
        without = facts_model_log_loss(facts.drop(columns=columns), y, times)
        print(f"  without {name}: {without:.4f} ({without / reference:.3f}x)")

    # The same city, exported and featurised as fengqiao reads it.
    named, rows = named_features(kept["city"])
    y_named, times_named = y[rows], times.iloc[rows].reset_index(drop=True)
    own = (times_named >= times_named.quantile(0.75)).to_numpy()
    reference_named = log_loss(oracle[rows][own], y_named[own])
    alone = facts_model_log_loss(named, y_named, times_named)
    print(f"grader's named features ({len(rows):,} reports): {alone / reference_named:.3f}x")
    true = facts.iloc[rows].reset_index(drop=True)
    for name, columns in GROUPS.items():
        added = pd.concat([named, true[columns].add_prefix("true_")], axis=1)
        ratio = facts_model_log_loss(added, y_named, times_named) / reference_named
        print(f"  + {name}, true: {ratio:.3f}x")
    print("the lexicon's recall of the cues the generator wrote, and its precision:")
    for cue in T.CUE_CATEGORIES:
        column = f"lex_{LEXICON_OF.get(cue, cue)}"
        wrote, found = true[f"cue_{cue}"].to_numpy() == 1, named[column].to_numpy() > 0
        both = (wrote & found).sum()
        print(
            f"  {cue}: recall {both / max(wrote.sum(), 1):.3f}, precision {both / max(found.sum(), 1):.3f}"
        )


if __name__ == "__main__":
    main()
