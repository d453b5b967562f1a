"""Behaviour on real text: a grader trained on real court narratives, probed as Made-With-ML does.

Direction: adding a threat or a weapon clause to a real narrative never lowers its grade (with
other words around it, hardly ever), and raises P(高) on average. Invariance:
Traditional characters and full-width digits change nothing. A denied cue does not raise it. And
the reasons a dispatcher reads lead with something that can be acted on.
"""

from __future__ import annotations

import datetime as dt
import functools

import numpy as np
import pytest

from features.text import normalise_text
from models.thresholds import RISK_CLASSES
from tests.conftest import SECRET
from tests.real_exports import court_cases, court_frame, require_real_data, write_csv

pytestmark = pytest.mark.xdist_group("real-model")
RANK = {c: i for i, c in enumerate(RISK_CLASSES)}


@pytest.fixture(scope="module")
def court(tmp_path_factory):
    """Return the graded court narratives ingested with context, and a grader trained on the
    earlier 80% of them."""
    require_real_data()
    from features.context import build_context
    from models.grader import GraderConfig, RiskGrader
    from pipelines.ingest import ColumnMapping, ingest_file

    path = write_csv(court_frame(court_cases()), tmp_path_factory.mktemp("court") / "court.csv")
    cases = build_context(ingest_file(path, ColumnMapping(), SECRET, dt.date(2020, 1, 1)).cases)
    cases = cases.sort_values("reported_at", ignore_index=True)
    cut = int(len(cases) * 0.8)
    grader = RiskGrader(GraderConfig(text_candidates=3, text_budget_seconds=600)).fit(
        cases.iloc[:cut]
    )
    return grader, cases.iloc[cut:].reset_index(drop=True)


def _grades(grader, cases):
    out = grader.predict(cases, reasons=False)
    return out["grade"].map(RANK).to_numpy(), out["p_高"].to_numpy()


@pytest.mark.parametrize(
    "added",
    ["，扬言要杀了他。", "。持刀威胁被害人。", "，扬言报复，情绪激动。", "被告人扬言要杀了他。"],
)
def test_a_threat_or_weapon_added_to_a_real_narrative_never_lowers_its_grade(court, added):
    grader, cases = court
    before, p_before = _grades(grader, cases)
    after, p_after = _grades(grader, cases.assign(description=cases["description"] + added))
    if added.startswith(("，", "。")):
        # A phrase that is all cue clause changes only the cue counts, which the boosters follow
        # only upward (monotone constraints): a guarantee, for every case.
        assert (after >= before).all()
        assert (p_after >= p_before - 1e-12).all()
        # and it counts: the grader sees the threat whether validation kept the boosters or the
        # text model with its cue weights (models.cues), whose clause-free text cannot see it
        assert p_after.mean() > p_before.mean(), grader.selection_
    else:
        # Words before a cue ("被告人…") are text like any other and move the text scores and
        # the text's shape, so no grader can promise every case; a case near the 中/低 line may
        # cross it. What must hold: the threat raises P(高) on average, no case falls by two
        # grades, and hardly any falls at all.
        assert p_after.mean() > p_before.mean()
        assert (after >= before - 1).all()
        assert (after < before).mean() <= 0.02


@functools.cache
def _to_traditional():
    import opencc

    return opencc.OpenCC("s2t")


@pytest.mark.parametrize(
    "variant",
    [
        lambda t: _to_traditional().convert(t),
        lambda t: t.translate(str.maketrans("0123456789", "０１２３４５６７８９")),
    ],
    ids=["traditional", "full-width digits"],
)
def test_how_a_real_narrative_is_written_does_not_change_its_grade(court, variant):
    grader, cases = court
    varied = cases.assign(description=cases["description"].map(variant))
    assert (varied["description"] != cases["description"]).mean() > 0.9
    # OpenCC's Simplified -> Traditional -> Simplified is not always the identity (背 -> 揹 stays
    # 揹): where the normalised texts differ, the texts really do.
    same = [
        normalise_text(a) == normalise_text(b)
        for a, b in zip(cases["description"], varied["description"], strict=True)
    ]
    assert np.mean(same) > 0.95
    a, pa = _grades(grader, cases[same])
    b, pb = _grades(grader, varied[same])
    assert (a == b).all()
    np.testing.assert_allclose(pa, pb)


@pytest.mark.parametrize("denied", ["。未持刀。", "，并未扬言报复。", "。未发生肢体冲突。"])
def test_a_denied_cue_does_not_raise_a_real_narratives_grade(court, denied):
    grader, cases = court
    before, p_before = _grades(grader, cases)
    after, p_after = _grades(grader, cases.assign(description=cases["description"] + denied))
    assert (after <= before).all()
    assert (p_after <= p_before + 1e-12).all()


def test_red_and_yellow_tickets_lead_with_a_cue_a_history_fact_or_a_content_word(court):
    """At least 90% of 高 and 中 cases lead with a reason a dispatcher can act on: a lexicon cue,
    a history fact, or a word of the narrative that is not a function word, a place or court
    boilerplate (checked here against the segmenter's stop words and jieba's own tags, not the
    list the reasons use)."""
    import jieba.posseg

    from features.segment import stop_words

    grader, cases = court
    out = grader.predict(cases)
    flagged = out[out["grade"].isin(["高", "中"])]
    assert len(flagged) >= 10
    tags = jieba.posseg.dt.word_tag_tab
    generic = stop_words() | {"被告人", "被害人", "公诉机关", "表示", "对方", "双方", "互相"}

    def actionable(reason: str, text: str) -> bool:
        if not reason:
            return False
        if not reason.startswith("描述含“"):
            return True  # a named lexicon cue, a history or place fact, a type or channel
        word = reason[len("描述含“") : -1]
        return (
            word in normalise_text(text)
            and word not in generic
            and tags.get(word) not in {"ns", "nr", "r", "d", "c", "p", "u", "m", "q"}
        )

    texts = cases.set_index("case_id")["description"]
    leads = [
        actionable(r.split("；")[0], texts[c])
        for c, r in zip(flagged["case_id"], flagged["reasons"], strict=True)
    ]
    assert np.mean(leads) >= 0.9, flagged["reasons"].head(20).tolist()
