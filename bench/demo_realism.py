"""How hard and how varied is the demo city? Realism measured, not asserted.

    python bench/demo_realism.py [--cases 45000]

Prints, for the demo as `make demo` generates it:
- TF-IDF + LR (char 1-3, balanced; the backtest's baseline) macro-F1 on the demo's dispute type
  and on its grade, stratified 5-fold, next to the same model on the real complaints (7
  categories) and court narratives (高/中/低) from ../shared/data/real;
- on the grade, the oracle's macro-F1 (the generator's own probabilities, argmax) and the keyword
  checklist's (the centres' own way), both over the same folds;
- distinct surface forms per cue family that occur in the generated texts (each phrase template
  of pipelines/demo_city/text.py matched in the texts, its actor and numbers as wildcards), and
  distinct openings per channel (a text's first 6 characters after masking the case's places,
  digits and names).
The checks are issue 25's: type macro-F1 at most 0.95, oracle above the checklist by at least
0.08, at least 20 surface forms per cue family and 30 openings per channel.
"""

from __future__ import annotations

import argparse
import re
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd

from bench._common import ingest_demo, machine, report_checks, stamp, write_results


def cross_validated_f1(
    texts: pd.Series, labels: pd.Series, classes: list[str] | None = None
) -> float:
    """Return TF-IDF + LR's mean macro-F1 over stratified 5-fold cross-validation, on the texts
    that have a label (classes: their order, sorted labels if not given)."""
    from sklearn.model_selection import StratifiedKFold

    from models.baselines import TfidfLogistic
    from models.metrics import macro_f1

    labelled = labels.notna().to_numpy()
    labels = labels[labelled].astype(str)
    classes = classes or sorted(labels.unique())
    y = labels.map({c: i for i, c in enumerate(classes)}).to_numpy()
    scores = []
    texts_array = texts.fillna("").to_numpy(dtype=object)[labelled]
    for train, test in StratifiedKFold(5, shuffle=True, random_state=0).split(y, y):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = TfidfLogistic().fit(None, y[train], classes, list(texts_array[train]))
            scores.append(macro_f1(y[test], model.predict(None, list(texts_array[test]))))
    return float(np.mean(scores))


def grade_baselines(cases: pd.DataFrame, truth: pd.DataFrame, y: np.ndarray) -> dict[str, float]:
    """Return the oracle's and the keyword checklist's macro-F1 on the grade over 5 folds."""
    from sklearn.model_selection import StratifiedKFold

    from models.baselines import KeywordChecklist, checklist_points
    from models.metrics import macro_f1
    from models.thresholds import RISK_CLASSES

    oracle = truth.set_index("case_id").loc[cases["case_id"], ["p_low", "p_medium", "p_high"]]
    points = checklist_points(list(cases["description"].fillna("")))
    out = {"oracle": [], "checklist": []}
    for train, test in StratifiedKFold(5, shuffle=True, random_state=0).split(y, y):
        out["oracle"].append(macro_f1(y[test], oracle.to_numpy()[test].argmax(axis=1)))
        checklist = KeywordChecklist().fit(None, y[train], RISK_CLASSES, points[train])
        out["checklist"].append(macro_f1(y[test], checklist.predict(None, points[test])))
    return {k: float(np.mean(v)) for k, v in out.items()}


def cue_forms(texts: pd.Series) -> dict[str, int]:
    """Return per cue family how many of its phrase templates occur in the texts."""
    from pipelines.demo_city import text as T

    joined = "\n".join(texts.fillna(""))
    found = {}
    for family, phrases in T.CUE_PHRASES.items():
        seen = 0
        for phrase in phrases:
            pattern = re.escape(phrase).replace(r"\{a\}", ".{0,8}?").replace(r"\{n\}", r"\d+")
            seen += bool(re.search(pattern, joined))
        found[family] = seen
    return found


def openings(cases: pd.DataFrame) -> dict[str, int]:
    """Return per channel the distinct openings of its texts: the first 6 characters once the
    case's own places, digits and masked names are placeholders."""
    places = [c for c in ("district", "street", "community", "grid_id") if c in cases]
    masked = []
    for row in cases[["description", *places]].itertuples(index=False):
        text = row[0] if isinstance(row[0], str) else ""
        for place in row[1:]:
            if isinstance(place, str) and place:
                text = text.replace(place, "@")
        masked.append(text)
    masked = (
        pd.Series(masked, index=cases.index)
        .str.replace(r"\d+", "#", regex=True)
        .str.replace(r"\[[^\]]*\]|当事人[甲乙丙丁]", "@", regex=True)
        .str[:6]
    )
    return masked.groupby(cases["channel"].fillna("未知")).nunique().astype(int).to_dict()


def main() -> int:
    from bench.real import load
    from models.thresholds import RISK_CLASSES
    from pipelines.demo_city import DemoConfig, generate_demo_city

    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=45_000)
    args = parser.parse_args()
    city = generate_demo_city(DemoConfig(n_cases=args.cases))
    cases = ingest_demo(city).cases
    typed = cross_validated_f1(cases["description"], cases["dispute_type"])
    grade = cross_validated_f1(cases["description"], cases["risk_grade"], RISK_CLASSES)
    graded = cases[cases["risk_grade"].notna()].reset_index(drop=True)
    y = graded["risk_grade"].map({c: i for i, c in enumerate(RISK_CLASSES)}).to_numpy()
    baselines = grade_baselines(graded, city.truth, y)

    real_scores = {}
    for name in ("complaints-2805", "court"):
        frame, target = load(name)
        classes = RISK_CLASSES if target == "risk_grade" else None
        real_scores[name] = cross_validated_f1(frame["description"], frame[target], classes)
    forms = cue_forms(cases["description"])
    starts = openings(cases)

    print(f"Demo city {args.cases:,} cases; machine {machine()}")
    print("| TF-IDF + LR macro-F1, stratified 5-fold | demo | real |\n|---|---:|---:|")
    print(
        f"| dispute type / complaint category | {typed:.3f} | {real_scores['complaints-2805']:.3f} |"
    )
    print(f"| grade 高/中/低 | {grade:.3f} | {real_scores['court']:.3f} |")
    print(
        f"Demo grade: oracle {baselines['oracle']:.3f}, keyword checklist "
        f"{baselines['checklist']:.3f}, TF-IDF + LR {grade:.3f}"
    )
    print("Surface forms per cue family:", forms)
    print("Openings per channel:", starts)
    checks = report_checks(
        [
            (f"demo dispute type: TF-IDF + LR macro-F1 {typed:.3f} <= 0.95", typed <= 0.95),
            (
                f"demo grade learnable: oracle {baselines['oracle']:.3f} >= checklist "
                f"{baselines['checklist']:.3f} + 0.08",
                baselines["oracle"] >= baselines["checklist"] + 0.08,
            ),
            (
                f"at least 20 surface forms per cue family (fewest: {min(forms.values())})",
                min(forms.values()) >= 20,
            ),
            (
                f"at least 30 openings per channel (fewest: {min(starts.values())})",
                min(starts.values()) >= 30,
            ),
        ]
    )
    write_results(
        "demo_realism",
        {
            **stamp(),
            "cases": args.cases,
            "tfidf_lr_macro_f1": {"demo_type": typed, "demo_grade": grade, **real_scores},
            "grade_baselines": baselines,
            "cue_forms": forms,
            "openings": starts,
            "checks": checks,
        },
    )
    return 0 if all(c["pass"] for c in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
