"""The cue-clause model: what a risk cue's clause says, read so that it can only raise a score."""

from __future__ import annotations

import numpy as np


def _clauses(n: int, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """Clauses where who does it decides the grade: a husband's blows are 高, a stranger's 中."""
    rng = np.random.default_rng(seed)
    who = rng.choice(["被丈夫", "被路人", ""], n)
    clauses = [f"{w}殴打" if w else "" for w in who]
    grade = np.where(who == "被丈夫", 2, np.where(who == "被路人", 1, 0))
    noisy = rng.random(n) < 0.1
    grade[noisy] = rng.integers(0, 3, noisy.sum())
    return clauses, grade


def test_weights_are_never_negative_and_scores_order_the_clauses():
    from models.clauses import ClauseModel

    clauses, y = _clauses(600)
    model = ClauseModel(C=1.0).fit(clauses, y)
    assert (model.coef_ >= 0).all()
    assert model.oof_.shape == (600, 2)
    husband, stranger, none = model.scores(["被丈夫殴打", "被路人殴打", ""])
    assert husband[0] > stranger[0] > none[0] - 1e-9  # P(高)
    assert stranger[1] > none[1]  # P(at least 中)
    # out-of-fold scores order the grades too: a model that saw nothing would not
    oof_high = model.oof_[:, 0]
    assert oof_high[y == 2].mean() > oof_high[y == 1].mean() > oof_high[y == 0].mean()


def test_adding_a_clause_never_lowers_a_score():
    from models.clauses import ClauseModel

    clauses, y = _clauses(600, seed=1)
    model = ClauseModel(C=1.0).fit(clauses, y)
    extra = ["对方扬言要报复", "被路人殴打", "路人持刀"]
    base = model.scores(clauses[:50])
    for clause in extra:
        added = model.scores([f"{c}，{clause}" if c else clause for c in clauses[:50]])
        assert (added >= base - 1e-12).all()


def test_no_cue_clauses_at_all_gives_one_score_for_every_case():
    from models.clauses import ClauseModel

    model = ClauseModel().fit(["", "", "", "", "", ""], np.array([0, 1, 2, 0, 1, 2]))
    scores = model.scores(["", "扬言"])
    assert scores.shape == (2, 2) and np.allclose(scores[0], scores[1])


def test_a_grader_that_keeps_its_text_model_keeps_no_cue_clause_model(
    cases_with_context, stacked_grader, monkeypatch
):
    # Only the boosters read the clause scores: a grader without them must not score clauses.
    import models.validation
    from models.clauses import NAMES
    from models.grader import GraderConfig, RiskGrader

    assert stacked_grader.clause_model_ is not None
    assert set(NAMES) <= set(stacked_grader.feature_names_)
    monkeypatch.setattr(models.validation, "stack_is_better", lambda *args: False)
    train = cases_with_context[cases_with_context["reported_at"] < "2025-12-01"]
    grader = RiskGrader(GraderConfig(text_candidates=1, text_budget_seconds=600)).fit(train)
    assert not grader.use_boosters_ and grader.clause_model_ is None
    assert grader.training_["clause_model"] is None
    assert not set(NAMES) & set(grader.feature_names_)
    scored = grader.predict(cases_with_context[cases_with_context["reported_at"] >= "2025-12-01"])
    assert len(scored) and scored["reasons"].notna().all()
