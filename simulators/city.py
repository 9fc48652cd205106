"""Generates a deterministic demo city (elders, devices, caregivers) from YAML."""

from __future__ import annotations

import math
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any, TypedDict

import yaml
from sqlmodel import Session, func, select

from config import CONFIG_DIR
from dispatch.domain.access import Role
from dispatch.domain.lifecycle import RequestState, VisitState
from dispatch.registry.accounts import create_user
from dispatch.registry.family import link
from dispatch.store.db import Database
from dispatch.store.tables import Caregiver, Device, Elder, ElderContact, ServiceRequest, Visit

DEMO_CITY_FILE = CONFIG_DIR / "demo_city.yaml"
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘"
GIVEN = "秀英桂兰玉兰淑珍凤英建国志强德明国华永福金花淑华桂芝振华文杰丽娟海燕红梅春生"
NAMESPACE = uuid.UUID("6f6c2b1e-93c4-4b59-9a55-6b0b7c2b7e01")


@dataclass(frozen=True)
class City:
    name: str
    elders: list[Elder]
    devices: list[Device]
    caregivers: list[Caregiver]
    service_requests: list[ServiceRequest] = field(default_factory=list)
    # Visits done before the demo's first day: who knows whom (the planner prefers them).
    past_visits: list[Visit] = field(default_factory=list)


def _offset(lat: float, lon: float, north_m: float, east_m: float) -> tuple[float, float]:
    dlat = north_m / 111_320.0
    dlon = east_m / (111_320.0 * math.cos(math.radians(lat)))
    return lat + dlat, lon + dlon


def _around(rng: random.Random, lat: float, lon: float, radius_m: float) -> tuple[float, float]:
    r = radius_m * math.sqrt(rng.random())
    a = rng.uniform(0, 2 * math.pi)
    return _offset(lat, lon, r * math.cos(a), r * math.sin(a))


def _name(rng: random.Random) -> str:
    i = rng.randrange(0, len(GIVEN) // 2) * 2
    return rng.choice(SURNAMES) + GIVEN[i : i + 2]


def _pick(rng: random.Random, shares: dict[str, float]) -> str:
    return rng.choices(list(shares), weights=list(shares.values()))[0]


def generate_city(
    path: Path = DEMO_CITY_FILE,
    seed: int | None = None,
    *,
    n_elders: int | None = None,
    n_caregivers: int | None = None,
) -> City:
    """The city of ``path``; ``n_elders`` and ``n_caregivers`` override its counts."""
    spec: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    seed = spec["seed"] if seed is None else seed
    spec["elders"] = spec["elders"] if n_elders is None else n_elders
    spec["caregivers"] = spec["caregivers"] if n_caregivers is None else n_caregivers
    rng = random.Random(seed)

    def uid(kind: str, i: int) -> uuid.UUID:
        return uuid.uuid5(NAMESPACE, f"{seed}/{kind}/{i}")

    center = spec["center"]
    districts = spec["districts"]
    elders, devices = [], []
    for i in range(spec["elders"]):
        d = districts[i % len(districts)]
        street = rng.choice(d["streets"])
        community = rng.choice(street["communities"])
        dlat, dlon = _offset(
            center["lat"], center["lon"], d["offset_m"]["north"], d["offset_m"]["east"]
        )
        lat, lon = _around(rng, dlat, dlon, d["radius_m"])
        building, unit, room = rng.randint(1, 40), rng.randint(1, 4), rng.randint(101, 1802)
        elder = Elder(
            id=uid("elder", i),
            name=_name(rng),
            phone=f"138{rng.randrange(10**8):08d}",
            address=f"{d['name_zh']}{street['name_zh']}{community}{building}幢{unit}单元{room}室",
            lat=round(lat, 6),
            lon=round(lon, 6),
            district=d["name_zh"],
            street=street["name_zh"],
            community=community,
            **_card(random.Random(f"{seed}/card/{i}")),
            **_care(random.Random(f"{seed}/care/{i}")),
            heart_rate_min=50,
            heart_rate_max=120,
            geofence_radius_m=2000.0,
        )
        elders.append(elder)
        kinds = [k for k, share in spec["devices"].items() if rng.random() < share]
        for kind in kinds or ["panic_button"]:
            prefix = {"panic_button": "pb", "door_bell": "db", "wearable": "wr"}[kind]
            devices.append(Device(id=f"{prefix}-{i:05d}", kind=kind, elder_id=elder.id))

    caregivers = []
    shifts = spec["shifts"]
    for i in range(spec["caregivers"]):
        d = districts[i % len(districts)]
        dlat, dlon = _offset(
            center["lat"], center["lon"], d["offset_m"]["north"], d["offset_m"]["east"]
        )
        lat, lon = _around(rng, dlat, dlon, d["radius_m"])
        shift = rng.choices(shifts, weights=[s["share"] for s in shifts])[0]
        skills = ["basic_care"] + [s for s, share in spec["skills"].items() if rng.random() < share]
        caregivers.append(
            Caregiver(
                id=uid("caregiver", i),
                name=_name(rng),
                phone=f"139{rng.randrange(10**8):08d}",
                skills=skills,
                shift_start=time.fromisoformat(shift["start"]),
                shift_end=time.fromisoformat(shift["end"]),
                transport=_pick(rng, spec["transport"]),
                home_lat=round(lat, 6),
                home_lon=round(lon, 6),
                provider=f"{d['name_zh']}居家养老服务中心",
            )
        )
    requests = _service_requests(random.Random(f"{seed}/services"), elders, spec["services"])
    regulars = _regular_clients(
        random.Random(f"{seed}/regulars"),
        elders,
        caregivers,
        spec["services"],
        {r.elder_id for r in requests},
    )
    past = [_first_visit(request, caregiver) for request, caregiver in regulars]
    requests += [request for request, _ in regulars]
    return City(spec["name_en"], elders, devices, caregivers, requests, past)


_HEALTH = [
    "高血压",
    "糖尿病",
    "心脏支架术后",
    "轻度认知障碍",
    "行动不便，使用助行器",
    "听力差，请大声说话",
]
_KIN = ["女儿", "儿子", "侄女", "邻居"]
_ACCESS = [
    "门禁密码 {code}#",
    "备用钥匙在对门邻居家",
    "物业值班室可开门",
    "门口鞋柜内有钥匙盒，密码 {code}",
]


class _Care(TypedDict):
    care_level: int
    regular_visits: bool


def _care(rng: random.Random) -> _Care:
    """The assessment: most elders need little; some live alone and need regular visits."""
    level = rng.choices([0, 1, 2, 3, 4], weights=[30, 30, 20, 15, 5])[0]
    return {"care_level": level, "regular_visits": rng.random() < 0.12}


def _service_requests(
    rng: random.Random, elders: list[Elder], spec: dict[str, Any]
) -> list[ServiceRequest]:
    """Approved recurring home services for a share of the elders (the demo's routes)."""
    out = []
    for elder in elders:
        if rng.random() >= spec["share"]:
            continue
        item = rng.choice(spec["items"])
        opens = time(rng.randint(8, 15), rng.choice((0, 30)))
        out.append(
            ServiceRequest(
                elder_id=elder.id,
                item=item,
                source=rng.choice(("operator", "family", "elder")),
                requested_by="演示",
                state=RequestState.APPROVED,
                first_day=date(2026, 1, 1),
                weekdays=sorted(rng.sample(range(1, 8), k=rng.randint(2, 5))),
                window_start=opens,
                window_end=time(opens.hour + 2, opens.minute),
                created_at=datetime(2026, 1, 1, tzinfo=UTC),
                decided_by="sup1",
            )
        )
    return out


def _regular_clients(
    rng: random.Random,
    elders: list[Elder],
    caregivers: list[Caregiver],
    spec: dict[str, Any],
    taken: set[uuid.UUID],
) -> list[tuple[ServiceRequest, Caregiver]]:
    """Every caregiver's regular clients: the elders nearest their home, visited
    every day within the caregiver's shift, so each one on shift has a day's route."""
    opening, closing = (_minutes(t) for t in spec.get("visiting_hours", ("08:00", "21:00")))
    out = []
    for caregiver in caregivers:
        near = sorted(
            (e for e in elders if e.id not in taken),
            key=lambda e: (e.lat - caregiver.home_lat) ** 2 + (e.lon - caregiver.home_lon) ** 2,
        )[: spec.get("regulars_per_caregiver", 3)]
        # The part of the shift within visiting hours (a night shift's visits are in
        # the evening): nobody's flat is cleaned at 23:00.
        start = caregiver.shift_start.hour * 60 + caregiver.shift_start.minute
        end = caregiver.shift_end.hour * 60 + caregiver.shift_end.minute
        end = end if end > start else 24 * 60 - 1
        start, end = max(start, opening), min(end, closing)
        if end - start < 60:
            continue  # a shift (almost) outside visiting hours has no regular clients
        slot = (end - start) // max(1, len(near))
        for k, elder in enumerate(near):
            taken.add(elder.id)
            opens = start + k * slot
            closes = min(end, opens + max(slot, 120))
            out.append(
                (
                    ServiceRequest(
                        elder_id=elder.id,
                        item=rng.choice([i for i in spec["items"] if i != "bathing"]),
                        source="operator",
                        requested_by="演示",
                        state=RequestState.APPROVED,
                        first_day=date(2026, 1, 1),
                        weekdays=[1, 2, 3, 4, 5, 6, 7],
                        window_start=time(opens // 60, opens % 60),
                        window_end=time(closes // 60, closes % 60),
                        created_at=datetime(2026, 1, 1, tzinfo=UTC),
                        decided_by="sup1",
                    ),
                    caregiver,
                )
            )
    return out


def _minutes(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def _first_visit(request: ServiceRequest, caregiver: Caregiver) -> Visit:
    """The request's first visit, done by the caregiver (before the demo's days)."""
    day = request.first_day
    return Visit(
        request_id=request.id,
        elder_id=request.elder_id,
        service=request.item,
        day=day,
        window_start=datetime.combine(day, request.window_start, tzinfo=UTC),
        window_end=datetime.combine(day, request.window_end, tzinfo=UTC),
        state=VisitState.DONE,
        caregiver_id=caregiver.id,
        sequence=1,
    )


class _Card(TypedDict):
    notes: str
    emergency_contact: str
    access_notes: str


def _card(rng: random.Random) -> _Card:
    """What a caregiver needs at the door; its own random stream keeps the city stable."""
    code = f"{rng.randrange(10**4):04d}"
    return {
        "notes": "；".join(rng.sample(_HEALTH, k=rng.randint(1, 2))),
        "emergency_contact": f"{rng.choice(_KIN)}{_name(rng)} 139{rng.randrange(10**8):08d}",
        "access_notes": rng.choice(_ACCESS).format(code=code),
    }


def seed_city(session: Session, city: City) -> bool:
    """Insert the city unless the database already holds elders; True if inserted."""
    if session.exec(select(func.count()).select_from(Elder)).one():
        return False
    session.add_all(city.elders)
    session.flush()
    session.add_all(city.devices)
    session.add_all(city.caregivers)
    session.flush()
    session.add_all(city.service_requests)
    session.flush()
    session.add_all(city.past_visits)
    return True


DEMO_PASSWORD = "carebell"  # demo accounts only; never a real deployment's


FAMILY_ACCOUNTS = 3  # fam01…fam03: the families of the city's first elders


def seed_accounts(db: Database, city: City) -> None:
    """Demo log-ins: op1 (two districts), sup1, admin, cg01… for each caregiver, and
    fam01… for the families of the first elders (each elder then has a daughter and
    a neighbour holding a key among their contacts)."""
    districts = list(dict.fromkeys(e.district for e in city.elders))  # in config order
    create_user(
        db, "op1", DEMO_PASSWORD, Role.OPERATOR, display_name="值班员 一号", areas=districts[:2]
    )
    create_user(db, "sup1", DEMO_PASSWORD, Role.SUPERVISOR, display_name="值班主任")
    create_user(db, "admin", DEMO_PASSWORD, Role.ADMIN, display_name="管理员")
    for i, caregiver in enumerate(city.caregivers, start=1):
        create_user(
            db,
            caregiver_username(i),
            DEMO_PASSWORD,
            Role.CAREGIVER,
            display_name=caregiver.name,
            caregiver_id=caregiver.id,
        )
    now = datetime.now(UTC)
    for i, elder in enumerate(city.elders[:FAMILY_ACCOUNTS], start=1):
        daughter = f"{elder.name[0]}{'丽敏芳'[i % 3]}"
        with db.session() as session:
            session.add_all(
                [
                    ElderContact(
                        elder_id=elder.id,
                        position=0,
                        name=daughter,
                        relation="女儿",
                        role="family",
                        phones=[f"1380013{i:04d}"],
                        # She lives across town (about 2.5 km north); the neighbour next door.
                        lat=elder.lat + 0.0225,
                        lon=elder.lon,
                    ),
                    ElderContact(
                        elder_id=elder.id,
                        position=1,
                        name=f"邻居赵{i}",
                        relation="邻居",
                        role="neighbour",
                        phones=[f"1390013{i:04d}"],
                        key_holder=True,
                        lat=elder.lat + 0.0004,
                        lon=elder.lon,
                    ),
                ]
            )
        create_user(db, family_username(i), DEMO_PASSWORD, Role.FAMILY, display_name=daughter)
        link(db, elder.id, family_username(i), "女儿", by="demo", now=now)


def family_username(index: int) -> str:
    """The demo account of the index-th elder's family (1-based): fam01, fam02, ..."""
    return f"fam{index:02d}"


def caregiver_username(index: int) -> str:
    """The demo account of the index-th caregiver (1-based): cg01, cg02, ..."""
    return f"cg{index:02d}"
