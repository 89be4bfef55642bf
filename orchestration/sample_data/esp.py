"""The messaging platform's activity: campaign messages to consented members and what happened to them.

Email goes to the member's email, sms and push to the phone. Each message is delivered (or bounces), may be
opened and clicked, and now and then ends in an unsubscribe or a spam complaint. Times are UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from orchestration.ingest.contracts import ESP_ACTIVITY

from .columns import contract_table, lookup, pick, tags, take, timestamps
from .config import DAY, LOCAL_UTC_OFFSET_HOURS, Calendar, GeneratorConfig
from .contacts import e164
from .loyalty import CHANNELS, Members
from .persons import Persons
from .rng import hex_ids, stream
from .sequences import Sequences
from .timeline import arrival

EVENT_TYPES = ("delivered", "open", "click", "unsubscribe", "hard_bounce", "spam_complaint")
DELIVERED, OPEN, CLICK, UNSUBSCRIBE, BOUNCE, SPAM = range(6)
THEMES = ("sale", "new_arrivals", "bonus_points", "winback", "season", "weekend_deals")
# per channel: weekdays sent (0 = Monday), local hour, share of consented contacts per campaign,
# open, click-per-open, unsubscribe and bounce and complaint probabilities
SCHEDULE = {
    "email": ((1, 4), 10, 0.10, 0.25, 0.15, 0.005, 0.005, 0.001),
    "sms": ((3,), 12, 0.10, 0.0, 0.0, 0.003, 0.0, 0.0),
    "push": ((5,), 11, 0.10, 0.08, 0.2, 0.0, 0.0, 0.0),
}
BLOCK = 50_000


@dataclass(frozen=True)
class Campaigns:
    channel: np.ndarray
    sent_at: np.ndarray  # UTC seconds
    name: pa.Array


def build_campaigns(config: GeneratorConfig, calendar: Calendar) -> Campaigns:
    day = np.arange(calendar.n_business_days)
    weekday = (np.datetime64(calendar.first_business_day) + day).astype("datetime64[D]").view("int64")
    weekday = (weekday - 4) % 7
    channels, sent, names = [], [], []
    for c, channel in enumerate(CHANNELS):  # three channels
        weekdays, hour = SCHEDULE[channel][0], SCHEDULE[channel][1]
        days = day[np.isin(weekday, weekdays)]
        channels.append(np.full(len(days), c))
        sent.append(calendar.epoch0 + days * DAY + (hour - LOCAL_UTC_OFFSET_HOURS) * 3600)
        dates = np.datetime_as_string(np.datetime64(calendar.first_business_day) + days, unit="D")
        theme = np.asarray(THEMES, dtype=object)[np.arange(len(days)) % len(THEMES)]
        names.append(pc.binary_join_element_wise(channel, pc.replace_substring(pa.array(dates), "-", ""), pa.array(theme, pa.string()), "_"))
    return Campaigns(channel=np.concatenate(channels), sent_at=np.concatenate(sent), name=pa.concat_arrays(names))


@dataclass
class Activity:
    person: np.ndarray
    message: np.ndarray  # global message counter
    channel: np.ndarray
    kind: np.ndarray
    at: np.ndarray
    campaign: np.ndarray
    member: np.ndarray


def build_activity(
    config: GeneratorConfig, calendar: Calendar, persons: Persons, members: Members, campaigns: Campaigns,
    chunk: int, sequences: Sequences,
) -> Activity:
    rng = stream(config.seed, "esp", chunk)
    parts = []
    for c, channel in enumerate(CHANNELS):
        _, _, share, p_open, p_click, p_unsub, p_bounce, p_spam = SCHEDULE[channel]
        reach = members.has_email if channel == "email" else members.has_phone
        contacts = np.flatnonzero(reach & (members.consent_v1[:, c] >= 0))
        camp = np.flatnonzero(campaigns.channel == c)
        for lo in range(0, len(contacts), BLOCK):  # blocks of contacts bound the memory
            block = contacts[lo : lo + BLOCK]
            hit = rng.random((len(block), len(camp)), dtype=np.float32) < share
            member_idx, camp_idx = np.nonzero(hit)
            member_idx, campaign = block[member_idx], camp[camp_idx]
            sent = campaigns.sent_at[campaign]
            ok = members.consent_at(c, member_idx, sent + LOCAL_UTC_OFFSET_HOURS * 3600)
            member_idx, campaign, sent = member_idx[ok], campaign[ok], sent[ok]
            parts.append((c, member_idx, campaign, sent))
    member = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.int64)
    campaign = np.concatenate([p[2] for p in parts])
    sent = np.concatenate([p[3] for p in parts])
    channel = np.concatenate([np.full(len(p[1]), p[0]) for p in parts])
    m = len(member)
    message = sequences.take("esp_message", m) + np.arange(m)

    params = np.array([SCHEDULE[ch][3:] for ch in CHANNELS])[channel]  # open, click, unsub, bounce, spam
    u = rng.random((m, 5))
    bounced = u[:, 3] < params[:, 3]
    delivered_at = sent + rng.integers(5, 900, m)
    opened = ~bounced & (u[:, 0] < params[:, 0])
    open_at = delivered_at + rng.exponential(3 * 3600, m).astype(np.int64)
    clicked = opened & (u[:, 1] < params[:, 1])
    click_at = open_at + rng.integers(5, 600, m)
    sms_click = (channel == 1) & ~bounced & (u[:, 1] < 0.02)
    clicked |= sms_click
    click_at = np.where(sms_click, delivered_at + rng.integers(30, 3600, m), click_at)
    unsub = ~bounced & (u[:, 2] < params[:, 2])
    unsub_at = np.maximum(open_at, click_at) + rng.integers(10, 300, m)
    spam = ~bounced & (u[:, 4] < params[:, 4])
    spam_at = open_at + rng.integers(10, 600, m)

    kinds = [(np.ones(m, bool) & ~bounced, DELIVERED, delivered_at), (bounced, BOUNCE, delivered_at),
             (opened, OPEN, open_at), (clicked, CLICK, click_at), (unsub, UNSUBSCRIBE, unsub_at), (spam, SPAM, spam_at)]
    row = np.concatenate([np.flatnonzero(flag) for flag, _, _ in kinds])
    kind = np.concatenate([np.full(flag.sum(), k) for flag, k, _ in kinds])
    at = np.concatenate([when[flag] for flag, _, when in kinds])
    order = np.lexsort((kind, row, at))
    row, kind, at = row[order], kind[order], at[order]
    keep = at < calendar.span_end
    row, kind, at = row[keep], kind[keep], at[keep]
    return Activity(person=members.person[member[row]], message=message[row], channel=channel[row], kind=kind, at=at,
                    campaign=campaign[row], member=member[row])


def activity_tables(config: GeneratorConfig, calendar: Calendar, persons: Persons, campaigns: Campaigns,
                    activity: Activity, chunk: int):
    rng = stream(config.seed, "esp_rows", chunk)
    n = len(activity.at)
    first, late = arrival(calendar, activity.at, rng.random(n) < config.rate("late_rows"))
    message_id = hex_ids(activity.message, config.seed, "esp_message", 16)
    # The platform holds what the CDP sent it: the address lower-cased, the phone in E.164.
    email = pc.utf8_lower(take(persons.contact_email, activity.person))
    phone = e164(persons.phone[activity.person])
    is_email = activity.channel == 0
    for dump in range(calendar.days):
        rows = np.flatnonzero(first == dump)
        yield ESP_ACTIVITY, dump, contract_table(ESP_ACTIVITY, {
            "message_id": lookup(message_id, rows),
            "channel": pick(CHANNELS, activity.channel[rows]),
            "email": lookup(email, np.where(is_email[rows], rows, -1)),
            "phone": lookup(phone, np.where(is_email[rows], -1, rows)),
            "event_type": pick(EVENT_TYPES, activity.kind[rows]),
            "occurred_at": timestamps(activity.at[rows]),
            "campaign": lookup(campaigns.name, activity.campaign[rows]),
        }, tags(len(rows), late_rows=late[rows]))
