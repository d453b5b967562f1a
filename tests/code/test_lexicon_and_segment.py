"""The risk lexicon and the segmenter."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.lexicon import find_cues, lexicon_features, load_lexicon
from features.segment import Segmenter, domain_dictionary, token_agreement


@pytest.mark.parametrize(
    ("text", "fires", "negated"),
    [
        ("当事人甲扬言要报复对方", {"threat"}, set()),
        ("未扬言报复，无过激言行，未发生肢体冲突", set(), {"threat", "violence"}),
        ("情绪稳定，无轻生倾向，双方均未饮酒", set(), {"selfharm", "alcohol"}),
        ("未饮酒但扬言要跳楼", {"threat", "selfharm"}, {"alcohol"}),
        ("现场未发现凶器", set(), {"weapon"}),
        ("不解决就跟他同归于尽", {"threat"}, set()),
        ("扬言要组织20余人集体上访", {"threat", "crowd"}, set()),
        ("长期遭受家暴", {"domestic_violence"}, set()),
        # 无/未/没 inside ordinary words negate nothing
        ("欠款无力偿还扬言同归于尽", {"threat"}, set()),
        ("未成年人手持菜刀", {"weapon"}, set()),
        ("无故殴打邻居", {"violence"}, set()),
        # 无人 says nobody was hurt; 无人在家 and 无人管理 negate nothing
        ("双方发生推搡，无人受伤", {"violence"}, {"violence"}),
        ("现场无人员受伤", set(), {"violence"}),
        ("趁无人在家之机持刀入室", {"weapon"}, set()),
        ("楼道无人管理，对方扬言报复", {"threat"}, set()),
    ],
)
def test_cues_fire_and_negation_cancels_them(text, fires, negated):
    hits = find_cues(text)
    assert {c for c, n in hits.counts.items() if n} == fires
    assert {c for c, n in hits.negated.items() if n} == negated


@given(
    st.lists(
        st.sampled_from(
            [
                "未",
                "没有",
                "并未",
                "否认",
                "无明显",
                "但",
                "随后",
                "后来",
                "，",
                "。",
                "扬言",
                "菜刀",
                "跳楼",
                "饮酒",
                "集体上访",
                "邻居",
                "要",
                "了",
            ]
        ),
        max_size=20,
    )
)
@settings(max_examples=300, deadline=None)
def test_the_negator_pre_check_never_changes_a_decision(words):
    from features.lexicon import _negated, _negated_window

    text, lex = "".join(words), load_lexicon()
    for match in lex.term_pattern.finditer(text):
        window = text[max(0, match.start() - lex.window) : match.start()]
        assert _negated(text, match.start(), lex) == _negated_window(window, lex)


def _up_cues() -> list[str]:
    lex = load_lexicon()
    return [t for c in lex.categories if c.direction == "up" for t in c.terms]


@given(
    cue=st.sampled_from(_up_cues()),
    negator=st.sampled_from(["未", "没有", "并未", "没", "无", "否认", "未曾"]),
    ordinary=st.sampled_from(list(load_lexicon().ordinary_words)),
    between=st.sampled_from(["", "人", "的人", "偿还", "又"]),
)
@settings(max_examples=400, deadline=None)
def test_a_negator_negates_and_an_ordinary_word_that_starts_like_one_does_not(
    cue, negator, ordinary, between
):
    """Cue x negator x ordinary-word contexts: "未持刀" is denied, "未成年人持刀" is not."""
    from features.lexicon import without_cue_clauses

    lex = load_lexicon()
    category = lex.category_of[cue]
    denied = find_cues(f"{negator}{cue}")
    assert denied.negated[category] >= 1 and denied.counts[category] == 0
    plain = find_cues(f"{ordinary}{between}{cue}")
    assert plain.counts[category] >= 1, (ordinary, between, cue)
    assert plain.negated[category] == 0
    # What the text model reads agrees: the denied cue is gone with its negator, the other is
    # gone with its whole clause, ordinary word and all.
    assert without_cue_clauses([f"邻里纠纷。{negator}{cue}"]) == ["邻里纠纷"]
    assert without_cue_clauses([f"邻里纠纷。{ordinary}{between}{cue}"]) == ["邻里纠纷"]


@pytest.mark.parametrize(
    ("text", "amount", "people"),
    [
        ("涉及30名工人工资共计5万余元", 50000, 30),
        ("借款金额3.2万元，损失约8600元", 32000, 0),
        ("拖欠3千元", 3000, 0),
        ("30余人聚集", 0, 30),
    ],
)
def test_amounts_and_headcounts_are_extracted(text, amount, people):
    hits = find_cues(text)
    assert hits.amount == amount and hits.people == people


@given(
    st.lists(
        st.lists(
            st.sampled_from(
                [
                    "未",
                    "没有",
                    "但",
                    "，",
                    "扬言",
                    "菜刀",
                    "饮酒",
                    "集体上访",
                    "邻居",
                    "3",
                    ".5",
                    "万",
                    "余",
                    "元",
                    "名",
                    "人",
                    " ",
                    "\n",
                    "\x00",
                    "",
                ]
            ),
            max_size=12,
        ).map("".join),
        max_size=8,
    )
)
@settings(max_examples=300, deadline=None)
def test_lexicon_features_of_all_texts_at_once_equal_find_cues_text_by_text(texts):
    """A cue, amount or headcount at one text's end never joins the next text's start, a negator
    never reaches into the next text, and a text holding the joining character still counts."""
    import numpy as np
    import pandas as pd

    lex = load_lexicon()
    hits = [find_cues(t, lex) for t in texts]
    amount = np.array([h.amount for h in hits], float)
    expected = pd.DataFrame(
        {
            **{f"lex_{c}": np.array([h.counts[c] for h in hits], float) for c in lex.names},
            **{f"lex_neg_{c}": np.array([h.negated[c] for h in hits], float) for c in lex.names},
            **{
                f"lex_{name}": np.array([all(h.counts[c] for c in parts) for h in hits], float)
                for name, parts in lex.compounds.items()
            },
            "lex_amount_log10": np.where(amount > 0, np.log10(np.maximum(amount, 1)), np.nan),
            "lex_people": np.array([h.people for h in hits], float),
        }
    )
    pd.testing.assert_frame_equal(lexicon_features(texts), expected)


@pytest.mark.parametrize(
    ("text", "armed"),
    [
        ("当事人甲持刀威胁对方", 1.0),
        ("对方扬言报复，还拿着一把水果刀", 1.0),
        ("扬言报复", 0.0),
        ("未持刀，但扬言报复", 0.0),
        ("经查未扬言报复，现场有菜刀", 0.0),
    ],
)
def test_a_threat_with_a_weapon_in_hand_is_its_own_cue(text, armed):
    """The seeds' 民转刑 precursor weighs more than threat and weapon apart: it fires when both
    fire in one report, neither of them denied, and a reason names it."""
    from models.reasons import phrase

    assert lexicon_features([text])["lex_armed_threat"].item() == armed
    said = phrase("lex_armed_threat", armed, lambda c: None, {})
    assert said == ("描述含持械威胁" if armed else None)


def test_lexicon_features_are_named_for_reasons_and_versioned():
    lex = load_lexicon()
    frame = lexicon_features(["扬言报复", "无"])
    assert lex.version
    assert {f"lex_{c}" for c in lex.names} <= set(frame.columns)
    assert lex.label("threat") == "威胁性言语"
    assert frame["lex_threat"].tolist() == [2, 0]


def test_segmenter_keeps_domain_words_whole_and_learns_place_names():
    seg = Segmenter().fit(places=["春晖新村社区"])
    tokens = seg.transform(["网格员上报：当事人甲扬言要报复，诉调对接，春晖新村社区"])[0].split()
    for word in ("网格员", "扬言", "报复", "诉调对接", "春晖新村社区", "当事人甲"):
        assert word in tokens
    assert "，" not in tokens  # punctuation is a stop word


def test_segmenter_tokens_are_its_joined_texts_split_even_across_whitespace():
    """tokens skips the join and split on texts without whitespace; on a text with whitespace a
    token holding some (which jieba-rs does not cut, but a tokenizer may) splits as joined text."""
    from features.segment import stop_words

    seg = Segmenter().fit(places=["春晖新村社区"])
    texts = ["当事人甲扬言报复，春晖新村社区", "a\tb\u3000c\xa0d", "网格员上报纠纷", "", " "]
    cut, stops = seg._cut(), stop_words()

    def joined(texts):
        return [" ".join(t for t in cut(x) if t.strip() and t not in stops) for x in texts]

    assert seg.tokens(texts) == [x.split() for x in joined(texts)]
    assert seg.transform(texts) == joined(texts)
    spaced = ["春晖 新村", " 社区", "，", "\u3000", "扬言\t"]
    seg._cut_fn = cut = lambda text: spaced if " " in text else [text]
    assert seg.tokens(["甲 乙", "甲乙"]) == [["春晖", "新村", "社区", "扬言"], ["甲乙"]]
    assert seg.tokens(["甲 乙"]) == [x.split() for x in joined(["甲 乙"])]


def test_segmenter_pickles_without_its_tokenizer_and_works_after():
    seg = Segmenter().fit()
    seg.transform(["先用一次"])
    assert seg._cut_fn is not None
    clone = pickle.loads(pickle.dumps(seg))
    assert getattr(clone, "_cut_fn", None) is None
    assert clone.transform(["当事人甲扬言报复"]) == seg.transform(["当事人甲扬言报复"])


def test_both_engines_agree_on_demo_text(city):
    texts = city.export["案情描述"].head(300).fillna("").tolist()
    a, b = Segmenter("rjieba").fit(), Segmenter("jieba").fit()
    assert token_agreement(texts, a, b) >= 0.995


def test_every_dictionary_entry_has_an_explicit_frequency():
    assert all(freq > 0 and word for word, freq, _ in domain_dictionary())


def test_unknown_engine_is_refused():
    with pytest.raises(ValueError, match="unknown segmentation engine"):
        Segmenter("pkuseg").fit()


EDGE_TEXTS = [
    "",
    "纠",
    "纠纷",
    "a  b\t\tc d\te",
    "扬言𠀀😀纠纷纠纷",
    "  前后空格  ",
    "\u3000全角空格",
]


@pytest.mark.parametrize(
    ("ngrams", "batch", "max_features"),
    [((1, 3), 10000, None), ((1, 2), 7, 300), ((2, 3), 7, None)],
)
def test_code_point_char_vocabulary_counts_and_tfidf_equal_sklearns(
    city, ngrams, batch, max_features, monkeypatch
):
    import numpy as np
    from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer

    import features.ngrams
    from features.ngrams import char_counts, char_vocabulary, idf_weights, tfidf

    monkeypatch.setattr(features.ngrams, "_BATCH", batch)  # 7: texts in many batches
    texts = city.export["案情描述"].head(400).fillna("").tolist() + EDGE_TEXTS
    terms = char_vocabulary(texts, ngrams, 2, max_features)
    sklearn = CountVectorizer(
        analyzer="char", ngram_range=ngrams, lowercase=False, min_df=2, max_features=max_features
    ).fit(texts)
    if max_features is None:  # sklearn breaks ties at the cut-off its own way
        assert set(terms) == set(sklearn.vocabulary_)
    else:
        assert len(terms) == max_features
        assert len(set(terms) & set(sklearn.vocabulary_)) > 0.95 * max_features
    vocabulary = {t: i for i, t in enumerate(terms)}
    counts = char_counts(vocabulary, texts, ngrams)
    expected = CountVectorizer(
        analyzer="char", ngram_range=ngrams, lowercase=False, vocabulary=vocabulary
    ).transform(texts)
    assert (counts != expected).nnz == 0
    for sublinear in (False, True):
        weights = TfidfTransformer(sublinear_tf=sublinear).fit(expected)
        np.testing.assert_allclose(idf_weights(counts), weights.idf_, rtol=1e-6)
        got = tfidf(counts, idf_weights(counts), sublinear)
        np.testing.assert_allclose(got.toarray(), weights.transform(expected).toarray(), atol=1e-6)


@pytest.mark.parametrize(("ngrams", "batch"), [((1, 2), 10000), ((1, 3), 7), ((2, 2), 7)])
def test_token_number_word_vocabulary_and_counts_equal_sklearns(city, ngrams, batch, monkeypatch):
    from sklearn.feature_extraction.text import CountVectorizer

    import features.ngrams
    from features.ngrams import word_counts, word_vocabulary

    monkeypatch.setattr(features.ngrams, "_BATCH", batch)  # 7: texts in many batches
    tokens = Segmenter().fit().tokens(city.export["案情描述"].head(400).fillna(""))
    terms = word_vocabulary(tokens, ngrams, 2, None)
    longest = max(terms, key=lambda term: term.count(" "))
    assert longest.count(" ") == ngrams[1] - 1
    tokens += [[], ["纠纷"], ["未见过的词"], longest.split() * 2]

    def analyzer(words):
        return words

    sklearn = CountVectorizer(
        tokenizer=analyzer,
        preprocessor=analyzer,
        token_pattern=None,
        lowercase=False,
        ngram_range=ngrams,
        min_df=2,
    ).fit(tokens[:-4])
    assert set(terms) == set(sklearn.vocabulary_)
    vocabulary = {t: i for i, t in enumerate(terms)}
    expected = CountVectorizer(
        tokenizer=analyzer,
        preprocessor=analyzer,
        token_pattern=None,
        lowercase=False,
        ngram_range=ngrams,
        vocabulary=vocabulary,
    ).transform(tokens)
    got = word_counts(vocabulary, tokens, ngrams)
    assert (got != expected).nnz == 0 and got[-1].nnz > 0  # the edge texts reach the vocabulary
    assert word_counts(vocabulary, [], ngrams).shape == (0, len(vocabulary))


def test_the_baselines_tokens_are_jiebas_on_the_ingested_demo_descriptions(ingested):
    """What a backtest cuts: ingested (normalised, masked) text. Raw text with phone numbers such
    as 0437-2247423 is cut differently: jieba-rs keeps ASCII runs whole across "-"."""
    import jieba

    from models.baselines import jieba_tokens

    texts = ingested.cases["description"].head(400).tolist()
    jieba.setLogLevel(60)
    assert jieba_tokens(texts) == [" ".join(jieba.lcut(t)) for t in texts]
    assert sum(" " in t for t in jieba_tokens(texts)) >= 390  # texts are cut, not passed through


def test_the_segmenter_cuts_the_same_in_parallel(city, monkeypatch):
    import features.segment

    texts = city.export["案情描述"].head(400).fillna("").tolist()
    monkeypatch.setattr(features.segment, "_PROCESSES_FROM_TEXTS", 100)
    serial = Segmenter("rjieba").fit().transform(texts)
    assert Segmenter("rjieba", n_jobs=2).fit().transform(texts) == serial
    assert len(serial) == 400


def test_taking_out_a_cue_clause_never_joins_the_words_on_either_side():
    # Found by the full-size leak scan: "被对方持刀威胁。林某…" read "被对方林某…", whose "方林"
    # was a party's name in the demo and entered the text model's vocabulary.
    from features.lexicon import without_cue_clauses

    kept = without_cue_clauses(["双方争吵，被对方持刀威胁。林某已现场劝离", "经查未持刀具。后离开"])
    assert kept == ["双方争吵，林某已现场劝离", "经查。后离开"]
    assert "吵林" not in kept[0] and "查后" not in kept[1]


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("与邻居因琐事发生纠纷，当事人甲拿着一把菜刀，扬言要杀了他。", "与邻居因琐事发生纠纷"),
        ("据邻居说，其丈夫酒后闹事，已劝离", "据邻居说，已劝离"),
        ("对方称要跟他拼命。社区已介入", "社区已介入"),
        ("工资拖欠三个月，未发生肢体冲突", "工资拖欠三个月"),
        ("经调解达成协议，双方离开", "经调解，双方离开"),
    ],
)
def test_the_text_model_reads_nothing_of_a_cue_clause(text, kept):
    """What stands before a risk cue in its clause ("拿着一把", "说要") would tell the text model
    a cue follows, and let the boosters discount the cue: the whole clause goes. A mitigation
    goes from the cue on, so that adding one takes nothing else away."""
    from features.lexicon import without_cue_clauses

    assert without_cue_clauses([text]) == [kept]


@pytest.mark.parametrize(
    ("text", "clauses"),
    [
        (
            "与邻居因琐事发生纠纷，当事人甲拿着一把菜刀，扬言要杀了他。",
            "当事人甲拿着一把菜刀，扬言要杀了他",
        ),
        ("据邻居说，其丈夫酒后闹事，已劝离", "其丈夫酒后闹事"),
        ("工资拖欠三个月，未发生肢体冲突", ""),  # a denied cue says nothing of a risk
        ("经调解达成协议，双方离开", ""),  # a mitigation lowers risk: not a risk clause
        ("被丈夫殴打，未发生肢体冲突，邻居报警", "被丈夫殴打"),
    ],
)
def test_the_clauses_taken_out_are_the_risk_cues_that_fire(text, clauses):
    """What the text model does not read of a cue's clause is what the cue-clause model reads: the
    whole clause of every risk cue that fires, and nothing of a negated cue or a mitigation."""
    from features.lexicon import split_cue_clauses, without_cue_clauses

    kept, cut = split_cue_clauses([text])
    assert cut == [clauses]
    assert kept == without_cue_clauses([text])


def test_adding_a_cue_clause_only_adds_to_the_clauses_taken_out():
    from features.lexicon import split_cue_clauses

    base = ["邻里纠纷，当事人甲情绪激动，已调解", "工资拖欠三个月，未发生肢体冲突", "琐事纠纷"]
    added = [f"{t}，对方扬言要同归于尽" for t in base]
    before, after = split_cue_clauses(base), split_cue_clauses(added)
    assert after[0] == before[0]  # the text model's view does not change
    for old, new in zip(before[1], after[1], strict=True):
        assert new.startswith(old) and new.endswith("对方扬言要同归于尽")
