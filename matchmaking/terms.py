"""Which words may explain a match: generic words and place names never do.

Match explanations (shared terms, the evidence sentence) should name what two listings have in common
technically. Words every listing uses (技术, 制备, 成本) and places (江苏, 苏州, 长三角) are dropped: the first
say nothing about a pair, the second are shown as region fit instead. Ranking is not affected: BM25 and
coverage still see every token; only the display uses this module."""
from __future__ import annotations

import math
import re
from functools import lru_cache
from pathlib import Path

from matchmaking import text as _text
from matchmaking.text import STOPWORDS

DATA = Path(__file__).resolve().parent / "data"

# A term is generic for a corpus when at least this share of its listings carries it. Sharing a term
# is evidence that two listings are related only insofar as an unrelated listing is unlikely to carry it:
# at a share of 1/10 a random listing has it one time in ten (an IDF of ln 10), so on a page of ten
# results one row is expected to share it by chance and it cannot tell that row's pair apart.
GENERIC_SHARE = 0.1
# ...and in at least this many listings: a share read off k listings is uncertain by about 1/sqrt(k), under
# a quarter only from ~20, and a small corpus (a test, a new or single-field platform) would otherwise
# lose its real vocabulary (in 3 listings every shared word is in a third of them).
GENERIC_MIN_DOCS = 20

# Administrative suffixes a word may carry after a curated name (新疆维吾尔自治区, 苏州市, 长三角地区).
_PLACE_SUFFIXES = ("特别行政区", "维吾尔自治区", "壮族自治区", "回族自治区", "自治区", "自治州", "自治县", "地区",
                   "新区", "省", "市", "县", "区")
# jieba tags many common technical words ns (深度, 阳极, 密封, 串联 in this platform's own listings), so its
# tag counts only for words that end like an administrative unit (昆山市, 余杭区, 岷县, 温州).
_NS_SUFFIXES = ("省", "市", "县", "区", "州", "镇", "乡", "盟", "旗")
_NS_SHORT_SUFFIXES = ("州", "县")  # two-character ns words ending so are places (广州, 岷县); 城市, 山区 are not


def _read_words(name: str) -> frozenset[str]:
    """Whitespace-separated words of a data file, without # comments."""
    lines = (DATA / name).read_text(encoding="utf-8").splitlines()
    return frozenset(w for line in lines if not line.lstrip().startswith("#") for w in line.split())


GENERIC_TERMS: frozenset[str] = _read_words("generic_terms.txt")
PLACES: frozenset[str] = _read_words("places.txt")
_GENERIC_PIECES = GENERIC_TERMS | STOPWORDS | PLACES  # what a generic compound may be made of
_LONGEST_PIECE = max(map(len, _GENERIC_PIECES))


def generic_df(n_docs: int) -> int:
    """Smallest document frequency at which a term is generic in a corpus of n_docs listings."""
    return max(GENERIC_MIN_DOCS, math.ceil(GENERIC_SHARE * n_docs))


@lru_cache(maxsize=1 << 16)
def is_generic(word: str) -> bool:
    """A curated generic word, or a word made only of such words, stop words and places (制备技术, 低成本,
    苏州企业) with at least one generic word among them."""
    return word in GENERIC_TERMS or _made_of(word, _GENERIC_PIECES, GENERIC_TERMS)


@lru_cache(maxsize=1 << 16)
def is_place(word: str) -> bool:
    """A place name: a curated Chinese province, city or region (with an administrative suffix or not, or
    several run together: 江苏苏州), or a word jieba tags ns that ends like an administrative unit."""
    if word in PLACES or any(word.endswith(s) and word[: -len(s)] in PLACES for s in _PLACE_SUFFIXES):
        return True
    if _made_of(word, PLACES, PLACES):
        return True
    if len(word) < 2 or not word.endswith(_NS_SUFFIXES) or (len(word) == 2 and not word.endswith(_NS_SHORT_SUFFIXES)):
        return False
    return _pos_tag(word) == "ns"


def _made_of(word: str, pieces: frozenset[str], needed: frozenset[str]) -> bool:
    """Whether word splits into pieces, at least one of them in needed (stop words alone must not make
    高能 or 外用 generic)."""
    n = len(word)
    ok, seen = [True] + [False] * n, [False] * (n + 1)  # word[:i] splits / and holds a needed piece
    for end in range(1, n + 1):
        for start in range(max(0, end - _LONGEST_PIECE), end):
            piece = word[start:end]
            if ok[start] and piece in pieces:
                ok[end] = True
                seen[end] = seen[end] or seen[start] or piece in needed
    return ok[n] and seen[n]


_NAMEY = re.compile(r"[\u4e00-\u9fff]|[a-z]{2,}", re.IGNORECASE)  # a Han character, or a run of 2+ letters


def is_informative(word: str) -> bool:
    """Whether a word may be shown as what two listings have in common: not generic, not a place, and a word
    rather than a number or a unit (30%, 0.2, 1c, 1/2 and gc/g from μgC/g said nothing to a first user)."""
    if not _NAMEY.search(word) or any(c in word for c in "/%."):
        return False
    return not is_generic(word) and not is_place(word)


def _pos_tag(word: str) -> str:
    """jieba's part-of-speech tag of a word taken whole ('' when jieba cuts it in pieces)."""
    import jieba.posseg  # loads its tag table (~0.3 s): only when a word needs it

    if not jieba.dt.initialized:  # jieba's lazy dictionary load is not thread-safe (see matchmaking.text)
        with _text._jieba_lock:
            jieba.dt.check_initialized()
    pairs = jieba.posseg.lcut(word, HMM=False)  # HMM would guess tags for unknown words: dictionary tags only
    return pairs[0].flag if len(pairs) == 1 else ""
