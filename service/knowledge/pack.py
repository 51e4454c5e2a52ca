"""Load and validate a knowledge pack, collecting every problem before anything is indexed.

Each problem names the file, the line and the field, e.g.
`products.csv:14: price: '六十八' is not a number`. `load_pack` raises one PackError
carrying all of them, so a shop owner fixes the pack in one pass.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from service.errors import PackError
from service.knowledge.models import Pack, Product, Section, Shop

PRODUCT_FILES = ("products.csv", "products.jsonl", "products.yaml")
PRODUCT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
SECTION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")
ALIAS_SPLIT = re.compile(r"[|、;；]")
# `## 标题 {#id intent=bargain}`: pandoc-style attributes after a heading.
HEADING_ATTRS = re.compile(r"\s*\{([^{}]*)\}\s*$")
FENCE = re.compile(r"^(```|~~~)")


class _Problems:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.items: list[str] = []

    def add(self, file: Path | str, line: int | None, field: str | None, message: str) -> None:
        name = file.relative_to(self.root).as_posix() if isinstance(file, Path) else file
        where = f"{name}:{line}" if line else name
        self.items.append(f"{where}: {field}: {message}" if field else f"{where}: {message}")


def load_pack(root: Path | str, max_file_bytes: int = 5 * 1024 * 1024,
              max_products_bytes: int = 200 * 1024 * 1024) -> Pack:
    """Read and validate the pack in `root`. Raises PackError listing every problem."""
    root = Path(root)
    problems = _Problems(root)
    if not root.is_dir():
        raise PackError([f"{root}: not a directory (expected a knowledge pack folder)"])

    shop, shop_lines = _load_shop(root, problems, max_file_bytes)
    products = _load_products(root, problems, max_products_bytes)
    sections = _load_handbook(root, problems, max_file_bytes)
    guardrails = _load_guardrails(root, problems, max_file_bytes)
    if problems.items or shop is None:
        raise PackError(problems.items or [f"{root}: shop.yaml could not be read"])
    return Pack(root=root, shop=shop, products=products, sections=sections, shop_source=shop_lines,
                guardrails=guardrails)


def _load_guardrails(root: Path, problems: _Problems, max_bytes: int) -> dict[str, Any] | None:
    """The optional guardrails.yaml; its rules are checked by service.guardrails at ingest."""
    path = root / "guardrails.yaml"
    if not path.is_file():
        return None
    text = _read_text(path, problems, max_bytes)
    if text is None:
        return None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        line, message = _yaml_problem(exc)
        problems.add(path, line, None, message)
        return None
    if data is not None and not isinstance(data, dict):
        problems.add(path, 1, None, "expected a mapping with rules, severity or disable")
        return None
    return data


def _read_text(path: Path, problems: _Problems, max_bytes: int) -> str | None:
    size = path.stat().st_size
    if size > max_bytes:
        problems.add(
            path, None, None,
            f"{size:,} bytes is over the {max_bytes:,}-byte limit for this file "
            "(HUASHU_MAX_PACK_FILE_BYTES, HUASHU_MAX_PRODUCTS_FILE_BYTES)",
        )
        return None
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        problems.add(path, line, None, f"not valid UTF-8 (byte {exc.start}); save the file as UTF-8")
        return None


# --- shop.yaml -------------------------------------------------------------------------


def _load_shop(root: Path, problems: _Problems, max_bytes: int) -> tuple[Shop | None, dict[str, int]]:
    path = root / "shop.yaml"
    if not path.is_file():
        problems.add(path, None, None, "missing: every pack needs a shop.yaml (see CONTRACTS §1)")
        return None, {}
    text = _read_text(path, problems, max_bytes)
    if text is None:
        return None, {}
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        line, message = _yaml_problem(exc)
        problems.add(path, line, None, message)
        return None, {}
    if not isinstance(data, dict):
        problems.add(path, 1, None, "expected a mapping of fields (id, name, platform, …)")
        return None, {}
    lines = _key_lines(node)
    try:
        shop = Shop.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            loc = ".".join(str(part) for part in err["loc"])
            problems.add(path, _line_for(lines, err["loc"]), loc, err["msg"])
        return None, lines
    return shop, lines


def _yaml_problem(exc: yaml.YAMLError) -> tuple[int | None, str]:
    mark = getattr(exc, "problem_mark", None)
    message = f"malformed YAML: {getattr(exc, 'problem', None) or exc}"
    context, context_mark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if context and context_mark is not None:
        message += f" ({context} that starts on line {context_mark.line + 1})"
    return (mark.line + 1 if mark is not None else None), message


def _key_lines(node: Any, prefix: str = "") -> dict[str, int]:
    """Map dotted keys (`policy.gifts.allowed`) to their 1-based line in the YAML source."""
    lines: dict[str, int] = {}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            dotted = f"{prefix}{key.value}"
            lines[dotted] = key.start_mark.line + 1
            lines.update(_key_lines(value, dotted + "."))
    return lines


def _line_for(lines: dict[str, int], loc: tuple[Any, ...]) -> int | None:
    parts = [str(p) for p in loc]
    while parts:
        line = lines.get(".".join(parts))
        if line:
            return line
        parts.pop()
    return 1


# --- products ----------------------------------------------------------------------------


def _load_products(root: Path, problems: _Problems, max_bytes: int) -> list[Product]:
    present = [root / name for name in PRODUCT_FILES if (root / name).is_file()]
    if not present:
        problems.add(root / "products.csv", None, None, "missing: a pack needs products.csv (or .jsonl/.yaml)")
        return []
    if len(present) > 1:
        names = ", ".join(p.name for p in present)
        problems.add(root / present[1].name, None, None, f"more than one product file ({names}); keep one")
        return []
    path = present[0]
    text = _read_text(path, problems, max_bytes)
    if text is None:
        return []
    rows = {
        ".csv": _csv_rows, ".jsonl": _jsonl_rows, ".yaml": _yaml_rows,
    }[path.suffix](path, text, problems)

    products: list[Product] = []
    seen: dict[str, int] = {}
    for line, row in rows:
        product = _product_from_row(path, line, row, problems)
        if product is None:
            continue
        if product.id in seen:
            problems.add(path, line, "id", f"duplicate id {product.id!r} (first defined on line {seen[product.id]})")
            continue
        seen[product.id] = line
        products.append(product)
    if not products and not problems.items:
        problems.add(path, None, None, "no products: the file has a header but no rows")
    return products


def _csv_rows(path: Path, text: str, problems: _Problems) -> list[tuple[int, dict[str, Any]]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        problems.add(path, 1, None, "empty file: expected a header row with id,name,price")
        return []
    except csv.Error as exc:
        problems.add(path, 1, None, f"malformed CSV: {exc}")
        return []
    header = [h.strip() for h in header]
    missing = [c for c in ("id", "name", "price") if c not in header]
    if missing:
        problems.add(path, 1, None, f"header lacks required column(s) {', '.join(missing)}")
        return []
    dupes = {h for h in header if header.count(h) > 1}
    if dupes:
        problems.add(path, 1, None, f"duplicate column(s) {', '.join(sorted(dupes))}")
        return []
    rows: list[tuple[int, dict[str, Any]]] = []
    line = 1
    try:
        for record in reader:
            start = line + 1
            line = reader.line_num
            if not any(cell.strip() for cell in record):
                continue
            if len(record) != len(header):
                problems.add(path, start, None, f"{len(record)} cells but the header has {len(header)} columns")
                continue
            rows.append((start, dict(zip(header, record))))
    except csv.Error as exc:
        problems.add(path, reader.line_num, None, f"malformed CSV: {exc}")
    return rows


def _jsonl_rows(path: Path, text: str, problems: _Problems) -> list[tuple[int, dict[str, Any]]]:
    rows = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            problems.add(path, number, None, f"malformed JSON: {exc.msg}")
            continue
        if not isinstance(value, dict):
            problems.add(path, number, None, "expected one JSON object per line")
            continue
        rows.append((number, value))
    return rows


def _yaml_rows(path: Path, text: str, problems: _Problems) -> list[tuple[int, dict[str, Any]]]:
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        line, message = _yaml_problem(exc)
        problems.add(path, line, None, message)
        return []
    if not isinstance(data, list) or not isinstance(node, yaml.SequenceNode):
        problems.add(path, 1, None, "expected a list of products")
        return []
    rows = []
    for item_node, item in zip(node.value, data):
        line = item_node.start_mark.line + 1
        if not isinstance(item, dict):
            problems.add(path, line, None, "expected a mapping with id, name, price")
            continue
        rows.append((line, item))
    return rows


def _product_from_row(path: Path, line: int, row: dict[str, Any], problems: _Problems) -> Product | None:
    before = len(problems.items)
    pid = str(row.get("id") or "").strip()
    name = str(row.get("name") or "").strip()
    raw_price = row.get("price")
    if not pid:
        problems.add(path, line, "id", "missing: every product needs an id")
    elif not PRODUCT_ID.match(pid):
        problems.add(path, line, "id", f"{pid!r} is not a valid id (letters, digits, _ . -; up to 64)")
    if not name:
        problems.add(path, line, "name", "missing: every product needs a name")
    price: float | None = None
    if raw_price is None or str(raw_price).strip() == "":
        problems.add(path, line, "price", "missing: every product needs a price in CNY")
    else:
        try:
            price = float(str(raw_price).strip().removeprefix("¥").removesuffix("元"))
        except ValueError:
            problems.add(path, line, "price", f"{raw_price!r} is not a number (CNY, e.g. 68 or 39.9)")
        else:
            if not price >= 0:
                problems.add(path, line, "price", f"{raw_price!r} must be zero or more")
    if len(problems.items) > before or price is None:
        return None
    aliases_raw = row.get("aliases") or []
    if isinstance(aliases_raw, str):
        aliases_raw = ALIAS_SPLIT.split(aliases_raw)
    aliases = [a.strip() for a in aliases_raw if str(a).strip()]
    facts = {
        str(key).strip(): _fact_text(value)
        for key, value in row.items()
        if key not in ("id", "name", "price", "aliases") and _fact_text(value)
    }
    return Product(id=pid, name=name, price=price, aliases=aliases, facts=facts, source=f"{path.name}:{line}")


def _fact_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return "、".join(str(v) for v in value)
    if isinstance(value, dict):
        return ";".join(f"{k}:{v}" for k, v in value.items())
    return str(value).strip()


# --- handbook ----------------------------------------------------------------------------


def _load_handbook(root: Path, problems: _Problems, max_bytes: int) -> list[Section]:
    folder = root / "handbook"
    if not folder.is_dir():
        problems.add(folder, None, None, "missing: a pack needs a handbook/ folder of Markdown files")
        return []
    sections: list[Section] = []
    seen: dict[str, str] = {}
    for path in sorted(folder.rglob("*.md")):
        text = _read_text(path, problems, max_bytes)
        if text is None:
            continue
        for section in _parse_markdown(path, text, root, problems):
            if section.id in seen:
                problems.add(path, int(section.source.rsplit(":", 1)[1]), "id",
                             f"duplicate section id {section.id!r} (also at {seen[section.id]})")
                continue
            seen[section.id] = section.source
            sections.append(section)
    if not sections and not problems.items:
        problems.add(folder, None, None, "no `##` sections found: each `##` section is one script or rule")
    return sections


def _parse_markdown(path: Path, text: str, root: Path, problems: _Problems) -> list[Section]:
    lines = text.splitlines()
    start = 0
    if lines and lines[0].strip() == "---":  # front matter is context only
        end = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), None)
        start = end + 1 if end is not None else 0
    rel = path.relative_to(root).as_posix()
    stem = path.relative_to(root / "handbook").with_suffix("").as_posix().replace("/", "-")
    context = ""
    sections: list[Section] = []
    current: dict[str, Any] | None = None
    in_fence = False

    def close() -> None:
        if current is None:
            return
        body = "\n".join(current["body"]).strip()
        if not body:
            problems.add(path, current["line"], None, f"section {current['title']!r} has no text")
            return
        sections.append(Section(id=current["id"], title=current["title"], intent=current["intent"],
                                context=context, text=body, source=f"{rel}:{current['line']}"))

    for number, line in enumerate(lines[start:], start=start + 1):
        if FENCE.match(line.strip()):
            in_fence = not in_fence
        if not in_fence and line.startswith("# "):
            close()
            current = None
            context = line[2:].strip()
            continue
        if not in_fence and line.startswith("## "):
            close()
            title, attrs = _split_heading(line[3:].strip())
            sid = attrs.get("id") or f"{stem}-{len(sections) + 1}"
            if not SECTION_ID.match(sid):
                problems.add(path, number, "id", f"{sid!r} is not a valid section id (letters, digits, _ . -)")
            current = {"id": sid, "title": title, "intent": attrs.get("intent"), "line": number, "body": []}
            continue
        if current is not None:
            current["body"].append(line)
    close()
    return sections


def _split_heading(heading: str) -> tuple[str, dict[str, str]]:
    match = HEADING_ATTRS.search(heading)
    if not match:
        return heading, {}
    attrs: dict[str, str] = {}
    for token in match.group(1).split():
        if token.startswith("#"):
            attrs["id"] = token[1:]
        elif "=" in token:
            key, _, value = token.partition("=")
            attrs[key] = value.strip("\"'")
    return heading[: match.start()].strip(), attrs
