"""How the legacy systems spelled things: unit variants, full-width digits, text dates.

`Render` writes a clean value the way a careless clerk would (counting each variant in
the manifest); with `messy=False` it writes the plain form, used for defective rows so
each of them carries its one defect and nothing else unusual.
"""

from __future__ import annotations

import random
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from migrate.factory.manifest import Manifest

UNIT_SPELLINGS = {
    "kg": ("kg", "KG", "公斤", "千克", "Kg"),
    "pcs": ("pcs", "PCS", "个", "件"),
    "L": ("L", "升", "l"),
    "m": ("m", "米", "M"),
    "roll": ("roll", "卷", "ROLL"),
}
UNKNOWN_UNITS = ("桶X", "ZZ", "打包件")  # in no value map: strict mapping rejects them
LOT_STATUS = {"合格": "released", "待检": "quarantine", "不合格": "rejected", "已消耗": "consumed"}
QUALIFICATION = {"合格": "approved", "有条件": "conditional", "禁用": "blocked"}
INSPECTION_TYPE = {
    "来料检验": "incoming",
    "过程检验": "in_process",
    "成品检验": "final",
    "出货检验": "outgoing",
}
INSPECTION_RESULT = {"合格": "pass", "不合格": "fail", "让步接收": "pass"}
DISPOSITION = {"合格": "accepted", "不合格": "rejected", "让步接收": "concession"}
MOVEMENT_TYPE = {
    "采购入库": "receipt",
    "生产领料": "issue",
    "生产入库": "production_receipt",
    "销售出库": "shipment",
    "盘点调整": "adjustment",
    "调拨": "transfer",
}
WO_STATUS = {"REL": "released", "RUN": "in_progress", "DONE": "completed", "CLSD": "closed"}
EQUIPMENT_STATE = {"RUN": "running", "IDLE": "idle", "DOWN": "down", "PM": "maintenance"}


def reverse(mapping: dict[str, str], value: str) -> str:
    """The first legacy spelling of a unified value."""
    return next(k for k, v in mapping.items() if v == value)


def value_maps() -> dict[str, dict[str, str]]:
    """Legacy code -> unified code, for every coded column the sources use (the map helper's input)."""
    from migrate.factory.world import COUNTRIES, MATERIAL_TYPES

    units = {spelling: code for code, spellings in UNIT_SPELLINGS.items() for spelling in spellings}
    return {
        "unit": units,
        # inspection and process-parameter readings: already canonical, listed so a strict
        # mapping of these columns knows them
        "measurement_unit": {u: u for u in ("mm", "HRC", "%", "℃", "MPa", "rpm", "s")},
        "material_type": {v: k for k, v in MATERIAL_TYPES.items()},
        "country": dict(COUNTRIES),
        "qualification_status": QUALIFICATION,
        "lot_status": LOT_STATUS,
        "inspection_type": INSPECTION_TYPE,
        "inspection_result": INSPECTION_RESULT,
        "inspection_disposition": DISPOSITION,
        "movement_type": MOVEMENT_TYPE,
        "work_order_status": WO_STATUS,
        "equipment_status": EQUIPMENT_STATE,
    }


def fullwidth(text: str) -> str:
    """ASCII letters and digits as their full-width forms (NFKC folds them back)."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


class Render:
    def __init__(self, rng: random.Random, manifest: Manifest, source: str, *, messy: bool = True) -> None:
        self.rng = rng
        self.manifest = manifest
        self.source = source
        self.messy = messy

    def clean(self) -> Render:
        return Render(self.rng, self.manifest, self.source, messy=False)

    def _roll(self, chance: float, kind: str) -> bool:
        if self.messy and self.rng.random() < chance:
            self.manifest.variant(self.source, kind)
            return True
        return False

    def unit(self, code: str) -> str:
        if self._roll(0.35, "unit_variant"):
            return self.rng.choice(UNIT_SPELLINGS[code][1:])
        return code

    def code(self, code: str) -> str:
        """A key as typed: sometimes full-width, sometimes with trailing spaces."""
        if self.messy and code.startswith("0"):
            self.manifest.variant(self.source, "leading_zero")
        if self._roll(0.04, "fullwidth_digits"):
            return fullwidth(code)
        if self._roll(0.05, "trailing_space"):
            return code + self.rng.choice([" ", "  ", "\u3000"])
        return code

    def name(self, text: str) -> str:
        if self._roll(0.08, "trailing_space"):
            return text + " "
        return text

    def day(self, value: date | None) -> date | str | None:
        """An xlsx date: mostly a serial-number date cell, sometimes text in one of three styles."""
        if value is None:
            return None
        if not self.messy:
            return value
        style = self.rng.choices(["serial", "slash", "cn", "iso"], weights=[60, 15, 15, 10])[0]
        self.manifest.variant(self.source, f"date_{style}")
        if style == "slash":
            return f"{value.year}/{value.month}/{value.day}"
        if style == "cn":
            return f"{value.year}年{value.month}月{value.day}日"
        if style == "iso":
            return value.isoformat()
        return value

    def stamp(self, value: datetime | None) -> str | None:
        """A local timestamp as text in one of the CSV exporters' styles."""
        if value is None:
            return None
        if not self.messy:
            return f"{value:%Y-%m-%d %H:%M:%S}"
        style = self.rng.choices(["iso", "slash", "cn", "compact"], weights=[55, 20, 15, 10])[0]
        self.manifest.variant(self.source, f"timestamp_{style}")
        if style == "slash":
            return f"{value.year}/{value.month}/{value.day} {value.hour}:{value.minute:02d}"
        if style == "cn":
            return f"{value.year}年{value.month}月{value.day}日 {value:%H:%M}"
        if style == "compact":
            return f"{value:%Y%m%d %H%M%S}"
        return f"{value:%Y-%m-%d %H:%M:%S}"

    def quantity(self, amount: Decimal, unit_text: str) -> float | str:
        """A quantity cell: a number, sometimes text with the unit typed in ("12.5 kg")."""
        if self._roll(0.08, "quantity_with_unit"):
            return f"{amount} {unit_text}"
        return float(amount)


def number(value: Decimal | None) -> Any:
    return None if value is None else float(value)
