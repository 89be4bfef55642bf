"""The people behind the data: who they are, how they shop, which identifiers they own.

Segments: store only (loyalty card or anonymous), online only, mixed, phone orders through the ERP, web
browsers who never buy, and a few heavy ERP buyers (one shop order, dozens of phone orders).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from . import reference as ref
from .catalog import ean13
from .config import DAY, Calendar, GeneratorConfig
from .contacts import Tally
from .rng import digit_strings, stream
from .sequences import Sequences
from .timeline import time_of_day

STORE_ONLY, ONLINE_ONLY, MIXED, PHONE, BROWSER, HEAVY_ERP = range(6)
SEGMENT_SHARES_STORE_CITY = np.array([0.28, 0.14, 0.33, 0.04, 0.205, 0.005])
SEGMENT_SHARES_OTHER_CITY = np.array([0.0, 0.55, 0.0, 0.10, 0.345, 0.005])
ACCOUNT_SHARE = np.array([0.05, 0.75, 0.60, 0.20, 0.30, 1.0])
MEMBER_SHARE = np.array([0.60, 0.15, 0.60, 0.30, 0.05, 0.50])
WEB_SHARE = np.array([0.05, 1.0, 1.0, 0.30, 1.0, 1.0])

_MALE_FIRST_LAT = [ref.translit(name) for name in ref.MALE_NAMES]
_FEMALE_FIRST_LAT = [ref.translit(name) for name in ref.FEMALE_NAMES]
_MALE_LAST_LAT = [ref.translit(name) for name in ref.SURNAMES_MALE]
_FEMALE_LAST_LAT = [ref.translit(name) for name in ref.SURNAMES_FEMALE]


def _pick(rng: np.random.Generator, male: np.ndarray, n_male: int, n_female: int) -> np.ndarray:
    return np.where(male, rng.integers(0, n_male, len(male)), rng.integers(0, n_female, len(male)))


def _names(male: np.ndarray, idx: np.ndarray, male_values, female_values) -> np.ndarray:
    return np.where(male, np.asarray(male_values)[idx % len(male_values)], np.asarray(female_values)[idx % len(female_values)])


@dataclass
class Persons:
    """One chunk of persons; every array has one entry per person."""

    person_id: np.ndarray
    male: np.ndarray
    first_name: np.ndarray
    last_name: np.ndarray
    patronymic: np.ndarray
    birth_day: np.ndarray  # days since 1970-01-01
    city: np.ndarray  # index into reference.CITY_NAMES
    home_store: np.ndarray  # index into reference.STORES, -1 when the city has no store
    segment: np.ndarray
    start_day: np.ndarray  # activity window [start_day, end_day) in business day indices
    end_day: np.ndarray
    intensity: np.ndarray  # purchase frequency multiplier, mean 1
    email: pa.Array  # unique personal email (ground truth)
    contact_email: pa.Array  # the email the person types: their own or, rarely, a relative's
    phone: np.ndarray  # national 10-digit mobile number, unique
    has_account: np.ndarray
    user_id: np.ndarray  # shop account id, 0 without an account
    registered_at: np.ndarray
    is_member: np.ndarray
    member_id: np.ndarray  # 0 for non-members
    card_no: pa.Array  # 13 digits, null for non-members
    enrolled_at: np.ndarray
    device_start: np.ndarray  # global device counter of the person's first device
    n_devices: np.ndarray  # 0 for people who never visit the site

    @property
    def size(self) -> int:
        return len(self.person_id)

    def full_names(self) -> np.ndarray:
        return np.char.add(np.char.add(np.char.add(np.char.add(self.last_name, " "), self.first_name), " "), self.patronymic)


def _emails(rng, male, first_idx, last_idx, birth_year, person_id, sequences: Sequences) -> pa.Array:
    first = pa.array(_names(male, first_idx, _MALE_FIRST_LAT, _FEMALE_FIRST_LAT))
    last = pa.array(_names(male, last_idx, _MALE_LAST_LAT, _FEMALE_LAST_LAT))
    year = pc.cast(pa.array(birth_year), pa.string())
    yy = digit_strings(birth_year % 100, 2)
    initial = pc.utf8_slice_codeunits(first, 0, 1)
    styles = [
        pc.binary_join_element_wise(first, last, "."),
        pc.binary_join_element_wise(first, last, "_"),
        pc.binary_join_element_wise(initial, last, ""),
        pc.binary_join_element_wise(last, year, ""),
        pc.binary_join_element_wise(first, last, yy, ""),
        pc.binary_join_element_wise(last, first, "."),
        pc.binary_join_element_wise(first, year, ""),
    ]
    n = len(male)
    local = pc.choose(pa.array(rng.integers(0, len(styles), n).astype(np.int8)), *styles)
    domain_idx = np.searchsorted(np.cumsum(ref.EMAIL_DOMAIN_WEIGHTS) / ref.EMAIL_DOMAIN_WEIGHTS.sum(), rng.random(n), side="right")
    domain = pc.take(pa.array(ref.EMAIL_DOMAINS), pa.array(np.minimum(domain_idx, len(ref.EMAIL_DOMAINS) - 1)))
    email = pc.binary_join_element_wise(local, domain, "@")
    # No style ends the local part with ".<digits>", so "<first>.<last>.<person_id>" never collides.
    fallback = pc.binary_join_element_wise(
        pc.binary_join_element_wise(first, last, pc.cast(pa.array(person_id), pa.string()), "."), domain, "@"
    )
    hashes = pd.util.hash_array(np.asarray(email.to_numpy(zero_copy_only=False), dtype=object))
    taken = sequences.claim_emails(hashes)
    email = pc.if_else(pa.array(taken), fallback, email)
    sequences.register_emails(pd.util.hash_array(np.asarray(email.to_numpy(zero_copy_only=False), dtype=object)))
    return email


def generate_persons(
    config: GeneratorConfig, calendar: Calendar, chunk: int, offset: int, n: int, sequences: Sequences, tally: Tally
) -> Persons:
    rng = stream(config.seed, "persons", chunk)
    person_id = np.arange(offset + 1, offset + n + 1, dtype=np.int64)
    male = rng.random(n) < 0.45
    first_idx = _pick(rng, male, len(ref.MALE_NAMES), len(ref.FEMALE_NAMES))
    last_idx = rng.integers(0, len(ref.SURNAMES_MALE), n)
    patr_idx = rng.integers(0, len(ref.PATRONYMICS_MALE), n)
    city = np.minimum(np.searchsorted(np.cumsum(ref.CITY_WEIGHTS), rng.random(n), side="right"), len(ref.CITY_NAMES) - 1)

    # A few people share an email with the relative next to them: same surname and city.
    family = (rng.random(n) < config.rate("shared_family_email")) & (np.arange(n) > 0)
    family[1:] &= ~family[:-1]  # no chains: the relative uses their own email
    tally.add("shared_family_email", family.sum())
    relative = np.flatnonzero(family) - 1
    last_idx[family] = last_idx[relative]
    city[family] = city[relative]

    age_years = rng.normal(38, 13, n)
    outside = (age_years < 18) | (age_years > 82)  # redrawn, not clipped: no pile of identical birthdays
    age_years[outside] = rng.uniform(18, 82, outside.sum())
    end_ordinal = (calendar.end_date - pd.Timestamp(0).date()).days
    birth_day = (end_ordinal - age_years * 365.25).astype(np.int64)
    birth_year = (birth_day.astype("datetime64[D]").astype("datetime64[Y]").astype(int) + 1970).astype(np.int64)

    stores_by_city = {c: np.flatnonzero(ref.STORE_CITY == c) for c in np.unique(ref.STORE_CITY)}
    has_store = np.isin(city, ref.STORE_CITY)
    home_store = np.full(n, -1, dtype=np.int64)
    for c, stores in stores_by_city.items():  # one iteration per store city
        in_city = city == c
        home_store[in_city] = stores[rng.integers(0, len(stores), in_city.sum())]
    home_store[family] = np.where(has_store[family], home_store[relative], -1)

    cdf_store = np.cumsum(SEGMENT_SHARES_STORE_CITY)
    cdf_other = np.cumsum(SEGMENT_SHARES_OTHER_CITY)
    u = rng.random(n)
    segment = np.where(has_store, np.searchsorted(cdf_store, u, side="right"), np.searchsorted(cdf_other, u, side="right"))
    segment = np.minimum(segment, HEAVY_ERP)
    # The relative's email is what they type when ordering online.
    offline = family & ~np.isin(segment, (ONLINE_ONLY, MIXED))
    segment[offline] = np.where(has_store[offline], MIXED, ONLINE_ONLY)

    T = calendar.n_business_days
    existing = rng.random(n) < 0.45
    start_day = np.where(existing, 0, rng.integers(0, T, n))
    lifetime = (rng.exponential(500, n) + 30).astype(np.int64)
    end_day = np.minimum(T, start_day + lifetime)
    start_day = np.minimum(start_day, end_day - 1)
    intensity = rng.gamma(1.2, 1 / 1.2, n)

    first_name = _names(male, first_idx, ref.MALE_NAMES, ref.FEMALE_NAMES)
    last_name = _names(male, last_idx, ref.SURNAMES_MALE, ref.SURNAMES_FEMALE)
    patronymic = _names(male, patr_idx, ref.PATRONYMICS_MALE, ref.PATRONYMICS_FEMALE)
    email = _emails(rng, male, first_idx, last_idx, birth_year, person_id, sequences)
    contact_email = pc.take(email, pa.array(np.where(family, np.arange(n) - 1, np.arange(n))))
    # Unique mobile numbers: an affine bijection of the person id onto 9xx xxx xx xx.
    phone = 9_000_000_000 + (person_id * 618_033_989 + 271_828_183) % 1_000_000_000

    has_account = rng.random(n) < ACCOUNT_SHARE[segment]
    registered_day = np.minimum(start_day + rng.integers(-400, 20, n), T - 1)
    registered_at = calendar.epoch0 + registered_day * DAY + time_of_day(rng, n, "web")
    user_id = np.zeros(n, dtype=np.int64)
    account_rows = np.flatnonzero(has_account)
    order = account_rows[np.argsort(registered_at[account_rows], kind="stable")]
    user_id[order] = 100_001 + sequences.take("user", len(order)) + np.arange(len(order))

    is_member = rng.random(n) < MEMBER_SHARE[segment]
    enrolled_day = np.minimum(start_day + rng.integers(-600, 10, n), T - 1)
    enrolled_at = calendar.epoch0 + enrolled_day * DAY + time_of_day(rng, n, "store")
    member_id = np.zeros(n, dtype=np.int64)
    member_rows = np.flatnonzero(is_member)
    order = member_rows[np.argsort(enrolled_at[member_rows], kind="stable")]
    member_id[order] = 1 + sequences.take("member", len(order)) + np.arange(len(order))
    # 13-digit EAN cards: "26" + a bijection of the member id onto 10 digits + check digit.
    card_body = 260_000_000_000 + (member_id * 7_777_777_777 + 1_234_567_891) % 10_000_000_000
    cards = ean13(card_body)
    card_no = pc.if_else(pa.array(is_member), cards, pa.scalar(None, pa.string()))

    web = rng.random(n) < WEB_SHARE[segment]
    n_devices = np.where(web, 1 + (rng.random(n) < 0.45) + (rng.random(n) < 0.15), 0).astype(np.int64)
    device_start = sequences.take("device", int(n_devices.sum())) + np.cumsum(n_devices) - n_devices

    return Persons(
        person_id=person_id, male=male, first_name=first_name, last_name=last_name, patronymic=patronymic,
        birth_day=birth_day, city=city, home_store=home_store, segment=segment, start_day=start_day,
        end_day=end_day, intensity=intensity, email=email, contact_email=contact_email, phone=phone,
        has_account=has_account, user_id=user_id, registered_at=registered_at, is_member=is_member,
        member_id=member_id, card_no=card_no, enrolled_at=enrolled_at, device_start=device_start,
        n_devices=n_devices,
    )
