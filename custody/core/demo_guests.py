"""Demo guests and stays for the demo hotel: deterministic synthetic people, never real ones, nothing downloaded.

``seed_demo_guests`` writes through the guest vault only (``custody.guests.vault``), so every field is encrypted,
indexed and audited exactly as at the front desk; batches of writes share one transaction to keep it fast. Names are
Chinese (common surnames, two-character given names) and Latin (Spanish with a second surname, Italian, Portuguese,
German, British, French, American; accents kept), with Japanese and Korean guests written in Latin letters as on their
passports. Contact data uses the reserved example.com / example.cn domains and fictitious numbers.

Stays spread over the last 18 months up to today, 1-7 nights: the past ones checked out (a few cancelled or no-shows),
a handful in house today and a few booked arrivals for today and tomorrow. Every guest of a stay that was checked in
has a registration, with their identity document.
"""

from __future__ import annotations

import datetime as dt
import random
import unicodedata
import zoneinfo
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from custody.guests import vault
from custody.guests.desk import property_today
from custody.guests.models import Channel, DocumentType, Guest, IdentityDocument, Stay, StayStatus
from custody.properties.models import Property, Room

DEFAULT_SEED = 20261123
HISTORY_DAYS = 548  # 18 months
BATCH = 250  # writes per transaction

CN_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
CN_GIVEN_CHARS = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰红建国志文晓婷雪梅海燕宇浩然子涵欣怡佳琪"
CN_CITIES = [
    ("370202", "山东省青岛市市南区香港中路"), ("110105", "北京市朝阳区建国路"), ("310115", "上海市浦东新区世纪大道"),
    ("440305", "广东省深圳市南山区科技园路"), ("330106", "浙江省杭州市西湖区文三路"),
    ("510104", "四川省成都市锦江区春熙路"),
    ("420106", "湖北省武汉市武昌区中北路"), ("320102", "江苏省南京市玄武区中山路"),
]  # fmt: skip

# country: (surnames, female given names, male given names, second surname?, street, city)
LATIN: dict[str, tuple[list[str], list[str], list[str], bool, str, str]] = {
    "ES": (
        ["García", "Fernández", "González", "Rodríguez", "López", "Martínez", "Sánchez", "Pérez", "Gómez", "Martín",
         "Jiménez", "Ruiz", "Hernández", "Díaz", "Muñoz", "Álvarez", "Romero", "Núñez", "Ibáñez", "Peña"],
        ["María José", "Lucía", "Sofía", "Carmen", "Inés", "Ana Belén", "Begoña", "Nuria", "Elena", "Mónica"],
        ["José Luis", "Javier", "Álvaro", "Íñigo", "Jesús", "Andrés", "Raúl", "Sergio", "Joaquín", "Rubén"],
        True, "Calle Mayor", "Madrid",
    ),
    "IT": (
        ["Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci", "Marino", "Greco",
         "Bruno", "Gallo", "Conti", "De Luca", "Mancini", "Costa", "Giordano", "Rizzo", "Lombardi", "Moretti"],
        ["Giulia", "Francesca", "Chiara", "Alessandra", "Federica", "Martina", "Elisabetta", "Noemi", "Bianca",
         "Ilaria"],
        ["Marco", "Luca", "Niccolò", "Matteo", "Lorenzo", "Andrea", "Giuseppe", "Davide", "Federico", "Riccardo"],
        False, "Via Roma", "Milano",
    ),
    "PT": (
        ["Silva", "Santos", "Ferreira", "Pereira", "Oliveira", "Costa", "Rodrigues", "Martins", "Jesus", "Sousa",
         "Fernandes", "Gonçalves", "Gomes", "Lopes", "Marques", "Alves", "Simões", "Conceição", "Magalhães", "Brandão"],
        ["Ana", "Beatriz", "Inês", "Leonor", "Matilde", "Constança", "Margarida", "Luísa", "Joana", "Mariana"],
        ["João", "Tomás", "Gonçalo", "Rodrigo", "Martim", "Simão", "Duarte", "Afonso", "António", "Sebastião"],
        False, "Rua Augusta", "Lisboa",
    ),
    "DE": (
        ["Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz", "Hoffmann",
         "Schäfer", "Koch", "Bauer", "Richter", "Klein", "Wolf", "Schröder", "Neumann", "Schwarz", "Krüger"],
        ["Anna", "Lena", "Jürgen", "Sophie", "Katharina", "Lea", "Hannah", "Jörg", "Ursula", "Brigitte"],
        ["Lukas", "Jonas", "Maximilian", "Björn", "Jürgen", "Günter", "Felix", "Moritz", "Stefan", "Tobias"],
        False, "Hauptstraße", "Berlin",
    ),
    "GB": (
        ["Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Robinson", "Wright",
         "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall", "Wood", "Jackson", "O'Brien"],
        ["Olivia", "Amelia", "Isla", "Emily", "Charlotte", "Chloë", "Grace", "Sophie", "Ella", "Zoë"],
        ["Oliver", "George", "Harry", "Jack", "Thomas", "James", "William", "Charlie", "Oscar", "Noah"],
        False, "High Street", "London",
    ),
    "FR": (
        ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau",
         "Simon", "Laurent", "Lefèvre", "Michel", "Garnier", "Faure", "Rousseau", "Mercier", "Fontaine", "Chevalier"],
        ["Renée", "Hélène", "Amélie", "Léa", "Chloé", "Élodie", "Camille", "Manon", "Maëlle", "Françoise"],
        ["Jérôme", "François", "Théo", "Raphaël", "Noël", "Benoît", "Loïc", "Gaël", "Hugo", "Étienne"],
        False, "Rue de Rivoli", "Paris",
    ),
    "US": (
        ["Miller", "Davis", "Anderson", "Moore", "Martinez", "Harris", "Clark", "Lewis", "Young", "Allen",
         "King", "Scott", "Hill", "Adams", "Baker", "Nelson", "Carter", "Mitchell", "Campbell", "Parker"],
        ["Emma", "Ava", "Mia", "Abigail", "Madison", "Elizabeth", "Avery", "Harper", "Evelyn", "Zoe"],
        ["Liam", "Ethan", "Mason", "Logan", "Lucas", "Jacob", "Michael", "Daniel", "Henry", "Jackson"],
        False, "Main Street", "Springfield",
    ),
    "JP": (
        ["Sato", "Suzuki", "Takahashi", "Tanaka", "Watanabe", "Ito", "Yamamoto", "Nakamura", "Kobayashi", "Kato"],
        ["Yui", "Aoi", "Sakura", "Haruka", "Yuna", "Mei", "Hina", "Rin", "Misaki", "Nanami"],
        ["Haruto", "Ren", "Yuto", "Sota", "Hiroshi", "Takeshi", "Kenji", "Daiki", "Riku", "Sho"],
        False, "Chuo-dori", "Tokyo",
    ),
    "KR": (
        ["Kim", "Lee", "Park", "Choi", "Jung", "Kang", "Cho", "Yoon", "Jang", "Lim"],
        ["Ji-woo", "Seo-yeon", "Min-ji", "Ha-eun", "Soo-ah", "Ye-jin", "Da-eun", "Eun-ji", "Hye-jin", "Yu-na"],
        ["Min-jun", "Seo-jun", "Do-yoon", "Ji-ho", "Hyun-woo", "Joon-young", "Sung-min", "Tae-yang", "Dong-hyun",
         "Jae-won"],
        False, "Teheran-ro", "Seoul",
    ),
}  # fmt: skip
# Nationality weights: mostly domestic guests at a hotel in Qingdao.
NATIONALITIES = {"CN": 45, "ES": 7, "IT": 6, "PT": 5, "DE": 8, "GB": 7, "FR": 7, "US": 7, "JP": 4, "KR": 4}
PHONE_PREFIX = {"CN": "+86", "ES": "+34", "IT": "+39", "PT": "+351", "DE": "+49", "GB": "+44", "FR": "+33",
                "US": "+1", "JP": "+81", "KR": "+82"}  # fmt: skip
PASSPORT_LETTERS = {"CN": "E", "ES": "PA", "IT": "YA", "PT": "C", "DE": "C", "GB": "", "FR": "", "US": "",
                    "JP": "TK", "KR": "M"}  # fmt: skip
CHANNELS: dict[str, int] = {
    Channel.OTA: 30, Channel.WEBSITE: 18, Channel.DIRECT: 12, Channel.PHONE: 10, Channel.CORPORATE: 9,
    Channel.TRAVEL_AGENT: 7, Channel.EMAIL: 5, Channel.WALK_IN: 4, Channel.GROUP: 4, Channel.OTHER: 1,
}  # fmt: skip
NIGHTS = {1: 22, 2: 26, 3: 20, 4: 12, 5: 9, 6: 5, 7: 6}
PREFERENCES = ["", "", "", "Quiet room, high floor", "Non-smoking", "Extra pillows", "Twin beds", "高楼层，安静的房间",
               "Late check-out if possible", "Room away from the lift"]  # fmt: skip
SPECIAL_NEEDS = ["", "", "", "", "", "", "", "Step-free access", "Allergic to feathers", "Gluten-free breakfast"]
SPECIAL_REQUESTS = ["", "", "", "", "Baby cot", "Airport pick-up", "Early check-in", "Birthday cake", "需要发票",
                    "Late arrival, after 23:00"]  # fmt: skip
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ALNUM = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


@dataclass
class _Person:
    guest: Guest
    document: IdentityDocument


@dataclass
class _Plan:
    check_in: dt.date
    nights: int
    status: str
    room: Room | None = None
    companions: list[int] = field(default_factory=list)


def seed_demo_guests(
    prop: Property, *, guests: int = 2000, stays: int = 5000, seed: int = DEFAULT_SEED
) -> tuple[int, int]:
    """Create ``guests`` demo guests and ``stays`` stays at ``prop``; returns (guests, stays) of the property.

    Idempotent: a property that already has guests is left as it is. The same seed gives the same people and stays
    (dates relative to today where the property is).
    """
    existing = Guest.objects.filter(property=prop).count()
    if existing:
        return existing, Stay.objects.filter(property=prop).count()
    if guests < 1 and stays > 0:
        raise ValueError("stays need at least one guest.")
    rng = random.Random(seed)  # noqa: S311 - synthetic demo data, reproducible on purpose; nothing secret
    today = property_today(prop)
    zone = zoneinfo.ZoneInfo(prop.timezone)
    rooms = list(Room.objects.filter(property=prop).order_by("number"))
    people: list[_Person] = []
    with _batches() as tick:
        for n in range(guests):
            people.append(_create_person(prop, rng, n, today))
            tick()
    plans = _plan_stays(rng, stays, len(people), rooms, today)
    now = timezone.now()
    with _batches() as tick:
        for n, plan in enumerate(plans):
            _create_stay(prop, rng, n, plan, people, zone, now)
            tick()
    return Guest.objects.filter(property=prop).count(), Stay.objects.filter(property=prop).count()


@contextmanager
def _batches() -> Iterator[Callable[[], None]]:
    """Yield a callable that commits every BATCH calls: one transaction per batch instead of one per write."""
    state = {"count": 0}
    atomic = transaction.atomic()
    atomic.__enter__()

    def tick() -> None:
        state["count"] += 1
        if state["count"] % BATCH == 0:
            atomic.__exit__(None, None, None)
            atomic.__enter__()

    try:
        yield tick
    except BaseException as exc:
        atomic.__exit__(type(exc), exc, exc.__traceback__)
        raise
    atomic.__exit__(None, None, None)


# --- guests -------------------------------------------------------------------------------------------------------


def _create_person(prop: Property, rng: random.Random, n: int, today: dt.date) -> _Person:
    nationality = _weighted(rng, NATIONALITIES)
    sex = rng.choice("FM") if rng.random() < 0.98 else "X"
    born = today - dt.timedelta(days=rng.randint(18 * 365 + 5, 80 * 365))
    if nationality == "CN":
        surname = rng.choice(CN_SURNAMES)
        given = "".join(rng.sample(CN_GIVEN_CHARS, 2)) if rng.random() < 0.85 else rng.choice(CN_GIVEN_CHARS)
        second_surname = ""
        region, street = rng.choice(CN_CITIES)
        address = f"{street}{rng.randint(1, 300)}号{rng.randint(1, 30)}栋{rng.randint(101, 2808)}室"
        phone = f"+86 1{rng.choice('3578')}{rng.randint(0, 9)} {rng.randint(0, 9999):04d} {rng.randint(0, 9999):04d}"
        email = f"{_pinyinish(rng)}{n:04d}@example.cn"
    else:
        surnames, female, male, two_surnames, street, city = LATIN[nationality]
        surname = rng.choice(surnames)
        second_surname = rng.choice([s for s in surnames if s != surname]) if two_surnames else ""
        given = rng.choice(female if sex == "F" else male if sex == "M" else female + male)
        region = ""
        address = f"{street} {rng.randint(1, 200)}\n{rng.randint(10000, 99999)} {city}"
        phone = (
            f"{PHONE_PREFIX[nationality]} {rng.randint(100, 999)} {rng.randint(100, 999)} {rng.randint(0, 9999):04d}"
        )
        email = f"{_ascii_handle(given, surname)}.{n:04d}@example.com"
    fields = {
        "surname": surname,
        "second_surname": second_surname,
        "given_names": given,
        "sex": sex,
        "date_of_birth": born,
        "nationality": nationality,
        "address": address,
        "phone": phone,
        "email": email,
        "preferences": rng.choice(PREFERENCES),
        "special_needs": rng.choice(SPECIAL_NEEDS),
        "consents": {"data_processing": True, "marketing": rng.random() < 0.3},
    }
    guest = vault.create_guest(prop, fields, acting_user=None)
    issued = today - dt.timedelta(days=rng.randint(30, 9 * 365))
    if nationality == "CN":
        document = {
            "doc_type": DocumentType.NATIONAL_ID,
            "number": _cn_id_number(rng, region, born, sex),
            "issuing_country": "CN",
            "issue_date": issued,
            "expiry_date": _add_years(issued, 20 if today.year - born.year >= 26 else 10),
        }
    else:
        letters = PASSPORT_LETTERS[nationality]
        digits = "".join(rng.choice("0123456789") for _ in range(9 - len(letters)))
        document = {
            "doc_type": DocumentType.PASSPORT,
            "number": letters + digits,
            "issuing_country": nationality,
            "issue_date": issued,
            "expiry_date": _add_years(issued, 10),
        }
    return _Person(guest, vault.add_identity_document(guest, document, acting_user=None))


def _cn_id_number(rng: random.Random, region: str, born: dt.date, sex: str) -> str:
    """An 18-character number shaped like a resident identity card's (region, birth date, sequence, check digit)."""
    odd_even = rng.choice("13579" if sex == "M" else "02468" if sex == "F" else "0123456789")
    body = f"{region}{born:%Y%m%d}{rng.randint(0, 99):02d}{odd_even}"
    check = "10X98765432"[sum(int(c) * w for c, w in zip(body, _ID_WEIGHTS, strict=True)) % 11]
    return body + check


def _pinyinish(rng: random.Random) -> str:
    return rng.choice(["wang", "li", "zhang", "liu", "chen", "yang", "huang", "zhao", "wu", "zhou"]) + rng.choice(
        ["wei", "fang", "na", "min", "jing", "lei", "jun", "yang", "jie", "tao", "xiaoming", "tingting"]
    )


def _ascii_handle(given: str, surname: str) -> str:
    text = unicodedata.normalize("NFKD", f"{given.split()[0]}.{surname}".lower())
    return "".join(c for c in text if c.isascii() and (c.isalnum() or c == "."))


def _add_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def _weighted(rng: random.Random, weights: Mapping[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


# --- stays --------------------------------------------------------------------------------------------------------


def _plan_stays(rng: random.Random, count: int, guests: int, rooms: list[Room], today: dt.date) -> list[_Plan]:
    """Dates, status and room of each stay: a handful in house today, a few arriving, the rest in the past."""
    # Never more guests in house than rooms: a room holds one in-house stay at a time.
    in_house = min(count, max(3, count // 250), max(len(rooms) // 2, min(3, len(rooms))))
    arriving = min(count - in_house, max(2, count // 500))
    plans: list[_Plan] = []
    for _ in range(in_house):
        nights = int(_weighted(rng, {str(k): v for k, v in NIGHTS.items()}))
        plans.append(_Plan(today - dt.timedelta(days=rng.randint(0, nights)), nights, StayStatus.IN_HOUSE))
    for n in range(arriving):
        nights = int(_weighted(rng, {str(k): v for k, v in NIGHTS.items()}))
        plans.append(_Plan(today + dt.timedelta(days=n % 2), nights, StayStatus.BOOKED))
    for _ in range(count - in_house - arriving):
        nights = int(_weighted(rng, {str(k): v for k, v in NIGHTS.items()}))
        check_in = today - dt.timedelta(days=rng.randint(nights + 1, HISTORY_DAYS))
        roll = rng.random()
        status = StayStatus.CANCELLED if roll < 0.03 else StayStatus.NO_SHOW if roll < 0.05 else StayStatus.CHECKED_OUT
        plans.append(_Plan(check_in, nights, status))
    # Rooms: free ones first (today's stays first, so they never share one), an occupied one only when all are taken.
    taken: dict[int, set[dt.date]] = {room.pk: set() for room in rooms}
    for plan in plans:
        if plan.status == StayStatus.CANCELLED or not rooms:
            continue
        nights_of = {plan.check_in + dt.timedelta(days=d) for d in range(plan.nights)}
        order = rng.sample(rooms, len(rooms))
        plan.room = next((room for room in order if not taken[room.pk] & nights_of), order[0])
        taken[plan.room.pk] |= nights_of
    for plan in plans:
        if guests > 1 and rng.random() < 0.25:
            plan.companions = [rng.randrange(guests)]
    rng.shuffle(plans)
    return plans


def _create_stay(
    prop: Property, rng: random.Random, n: int, plan: _Plan, people: list[_Person], zone: dt.tzinfo, now: dt.datetime
) -> None:
    # Every guest is the primary guest of at least one stay while there are enough stays, then at random.
    primary_index = n if n < len(people) else rng.randrange(len(people))
    primary = people[primary_index]
    companions = [people[i] for i in plan.companions if i != primary_index]
    reference = f"HV{plan.check_in:%y%m}-{n:05d}{''.join(rng.choice(_ALNUM) for _ in range(3))}"
    stay = vault.create_stay(
        prop,
        primary_guest=primary.guest,
        companions=[p.guest for p in companions],
        check_in_planned=plan.check_in,
        check_out_planned=plan.check_in + dt.timedelta(days=plan.nights),
        room=plan.room,
        booking_reference=reference,
        status=plan.status,
        channel=_weighted(rng, CHANNELS),
        special_requests=rng.choice(SPECIAL_REQUESTS),
        acting_user=None,
    )
    if plan.status not in (StayStatus.IN_HOUSE, StayStatus.CHECKED_OUT):
        return
    arrived = dt.datetime.combine(plan.check_in, dt.time(rng.randint(13, 22), rng.randint(0, 59)), zone)
    arrived = min(arrived, now - dt.timedelta(minutes=rng.randint(5, 90)))
    changes: dict[str, object] = {"checked_in_at": arrived}
    if plan.status == StayStatus.CHECKED_OUT:
        left = dt.datetime.combine(
            plan.check_in + dt.timedelta(days=plan.nights), dt.time(rng.randint(7, 11), rng.randint(0, 59)), zone
        )
        changes["checked_out_at"] = left
    stay = vault.update_stay(stay, changes, acting_user=None)
    for person in [primary, *companions]:
        vault.register(stay, person.guest, document=person.document, acting_user=None)
