"""Match explanations name the words that matter: no generic words, no places (issue 16)."""
import hashlib
import itertools

import numpy as np
import pytest

from matchmaking import terms
from matchmaking.documents import Listing
from matchmaking.engine import HybridMatcher
from matchmaking.lexical import LexicalIndex

ACHIEVEMENTS = {
    1: "碳化硅单晶衬底制备技术。团队位于江苏苏州，地处长三角地区，采用物理气相传输法制备碳化硅单晶，降低衬底成本。",
    2: "钙钛矿太阳能电池制备技术。团队位于江苏省苏州市，开发低温溶液处理工艺。",
    3: "退役锂电池湿法回收处理技术。江苏企业开发短流程回收工艺，降低处理成本。",
}
DEMAND = "江苏苏州企业需要碳化硅衬底制备技术，长三角地区，希望降低处理成本，提升工艺水平。"
GENERIC_SENTENCE = "本技术采用先进工艺制备，提升产品性能，降低生产成本，满足客户需求。"
TECHNICAL_SENTENCE = "适用于碳化硅器件。"


@pytest.fixture(scope="module")
def index():
    return LexicalIndex.build(list(ACHIEVEMENTS), list(ACHIEVEMENTS.values()))


def test_shared_terms_keep_the_technical_terms_only(index):
    shared = index.shared_terms(index.query_terms(DEMAND), 1)
    assert shared == ["碳化硅", "衬底"]  # not 技术, 制备, 成本, 江苏, 苏州, 长三角 nor its pieces 长三, 三角


def test_unrelated_listings_share_no_terms(index):
    query = index.query_terms(DEMAND)
    assert index.shared_terms(query, 2) == [] and index.shared_terms(query, 3) == []


@pytest.mark.parametrize("word", ["苏州", "江苏", "江苏省", "苏州市", "长三角", "粤港澳", "大湾区", "浙江省", "合肥", "深圳",
                                  "江苏苏州", "新疆维吾尔自治区", "余杭区", "岷县"])
def test_places_are_places(word):
    assert terms.is_place(word)


@pytest.mark.parametrize("word", ["碳化硅", "钙钛矿", "大理石", "深度", "阳极", "密封", "城市", "技术"])
def test_technical_and_common_words_are_not_places(word):
    assert not terms.is_place(word)  # jieba tags 深度, 阳极 and 密封 ns: its tag alone is not enough


@pytest.mark.parametrize("word", ["技术", "制备", "处理", "成本", "国产化", "制备技术", "低成本", "苏州企业", "降低生产"])
def test_generic_words_are_generic(word):
    assert terms.is_generic(word)


@pytest.mark.parametrize("word", ["碳化硅", "钙钛矿", "硬碳", "高能", "电池"])
def test_technical_words_are_not_generic(word):
    assert not terms.is_generic(word)


def test_a_word_in_most_of_a_corpus_is_generic_but_a_rare_one_is_not():
    texts = [f"型号xk{i:03d}的电池隔膜。" if i < 30 else f"型号xk{i:03d}的光伏支架。" for i in range(39)]
    texts.append("硬碳负极的钠离子电池。")
    index = LexicalIndex.build(list(range(40)), texts)
    battery, hard_carbon = index.query_terms("电池").ids, index.query_terms("硬碳").ids
    assert not index.informative(battery).any() and index.informative(hard_carbon).all()
    shared = index.shared_terms(index.query_terms("需要硬碳负极电池"), 39)
    assert "硬碳" in shared and "电池" not in shared


def test_a_tiny_corpus_keeps_its_vocabulary():
    index = LexicalIndex.build([1, 2, 3], ["电池隔膜。", "电池负极。", "电池正极。"])
    assert index.shared_terms(index.query_terms("电池隔膜"), 1) == ["隔膜", "电池"]  # in all 3, but 3 is too few to tell


def test_the_generic_cutoff_grows_with_the_corpus():
    assert terms.generic_df(3) > 3 and terms.generic_df(terms.GENERIC_MIN_DOCS) == terms.GENERIC_MIN_DOCS
    assert terms.generic_df(40) <= 30
    assert terms.generic_df(100_000) == pytest.approx(terms.GENERIC_SHARE * 100_000)


def test_the_informative_mask_is_per_index():
    common = [f"型号xk{i:03d}的电池隔膜。" for i in range(30)]
    big = LexicalIndex.build(list(range(30)), common)
    small = LexicalIndex.build([0, 1, 2], common[:3], previous=big)  # reuses big's tokens, not its mask
    assert not big.informative(big.query_terms("电池").ids).any()
    assert small.informative(small.query_terms("电池").ids).all()


def test_the_sentence_with_the_technical_term_wins_over_generic_words():
    doc = GENERIC_SENTENCE + TECHNICAL_SENTENCE
    index = LexicalIndex.build([1, 2, 3], [doc, ACHIEVEMENTS[2], ACHIEVEMENTS[3]])
    scores = index.sentence_scores(index.query_terms("需要碳化硅器件的先进制备技术，提升产品性能，降低生产成本，满足客户需求。"), 1)
    assert scores[0] == 0 and scores[1] > 0


def test_shared_terms_never_hold_a_generic_word_or_a_place(index):
    for text in ACHIEVEMENTS.values():
        query = index.query_terms(text + DEMAND)
        for other in ACHIEVEMENTS:
            shared = index.shared_terms(query, other, limit=50)
            assert not [w for w in shared if w in terms.GENERIC_TERMS or terms.is_generic(w) or terms.is_place(w)]


class BigramEncoder:
    """Deterministic stand-in for e5 (hashed character bigrams): this module never loads the model."""

    model_key = "test-shared-terms"
    dim = 32

    def encode_queries(self, texts, batch_size=32):
        out = np.full((len(texts), self.dim), 0.1, dtype=np.float32)
        for i, t in enumerate(texts):
            for a, b in itertools.pairwise(t):
                out[i, hashlib.md5((a + b).encode()).digest()[0] % self.dim] += 1.0
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    encode_passages = encode_queries


def test_best_sentence_carries_the_match():
    docs = {1: Listing(1, "achievement", "功率器件衬底", GENERIC_SENTENCE + TECHNICAL_SENTENCE),
            2: Listing(2, "achievement", "钙钛矿电池", ACHIEVEMENTS[2])}
    matcher = HybridMatcher.build(BigramEncoder(), docs)
    hit = matcher.match(Listing(100, "demand", "", "碳化硅器件的先进制备技术，提升产品性能，降低生产成本"), k=1,
                        allowed_ids={1})[0]
    assert hit.best_sentence == TECHNICAL_SENTENCE and hit.shared_terms == ["碳化硅", "器件"]


@pytest.mark.parametrize("word", ["30%", "0.2", "3.0", "1c", "1/2", "gc/g", "85%"])
def test_numbers_and_units_are_not_shared_terms(word):
    from matchmaking.terms import is_informative

    assert not is_informative(word)


def test_words_and_codes_stay_shared_terms():
    from matchmaking.terms import is_informative

    assert all(is_informative(w) for w in ("ncm811", "碳化硅", "scr", "钙钛矿"))


def test_a_piece_of_a_word_the_query_says_whole_is_not_shown():
    from matchmaking.lexical import LexicalIndex

    docs = {1: "氮化硅陶瓷球\n高速轴承用氮化硅陶瓷球热等静压烧结。", 2: "碳化硅外延\n碳化硅外延片缺陷检测。"}
    index = LexicalIndex.build(list(docs), list(docs.values()))
    terms = index.query_terms("碳化硅功率器件封装")
    assert "化硅" not in index.shared_terms(terms, 1)  # 碳化硅 vs 氮化硅 share only the piece 化硅
    assert "碳化硅" in index.shared_terms(terms, 2)
