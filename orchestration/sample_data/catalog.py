"""The assortment: ERP nomenclature (every SKU) and the web feed (the online ~70%).

A drugstore-and-beauty chain: offline-only SKUs (floss, whitening strips, cotton pads, small accessories)
exist only in the nomenclature and the tills, never in the web feed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .reference import SHOP_URL
from .rng import digit_strings, stream

# (code, group, category path, ((type, median price in roubles, sizes, coloured, offline only), ...))
CATEGORIES = (
    ("FC", "Уход за лицом", "Красота > Уход за лицом", (
        ("Крем для лица", 690, ("50 мл",), False, False),
        ("Сыворотка для лица", 990, ("30 мл",), False, False),
        ("Тоник для лица", 450, ("200 мл",), False, False),
        ("Пенка для умывания", 390, ("150 мл",), False, False),
        ("Маска тканевая", 120, ("1 шт",), False, False),
    )),
    ("HR", "Уход за волосами", "Красота > Уход за волосами", (
        ("Шампунь", 350, ("250 мл", "400 мл"), False, False),
        ("Бальзам-ополаскиватель", 330, ("200 мл", "400 мл"), False, False),
        ("Маска для волос", 520, ("250 мл",), False, False),
        ("Масло для волос", 610, ("100 мл",), False, False),
    )),
    ("MK", "Макияж", "Красота > Макияж", (
        ("Помада", 590, ("4 г",), True, False),
        ("Тушь для ресниц", 490, ("10 мл",), True, False),
        ("Тональный крем", 790, ("30 мл",), True, False),
        ("Пудра", 650, ("10 г",), True, False),
        ("Тени для век", 420, ("3 г",), True, False),
        ("Лак для ногтей", 250, ("9 мл",), True, False),
    )),
    ("PF", "Парфюмерия", "Красота > Парфюмерия", (
        ("Туалетная вода", 2490, ("30 мл", "50 мл", "100 мл"), False, False),
        ("Парфюмерная вода", 3990, ("30 мл", "50 мл"), False, False),
    )),
    ("BD", "Уход за телом", "Красота > Уход за телом", (
        ("Гель для душа", 290, ("250 мл", "500 мл"), False, False),
        ("Крем для рук", 190, ("75 мл",), False, False),
        ("Лосьон для тела", 450, ("200 мл",), False, False),
        ("Дезодорант", 260, ("50 мл", "150 мл"), False, False),
    )),
    ("OR", "Гигиена полости рта", "Гигиена > Полость рта", (
        ("Зубная паста", 220, ("75 мл", "100 мл"), False, False),
        ("Зубная щётка", 250, ("1 шт",), True, False),
        ("Ополаскиватель для рта", 310, ("250 мл",), False, False),
        ("Зубная нить", 190, ("50 м",), False, True),
        ("Отбеливающие полоски", 890, ("14 шт",), False, True),
    )),
    ("HH", "Бытовая химия", "Дом > Бытовая химия", (
        ("Средство для мытья посуды", 190, ("500 мл", "1 л"), False, False),
        ("Гель для стирки", 590, ("1,5 л",), False, False),
        ("Кондиционер для белья", 390, ("1 л",), False, False),
        ("Чистящее средство", 230, ("500 мл",), False, False),
    )),
    ("AC", "Аксессуары", "Аксессуары", (
        ("Расчёска", 350, ("1 шт",), True, True),
        ("Косметичка", 790, ("1 шт",), True, False),
        ("Ватные диски", 90, ("120 шт",), False, True),
        ("Пилка для ногтей", 150, ("1 шт",), False, True),
        ("Спонж для макияжа", 220, ("1 шт",), True, True),
    )),
)

BRANDS = (
    "Бархатный луг", "Северная ягода", "Сибирские травы", "Белый кедр", "Мама Мила", "Снежинка",
    "Aqua Vita", "Luna Rossa", "Organic Garden", "Pure Mint", "Dental Pro", "Soft Touch", "Velvet Rose",
    "Nordic Care", "L'Aroma", "Дом & Сад", "Ромашка",
)
# Per category, so names read right (no anti-dandruff floss).
DESCRIPTORS = {
    "FC": ("для сухой кожи", "для чувствительной кожи", "с гиалуроновой кислотой", "с витамином C", "SPF 30", "ночной уход"),
    "HR": ("для окрашенных волос", "против перхоти", "с маслом ши", "для всех типов волос", "объём"),
    "MK": ("стойкий эффект", "матовый финиш", "классика", "лимитированная серия"),
    "PF": ("цветочный аромат", "древесный аромат", "свежесть", "лимитированная серия"),
    "BD": ("с маслом ши", "с алоэ вера", "с ароматом лаванды", "без отдушки", "для всей семьи"),
    "OR": ("мятная", "отбеливание", "для чувствительных зубов", "детская", "с экстрактом ромашки"),
    "HH": ("лимон", "без запаха", "концентрат", "для всей семьи", "эко"),
    "AC": ("мини", "классика", "дорожная", "для всей семьи"),
}
COLORS = ("красный", "розовый", "бежевый", "чёрный", "коричневый", "нюд", "бордовый", "прозрачный", "белый", "серый")

TARGET_ONLINE_SHARE = 0.70
UNKNOWN_SKU_BASE = 90_000  # SKUs are <code>-<10000 + index>; an unknown SKU uses the 9xxxx range no product has


def catalog_size(persons: int) -> int:
    return int(np.clip(round(persons * 0.3), 200, 50_000))


def _take(values, indices) -> pa.Array:
    return pc.take(pa.array(list(values), pa.string()), pa.array(indices))


def ean13(body12: np.ndarray) -> pa.Array:
    """EAN-13 strings from 12-digit bodies (check digit computed)."""
    digits = (body12[:, None] // 10 ** np.arange(11, -1, -1, dtype=np.int64)) % 10
    weights = np.tile([1, 3], 6)
    check = (10 - (digits * weights).sum(axis=1) % 10) % 10
    return digit_strings(body12 * 10 + check, 13)


@dataclass
class Catalog:
    sku: pa.Array
    name: pa.Array
    group: pa.Array
    product_type: pa.Array
    brand: pa.Array  # nulls where the nomenclature has no brand
    feed_brand: pa.Array  # the feed drops a few more
    gtin: pa.Array
    feed_gtin: pa.Array
    color: pa.Array
    price: np.ndarray  # kopecks
    category: np.ndarray
    online: np.ndarray  # bool: listed in the web feed
    online_index: np.ndarray  # product indices of online SKUs
    _online_cdf: np.ndarray
    _store_cdf: np.ndarray

    @property
    def size(self) -> int:
        return len(self.price)

    def sample_online(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return self.online_index[np.searchsorted(self._online_cdf, rng.random(n), side="right")]

    def sample_store(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return np.searchsorted(self._store_cdf, rng.random(n), side="right")

    def unknown_skus(self, rng: np.random.Generator, products: np.ndarray) -> pa.Array:
        """SKUs in the same category format as ``products`` but in a range no catalog lists."""
        codes = _take([code for code, *_ in CATEGORIES], self.category[products])
        numbers = digit_strings(UNKNOWN_SKU_BASE + rng.integers(0, 10_000, len(products)), 5)
        return pc.binary_join_element_wise(codes, numbers, "-")


def build_catalog(seed: int, persons: int) -> Catalog:
    rng = stream(seed, "catalog")
    n = catalog_size(persons)
    types = [(ci, ti) for ci, category in enumerate(CATEGORIES) for ti in range(len(category[3]))]
    type_of = rng.integers(0, len(types), n)
    category = np.array([ci for ci, _ in types])[type_of]
    flat = [t for category_def in CATEGORIES for t in category_def[3]]
    type_names = [t[0] for t in flat]
    median = np.array([t[1] for t in flat], dtype=float)[type_of]
    coloured = np.array([t[3] for t in flat])[type_of]
    offline_type = np.array([t[4] for t in flat])[type_of]

    # Offline-only: the accessory types plus a random top-up so the feed lists about 70% of SKUs.
    extra = (1 - TARGET_ONLINE_SHARE - offline_type.mean()) / max(1e-9, 1 - offline_type.mean())
    online = ~offline_type & (rng.random(n) >= max(0.0, extra))

    sizes = [t[2] for t in flat]
    size_pick = np.floor(rng.random(n) * np.array([len(s) for s in sizes])[type_of]).astype(int)
    size_values = [size for s in sizes for size in s]
    size_offset = np.cumsum([0] + [len(s) for s in sizes])[:-1]
    size = _take(size_values, size_offset[type_of] + size_pick)

    brand_idx = rng.integers(0, len(BRANDS), n)
    brand_all = _take(BRANDS, brand_idx)
    codes_list = [c[0] for c in CATEGORIES]
    descriptor_values = [d for code in codes_list for d in DESCRIPTORS[code]]
    descriptor_count = np.array([len(DESCRIPTORS[code]) for code in codes_list])
    descriptor_offset = np.cumsum(np.r_[0, descriptor_count])[:-1]
    descriptor_pick = np.floor(rng.random(n) * descriptor_count[category]).astype(int)
    descriptor = _take(descriptor_values, descriptor_offset[category] + descriptor_pick)
    type_name = _take(type_names, type_of)
    shade = digit_strings(rng.integers(1, 40, n), 2)
    color_idx = rng.integers(0, len(COLORS), n)

    # Name styles, so names carry commas and quotes the CSV writers must quote:
    # 0 `Шампунь Бархатный луг против перхоти 400 мл`, 1 `Шампунь "Бархатный луг" ..., 400 мл`,
    # 2 `Шампунь Бархатный луг, против перхоти, 400 мл`
    style = rng.choice(3, n, p=[0.6, 0.2, 0.2])
    quoted_brand = pc.binary_join_element_wise('"', brand_all, '"', "")
    brand_in_name = pc.if_else(pa.array(style == 1), quoted_brand, brand_all)
    sep = pc.if_else(pa.array(style == 0), " ", ", ")
    tone = pc.if_else(pa.array(coloured & (category == 2)), pc.binary_join_element_wise(" тон ", shade, ""), "")
    name = pc.binary_join_element_wise(
        type_name, " ", brand_in_name, " ", descriptor, tone, sep, size, ""
    )

    price_rub = np.maximum(49, np.round(median * rng.lognormal(0.0, 0.35, n) / 10) * 10 - 1)
    price = (price_rub * 100).astype(np.int64)

    no_brand = rng.random(n) < 0.06
    brand = pc.if_else(pa.array(no_brand), pa.scalar(None, pa.string()), brand_all)
    feed_brand = pc.if_else(pa.array(no_brand | (rng.random(n) < 0.03)), pa.scalar(None, pa.string()), brand_all)
    body = 460_000_000_000 + (np.arange(n, dtype=np.int64) * 7_919_993 + 104_729) % 1_000_000_000
    gtin_all = ean13(body)
    no_gtin = rng.random(n) < 0.05
    gtin = pc.if_else(pa.array(no_gtin), pa.scalar(None, pa.string()), gtin_all)
    feed_gtin = pc.if_else(pa.array(no_gtin | (rng.random(n) < 0.05)), pa.scalar(None, pa.string()), gtin_all)
    color = pc.if_else(pa.array(coloured), _take(COLORS, color_idx), pa.scalar(None, pa.string()))

    codes = _take([c[0] for c in CATEGORIES], category)
    sku = pc.binary_join_element_wise(codes, digit_strings(10_000 + np.arange(n), 5), "-")
    group = _take([c[1] for c in CATEGORIES], category)
    product_type = pc.binary_join_element_wise(_take([c[2] for c in CATEGORIES], category), type_name, " > ")

    popularity = 1.0 / (rng.permutation(n) + 5.0) ** 0.8
    online_index = np.flatnonzero(online)
    online_weights = popularity[online_index]
    store_weights = popularity * np.where(online, 1.0, 1.5)
    return Catalog(
        sku=sku, name=name, group=group, product_type=product_type, brand=brand, feed_brand=feed_brand,
        gtin=gtin, feed_gtin=feed_gtin, color=color, price=price, category=category, online=online,
        online_index=online_index,
        _online_cdf=np.cumsum(online_weights) / online_weights.sum(),
        _store_cdf=np.cumsum(store_weights) / store_weights.sum(),
    )


def web_feed_table(catalog: Catalog, seed: int, dump: int) -> pa.Table:
    """The feed snapshot of one dump: online SKUs, availability drawn per day."""
    rng = stream(seed, "web_feed", dump)
    idx = pa.array(catalog.online_index)
    n = len(catalog.online_index)
    price = catalog.price[catalog.online_index]
    rub = pc.cast(pa.array(price // 100), pa.string())
    price_text = pc.binary_join_element_wise(rub, ".", digit_strings(price % 100, 2), " RUB", "")  # 1299.00 RUB
    return pa.table({
        "id": pc.take(catalog.sku, idx),
        "title": pc.take(catalog.name, idx),
        "link": pc.binary_join_element_wise(f"{SHOP_URL}/product/", pc.take(catalog.sku, idx), ""),
        "price": price_text,
        "availability": pc.if_else(pa.array(rng.random(n) < 0.9), "in_stock", "out_of_stock"),
        "brand": pc.take(catalog.feed_brand, idx),
        "gtin": pc.take(catalog.feed_gtin, idx),
        "product_type": pc.take(catalog.product_type, idx),
        "color": pc.take(catalog.color, idx),
    })


def nomenclature_table(catalog: Catalog) -> pa.Table:
    return pa.table({
        "Артикул": catalog.sku,
        "Наименование": catalog.name,
        "Группа": catalog.group,
        "Бренд": catalog.brand,
        "Штрихкод": catalog.gtin,
        "Цвет": catalog.color,
        "Цена": pa.array(catalog.price),
    })
