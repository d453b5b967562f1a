"""What counts as the input's personal data, for tests that scan outputs for leaks."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pandas as pd

_PHONE = re.compile(r"(?<!\d)(?:1[3-9]\d{9}|0437-\d{7})(?!\d)")
_ID = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")


def personal_data(export: pd.DataFrame) -> set[str]:
    """Return every party name, phone number and ID number in a demo export (columns and texts)."""
    found: set[str] = set()
    for cell in export["当事人"].dropna():
        found.update(
            n
            for n in str(cell).split("、")
            if len(n) >= 2
            and not n.endswith(
                (
                    "公司",
                    "医院",
                    "卫生院",
                    "诊所",
                    "村委会",
                    "指挥部",
                    "小学",
                    "中学",
                    "幼儿园",
                    "超市",
                    "商场",
                    "会所",
                    "工地",
                    "饭店",
                    "烧烤店",
                    "厂",
                    "中心",
                )
            )
        )
    found.update(str(v) for v in export["联系电话"].dropna())
    found.update(str(v) for v in export["身份证号"].dropna())
    for text in export["案情描述"].dropna():
        normal = str(text).translate(str.maketrans("０１２３４５６７８９", "0123456789"))
        found.update(_PHONE.findall(normal))
        found.update(_ID.findall(normal))
    return {v for v in found if len(v.strip()) >= 2 and v.lower() != "nan"}


def readable_text(path: Path) -> str:
    """Return what a reader of a file could see: cells of tables, members of archives, raw bytes."""
    if path.suffix == ".parquet":
        frame = pd.read_parquet(path)
        return frame.astype(str).to_csv(index=False) + " ".join(map(str, frame.columns))
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            return "\n".join(
                archive.read(name).decode("utf-8", "ignore") for name in archive.namelist()
            )
    return path.read_bytes().decode("utf-8", "ignore")


def leaks(folder: Path, needles: set[str], skip: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """Return (file, needle) for every needle found in any file under folder, bar `skip` folders.

    One pass of an Aho-Corasick automaton over each file finds every needle at once, so a full
    demo's hundred thousand needles over its store take seconds, not hours.
    """
    import ahocorasick

    if not needles:
        return []
    automaton = ahocorasick.Automaton()
    for needle in needles:
        automaton.add_word(needle, needle)
    automaton.make_automaton()
    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder).as_posix()
        if relative.startswith(skip):
            continue
        hits = {needle for _, needle in automaton.iter(readable_text(path))}
        found += [(relative, n) for n in sorted(hits)]
    return found
