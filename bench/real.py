"""The grader on real Chinese text, next to the simple models, on the same folds.

    python bench/real.py [--sets complaints-495,complaints-2805,court] [--budget 30]

Real data from ../shared/data/real (its README gives provenance), written as centre exports by
tests/real_exports.py and read through fengqiao's own ingest and context, as a centre's export is:
- complaints-495: the Teddy Cup sample, 一级分类 (7 classes), real message times (2012-2020);
- complaints-2805: the sample and 2,310 further messages of the same set (no times of their own);
- court: 495 court narratives graded 高/中/低 by sentence, referred after the latest date their
  text names.

Fold families: stratified 5-fold cross-validation (every set), the product's own rolling
origin (models.backtest.plan_folds) where the times are the data's own (complaints-495, court),
and for complaints-2805 one fold trained on the 494-message sample and tested on the 2,310 others.
Models: fengqiao's grader as `fengqiao train` builds it; TF-IDF character 1-3-grams + logistic
regression with balanced class weights (the backtest's baseline) and with sklearn's defaults;
jieba words + TF-IDF + logistic regression; a linear SVM on character 1-3-grams. Metrics per fold:
macro-F1, accuracy, 高 recall (severity), log-loss and ECE where a model gives probabilities;
mean and standard deviation over folds, and the confusion matrix of fengqiao's worst fold.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd

from bench._common import machine, read_results, report_checks, stamp, write_results

SETS = ("complaints-495", "complaints-2805", "court")


def load(name: str) -> tuple[pd.DataFrame, str]:
    """Return a real set ingested with context, and its label column."""
    from tests import real_exports as real

    real.require_real_data = lambda: None  # a bench reports what is missing by failing
    if name == "complaints-495":
        frame = real.complaints_frame(real.complaints_sample())
    elif name == "complaints-2805":
        frame = pd.concat(
            [
                real.complaints_frame(real.complaints_sample()),
                real.complaints_dev_frame(real.complaints_dev()),
            ]
        )
    else:
        frame = real.court_frame(real.court_cases())
    cases = ingest_export(frame, name)
    target = "risk_grade" if name == "court" else "dispute_type"
    return cases[cases[target].notna()].reset_index(drop=True), target


def ingest_export(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    """Return a centre-style export frame read through fengqiao's ingest, with its context."""
    from features.context import build_context
    from pipelines.ingest import ColumnMapping, ingest_file
    from tests import real_exports as real

    with tempfile.TemporaryDirectory() as tmp:
        path = real.write_csv(frame, Path(tmp) / f"{name}.csv")
        ingested = ingest_file(path, ColumnMapping(), "bench-secret-xxxxxxxx", dt.date(2026, 1, 1))
    return build_context(ingested.cases)


def fold_families(cases: pd.DataFrame, y: np.ndarray, name: str) -> dict[str, list]:
    """Return {family: [(train mask, test mask), ...]}."""
    from sklearn.model_selection import StratifiedKFold

    from models.backtest import plan_folds

    families = {"stratified 5-fold": []}
    for train, test in StratifiedKFold(5, shuffle=True, random_state=0).split(y, y):
        a, b = np.zeros(len(y), bool), np.zeros(len(y), bool)
        a[train], b[test] = True, True
        families["stratified 5-fold"].append((a, b))
    if name == "complaints-2805":
        # As a centre starts: trained on the sample's 494 labelled messages, graded on the rest.
        sample = cases["case_id"].str.startswith("TC").to_numpy()
        families["sample → the rest"] = [(sample, ~sample)]
    else:
        times = cases["reported_at"]
        families["rolling origin"] = [
            (
                (times < f.origin).to_numpy(),
                ((times >= f.origin) & (times < f.end)).to_numpy(),
            )
            for f in plan_folds(times, y)
        ]
    return families


def simple_models(classes: list[str]) -> dict:
    """Return the simple models: name -> fit(texts, tokens, y) -> (predict(texts, tokens) -> (grades, proba or None))."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import LinearSVC

    from models.baselines import TfidfLogistic

    def baseline(texts, tokens, y):
        model = TfidfLogistic().fit(None, y, classes, texts)
        return lambda t, _: (model.grades(p := model.predict_proba(None, t)), p)

    def sklearn_pipeline(make, analyzer, use_tokens, probabilities):
        def fit(texts, tokens, y):
            vectorizer = TfidfVectorizer(**analyzer)
            X = vectorizer.fit_transform(tokens if use_tokens else texts)
            model = make().fit(X, y)

            def predict(t, k):
                Xt = vectorizer.transform(k if use_tokens else t)
                if not probabilities:
                    return model.predict(Xt), None
                proba = np.zeros((Xt.shape[0], len(classes)))
                proba[:, model.classes_] = model.predict_proba(Xt)
                return proba.argmax(axis=1), proba

            return predict

        return fit

    chars = {"analyzer": "char", "ngram_range": (1, 3)}
    words = {
        "tokenizer": str.split,
        "token_pattern": None,
        "ngram_range": (1, 2),
        "lowercase": False,
    }
    return {
        "tfidf_lr (char 1-3, balanced)": baseline,
        "tfidf_lr (char 1-3, sklearn defaults)": sklearn_pipeline(
            lambda: LogisticRegression(max_iter=1000), chars, False, True
        ),
        "tfidf_lr (jieba words)": sklearn_pipeline(
            lambda: LogisticRegression(C=4, max_iter=1000), words, True, True
        ),
        "linear_svm (char 1-3)": sklearn_pipeline(
            lambda: LinearSVC(C=0.5, class_weight="balanced"), chars, False, False
        ),
    }


def metrics(y, grades, proba, classes) -> dict:
    from sklearn.metrics import accuracy_score, f1_score, log_loss, recall_score

    from models.metrics import expected_calibration_error

    out = {
        "macro_f1": f1_score(y, grades, average="macro", zero_division=0),
        "accuracy": accuracy_score(y, grades),
    }
    if "高" in classes:
        high = classes.index("高")
        out["high_recall"] = recall_score(y == high, grades == high, zero_division=0)
    if proba is not None:
        out["log_loss"] = log_loss(y, np.clip(proba, 1e-9, 1), labels=np.arange(len(classes)))
        out["ece"] = expected_calibration_error(y, proba)
    return {k: float(v) for k, v in out.items()}


def evaluate(name: str, budget: float) -> dict:
    from sklearn.metrics import confusion_matrix

    from features.text import normalise_texts
    from models.baselines import jieba_tokens
    from models.grader import GraderConfig, RiskGrader
    from models.thresholds import RISK_CLASSES

    cases, target = load(name)
    values = cases[target].astype(str)
    classes = RISK_CLASSES if target == "risk_grade" else sorted(values.unique())
    y = values.map({c: i for i, c in enumerate(classes)}).to_numpy()
    texts = normalise_texts(cases["description"])
    tokens = jieba_tokens(texts)
    simple = simple_models(classes)
    rows, confusions, choices = [], {}, []
    for family, folds in fold_families(cases, y, name).items():
        for k, (train, test) in enumerate(folds, start=1):
            started = time.perf_counter()
            grader = RiskGrader(GraderConfig(target=target, text_budget_seconds=budget))
            grader.fit(cases[train])
            out = grader.predict(cases[test], reasons=False)
            proba = out[[f"p_{c}" for c in classes]].to_numpy()
            grades = out["grade"].map({c: i for i, c in enumerate(classes)}).to_numpy()
            seconds = time.perf_counter() - started
            rows.append(
                {"set": name, "family": family, "fold": k, "model": "fengqiao",
                 "seconds": seconds, **metrics(y[test], grades, proba, classes)}
            )  # fmt: skip
            confusions[(family, k)] = confusion_matrix(y[test], grades, labels=range(len(classes)))
            choices.append(
                {"family": family, "fold": k, **grader.selection_,
                 "text_model": grader.text_model_.candidate_.as_dict()}
            )  # fmt: skip
            t_train = [texts[i] for i in np.flatnonzero(train)]
            k_train = [tokens[i] for i in np.flatnonzero(train)]
            t_test = [texts[i] for i in np.flatnonzero(test)]
            k_test = [tokens[i] for i in np.flatnonzero(test)]
            for model, fit in simple.items():
                started = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    predict = fit(t_train, k_train, y[train])
                    grades, proba = predict(t_test, k_test)
                rows.append(
                    {"set": name, "family": family, "fold": k, "model": model,
                     "seconds": time.perf_counter() - started,
                     **metrics(y[test], grades, proba, classes)}
                )  # fmt: skip
            print(
                f"{name} {family} fold {k}: {rows[-len(simple) - 1]['macro_f1']:.3f}",
                file=sys.stderr,
            )
    table = pd.DataFrame(rows)
    ours = table[table["model"] == "fengqiao"]
    worst = ours.loc[ours["macro_f1"].idxmin()]
    return {
        "set": name,
        "cases": len(cases),
        "classes": classes,
        "folds": table.to_dict("records"),
        "choices": choices,
        "worst_fold": {
            "family": worst["family"],
            "fold": int(worst["fold"]),
            "macro_f1": float(worst["macro_f1"]),
            "confusion": confusions[(worst["family"], int(worst["fold"]))].tolist(),
        },
    }


def summary(results: list[dict]) -> pd.DataFrame:
    table = pd.DataFrame([r for result in results for r in result["folds"]])
    shown = [m for m in ("macro_f1", "accuracy", "high_recall", "log_loss", "ece") if m in table]
    grouped = table.groupby(["set", "family", "model"], sort=False)[shown]
    mean, std = grouped.mean(), grouped.std()
    out = mean.copy()
    for column in shown:
        out[column] = [
            "" if pd.isna(m) else f"{m:.3f}" if pd.isna(s) else f"{m:.3f} ± {s:.3f}"
            for m, s in zip(mean[column], std[column], strict=True)
        ]
    return out.reset_index()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--sets", default=",".join(SETS), help="sets to run; the others keep their last results"
    )
    parser.add_argument("--budget", type=float, default=30.0, help="text model search, seconds")
    args = parser.parse_args()
    started = time.perf_counter()
    ran = [{**evaluate(name, args.budget), **stamp()} for name in args.sets.split(",") if name]
    # A set not run this time keeps its last result, which says when and at which commit.
    kept = {r["set"]: r for r in read_results("real").get("results", [])}
    kept.update({r["set"]: r for r in ran})
    results = [kept[name] for name in SETS if name in kept]
    table = summary(results)
    print(f"Real text, machine {machine()}")
    print(table.to_markdown(index=False))
    for result in results:
        worst = result["worst_fold"]
        print(
            f"\n{result['set']} ({result.get('commit', 'an earlier commit')}): fengqiao's worst fold ({worst['family']} {worst['fold']}, "
            f"macro-F1 {worst['macro_f1']:.3f}), rows true, columns predicted, {result['classes']}:"
        )
        print(pd.DataFrame(worst["confusion"], index=result["classes"], columns=result["classes"]))
    folds = pd.DataFrame([r for result in results for r in result["folds"]])
    checks = []
    for (name, family), part in folds.groupby(["set", "family"], sort=False):
        mean = part.groupby("model")["macro_f1"].mean()
        baseline = "tfidf_lr (char 1-3, balanced)"
        best_simple = mean.drop("fengqiao").max()
        checks.append(
            (
                f"{name}, {family}: macro-F1 {mean['fengqiao']:.3f} >= TF-IDF + LR's {mean[baseline]:.3f}",
                mean["fengqiao"] >= mean[baseline],
            )
        )
        checks.append(
            (
                f"{name}, {family}: macro-F1 {mean['fengqiao']:.3f} >= the best simple model's {best_simple:.3f}",
                mean["fengqiao"] >= best_simple,
            )
        )
        if "high_recall" in part and part["high_recall"].notna().any():
            recall = part.groupby("model")["high_recall"].mean()
            checks.append(
                (
                    f"{name}, {family}: 高 recall {recall['fengqiao']:.3f} >= TF-IDF + LR's {recall[baseline]:.3f}",
                    recall["fengqiao"] >= recall[baseline],
                )
            )
    records = report_checks(checks)
    write_results(
        "real",
        {
            **stamp(),
            "seconds": round(time.perf_counter() - started, 1),
            "budget_seconds": args.budget,
            "summary": table.to_dict("records"),
            "results": results,
            "checks": records,
        },
    )
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
