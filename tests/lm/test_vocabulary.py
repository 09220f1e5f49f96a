"""Unknown-token share of a catalogue with the encoder's own tokenizer (recsys/lm/vocabulary.py)."""

from __future__ import annotations

import pytest

from recsys.lm.vocabulary import FIX, WARN_SHARE, check_catalogue, load_tokenizer, unknown_tokens

CHINESE = ["精致手工皮包", "独特手工艺品", "手工皮包", "真丝围巾 女款", "陶瓷茶杯套装"]
ENGLISH = ["Toy Story (1995) Adventure|Animation", "Heat (1995) Action|Crime|Thriller",
           "handmade leather bag", "silk scarf for women", "ceramic tea cup set"]  # fmt: skip


@pytest.fixture(scope="module")
def minilm():
    try:
        tokenizer, _ = load_tokenizer()
    except (FileNotFoundError, OSError) as exc:  # the packaged model is a project dependency
        pytest.skip(f"packaged MiniLM not available: {exc}")
    return tokenizer


def test_chinese_catalogue_is_mostly_unknown_and_warns(minilm):
    report = unknown_tokens(CHINESE, tokenizer=minilm)
    assert report.token_share > 0.6 and report.item_share == 1.0
    assert report.n_items == 5 and report.example_tokens[0] == "[UNK]"
    warning = report.warning
    assert warning is not None and f"{report.token_share:.0%} of its tokens" in warning
    assert report.example in warning and FIX in warning and "\n" not in warning


def test_english_catalogue_is_readable_and_silent(minilm):
    report = unknown_tokens(ENGLISH, tokenizer=minilm)
    assert report.token_share == 0.0 and report.item_share == 0.0
    assert report.warning is None and report.example == ""


def test_a_few_unknown_tokens_stay_below_the_threshold(minilm):
    texts = ENGLISH * 10 + ["手工皮包 handmade leather bag"]  # one mixed title in 51
    report = unknown_tokens(texts, tokenizer=minilm)
    assert 0 < report.token_share < WARN_SHARE and report.warning is None
    assert report.example.startswith("手工皮包")


def test_check_catalogue_loads_the_packaged_tokenizer(minilm):
    assert check_catalogue(CHINESE).warns and not check_catalogue(ENGLISH).warns


# --- the lexical part reads CJK text: character n-grams (recsys/models/tfidf.py) ---------------


def _tfidf(texts):
    import numpy as np
    import scipy.sparse as sp

    from recsys.models import TrainData, make_model

    return make_model("tfidf").fit(TrainData(sp.csr_matrix((1, len(texts)), dtype=np.float32),
                                             texts))  # fmt: skip


def test_tfidf_makes_chinese_titles_that_share_characters_similar():
    v = _tfidf(CHINESE).item_vectors_  # unit rows
    cosine = (v @ v.T).toarray()
    assert cosine[0, 2] > 0.5  # 精致手工皮包 ~ 手工皮包 (手 工 皮 包 手工 工皮 皮包)
    assert cosine[0, 1] > 0  # 精致手工皮包 ~ 独特手工艺品 share 手工 only
    assert cosine[0, 2] > cosine[0, 1] and cosine[0, 4] == 0  # nothing shared with 陶瓷茶杯套装


def test_tfidf_recommends_the_new_chinese_item_that_matches_the_history():
    import numpy as np
    import scipy.sparse as sp

    from recsys.models import TrainData, make_model
    from recsys.models.scope import CandidateScope

    history = sp.csr_matrix(([1.0], ([0], [0])), shape=(1, 5), dtype=np.float32)
    model = make_model("tfidf").fit(TrainData(history, CHINESE))
    top, _ = model.recommend(np.array([0]), 1, candidates=CandidateScope("cold"))
    assert top[0, 0] == 2  # liked 精致手工皮包 -> 手工皮包


def test_text_without_cjk_gets_exactly_sklearns_terms():
    from sklearn.feature_extraction.text import TfidfVectorizer

    from recsys.models.tfidf import CjkAnalyzer

    word = TfidfVectorizer(stop_words="english").build_analyzer()
    for text in [*ENGLISH, "Amélie (2001) Comedy|Romance", "Крёстный отец", "the of and"]:
        assert CjkAnalyzer(word)(text) == word(text)
    assert CjkAnalyzer(word)("Bag 手工皮包 leather") == ["bag", "leather", "手", "工", "皮", "包",
                                                       "手工", "工皮", "皮包"]  # fmt: skip
