"""The Simplified Chinese catalogue: complete for the current sources, placeholders intact, compilable.

These tests only read files (no app, no database). Messages are extracted in-process with the
method map from babel.cfg and the same keywords as

    .venv/bin/pybabel extract -F babel.cfg -k _l -k lazy_gettext -o translations/messages.pot .

so a string added to a template or to web/ without a translation fails here. To fix:

    .venv/bin/pybabel extract -F babel.cfg -k _l -k lazy_gettext -o translations/messages.pot .
    .venv/bin/pybabel update -i translations/messages.pot -d translations --no-fuzzy-matching
    (translate the new entries in translations/zh_Hans_CN/LC_MESSAGES/messages.po)
    .venv/bin/pybabel compile -d translations
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "translations"
LOCALE = "zh_Hans_CN"
PO = TRANSLATIONS / LOCALE / "LC_MESSAGES" / "messages.po"
POT = TRANSLATIONS / "messages.pot"
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None}
# A %-conversion with a mapping key, e.g. %(name)s or %(max)d.
PLACEHOLDER = re.compile(r"%\((\w+)\)[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa]")
HOW_TO_FIX = ("re-extract, `pybabel update -i translations/messages.pot -d translations --no-fuzzy-matching`, "
              "translate, `pybabel compile -d translations` (see this module's docstring)")

Key = tuple[Any, Any]  # (context, msgid) where msgid is a str or a (singular, plural) tuple


@pytest.fixture(scope="module")
def extracted() -> dict[Key, list[str]]:
    """Every message in the sources babel.cfg lists, with its file:line locations."""
    with open(ROOT / "babel.cfg", encoding="utf-8") as fileobj:
        method_map, options_map = parse_mapping_cfg(fileobj)
    found: dict[Key, list[str]] = {}
    for filename, lineno, message, _comments, context in extract_from_dir(
            str(ROOT), method_map, options_map, keywords=KEYWORDS):
        found.setdefault((context, message), []).append(f"{Path(filename).as_posix()}:{lineno}")
    return found


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    with open(PO, "rb") as fileobj:
        return read_po(fileobj, locale=LOCALE, abort_invalid=True)


def _messages(catalog: Catalog) -> Iterator[Message]:
    return (m for m in catalog if m.id)


def _pairs(message: Message) -> list[tuple[str, str]]:
    """(source, translation) pairs: one for a plain message, one per plural form otherwise."""
    if isinstance(message.id, (list, tuple)):
        strings = message.string if isinstance(message.string, (list, tuple)) else (message.string,)
        return [(message.id[0] if i == 0 else message.id[1], s or "") for i, s in enumerate(strings)]
    return [(message.id, message.string or "")]


def _placeholders(text: str) -> list[str]:
    return sorted(m.group(0) for m in PLACEHOLDER.finditer(text))


def test_extraction_finds_python_and_template_messages(extracted):
    files = {loc.split(":")[0] for locs in extracted.values() for loc in locs}
    assert len(extracted) > 100, "babel.cfg extraction found almost nothing; check its patterns"
    assert any(f.startswith("web/") for f in files) and any(f.startswith("templates/") for f in files)
    assert not any(f.startswith(".venv/") for f in files)


def test_every_extracted_message_has_a_chinese_translation(extracted, catalog):
    problems = []
    for (context, msgid), locations in sorted(extracted.items(), key=lambda kv: kv[1][0]):
        message = catalog.get(msgid, context)
        where = ", ".join(locations[:3])
        if message is None:
            problems.append(f"missing from {PO.name}: {msgid!r} ({where})")
        elif message.fuzzy:
            problems.append(f"fuzzy: {msgid!r} ({where})")
        elif any(not string.strip() for _source, string in _pairs(message)):
            problems.append(f"empty translation: {msgid!r} ({where})")
    assert not problems, f"{len(problems)} untranslated message(s); {HOW_TO_FIX}:\n" + "\n".join(problems)


def test_catalogue_has_no_fuzzy_entries(catalog):
    assert not catalog.fuzzy, "the .po header is marked fuzzy"
    fuzzy = [m.id for m in _messages(catalog) if m.fuzzy]
    assert not fuzzy, f"fuzzy entries (review them and drop the flag): {fuzzy}"


def test_template_lists_every_extracted_message(extracted):
    with open(POT, "rb") as fileobj:
        pot = read_po(fileobj, abort_invalid=True)
    stale = [msgid for (context, msgid) in extracted if pot.get(msgid, context) is None]
    assert not stale, f"translations/messages.pot is out of date; {HOW_TO_FIX}: {stale}"


def test_placeholders_match_between_msgid_and_msgstr(catalog):
    problems = []
    for message in _messages(catalog):
        for source, string in _pairs(message):
            if string and _placeholders(source) != _placeholders(string):
                problems.append(f"{source!r}: {_placeholders(source)} vs {string!r}: {_placeholders(string)}")
    assert not problems, "placeholders differ:\n" + "\n".join(problems)


def test_translations_survive_percent_formatting(extracted, catalog):
    """Jinja's new-style _() always applies `%` (a literal percent sign must be `%%` there); Python's
    gettext applies it when given variables; WTForms re-applies it to Length/NumberRange messages."""
    problems = []
    for message in _messages(catalog):
        locations = extracted.get((message.context, message.id)) or [loc for loc, _ in message.locations]
        in_template = any(str(loc).startswith("templates/") for loc in locations)
        for source, string in _pairs(message):
            if not string:
                continue
            specs = list(PLACEHOLDER.finditer(string))
            if in_template or specs:
                values = {m.group(1): 7 for m in specs}
                expected = PLACEHOLDER.sub(lambda m: m.group(0) % values, string.replace("%%", "\0"))
                expected = expected.replace("\0", "%")
                try:
                    rendered = string % values
                except (ValueError, TypeError, KeyError) as err:
                    problems.append(f"{string!r} cannot be formatted: {err}")
                    continue
                if rendered != expected:
                    problems.append(f"{string!r} formats to {rendered!r}: a stray '%' (write '%%')")
            elif "%" in string and "%" not in source:
                problems.append(f"{string!r} has a '%' its source does not have")
    assert not problems, "\n".join(problems)


def test_catalogue_passes_babel_checks_and_compiles(catalog, tmp_path):
    errors = [f"{m.id!r}: {', '.join(str(e) for e in errs)}" for m, errs in catalog.check() if errs]
    assert not errors, "babel found errors:\n" + "\n".join(errors)
    target = tmp_path / LOCALE / "LC_MESSAGES"
    target.mkdir(parents=True)
    with open(target / "messages.mo", "wb") as fileobj:
        write_mo(fileobj, catalog)
    # Flask-Babel loads translations this way for the locale zh_Hans_CN.
    translations = Translations.load(str(tmp_path), [LOCALE])
    assert isinstance(translations, Translations), "the compiled catalogue was not found for zh_Hans_CN"
    assert translations.gettext("TechMatch") == catalog.get("TechMatch").string != "TechMatch"
    assert translations.gettext("Page %(p)s of %(n)s") % {"p": 2, "n": 5} == "第 2 页，共 5 页"


@pytest.mark.parametrize("msgid, expected", [
    ("Technology transfer", "技术转让"), ("Technology licensing", "技术许可"),
    ("Joint development", "合作开发"), ("Commissioned development", "委托开发"),
    ("Technical service", "技术服务"), ("Technical consulting", "技术咨询"),
    ("Laboratory", "实验室"), ("Small-scale trial", "小试"), ("Pilot scale", "中试"),
    ("Industrialised", "产业化"), ("Technical demand", "技术需求"), ("Research achievement", "科技成果"),
    ("Broker", "技术经纪人"), ("10k yuan", "万元"), ("Match score", "匹配度"), ("Reject", "驳回"),
    ("Send back", "退回修改"),
])
def test_domain_terms_use_the_standard_chinese_wording(catalog, msgid, expected):
    message = catalog.get(msgid)
    if message is None:
        pytest.skip(f"{msgid!r} is no longer in the sources")
    assert message.string == expected


HEADER_CELL = re.compile(r"<th[^>]*>(.*?)</th>", re.S)
TEMPLATE_MESSAGE = re.compile(r"""\b(?:_|gettext)\(\s*(["'])(.*?)\1|\bpgettext\(\s*(["'])(.*?)\3\s*,\s*(["'])(.*?)\5""",
                              re.S)


def _column_headers() -> dict[Key, list[str]]:
    """(context, msgid) of every message in a table's column header (<th>) of a template, with its files."""
    found: dict[Key, list[str]] = {}
    for path in sorted((ROOT / "templates").rglob("*.html")):
        for cell in HEADER_CELL.findall(path.read_text(encoding="utf-8")):
            for m in TEMPLATE_MESSAGE.finditer(cell):
                key = (None, m.group(2)) if m.group(2) is not None else (m.group(4), m.group(6))
                found.setdefault(key, []).append(str(path.relative_to(ROOT)))
    return found


def _status_labels() -> dict[Key, str]:
    """(context, msgid) of every label in a status table of web/ (module-level dicts named *STATUS*)."""
    import importlib
    import pkgutil

    import web
    from flask_babel import LazyString

    found: dict[Key, str] = {}
    for info in pkgutil.walk_packages(web.__path__, "web."):
        module = importlib.import_module(info.name)
        for name, table in vars(module).items():
            if "STATUS" not in name or not isinstance(table, dict):
                continue
            for code, label in table.items():
                if isinstance(label, LazyString):
                    args = label._args
                    found[(args[0], args[1]) if len(args) == 2 else (None, args[0])] = f"{info.name}.{name}[{code!r}]"
    return found


def test_no_message_is_both_a_status_and_a_column_header(catalog):
    """A msgid has one translation: "Submitted" as a status (已提交) cannot also head a date column (提交时间);
    use a distinct msgid ("Submitted on") or pgettext with a context for the other meaning."""
    headers, statuses = _column_headers(), _status_labels()
    assert headers and len(statuses) > 10
    both = {key: (statuses[key], headers[key]) for key in statuses.keys() & headers.keys()}
    assert not both, f"status labels also used as column headers: {both}"
    header_texts = {catalog.get(msgid, context).string: msgid for context, msgid in headers
                    if catalog.get(msgid, context) is not None}
    for (context, msgid), where in statuses.items():
        message = catalog.get(msgid, context)
        assert message is not None and message.string, f"{where}: {msgid!r} has no translation"
        assert message.string not in header_texts, \
            f"{where}: {msgid!r} reads {message.string!r}, as the column header {header_texts[message.string]!r}"


def test_a_submitted_application_reads_as_a_status(catalog):
    assert catalog.get("Submitted").string == "已提交"
    assert catalog.get("Submitted on").string == "提交时间"
