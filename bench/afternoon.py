"""The afternoon alternative: what an analyst could write in an afternoon instead of fengqiao.

    python bench/afternoon.py train HISTORY.csv MODEL.joblib
    python bench/afternoon.py score NIGHT.csv MODEL.joblib WATCHLIST.xlsx

jieba words + TF-IDF + logistic regression on the case text, trained on the labelled history;
scoring reads the night's export, grades every row by its most probable class and writes the
watchlist, riskiest first, for Excel. No history, no 同案, no masking, no reasons, no map feed, no
report, no model registry: `bench/nightly.py` times it on the same night as fengqiao, as the floor
of what a night can cost.
"""

from __future__ import annotations

import sys

import jieba
import joblib
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

TEXT, LABEL, CASE_ID = "案情描述", "风险等级", "案件编号"


def _read(path: str) -> pd.DataFrame:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return pd.read_csv(path, encoding=encoding, dtype=str)
        except UnicodeDecodeError:
            continue
    raise SystemExit(f"{path}: neither UTF-8 nor GB18030")


def _words(texts: pd.Series) -> list[str]:
    return [" ".join(jieba.lcut(t)) for t in texts.fillna("")]


def train(history: str, model_path: str) -> None:
    frame = _read(history)
    frame = frame[frame[LABEL].notna()]
    model = make_pipeline(
        TfidfVectorizer(tokenizer=str.split, token_pattern=None, ngram_range=(1, 2), min_df=2),
        LogisticRegression(C=4, max_iter=1000, class_weight="balanced"),
    )
    model.fit(_words(frame[TEXT]), frame[LABEL])
    joblib.dump(model, model_path)


def score(night: str, model_path: str, out: str) -> None:
    frame = _read(night)
    model = joblib.load(model_path)
    proba = model.predict_proba(_words(frame[TEXT]))
    classes = list(model.classes_)
    watchlist = pd.DataFrame({"案件编号": frame[CASE_ID], "等级": model.classes_[proba.argmax(1)]})
    watchlist["P(高)"] = proba[:, classes.index("高")] if "高" in classes else 0.0
    watchlist.sort_values("P(高)", ascending=False).to_excel(out, index=False)


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    {"train": train, "score": score}[command](*args)
