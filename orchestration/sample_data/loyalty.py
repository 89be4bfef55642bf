"""Loyalty members with per-channel consent; a consent change re-delivers the member with a new updated_at."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from orchestration.ingest.contracts import LOYALTY_MEMBERS

from .columns import NULL_STRING, booleans, contract_table, integers, lookup, pick, take, texts, timestamps, where
from .config import DAY, Calendar, GeneratorConfig
from .contacts import Tally, typed_emails, typed_phones, typo_names
from .persons import Persons
from .rng import digit_strings, stream
from .timeline import NEVER, emissions, time_of_day

CHANNELS = ("email", "sms", "push")
JUNK_BIRTH_DATES = ("00.00.0000", "01.01.1900", "не указана", "-", "1985-13-45")


@dataclass
class Members:
    person: np.ndarray  # index into the chunk's persons
    enrolled_at: np.ndarray
    change_at: np.ndarray  # NEVER when consent never changes
    consent_v1: np.ndarray  # (n, 3) int8: -1 unknown, 0 no, 1 yes; email, sms, push
    consent_v2: np.ndarray  # after change_at
    has_email: np.ndarray
    has_phone: np.ndarray

    def consent_at(self, channel: int, member: np.ndarray, moment: np.ndarray) -> np.ndarray:
        """Whether each member had consented on ``channel`` at ``moment``."""
        before = moment < self.change_at[member]
        value = np.where(before, self.consent_v1[member, channel], self.consent_v2[member, channel])
        return (value == 1) & (moment >= self.enrolled_at[member])


def build_members(config: GeneratorConfig, calendar: Calendar, persons: Persons, chunk: int) -> Members:
    rng = stream(config.seed, "loyalty", chunk)
    member = np.flatnonzero(persons.is_member)
    member = member[np.argsort(persons.member_id[member], kind="stable")]
    n = len(member)
    enrolled = persons.enrolled_at[member]
    has_email = rng.random(n) < 0.7
    has_phone = rng.random(n) < 0.95
    consent = np.empty((n, 3), dtype=np.int8)
    consent[:, 0] = np.where(has_email, rng.random(n) < 0.55, -1)
    consent[:, 1] = np.where(has_phone, rng.random(n) < 0.5, -1)
    consent[:, 2] = np.where(rng.random(n) < 0.6, rng.random(n) < 0.45, -1)
    # A fifth of the members change one consent some day; a few of them within the daily dumps.
    change_at = enrolled + (rng.random(n) * np.maximum(calendar.span_end - enrolled, 1)).astype(np.int64)
    recent_from = calendar.n_business_days - max(calendar.days - 1, 1)
    recent_at = calendar.epoch0 + rng.integers(recent_from, calendar.n_business_days, n) * DAY + time_of_day(rng, n, "web")
    u = rng.random(n)
    change_at = np.where(u < 0.2, change_at, np.where(u < 0.23, recent_at, NEVER))
    change_at = np.where((change_at > enrolled) & (change_at < calendar.span_end), change_at, NEVER)
    which = rng.integers(0, 3, n)
    known = consent[np.arange(n), which] >= 0
    change_at = np.where(known, change_at, NEVER)
    v2 = consent.copy()
    flip = change_at != NEVER
    v2[flip, which[flip]] = 1 - consent[flip, which[flip]]
    return Members(person=member, enrolled_at=enrolled, change_at=change_at, consent_v1=consent, consent_v2=v2,
                   has_email=has_email, has_phone=has_phone)


def member_tables(config: GeneratorConfig, calendar: Calendar, persons: Persons, members: Members, chunk: int, tally: Tally):
    rng = stream(config.seed, "loyalty_rows", chunk)
    p = members.person
    n = len(p)
    # Cashiers type test@test.ru and 0000000000 when a customer will not give theirs.
    email = where(members.has_email, typed_emails(rng, take(persons.contact_email, p), tally,
                                                  config.rate("email_case_spaces"),
                                                  config.rate("placeholder_identifiers")), NULL_STRING)
    phone = where(members.has_phone, typed_phones(rng, persons.phone[p], tally, config.rate("phone_formats"),
                                                  config.rate("placeholder_identifiers")), NULL_STRING)
    first = typo_names(rng, persons.first_name[p], tally, config.rate("name_typos"))
    last = typo_names(rng, persons.last_name[p], tally, config.rate("name_typos"))
    birth = persons.birth_day[p].astype("datetime64[D]")
    iso = pa.array(np.datetime_as_string(birth, unit="D"))
    year = birth.astype("datetime64[Y]").astype(int) + 1970
    month = birth.astype("datetime64[M]").astype(int) % 12 + 1
    day = (birth - birth.astype("datetime64[M]")).astype(int) + 1
    russian = pc.binary_join_element_wise(digit_strings(day, 2), digit_strings(month, 2), digit_strings(year, 4), ".")
    style = rng.choice(4, n, p=[0.84, 0.12, 0.03, 0.01])  # ISO, dd.mm.yyyy, junk, empty
    junk = pick(JUNK_BIRTH_DATES, rng.integers(0, len(JUNK_BIRTH_DATES), n))
    birth_text = pc.choose(pa.array(style.astype(np.int8)), iso, russian, junk, NULL_STRING)
    gender = np.where(rng.random(n) < 0.05, -1, np.where(persons.male[p], 1, 0))

    stages = np.stack([members.enrolled_at, members.change_at], axis=1)
    for dump, emitted in enumerate(emissions(calendar, stages)):
        rows, stage = emitted.rows, emitted.stage
        changed = stage == 1
        consent = np.where(changed[:, None], members.consent_v2[rows], members.consent_v1[rows])
        # Consent timestamps: enrolment, or the change for the channel that changed.
        moved = changed[:, None] & (members.consent_v2[rows] != members.consent_v1[rows])
        consent_at = np.where(moved, members.change_at[rows, None], members.enrolled_at[rows, None])
        columns = {
            "member_id": integers(persons.member_id[p[rows]]),
            "card_no": lookup(persons.card_no, p[rows]),
            "phone": lookup(phone, rows),
            "email": lookup(email, rows),
            "first_name": texts(first[rows]),
            "last_name": texts(last[rows]),
            "birth_date": lookup(birth_text, rows),
            "gender": pick(("F", "M"), gender[rows]),
            "enrolled_at": timestamps(members.enrolled_at[rows]),
            "updated_at": timestamps(stages[rows, stage]),
        }
        for c, name in enumerate(CHANNELS):
            valid = consent[:, c] >= 0
            columns[f"{name}_consent"] = booleans(consent[:, c] == 1, valid=valid)
            columns[f"{name}_consent_at"] = timestamps(consent_at[:, c], valid=valid)
        yield LOYALTY_MEMBERS, dump, contract_table(LOYALTY_MEMBERS, columns)
