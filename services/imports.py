"""Bulk import of demands and achievements from spreadsheets: template, row checks, drafts in one go.

A file becomes an ImportBatch holding every data row with the problems found in it. Rows without problems
(and, if the user says so, rows only flagged as possible duplicates) are created as drafts in one
transaction; every other row is reported with its reasons and can be downloaded to fix and upload again.
Problems are codes with parameters; the web layer translates them.
"""
from __future__ import annotations

import io
import math
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Callable, Iterable, Optional

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from models import (COOPERATION_MODES, MODE_ZH, STAGE_TRL, STAGE_ZH, STAGES, Field, ImportBatch, Region,
                    User, utcnow)

from . import clock, listings, taxonomy
from .errors import NotFound, ServiceError
from .exports import FORMULA_PREFIXES, Table, clean_text

PHONE_RE = re.compile(r"^(\+?86[- ]?)?(1[3-9][0-9]{9}|0[0-9]{2,3}-?[0-9]{7,8}(-[0-9]{1,6})?)$")  # as web/forms.py
MODE_EN = {"transfer": "Technology transfer", "license": "Technology licensing", "joint": "Joint development",
           "commissioned": "Commissioned development", "service": "Technical service",
           "consulting": "Technical consulting"}
STAGE_EN = {"lab": "Laboratory", "small_pilot": "Small-scale trial", "pilot": "Pilot scale",
            "industrial": "Industrialised"}
TRUE_WORDS = {"是", "y", "yes", "true", "1", "面议", "可议", "√", "✓", "x"}
FALSE_WORDS = {"否", "n", "no", "false", "0", "不可议", ""}
ERROR_HEADER = "错误 / Errors"
ERROR_HEADERS = {"错误", "errors", "error", "错误 / errors", "错误/errors", "问题"}
MAX_AMOUNT = 1_000_000


@dataclass(frozen=True)
class Column:
    """One spreadsheet column: key, Chinese and English headers, required, and what the cell holds."""

    key: str
    zh: str
    en: str
    required: bool = False
    note_zh: str = ""
    note_en: str = ""


COMMON_HEAD = [
    Column("title", "名称", "Title", True, "4 到 120 个字", "4 to 120 characters"),
    Column("field", "所属领域", "Field", True, "从下拉列表选择（见“领域代码”表）",
           "pick from the list (sheet 领域代码 / fields)"),
    Column("keywords", "关键词", "Keywords", False, "用逗号分隔", "separated by commas"),
    Column("region", "地区", "Region", True, "从下拉列表选择", "pick from the list"),
    Column("modes", "合作方式", "Cooperation modes", True, "一个或多个，用逗号或顿号分隔（见“说明”表）",
           "one or more, separated by commas (see sheet 说明 / notes)"),
]
CONTACT = [
    Column("contact_name", "联系人", "Contact person", True, "不公开", "never shown publicly"),
    Column("contact_phone", "联系电话", "Contact phone", True, "手机 11 位或座机如 029-88886666",
           "mobile (11 digits) or landline such as 029-88886666"),
    Column("contact_email", "联系邮箱", "Contact e-mail", True, "不公开", "never shown publicly"),
]
COLUMNS: dict[str, list[Column]] = {
    "demand": COMMON_HEAD + [
        Column("description", "需求描述", "Problem description", True, "20 到 4000 字", "20 to 4,000 characters"),
        Column("indicators", "技术指标", "Technical indicators", False, "最多 2000 字", "up to 2,000 characters"),
        Column("budget_min", "预算下限（万元）", "Budget from (10k yuan)", False, "数字，0 到 1000000", "a number"),
        Column("budget_max", "预算上限（万元）", "Budget up to (10k yuan)", False, "不小于预算下限",
               "at least the minimum"),
        Column("deadline", "截止日期", "Deadline", False, "如 2027-06-30，不早于今天", "like 2027-06-30, not past"),
        Column("min_trl", "最低成熟度（TRL）", "Minimum TRL", False, "1 到 9 的整数", "a whole number 1 to 9"),
    ] + CONTACT,
    "achievement": COMMON_HEAD + [
        Column("abstract", "成果简介", "Abstract", True, "20 到 6000 字", "20 to 6,000 characters"),
        Column("stage", "成熟度阶段", "Maturity stage", True, "实验室 / 小试 / 中试 / 产业化",
               "laboratory / small-scale trial / pilot / industrialised"),
        Column("trl", "技术就绪度（TRL）", "TRL", True, "1 到 9 的整数，须在阶段范围内（见“说明”表）",
               "1 to 9, within the stage's span"),
        Column("price", "转让价格（万元）", "Asking price (10k yuan)", False, "数字；不填须选“价格面议”",
               "a number; empty needs 'negotiable'"),
        Column("negotiable", "价格面议", "Price negotiable", False, "是 / 否", "yes / no"),
        Column("team", "团队 / 发明人", "Team / inventors", False, "最多 1000 字", "up to 1,000 characters"),
    ] + CONTACT,
}
BODY = {"demand": "description", "achievement": "abstract"}
LENGTHS = {"title": (4, 120), "keywords": (0, 300), "description": (20, 4000), "indicators": (0, 2000),
           "abstract": (20, 6000), "team": (0, 1000), "contact_name": (0, 50), "contact_email": (0, 254)}

# similar(kind, data) -> [(listing id, title, score)] of published listings that look the same
SimilarFn = Callable[[str, dict[str, Any]], list[tuple[int, str, float]]]
ProgressFn = Callable[[int, Optional[int]], None]


def columns(kind: str) -> list[Column]:
    """The template's columns for a kind of listing."""
    listings.model_for(kind)
    return COLUMNS[kind]


def _norm(text: Any) -> str:
    return unicodedata.normalize("NFKC", "" if text is None else str(text)).strip()


def _key(text: Any) -> str:
    return re.sub(r"\s+", "", _norm(text)).lower().rstrip("*＊")


# ---------------------------------------------------------------- reading the sheet

@dataclass
class ParsedSheet:
    """Data rows keyed by column, with their sheet row numbers, and columns that were ignored."""

    rows: list[dict[str, Any]]
    ignored: list[str]


def parse_rows(kind: str, table: list[list[Any]]) -> ParsedSheet:
    """Map the header row to columns, skip the English header line, keep every non-empty data row."""
    cols = columns(kind)
    lookup = {}
    for c in cols:
        for name in (c.key, c.zh, c.en, f"{c.zh}/{c.en}"):
            lookup[_key(name)] = c.key
    if not table:
        raise ServiceError("upload.no_rows")
    header = table[0]
    mapping: dict[int, str] = {}
    ignored: list[str] = []
    for i, cell in enumerate(header):
        name = _key(cell)
        if not name or name in ERROR_HEADERS:
            continue
        if name in lookup and lookup[name] not in mapping.values():
            mapping[i] = lookup[name]
        else:
            ignored.append(_norm(cell))
    missing = [c for c in cols if c.required and c.key not in mapping.values()]
    if missing:
        raise ServiceError("upload.bad_headers", missing="、".join(c.zh for c in missing))
    start = 1
    if len(table) > 1 and _looks_like_header(table[1], mapping, cols):
        start = 2
    rows = []
    for n, values in enumerate(table[start:], start=start + 1):
        row = {key: _text(values[i]) if i < len(values) else "" for i, key in mapping.items()}
        if any(v for v in row.values()):
            rows.append({"n": n, "values": row})
    if not rows:
        raise ServiceError("upload.no_rows")
    return ParsedSheet(rows, ignored)


def _looks_like_header(values: list[Any], mapping: dict[int, str], cols: list[Column]) -> bool:
    en = {c.key: _key(c.en) for c in cols}
    hits = sum(1 for i, key in mapping.items() if i < len(values) and _key(values[i]) == en[key])
    return hits >= max(1, len(mapping) // 2)


def _text(value: Any) -> str:
    """A cell as text the way the user typed it; an export's protective apostrophe is taken off, and
    characters no text may contain (control characters from other programs: services.exports.UNSTORABLE)
    are dropped, as the web forms refuse them."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat(" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return "" if math.isnan(value) else (str(int(value)) if value.is_integer() else repr(value))
    text = clean_text(str(value)).strip()
    if text.startswith("'") and text[1:2] and text[1:].startswith(FORMULA_PREFIXES):
        text = text[1:]
    return text


# ---------------------------------------------------------------- checking rows

class Lookups:
    """Names users may type for fields, regions, modes and stages, resolved to codes."""

    def __init__(self, session: Session) -> None:
        self.fields: dict[str, str] = {}
        names: dict[str, list[str]] = {}
        for top in taxonomy.top_fields(session):
            for child in top.children:
                if not child.active:
                    continue
                for label in (child.code, f"{top.name_zh}/{child.name_zh}", f"{top.name_en}/{child.name_en}",
                              f"{child.name_zh}({child.code})"):
                    self.fields[_key(label)] = child.code
                for name in (child.name_zh, child.name_en):
                    names.setdefault(_key(name), []).append(child.code)
        for name, codes in names.items():
            if len(set(codes)) == 1:
                self.fields.setdefault(name, codes[0])
        self.regions: dict[str, str] = {}
        for r in session.scalars(select(Region)):
            short = re.sub(r"(壮族|回族|维吾尔)?(自治区|特别行政区|省|市)$", "", r.name_zh)
            for label in (r.code, r.name_zh, r.name_en, short):
                self.regions[_key(label)] = r.code
        self.modes = {_key(x): m for m in COOPERATION_MODES for x in (m, MODE_ZH[m], MODE_EN[m])}
        self.stages = {_key(x): s for s in STAGES for x in (s, STAGE_ZH[s], STAGE_EN[s])}


class RowCheck:
    """Turns one row's text into service data, collecting problems instead of stopping at the first."""

    def __init__(self, kind: str, values: dict[str, str], lookups: Lookups, today: date) -> None:
        self.kind, self.values, self.lk, self.today = kind, values, lookups, today
        self.problems: list[dict[str, Any]] = []
        self.data: dict[str, Any] = {}

    def add(self, field: str, code: str, level: str = "error", **params: Any) -> None:
        """Record a problem with a column."""
        self.problems.append({"field": field, "code": code, "params": params, "level": level})

    def run(self) -> "RowCheck":
        """Check every column of the row."""
        for col in columns(self.kind):
            raw = _norm(self.values.get(col.key, ""))
            if not raw:
                if col.required:
                    self.add(col.key, "import.required")
                continue
            getattr(self, f"_c_{col.key}", self._c_text)(col.key, raw)
        if not any(p["field"] == "modes" for p in self.problems) and "modes" not in self.data:
            self.data["modes"] = []
        self._cross()
        return self

    def _c_text(self, key: str, raw: str) -> None:
        lo, hi = LENGTHS.get(key, (0, 10_000))
        if len(raw) > hi:
            self.add(key, "import.too_long", max=hi)
        elif len(raw) < lo:
            self.add(key, "import.too_short", min=lo)
        else:
            self.data[key] = raw

    def _c_field(self, key: str, raw: str) -> None:
        code = self.lk.fields.get(_key(raw)) or self.lk.fields.get(_key(_paren_code(raw)))
        if code is None:
            self.add(key, "import.unknown_field", value=raw[:60])
        else:
            self.data["field_code"] = code

    def _c_region(self, key: str, raw: str) -> None:
        code = self.lk.regions.get(_key(raw))
        if code is None:
            self.add(key, "import.unknown_region", value=raw[:60])
        else:
            self.data["region"] = code

    def _c_modes(self, key: str, raw: str) -> None:
        codes = []
        for part in re.split(r"[,，、;；/|\n]+", raw):
            if not part.strip():
                continue
            code = self.lk.modes.get(_key(part))
            if code is None:
                self.add(key, "import.unknown_mode", value=part.strip()[:40])
            else:
                codes.append(code)
        if codes and not any(p["field"] == key for p in self.problems):
            self.data["modes"] = codes

    def _c_stage(self, key: str, raw: str) -> None:
        code = self.lk.stages.get(_key(raw))
        if code is None:
            self.add(key, "import.unknown_stage", value=raw[:40])
        else:
            self.data["stage"] = code

    def _c_trl(self, key: str, raw: str) -> None:
        number = _number(re.sub(r"(?i)^trl\s*", "", raw))
        if number is None or not number.is_integer():
            self.add(key, "import.bad_integer")
        elif not 1 <= number <= 9:
            self.add(key, "import.out_of_range", min=1, max=9)
        else:
            self.data[key] = int(number)

    _c_min_trl = _c_trl

    def _c_money(self, key: str, raw: str) -> None:
        number = _number(re.sub(r"万元?$|元$", "", raw))
        if number is None:
            self.add(key, "import.bad_number")
        elif not 0 <= number <= MAX_AMOUNT:
            self.add(key, "import.out_of_range", min=0, max=MAX_AMOUNT)
        else:
            self.data[key] = round(number, 2)

    _c_budget_min = _c_budget_max = _c_price = _c_money

    def _c_deadline(self, key: str, raw: str) -> None:
        when = _date(raw)
        if when is None:
            self.add(key, "import.bad_date")
        elif when < self.today:
            self.add(key, "import.date_past")
        else:
            self.data[key] = when

    def _c_negotiable(self, key: str, raw: str) -> None:
        word = _key(raw)
        if word in TRUE_WORDS or word in FALSE_WORDS:
            self.data[key] = word in TRUE_WORDS
        else:
            self.add(key, "import.bad_bool")

    def _c_contact_phone(self, key: str, raw: str) -> None:
        raw = unicodedata.normalize("NFKC", raw).strip()  # full-width digits typed with a Chinese input method
        if PHONE_RE.match(raw):
            self.data[key] = raw
        else:
            self.add(key, "import.bad_phone")

    def _c_contact_email(self, key: str, raw: str) -> None:
        try:
            validate_email(raw, check_deliverability=False)
        except EmailNotValidError:
            self.add(key, "import.bad_email")
            return
        self._c_text(key, raw)

    def _cross(self) -> None:
        d = self.data
        if self.kind == "demand":
            lo, hi = d.get("budget_min"), d.get("budget_max")
            if lo is not None and hi is not None and lo > hi:
                self.add("budget_max", "import.budget_order")
            return
        if d.get("stage") and d.get("trl"):
            lo, hi = STAGE_TRL[d["stage"]]
            if not lo <= d["trl"] <= hi:
                self.add("trl", "import.stage_trl", lo=lo, hi=hi)
        if d.get("price") is None and not d.get("negotiable") and not self._has("price"):
            self.add("price", "import.price_or_negotiable")
        d.setdefault("negotiable", False)

    def _has(self, key: str) -> bool:
        return any(p["field"] == key for p in self.problems)


def _paren_code(raw: str) -> str:
    found = re.search(r"[(（]([a-z0-9_.]+)[)）]\s*$", raw)
    return found.group(1) if found else raw


def _number(raw: str) -> Optional[float]:
    try:
        value = float(_norm(raw).replace(",", "").replace("，", ""))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


# the dates a listing may carry, as everywhere else (web/input_guard.py): date arithmetic near year 1 or
# 9999 overflows
FIRST_YEAR, LAST_YEAR = 1900, 2999


def _date(raw: str) -> Optional[date]:
    text = _norm(raw).split(" ")[0]
    text = re.sub(r"[年月/.]", "-", text).rstrip("日")
    if not re.fullmatch(r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}", text):
        return None
    y, m, d = (int(p) for p in text.split("-"))
    if not FIRST_YEAR <= y <= LAST_YEAR:
        return None
    try:
        return date(y, m, d)
    except ValueError:
        return None


def _dup_key(kind: str, values: dict[str, str]) -> str:
    return _key(values.get("title")) + "\x1f" + _key(values.get(BODY[kind]))


def check_rows(session: Session, kind: str, owner: User, rows: list[dict[str, Any]],
               similar: Optional[SimilarFn] = None, progress: Optional[ProgressFn] = None) -> list[dict]:
    """Every row with its problems."""
    return [row for row, _ in _check(session, kind, owner, rows, similar, progress)]


def _check(session: Session, kind: str, owner: User, rows: list[dict[str, Any]],
           similar: Optional[SimilarFn], progress: Optional[ProgressFn]) -> list[tuple[dict, dict]]:
    lookups = Lookups(session)
    today = clock.today()
    own_titles = {_key(item.title): item.id for item in listings.owned_by(session, kind, owner)}
    seen: dict[str, int] = {}
    out = []
    for i, row in enumerate(rows):
        check = RowCheck(kind, row["values"], lookups, today).run()
        key = _dup_key(kind, row["values"])
        if key in seen:
            check.add("title", "import.dup_in_file", row=seen[key])
        else:
            seen[key] = row["n"]
        title_key = _key(row["values"].get("title"))
        if title_key in own_titles:
            check.add("title", "import.dup_own", level="duplicate", id=own_titles[title_key])
        if similar is not None and not _blocking(check.problems):
            for other_id, title, score in similar(kind, check.data):
                if other_id != own_titles.get(title_key):
                    check.add("title", "import.dup_similar", level="duplicate", id=other_id,
                              title=title[:60], score=round(score))
        out.append(({"n": row["n"], "values": row["values"], "problems": check.problems}, check.data))
        if progress is not None and (i + 1) % 50 == 0:
            progress(i + 1, len(rows))
    return out


def _blocking(problems: list[dict]) -> bool:
    return any(p["level"] == "error" for p in problems)


def importable(row: dict, include_duplicates: bool) -> bool:
    """Whether a checked row may be imported."""
    problems = row["problems"]
    return not problems or (include_duplicates and not _blocking(problems))


# ---------------------------------------------------------------- batches

def start_batch(session: Session, kind: str, owner: User, filename: str, sheet: ParsedSheet) -> ImportBatch:
    """Record an uploaded file's rows, not yet checked."""
    if owner.role != listings.OWNER_ROLE[kind]:
        raise ServiceError("listing.wrong_role")
    batch = ImportBatch(owner_id=owner.id, kind=kind, filename=_safe_name(filename), status="validating",
                        rows=[{"n": r["n"], "values": r["values"], "problems": []} for r in sheet.rows],
                        ignored_columns=sheet.ignored[:30])
    session.add(batch)
    session.flush()
    return batch


def _safe_name(name: str) -> str:
    base = re.split(r"[\\/]", name or "")[-1]
    return "".join(c for c in base if c.isprintable())[:200]


def validate_batch(session: Session, batch: ImportBatch, similar: Optional[SimilarFn] = None,
                   progress: Optional[ProgressFn] = None) -> ImportBatch:
    """Check every row of the batch and make it ready for import."""
    owner = session.get(User, batch.owner_id)
    batch.rows = check_rows(session, batch.kind, owner, batch.rows, similar, progress)
    batch.status = "ready"
    session.flush()
    return batch


def get_batch(session: Session, batch_id: int, user: User) -> ImportBatch:
    """The user's own batch; NotFound for anyone else's."""
    batch = session.get(ImportBatch, batch_id)
    if batch is None or batch.owner_id != user.id:
        raise NotFound()
    return batch


def claim_for_import(session: Session, batch: ImportBatch) -> None:
    """Move a ready batch to importing exactly once: one conditional UPDATE, so of several confirms (a double
    click, a retry, two tabs) exactly one wins, whatever their timing; the others get "import.not_ready" and
    must leave the batch alone (it is the winner's)."""
    claimed = session.execute(update(ImportBatch).where(ImportBatch.id == batch.id,
                                                        ImportBatch.status == "ready")
                              .values(status="importing")).rowcount
    if not claimed:
        raise ServiceError("import.not_ready")
    session.refresh(batch)


def commit_job_key(batch_id: int) -> str:
    """The job key of a batch's import: one queued or running import job per batch (services.jobs)."""
    return f"import.commit:{batch_id}"


def claim_for_job(session: Session, batch_id: int, job_id: int) -> Optional[ImportBatch]:
    """The batch if the import job job_id may import it now: the batch is importing for this job, or was put
    back to ready after this job's failed try (then it is claimed again, conditionally: a confirm may have
    claimed it meanwhile). None when the batch was imported already (a job delivered twice imports nothing
    twice). Anything else: "import.not_ready". Writes only in the second case (the caller commits)."""
    batch = session.get(ImportBatch, batch_id, populate_existing=True)
    if batch is not None and batch.status == "imported":
        return None
    if batch is None or batch.job_id != job_id or batch.status not in ("importing", "ready"):
        raise ServiceError("import.not_ready")
    if batch.status == "ready":
        claimed = session.execute(update(ImportBatch).where(ImportBatch.id == batch_id, ImportBatch.job_id == job_id,
                                                            ImportBatch.status == "ready")
                                  .values(status="importing")).rowcount
        if not claimed:
            raise ServiceError("import.not_ready")
        session.refresh(batch)
    return batch


def import_batch(session: Session, batch: ImportBatch, include_duplicates: bool,
                 progress: Optional[ProgressFn] = None) -> dict:
    """Create the importable rows as drafts, all or none; the caller commits. Returns the report."""
    owner = session.get(User, batch.owner_id)
    checked = _check(session, batch.kind, owner, batch.rows, None, progress)
    previous = {r["n"]: r["problems"] for r in batch.rows}
    created, skipped, fresh = [], [], []
    for row, data in checked:
        # keep the similarity flags found at preview time; the recheck adds anything that changed since
        row = dict(row, problems=_merge(previous.get(row["n"], []), row["problems"]))
        fresh.append(row)
        if not importable(row, include_duplicates):
            skipped.append({"n": row["n"], "problems": row["problems"]})
            continue
        try:
            item = listings.create_listing(session, batch.kind, owner, data)
        except ServiceError as err:
            raise ServiceError("import.row_failed", row=row["n"], reason=err.code) from None
        created.append(item.id)
    batch.rows = fresh
    batch.result = {"created": created, "skipped": skipped, "include_duplicates": include_duplicates}
    batch.status, batch.imported_at = "imported", utcnow()
    session.flush()
    return batch.result


def _merge(old: list[dict], new: list[dict]) -> list[dict]:
    out = list(new)
    for p in old:
        if p["code"] == "import.dup_similar" and p not in out:
            out.append(p)
    return out


def rejected_rows(batch: ImportBatch) -> list[dict]:
    """Rows that were not (or would not be) imported, with their problems."""
    if batch.result is not None:
        skipped = {s["n"] for s in batch.result["skipped"]}
        return [r for r in batch.rows if r["n"] in skipped]
    return [r for r in batch.rows if r["problems"]]


def rejects_table(batch: ImportBatch, describe: Callable[[dict], str]) -> Table:
    """The rejected rows in the template's columns plus an error column, ready to fix and upload again."""
    cols = columns(batch.kind)
    table = Table([f"{c.zh}*" if c.required else c.zh for c in cols] + [ERROR_HEADER],
                  title="需求" if batch.kind == "demand" else "成果")
    for row in rejected_rows(batch):
        reasons = "; ".join(describe(p) for p in row["problems"])
        table.add([row["values"].get(c.key, "") for c in cols] + [f"第{row['n']}行 / row {row['n']}: {reasons}"])
    return table


# ---------------------------------------------------------------- the template

def template_xlsx(session: Session, kind: str) -> bytes:
    """The import template: headers in Chinese and English, drop-down lists, and a sheet of notes."""
    from openpyxl import Workbook
    from openpyxl.comments import Comment
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    cols = columns(kind)
    book = Workbook()
    sheet = book.active
    sheet.title = "需求" if kind == "demand" else "成果"
    fields_sheet = book.create_sheet("领域代码")
    regions_sheet = book.create_sheet("地区")
    notes = book.create_sheet("说明")
    field_rows = [(c.code, f"{top.name_zh}/{c.name_zh}", f"{top.name_en}/{c.name_en}")
                  for top in taxonomy.top_fields(session) for c in top.children if c.active]
    fields_sheet.append(["代码 / Code", "中文 / Chinese", "English"])
    for r in field_rows:
        fields_sheet.append(list(r))
    region_rows = taxonomy.regions(session)
    regions_sheet.append(["代码 / Code", "中文 / Chinese", "English"])
    for r in region_rows:
        regions_sheet.append([r.code, r.name_zh, r.name_en])
    bold, grey = Font(bold=True), Font(italic=True, color="666666")
    for i, col in enumerate(cols, start=1):
        top = sheet.cell(row=1, column=i, value=f"{col.zh}*" if col.required else col.zh)
        top.font = bold
        if col.required:
            top.fill = PatternFill("solid", fgColor="FFF2CC")
        sheet.cell(row=2, column=i, value=col.en).font = grey
        top.comment = Comment(f"{col.zh}：{col.note_zh}\n{col.en}: {col.note_en}"
                              + ("\n必填 / required" if col.required else ""), "TechMatch")
        sheet.column_dimensions[get_column_letter(i)].width = max(14, min(40, 3 * len(col.zh)))
    sheet.freeze_panes = "A3"
    last = 10_002
    lists = {"field": f"'领域代码'!$B$2:$B${len(field_rows) + 1}",
             "region": f"'地区'!$B$2:$B${len(region_rows) + 1}",
             "stage": '"' + ",".join(STAGE_ZH[s] for s in STAGES) + '"',
             "negotiable": '"是,否"'}
    for i, col in enumerate(cols, start=1):
        if col.key in lists:
            dv = DataValidation(type="list", formula1=lists[col.key], allow_blank=not col.required,
                                showErrorMessage=col.key != "field")
            dv.error = "请从列表中选择 / Choose a value from the list"
            letter = get_column_letter(i)
            dv.add(f"{letter}3:{letter}{last}")
            sheet.add_data_validation(dv)
    _notes(notes, kind)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _notes(sheet: Any, kind: str) -> None:
    from openpyxl.styles import Font

    lines: list[list[Any]] = [
        ["填写说明 / How to fill in"],
        ["第 1 行为中文表头，第 2 行为英文表头，请从第 3 行开始填写，每行一条；带 * 的列必填。"],
        ["Row 1: Chinese headers, row 2: English headers; one listing per row from row 3; * = required."],
        ["导入后每一行都会先预览并列出问题；没有问题的行保存为草稿，不会直接发布。"],
        ["Every row is previewed with its problems first; good rows are saved as drafts, never published."],
        [],
        ["合作方式 / Cooperation modes", "代码 / Code", "English"],
    ]
    lines += [[MODE_ZH[m], m, MODE_EN[m]] for m in COOPERATION_MODES]
    if kind == "achievement":
        lines += [[], ["成熟度阶段 / Maturity stage", "代码 / Code", "English", "TRL 范围 / span"]]
        lines += [[STAGE_ZH[s], s, STAGE_EN[s], f"{STAGE_TRL[s][0]}–{STAGE_TRL[s][1]}"] for s in STAGES]
    else:
        lines += [[], ["技术就绪度 TRL 1–9：1–3 实验室，4–5 小试，6–7 中试，8–9 产业化。"],
                  ["TRL 1–9: 1–3 laboratory, 4–5 small-scale trial, 6–7 pilot, 8–9 industrialised."]]
    for line in lines:
        sheet.append(line)
    for row in (1, 7):
        sheet.cell(row=row, column=1).font = Font(bold=True)
    sheet.column_dimensions["A"].width = 40


def transient_listing(session: Session, kind: str, data: dict[str, Any]) -> Any:
    """An unsaved listing built from a row's data, for the engine's duplicate check (never added)."""
    model = listings.model_for(kind)
    # id -1: never a stored row, so the engine neither finds "itself" nor treats it as indexed
    item = model(id=-1, title=data.get("title", ""), keywords=data.get("keywords", ""), region=data.get("region"))
    item.modes = data.get("modes", [])
    for key in listings.KIND_FIELDS[kind]:
        if key in data:
            setattr(item, key, data[key])
    item.field = session.scalar(select(Field).where(Field.code == data.get("field_code", "")))
    return item


def release(session: Session, batch_id: int) -> None:
    """Put a batch whose import failed back to ready, so the user can try again."""
    session.execute(update(ImportBatch).where(ImportBatch.id == batch_id, ImportBatch.status == "importing")
                    .values(status="ready"))
