"""BM25 lexical index."""
import pytest

from matchmaking.lexical import LexicalIndex

DOCS = {
    10: "锂电池正极材料NCM811的制备方法。提高循环寿命。",
    20: "钠离子电池负极材料。硬碳负极的低成本制备。",
    30: "光伏组件清洗机器人。自动巡检与清洗。",
    40: "Ti-6Al-4V钛合金的3D打印工艺。",
}


@pytest.fixture(scope="module")
def index():
    return LexicalIndex.build(list(DOCS), list(DOCS.values()))


def test_search_ranks_the_document_with_the_terms_first(index):
    hits = index.search("NCM811 正极材料", k=2)
    assert hits[0][0] == 10 and hits[0][1] > 0


def test_search_only_returns_matching_documents(index):
    assert [i for i, _ in index.search("光伏 清洗", k=10)] == [30]


def test_codes_match_exactly(index):
    assert index.search("ti-6al-4v", k=1)[0][0] == 40


def test_allowed_ids_is_a_hard_filter(index):
    hits = index.search("电池 材料 制备", k=10, allowed_ids={20, 30})
    assert {i for i, _ in hits} == {20}


def test_unknown_terms_give_no_results(index):
    assert index.search("量子计算", k=5) == [] and index.search("", k=5) == []


def test_coverage_is_idf_share_of_query_terms(index):
    terms = index.query_terms("硬碳 负极 光伏")
    cov = index.coverage(terms, [20, 30, 10])
    assert 0 < cov[1] < cov[0] < 1 and cov[2] == 0
    assert cov == pytest.approx(index.coverage_all(terms)[index.rows([20, 30, 10])])


def test_shared_terms_and_best_sentence(index):
    terms = index.query_terms("低成本硬碳负极")
    assert "硬碳" in index.shared_terms(terms, 20)
    assert index.sentence_scores(terms, 20).argmax() == 1


def test_duplicate_ids_are_rejected():
    with pytest.raises(ValueError):
        LexicalIndex.build([1, 1], ["a", "b"])


def test_head_terms_give_head_coverage_as_one_sparse_product():
    """LexicalIndex.head_terms (the roadshow matrix's pass over many demands at once) agrees with head_coverage
    for every document, unknown ids and headless documents included."""
    import numpy as np

    from matchmaking.lexical import LexicalIndex

    texts = {1: "固态电池电解质。硫化物固态电解质薄膜制备", 2: "锂电池回收。湿法冶金回收镍钴锰", 3: "机器视觉检测。工业机器人视觉引导抓取"}
    index = LexicalIndex.build(list(texts), list(texts.values()))
    ids, heads = [1, 2, 3, 99], [1, 1, 0, 1]
    matrix, mass = index.head_terms(ids, heads)
    terms = index.query_terms("固态电解质 回收")
    asked = np.zeros(matrix.shape[1])
    asked[terms.ids] = 1.0
    held = matrix @ asked
    via_matrix = np.where(mass > 0, held / np.where(mass > 0, mass, 1.0), 0.0)
    np.testing.assert_allclose(via_matrix, index.head_coverage(terms, ids, heads), rtol=1e-6)
    assert mass[2] == 0 and mass[3] == 0 and via_matrix[0] > 0 and via_matrix[1] > 0
