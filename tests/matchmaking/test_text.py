"""Chinese text preparation."""
from matchmaking.text import STOPWORDS, keywords, normalize, split_sentences, tokenize


def test_codes_and_patent_numbers_stay_whole():
    toks = tokenize("NCM811正极材料与Ti-6Al-4V合金，专利CN202110123456.7及ZL201910123456.X")
    for code in ("ncm811", "ti-6al-4v", "cn202110123456.7", "zl201910123456.x"):
        assert code in toks


def test_standards_and_short_codes_stay_whole():
    toks = tokenize("符合GB/T 1234-2008标准的5G基站SiC器件，ISO 9001:2015")
    assert {"gb/t1234-2008", "5g", "sic", "iso9001:2015"} <= set(toks)


def test_full_width_and_case_are_normalised():
    assert normalize("ＮＣＭ８１１　Ｌｉ电池") == "ncm811 li电池"
    assert tokenize("ＳｉＣ") == tokenize("SIC") == ["sic"]


def test_search_mode_keeps_compound_and_parts():
    toks = tokenize("飞行器姿态控制系统")
    assert "飞行器" in toks and "姿态控制" in toks and "姿态" in toks


def test_stopwords_and_punctuation_are_dropped():
    toks = tokenize("本文提出了一种基于深度学习的方法，结果表明：效果很好！")
    assert "的" not in toks and "本文" not in toks and "，" not in toks
    assert "深度学习" in toks or "深度" in toks
    assert "的" in STOPWORDS


def test_numbers_and_english_words_are_tokens():
    toks = tokenize("效率提高3.5%，采用Transformer模型")
    assert "3.5%" in toks and "transformer" in toks


def test_sentences_split_on_chinese_and_ascii_marks_and_newlines():
    text = "第一句。第二句！第三句？第四句；第五句;第六句\n第七句.第八句"
    assert split_sentences(text) == ["第一句。", "第二句！", "第三句？", "第四句；", "第五句;", "第六句",
                                     "第七句.", "第八句"]


def test_decimal_points_do_not_split_sentences():
    assert split_sentences("容量提高3.5倍。") == ["容量提高3.5倍。"]


def test_keywords_prefer_rare_terms_with_idf():
    kws = keywords("锂电池正极材料的制备，锂电池循环寿命", k=2, idf={"锂电池": 5.0, "制备": 0.1})
    assert kws[0] == "锂电池"


def test_empty_text_is_harmless():
    assert tokenize("") == [] and split_sentences("") == [] and keywords("") == []
