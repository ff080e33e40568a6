"""The region fit follows the administrative hierarchy: same park > same district > same city > same province."""
from matchmaking.compat import region_score
from matchmaking.documents import Listing
from matchmaking.engine import HybridMatcher
from tests.matchmaking.test_engine import CharEncoder

SHAANXI = ("province", "shaanxi")
XIAN = ("city", "xian")
YANTA = ("district", "yanta")
GAOXIN = ("park", "xian_gaoxin")
HANGTIAN = ("park", "xian_hangtian")
BAOJI = ("city", "baoji")


def _doc(i, kind, region, *path, title="NCM811正极材料", body="共沉淀制备工艺。"):
    return Listing(i, kind, title, body, region=region, region_path=tuple(path))


def test_a_shared_park_fits_better_than_a_shared_district_city_or_province():
    demand = _doc(1, "demand", "xian_gaoxin", SHAANXI, XIAN, YANTA, GAOXIN)
    park = _doc(2, "achievement", "xian_gaoxin", SHAANXI, XIAN, YANTA, GAOXIN)
    district = _doc(3, "achievement", "xian_hangtian", SHAANXI, XIAN, YANTA, HANGTIAN)
    city = _doc(4, "achievement", "xian_other", SHAANXI, XIAN, ("district", "weiyang"))
    province = _doc(5, "achievement", "baoji", SHAANXI, BAOJI)
    elsewhere = _doc(6, "achievement", "jiangsu", ("province", "jiangsu"))
    scores = [region_score(demand, x) for x in (park, district, city, province, elsewhere)]
    assert [s.reason for s in scores] == ["same_region", "same_district", "same_city", "same_province",
                                          "other_region"]
    values = [s.value for s in scores]
    assert values == sorted(values, reverse=True) and len(set(values)) == 5


def test_without_paths_the_plain_codes_still_decide():
    a, b = Listing(1, "demand", "t", "b", region="shaanxi"), Listing(2, "achievement", "t", "b", region="shaanxi")
    assert region_score(a, b).reason == "same_region"
    c = Listing(3, "achievement", "t", "b", region="jiangsu")
    assert region_score(a, c).reason == "other_region"


def test_the_engine_ranks_a_same_park_pair_above_a_same_province_pair():
    docs = {7: _doc(7, "achievement", "baoji", SHAANXI, BAOJI),
            8: _doc(8, "achievement", "xian_gaoxin", SHAANXI, XIAN, YANTA, GAOXIN)}
    matcher = HybridMatcher.build(CharEncoder(), docs)
    wants = Listing(100, "demand", "", "NCM811正极材料", region="xian_gaoxin",
                    region_path=(SHAANXI, XIAN, YANTA, GAOXIN))
    hits = matcher.match(wants, k=2)
    assert [h.id for h in hits] == [8, 7] and hits[0].score > hits[1].score
    assert hits[0].breakdown["region"] > hits[1].breakdown["region"]
    assert hits[1].reasons["region"] == "same_province"
