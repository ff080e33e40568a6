"""Chinese text preparation: normalisation, segmentation, stop words, sentences, key terms."""
from __future__ import annotations

import math
import re
import threading
import unicodedata
from collections import Counter
from collections.abc import Mapping

import jieba

jieba.setLogLevel(60)  # jieba logs its dictionary load at INFO on every process start

# Codes that jieba would cut apart ("Ti-6Al-4V" -> Ti / - / 6Al / - / 4V) are matched first and kept
# whole. Order matters: the most specific patterns come first.
_PROTECTED = re.compile(
    r"""
    (?:CN|ZL|US|WO|EP|JP|KR)\s?\d{6,14}(?:\.[0-9xX])?(?:[A-Z]\d?)?   # patent / application numbers
    | (?:GB|JB|HG|YY|QB|DB|SJ|YD|NB|JT|T)/[A-Z]{1,6}\s?\d+(?:\.\d+)*(?:-\d{2,4})?  # GB/T 1234-2008
    | (?:GB|ISO|IEC|IEEE|ASTM|DIN|JIS)\s?\d+(?:[.-]\d+)*(?::\d{4})?  # GB 50016-2014, ISO 9001:2015
    | [a-z0-9]+(?:[-+./][a-z0-9]+)*%?                                # NCM811, Ti-6Al-4V, 5G, 3.5%
    """,
    re.VERBOSE | re.IGNORECASE,
)
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# Abstracts often end sentences with a half-width "." glued to the next Han character.
_SENTENCE_END = re.compile(r"(?<=[。！？；;!?])|\n+|(?<=\.)\s+|(?<=\.)(?=[\u4e00-\u9fff])")
_WS = re.compile(r"\s+")

# Function words and the boilerplate of abstracts and demand forms: frequent everywhere, so they only
# add noise to BM25 and to the "shared terms" shown to users.
STOPWORDS: frozenset[str] = frozenset(
    """
    的 地 得 了 着 过 和 与 及 以及 或 或者 而 并 并且 且 而且 但 但是 然而 因此 所以 因为 由于 如果 若
    则 即 就 也 还 又 都 均 皆 只 仅 才 再 更 最 很 较 比较 非常 十分 极 已 已经 曾 将 会 能 能够 可 可以
    可能 应 应该 需 需要 要 想 让 使 使得 令 被 把 对 对于 关于 在 于 从 自 向 到 至 以 用 通过 经过 按 按照
    根据 依据 基于 随着 由 为 为了 是 有 没有 无 不 非 未 别 这 那 这个 那个 这些 那些 这种 那种 该 此 其
    其中 其他 其它 本 各 每 某 之 之一 之间 中 内 外 上 下 前 后 里 间 时 时候 一 一个 一种 一些 一定 一般
    两 二 个 种 些 项 次 等 等等 方面 情况 问题 进行 开展 实现 采用 利用 使用 具有 存在 作为 成为 得到 给出
    提出 提供 给予 表明 显示 发现 认为 指出 分析 探讨 讨论 介绍 阐述 综述 本文 文章 论文 笔者 我们 我 你 您
    他 她 它 他们 其 自己 大家 研究 结果 结论 目的 方法 背景 意义 作用 影响 主要 重要 相关 有关 不同 相同
    一致 同时 此外 另外 首先 其次 然后 最后 并且 以及 如何 什么 怎么 怎样 哪些 为何 是否 能否 吗 呢 吧 啊
    呀 么 嘛 哦 可 着 所 所以 以便 以免 从而 进而 以上 以下 左右 约 大约 之后 之前 以来 目前 当前 现在 近年
    近年来 年来 日益 逐渐 不断 越来越 已有 现有 新 新的 多 多种 少 大 小 高 低 好 良好 较好 有效 明显
    显著 一步 进一步 初步 深入 全面 充分 合理 相应 相对 基本 具体 部分 整体 以及 及其 得以 加以 予以 进而
    the a an of and or to in on for with by from at as is are was were be been this that these those
    we our it its which can based using use used study paper results method methods
    """.split()
)


def normalize(text: str) -> str:
    """NFKC (full-width letters/digits to ASCII), lower-cased, whitespace collapsed."""
    return _WS.sub(" ", unicodedata.normalize("NFKC", text or "")).strip().lower()


_jieba_lock = threading.Lock()


def _cut(span: str, search_mode: bool) -> list[str]:
    # jieba initialises its dictionary lazily and not thread-safely; the lock only matters on first use.
    if not jieba.dt.initialized:
        with _jieba_lock:
            jieba.dt.check_initialized()
    return jieba.lcut_for_search(span) if search_mode else jieba.lcut(span)


def _keep(token: str) -> bool:
    return bool(token) and token not in STOPWORDS and (bool(_HAN.search(token)) or token[0].isalnum())


def tokenize(text: str, *, search_mode: bool = True, stopwords: bool = True) -> list[str]:
    """Segment text into lower-case tokens, keeping codes/patent numbers/English words whole."""
    norm = normalize(text)
    tokens: list[str] = []
    pos = 0
    for m in _PROTECTED.finditer(norm):
        if m.start() > pos:
            tokens.extend(_cut(norm[pos : m.start()], search_mode))
        tokens.append(m.group(0).replace(" ", ""))
        pos = m.end()
    if pos < len(norm):
        tokens.extend(_cut(norm[pos:], search_mode))
    tokens = [t.strip() for t in tokens]
    if stopwords:
        return [t for t in tokens if _keep(t)]
    return [t for t in tokens if t and (_HAN.search(t) or t[0].isalnum())]


def split_sentences(text: str) -> list[str]:
    """Split on 。！？；; (and . followed by space) and newlines; drop empty pieces."""
    parts = _SENTENCE_END.split(text or "")
    return [p.strip() for p in parts if p and p.strip()]


def is_term(token: str) -> bool:
    """A token worth showing as a shared key term: a Han word of 2+ chars or a code/word of 2+ chars."""
    if token in STOPWORDS:
        return False
    return len(token) >= 2 if _HAN.search(token) else len(token) >= 2 and not token.isdigit()


def keywords(
    text: str, k: int = 10, idf: Mapping[str, float] | None = None, default_idf: float = 1.0
) -> list[str]:
    """Top-k terms of a text by tf x idf (idf from a corpus when given; longest-first on ties)."""
    counts = Counter(t for t in tokenize(text, search_mode=False) if is_term(t))
    scored = sorted(
        counts.items(),
        key=lambda kv: (-(1 + math.log(kv[1])) * (idf or {}).get(kv[0], default_idf), -len(kv[0]), kv[0]),
    )
    return [t for t, _ in scored[:k]]
