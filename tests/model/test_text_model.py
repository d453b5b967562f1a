"""The text model's shared ordinal setting: one weight vector for P(高) and P(at least 中)."""

import numpy as np
import pytest

from models.text import TextCandidate, TextModel, search_order


def _texts(rng, n: int) -> tuple[list[str], np.ndarray]:
    """Return texts whose grade rises with how many of the severe words they hold: 低 none,
    中 one, 高 two or three (so 高 is rare and lies further along the same direction as 中)."""
    severe = ["持刀", "重伤", "死亡"]
    plain = ["邻里", "噪音", "漏水", "停车", "物业", "欠薪", "宅基地", "装修"]
    texts, y = [], []
    for _ in range(n):
        k = rng.choice([0, 1, 2, 3], p=[0.65, 0.27, 0.05, 0.03])
        words = list(rng.choice(plain, 4)) + list(rng.choice(severe, k, replace=False))
        rng.shuffle(words)
        texts.append("，".join(words))
        y.append(min(int(k), 2))
    return texts, np.asarray(y)


def test_a_shared_model_gives_both_thresholds_one_direction_and_ordered_intercepts():
    rng = np.random.default_rng(0)
    texts, y = _texts(rng, 600)
    shared = TextCandidate("char", False, 4.0, True, shared=True)
    model = TextModel(ordinal=True, start=shared, axes=(), max_candidates=1).fit(
        texts, [t.split("，") for t in texts], y
    )
    high, medium = model.models_
    np.testing.assert_array_equal(high.coef_, medium.coef_)
    assert high.intercept_[0] < medium.intercept_[0]  # P(高) <= P(at least 中) everywhere
    scores = model.scores(texts, [t.split("，") for t in texts])
    assert (scores[:, 0] <= scores[:, 1]).all()
    # both scores rank the graded texts in the order of their grades
    for column in (0, 1):
        means = [scores[y == g, column].mean() for g in (0, 1, 2)]
        assert means[0] < means[1] < means[2]
    assert model.coefficients("text_model:high").shape == (len(model.char_vocabulary_),)


def test_the_search_tries_sharing_only_for_the_ordinal_grades():
    rng = np.random.default_rng(1)
    texts, y = _texts(rng, 300)
    tokens = [t.split("，") for t in texts]
    ordinal = TextModel(ordinal=True, max_candidates=6, budget_seconds=600).fit(texts, tokens, y)
    assert any(c["shared"] for c in ordinal.search_)
    multiclass = TextModel(ordinal=False, max_candidates=6, budget_seconds=600).fit(
        texts, tokens, y
    )
    assert not any(c["shared"] for c in multiclass.search_)


@pytest.mark.parametrize("start", [TextCandidate("char", False, 4.0, True)])
def test_search_order_never_tries_a_setting_twice(start):
    order = search_order(start)
    seen = [next(order)]
    for candidate in order:
        seen.append(candidate)
    assert len(seen) == len(set(seen))


def test_cue_weights_keep_the_lexicons_sign_whatever_the_data_says():
    """A cue the data ties to lower risk gets weight 0, never a negative one; a mitigation only
    lowers; a cue that raises risk is found; the text score keeps a non-negative slope."""
    from models.cues import CueWeights

    rng = np.random.default_rng(0)
    n = 2000
    threat, odd, calm = (rng.poisson(0.3, n) for _ in range(3))
    text = rng.normal(size=(n, 2))
    latent = text.mean(axis=1) + 1.5 * threat - 1.0 * odd - 1.0 * calm + rng.logistic(size=n)
    y = np.digitize(latent, [0.0, 1.5])  # 0 低, 1 中, 2 高
    named = np.column_stack([threat, odd, calm, rng.normal(size=n)])
    weights = CueWeights([0, 1, 2], [1, 1, -1]).fit(text, named, y)
    threat_w, odd_w, calm_w = weights.coef_[3:]
    assert threat_w > 0.5 and odd_w == 0.0 and calm_w < -0.3
    assert weights.coef_[2] > 0  # the text slope
    logits = weights.logits(text, named)
    assert (logits[:, 1] > logits[:, 0]).all()  # P(at least 中) above P(高)
    more = named.copy()
    more[:, 0] += 1
    assert (weights.logits(text, more) > weights.logits(text, named)).all()
    said = weights.contributions(named, named.shape[1]).toarray()
    assert np.allclose(said[:, 0], threat_w * np.log1p(threat)) and not said[:, 3].any()
