"""Fill empty zh_Hans_CN translations from a JSON object {msgid: msgstr}; lists what is still empty.

    python translations/fill.py new.json      # fill, then report untranslated msgids
    python translations/fill.py               # only report
Run after `pybabel extract` + `pybabel update` (see README, "Translations").
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

PO = Path(__file__).resolve().parent / "zh_Hans_CN" / "LC_MESSAGES" / "messages.po"


def main(argv: list[str]) -> int:
    with PO.open("rb") as f:
        catalog = read_po(f)
    fills = json.loads(Path(argv[0]).read_text(encoding="utf-8")) if argv else {}
    for message in catalog:
        if message.id and isinstance(message.id, str) and message.id in fills:
            message.string = fills[message.id]
    with PO.open("wb") as f:
        write_po(f, catalog, width=76)
    missing = [m.id for m in catalog if m.id and not m.string]
    for msgid in missing:
        print(json.dumps(msgid, ensure_ascii=False))
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
