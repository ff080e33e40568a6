"""Contracts in and out of spreadsheets in the columns a registration office keeps: the import template (with
drop-down lists), the rows checked one by one (kept in an ImportBatch of kind 'contract' for the preview), the
good rows recorded together in one unit of work (a row that fails on the final check is reported, never
half-saved), and the export in the same columns so an export can be corrected and imported elsewhere."""
from __future__ import annotations

import io
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from sqlalchemy.orm import Session

from models import (IP_KINDS, PARTY_NATURES, TECH_CONTRACT_TYPE_ZH, TECH_CONTRACT_TYPES, ImportBatch, TechContract,
                    User, utcnow)

from . import audit, contracts, regions, taxonomy
from .errors import NotFound, ServiceError
from .exports import Table, clean_text

KIND = "contract"
STATUS_ZH = {"registered": "已登记", "not_registered": "未予登记"}
ERROR_HEADER = "错误 / Errors"


@dataclass(frozen=True)
class Column:
    """One spreadsheet column: service key, Chinese and English header, required."""

    key: str
    zh: str
    en: str
    required: bool = False


COLUMNS = [
    Column("reg_number", "登记号", "Registration number", True),
    Column("registered_on", "登记日期", "Registration date"),
    Column("name", "合同名称", "Contract name", True),
    Column("contract_type", "合同类别", "Contract type", True),
    Column("status", "登记状态", "Registration status"),
    Column("seller_name", "卖方（技术输出方）", "Seller", True),
    Column("seller_nature", "卖方性质", "Seller nature", True),
    Column("seller_region", "卖方所在地区", "Seller region", True),
    Column("buyer_name", "买方（技术吸纳方）", "Buyer", True),
    Column("buyer_nature", "买方性质", "Buyer nature", True),
    Column("buyer_region", "买方所在地区", "Buyer region", True),
    Column("amount", "成交额（万元）", "Contract amount (10k yuan)", True),
    Column("tech_amount", "技术交易额（万元）", "Technology transaction amount (10k yuan)", True),
    Column("signed_on", "签订日期", "Signed on", True),
    Column("term_from", "有效期起", "Term from"),
    Column("term_to", "有效期止", "Term to"),
    Column("field_code", "技术领域", "Field"),
    Column("ip_kind", "知识产权类型", "IP involved"),
    Column("ip_note", "知识产权说明", "IP details"),
    Column("note", "备注", "Note"),
]


def _key(text: Any) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", "" if text is None else str(text))).lower().rstrip("*＊")


def _cell(value: Any) -> Any:
    """A cell as the checks read it: dates and numbers as they are, text stripped and cleaned."""
    if value is None:
        return ""
    if isinstance(value, str):
        return clean_text(unicodedata.normalize("NFKC", value)).strip()
    return value


def parse_rows(table: list[list[Any]]) -> list[dict[str, Any]]:
    """Map the header row (Chinese, English or key) to columns, skip an English header line, keep every
    non-empty data row with its sheet row number."""
    if not table:
        raise ServiceError("upload.no_rows")
    lookup = {_key(name): c.key for c in COLUMNS for name in (c.key, c.zh, c.en)}
    mapping = {i: lookup[_key(cell)] for i, cell in enumerate(table[0]) if _key(cell) in lookup}
    missing = [c.zh for c in COLUMNS if c.required and c.key not in mapping.values()]
    if missing:
        raise ServiceError("upload.bad_headers", missing="、".join(missing))
    start = 2 if len(table) > 1 and any(_key(v) == _key(c.en) for v in table[1] for c in COLUMNS) else 1
    rows = []
    for n, values in enumerate(table[start:], start=start + 1):
        row = {key: _json_safe(_cell(values[i])) if i < len(values) else "" for i, key in mapping.items()}
        if any(str(v).strip() for v in row.values()):
            rows.append({"n": n, "values": row})
    if not rows:
        raise ServiceError("upload.no_rows")
    return rows


def _json_safe(value: Any) -> Any:
    """Cells are kept in a JSON column until the import: dates as ISO text, numbers as text."""
    if hasattr(value, "isoformat"):
        return value.isoformat()[:10]
    return value if isinstance(value, str) else str(value)


def check_rows(session: Session, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every row with its problems (contracts.check, and a registration number twice in the file)."""
    seen: dict[str, int] = {}
    out = []
    for row in rows:
        _values, problems = contracts.check(session, row["values"])
        number = str(row["values"].get("reg_number") or "").strip()
        if number and number in seen:
            problems.append(("reg_number", "contract.reg_number_twice", {"row": seen[number]}))
        seen.setdefault(number, row["n"])
        out.append({"n": row["n"], "values": row["values"],
                    "problems": [{"field": f, "code": c, "params": p} for f, c, p in problems]})
    return out


def start_batch(session: Session, owner: User, filename: str, rows: list[dict[str, Any]]) -> ImportBatch:
    """Check the parsed rows and keep them for the preview."""
    base = re.split(r"[\\/]", filename or "")[-1]
    batch = ImportBatch(owner_id=owner.id, kind=KIND, filename="".join(c for c in base if c.isprintable())[:200],
                        status="ready", rows=check_rows(session, rows), ignored_columns=[])
    session.add(batch)
    session.flush()
    return batch


def get_batch(session: Session, batch_id: int, user: User) -> ImportBatch:
    """The user's own contract batch; NotFound for anyone else's or another kind."""
    batch = session.get(ImportBatch, batch_id)
    if batch is None or batch.owner_id != user.id or batch.kind != KIND:
        raise NotFound()
    return batch


def import_batch(session: Session, actor: User, batch: ImportBatch) -> dict[str, Any]:
    """Record every row that passes a fresh check, together (the caller's unit of work commits once); rows
    that fail are reported. A batch is imported once."""
    if batch.status != "ready":
        raise ServiceError("import.not_ready")
    fresh = check_rows(session, batch.rows)
    created, skipped = [], []
    for row in fresh:
        if row["problems"]:
            skipped.append({"n": row["n"], "problems": row["problems"]})
            continue
        created.append(contracts.create_contract(session, actor, row["values"]).id)
    batch.rows, batch.status, batch.imported_at = fresh, "imported", utcnow()
    batch.result = {"created": created, "skipped": skipped}
    audit.record(session, "contract.imported", actor=actor, target=f"import:{batch.id}",
                 detail={"created": len(created), "skipped": len(skipped)})
    session.flush()
    return batch.result


def rejects_table(batch: ImportBatch, describe: Callable[[dict], str]) -> Table:
    """The rows with problems in the template's columns plus an error column, to fix and upload again."""
    table = Table([c.zh for c in COLUMNS] + [ERROR_HEADER], title="合同")
    for row in batch.rows:
        if row["problems"]:
            reasons = "; ".join(describe(p) for p in row["problems"])
            table.add([row["values"].get(c.key, "") for c in COLUMNS] + [f"第{row['n']}行 / row {row['n']}: {reasons}"])
    return table


def export_table(rows: Iterable[TechContract]) -> Table:
    """Contracts in the import columns (Chinese values, as a registration office writes them)."""
    table = Table([c.zh for c in COLUMNS], title="技术合同")
    for r in rows:
        table.add([r.reg_number, r.registered_on, r.name, TECH_CONTRACT_TYPE_ZH.get(r.contract_type, r.contract_type),
                   STATUS_ZH.get(r.status, r.status), r.seller_name,
                   f"{r.seller_nature} {PARTY_NATURES.get(r.seller_nature, '')}".strip(), r.seller_region.name_zh,
                   r.buyer_name, f"{r.buyer_nature} {PARTY_NATURES.get(r.buyer_nature, '')}".strip(),
                   r.buyer_region.name_zh, r.amount, r.tech_amount, r.signed_on, r.term_from, r.term_to,
                   r.field.code if r.field else "", IP_KINDS.get(r.ip_kind, r.ip_kind), r.ip_note, r.note])
    return table


def template_xlsx(session: Session) -> bytes:
    """The import template: Chinese and English headers, drop-down lists for the coded columns, and sheets of
    regions (code, GB/T 2260 code, name) and fields to pick from."""
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    book = Workbook()
    sheet = book.active
    sheet.title = "合同"
    region_sheet, field_sheet, list_sheet = book.create_sheet("地区"), book.create_sheet("领域"), book.create_sheet("选项")
    region_sheet.append(["名称 / Name", "代码 / Code", "GB/T 2260", "English"])
    nodes = regions.tree(session)
    for node in nodes:
        region_sheet.append([node.region.name_zh, node.region.code, node.region.gb_code or "", node.region.name_en])
    field_sheet.append(["代码 / Code", "中文 / Chinese", "English"])
    fields = [(c.code, f"{top.name_zh}/{c.name_zh}", f"{top.name_en}/{c.name_en}")
              for top in taxonomy.top_fields(session) for c in top.children if c.active]
    for row in fields:
        field_sheet.append(list(row))
    options = {"contract_type": [TECH_CONTRACT_TYPE_ZH[t] for t in TECH_CONTRACT_TYPES],
               "status": list(STATUS_ZH.values()), "nature": [f"{k} {v}" for k, v in PARTY_NATURES.items()],
               "ip_kind": list(IP_KINDS.values())}
    lists: dict[str, str] = {}
    for col, (name, values) in enumerate(options.items(), start=1):
        letter = get_column_letter(col)
        list_sheet.cell(row=1, column=col, value=name)
        for i, value in enumerate(values, start=2):
            list_sheet.cell(row=i, column=col, value=value)
        lists[name] = f"'选项'!${letter}$2:${letter}${len(values) + 1}"
    lists["region"] = f"'地区'!$A$2:$A${len(nodes) + 1}"
    lists["field"] = f"'领域'!$A$2:$A${len(fields) + 1}"
    bold, grey = Font(bold=True), Font(italic=True, color="666666")
    for i, col in enumerate(COLUMNS, start=1):
        top = sheet.cell(row=1, column=i, value=f"{col.zh}*" if col.required else col.zh)
        top.font = bold
        if col.required:
            top.fill = PatternFill("solid", fgColor="FFF2CC")
        sheet.cell(row=2, column=i, value=col.en).font = grey
        sheet.column_dimensions[get_column_letter(i)].width = max(12, min(36, 3 * len(col.zh)))
        source = {"contract_type": "contract_type", "status": "status", "seller_nature": "nature",
                  "buyer_nature": "nature", "seller_region": "region", "buyer_region": "region",
                  "field_code": "field", "ip_kind": "ip_kind"}.get(col.key)
        if source:
            dv = DataValidation(type="list", formula1=lists[source], allow_blank=not col.required,
                                showErrorMessage=source not in ("region",))
            dv.error = "请从列表中选择 / Choose a value from the list"
            dv.add(f"{get_column_letter(i)}3:{get_column_letter(i)}10002")
            sheet.add_data_validation(dv)
    sheet.freeze_panes = "A3"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
