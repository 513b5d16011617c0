#!/usr/bin/env python3
"""Guest registry benchmark: exact lookups and a 10,000-stay window query over encrypted guests, each beside the same
query on a plaintext copy of the same data in the same database.

    .venv/bin/python benchmarks/guest_bench.py                 # SQLite in a temporary CUSTODY_HOME, 1M / 3M
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/custody_guest_bench .venv/bin/python benchmarks/guest_bench.py
    .venv/bin/python benchmarks/guest_bench.py --quick         # 20,000 guests / 60,000 stays: a smoke run

Data: --guests N (default 1,000,000) guests with one identity document each and --stays N (default 3,000,000) past
stays over --history-days (default 5 years) at one property. Rows are written directly with the vault's own
primitives (custody.crypto.fields.wrap_data_key / encrypt_field with the vault's AAD, custody.crypto.blind_index),
in bulk, and a sample is read back through custody.guests.vault and compared. The plaintext copy
(tables bench_plain_guest / _document / _stay: text columns, ordinary b-tree indexes on name, ID number and booking
reference and the Stay date indexes) holds the same values and is queried through the ORM in the same way.

Measured: lookup by name, ID number and booking reference - the blind-index query that returns the candidate rows
("db") and the whole path ("e2e": vault.find_guests / find_stays, false-positive filter, names decrypted through
vault.read_guests, audit entries written and committed); a window query (stays overlapping the shortest date window
holding at least 10,000 stays, primary guests' names decrypted). The plaintext e2e writes the same audit entries, so
the ratio is the cost of encryption. On SQLite the lookups are measured first as Django leaves the database (no
ANALYZE, so no planner statistics), then again after ANALYZE. Targets (DESIGN.md): lookup p95 <= 10 ms in the
database layer; window <= 1 s; encrypted/plain <= 2.

A PostgreSQL database named by DATABASE_URL must have "bench" in its name; it is dropped and created again
(--reuse keeps it when it already holds data of the requested size; keys live in CUSTODY_HOME, so give the same
--home). SQLite data goes to --home (default: a temporary folder, deleted at the end unless --keep).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from multiprocessing.pool import AsyncResult
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CHUNK_GUESTS = 5000
WINDOW_ROWS = 10_000
WARM_UP = 20  # lookups of each kind run before the measured ones
# The overlap filter with check_in_planned >= start - WINDOW_BOUND_DAYS as well (valid while no planned stay is
# longer; the generated ones are 1-7 nights): measured beside the plain overlap filter, as the fix to try next.
WINDOW_BOUND_DAYS = 30
PURPOSE_LOOKUP = "bench.lookup"
PURPOSE_WINDOW = "bench.window"
GUEST_COLUMNS = (
    "id", "property_id", "wrapped_key", "kek_version", "surname", "second_surname", "given_names", "sex",
    "date_of_birth", "nationality", "address", "phone", "email", "preferences", "special_needs", "notes", "consents",
    "created_at", "updated_at", "erased_at",
)  # fmt: skip
DOCUMENT_COLUMNS = (
    "id", "guest_id", "doc_type", "number", "issuing_country", "issue_date", "expiry_date", "support_number",
    "created_at",
)  # fmt: skip
STAY_COLUMNS = (
    "id", "property_id", "room_id", "primary_guest_id", "booking_reference", "check_in_planned", "check_out_planned",
    "checked_in_at", "checked_out_at", "status", "channel", "special_requests", "created_at", "updated_at",
)  # fmt: skip
INDEX_COLUMNS = ("property_id", "kind", "digest", "guest_id", "stay_id")
PLAIN_GUEST_COLUMNS = tuple(c for c in GUEST_COLUMNS if c not in {"wrapped_key", "kek_version"})
ENCRYPTED_GUEST = GUEST_COLUMNS[4:17]
ENCRYPTED_DOCUMENT = DOCUMENT_COLUMNS[2:8]
# Latin surnames: a few real ones per country (from the demo data) and many made of syllables, so that a name
# is shared by a handful of guests, as in a real register, not by hundreds.
SYLLABLES = (
    "al", "ber", "ca", "da", "el", "fer", "ga", "han", "jo", "ka", "la", "mo", "na", "or", "pe", "qui", "ra", "san",
    "ta", "ve", "wa", "yo", "zu", "bé", "cò", "dü", "mé", "nö", "rí", "sá", "tè", "lo", "ri", "mar", "ten", "son",
    "berg", "mann", "ini", "ez", "ov", "ski", "es", "ol", "ur", "an", "dor", "vi", "lé", "gon",
)
CN_EXTRA_GIVEN = (
    "子梓浩轩晨睿博俊鹏飞翔天翰思雨萱琳瑶晴悦嘉颖诗梦雅安宁乐康泽辰逸航鑫凯斌庆春秋冬"
    "夏阳光荣辉彬昊昕曦柏松竹兰菊云露凤龙虎豪亮成志远恒毅勤"
)
ALNUM = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


@dataclass(frozen=True)
class Setup:
    """What the generating processes need; set before they fork."""

    vendor: str
    property_id: int
    room_ids: tuple[int, ...]
    today: dt.date
    history_days: int
    stamp: Any  # created_at / updated_at, as the database takes it
    seed: int


@dataclass(frozen=True)
class ChunkSpec:
    index: int
    first_guest: int
    guests: int
    first_stay: int
    stays: int


@dataclass
class Timings:
    encrypted_db: list[float] = field(default_factory=list)
    plain_db: list[float] = field(default_factory=list)
    encrypted_e2e: list[float] = field(default_factory=list)
    plain_e2e: list[float] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    bounded_db: list[float] = field(default_factory=list)  # window only: the overlap filter with a lower bound
    bounded_e2e: list[float] = field(default_factory=list)


_SETUP: Setup | None = None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--guests", type=int, default=1_000_000)
    parser.add_argument("--stays", type=int, default=3_000_000)
    parser.add_argument("--quick", action="store_true", help="20,000 guests / 60,000 stays, fewer repetitions")
    parser.add_argument("--history-days", type=int, default=1826, help="stays spread over this many past days")
    parser.add_argument("--lookups", type=int, default=300, help="measured lookups of each kind")
    parser.add_argument("--windows", type=int, default=7, help="measured window queries")
    parser.add_argument("--unanalyzed-lookups", type=int, default=20,
                        help="SQLite: lookups of each kind measured before ANALYZE (as Django leaves a database)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes generating rows")
    parser.add_argument("--seed", type=int, default=20261124)
    parser.add_argument("--home", help="CUSTODY_HOME (keys, SQLite file); default a temporary folder")
    parser.add_argument("--keep", action="store_true", help="keep the data (SQLite home, PostgreSQL database)")
    parser.add_argument("--reuse", action="store_true", help="measure data left by a --keep run of the same size")
    args = parser.parse_args()
    if args.quick:
        args.guests, args.stays, args.lookups, args.windows, args.unanalyzed_lookups = 20_000, 60_000, 100, 5, 10
    home = Path(args.home or tempfile.mkdtemp(prefix="custody-guest-bench-"))
    home.mkdir(parents=True, exist_ok=True)
    os.environ["CUSTODY_HOME"] = str(home)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "custody.settings")
    postgres_url = os.environ.get("DATABASE_URL", "")
    if postgres_url.startswith("postgres"):
        _prepare_postgres(postgres_url, fresh=not args.reuse)
    import django

    django.setup()
    try:
        Bench(args).run()
    finally:
        if not args.keep:
            if postgres_url.startswith("postgres"):
                from django.db import connections

                connections.close_all()
                _drop_postgres(postgres_url)
            if not args.home:
                shutil.rmtree(home, ignore_errors=True)


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        from django.core.management import call_command
        from django.db import connection

        self.args = args
        call_command("migrate", verbosity=0)
        self.vendor = connection.vendor
        self.plain_guest, self.plain_document, self.plain_stay = _plain_models()
        self.prop, self.user = _fixtures()
        self.rng = random.Random(args.seed)

    @property
    def reader(self) -> Any:
        """The read authority of this operator-run script (custody.authority's system.benchmark row), minted per
        read as system authorities are short-lived."""
        from custody import authority

        return authority.system(self.prop, authority.SYSTEM_BENCHMARK)

    # --- the run -------------------------------------------------------------------------------------------------

    def run(self) -> None:
        from django.db import connection

        args = self.args
        print(f"database: {self.vendor} ({connection.settings_dict['NAME']}); {os.cpu_count()} cores; "
              f"load average {os.getloadavg()[0]:.2f}")
        if not self._loaded():
            self._generate()
        self._prewarm()
        samples = self._samples(args.lookups + WARM_UP)
        kinds = ("name", "id_number", "booking_reference")
        unanalyzed = None
        if self.vendor == "sqlite" and "sqlite_stat1" not in connection.introspection.table_names():
            # Django never runs ANALYZE, so a deployed SQLite database has no planner statistics: measure that first
            # (fewer lookups: without statistics each can take a while).
            print("SQLite without planner statistics (no ANALYZE, as a Django deployment leaves it):")
            unanalyzed = {kind: self._lookups(kind, samples[: 2 + args.unanalyzed_lookups], warm_up=2)
                          for kind in kinds}
            with connection.cursor() as cursor:
                start = time.perf_counter()
                cursor.execute("PRAGMA analysis_limit = 1000")
                cursor.execute("ANALYZE")
            connection.close()  # the next connection reads the statistics
            print(f"ANALYZE (analysis_limit 1000) took {time.perf_counter() - start:.1f} s; measuring again")
        self._check_read_back()
        results = {kind: self._lookups(kind, samples) for kind in kinds}
        window = self._windows(args.windows)
        print(f"load average at the end {os.getloadavg()[0]:.2f}; database size {self._size()}")
        print(f"\n{self.vendor}, {args.guests:,} guests / {args.stays:,} stays")
        if unanalyzed is not None:
            print("\nwithout ANALYZE (p50 / p95, ms; ratio = encrypted / plain at p95):\n")
            _lookup_table(unanalyzed)
        print(f"\n{'after ANALYZE ' if unanalyzed else ''}(p50 / p95, ms; ratio = encrypted / plain at p95):\n")
        _lookup_table(results)
        _window_table(window)

    def _loaded(self) -> bool:
        from custody.guests.models import Guest, Stay

        guests = Guest.objects.count()
        if not guests and not self.plain_guest.objects.exists():
            return False
        stays = Stay.objects.count()
        if not self.args.reuse or guests != self.args.guests or stays != self.args.stays:
            raise SystemExit(f"the database already holds {guests:,} guests and {stays:,} stays; use a fresh one "
                             "(or --reuse with the same --guests/--stays).")
        print(f"reusing {guests:,} guests and {stays:,} stays")
        return True

    # --- generation ----------------------------------------------------------------------------------------------

    def _generate(self) -> None:
        import multiprocessing

        from django.db import connection, connections
        from django.utils import timezone

        from custody.crypto import keys
        from custody.guests.desk import property_today
        from custody.properties.models import Room

        global _SETUP
        keys.keyring()  # create both key files before the generating processes fork, so they all use them
        keys.index_key()
        now = timezone.now()
        stamp = now.replace(tzinfo=None).isoformat(" ") if self.vendor == "sqlite" else now
        rooms = tuple(Room.objects.filter(property=self.prop).order_by("pk").values_list("pk", flat=True))
        _SETUP = Setup(self.vendor, self.prop.pk, rooms, property_today(self.prop), self.args.history_days, stamp,
                       self.args.seed)
        specs = _chunk_specs(self.args.guests, self.args.stays)
        tables = ["guests_guest", "guests_identitydocument", "guests_stay", "guests_blindindex",
                  *(m._meta.db_table for m in (self.plain_guest, self.plain_document, self.plain_stay))]
        start = time.perf_counter()
        connections.close_all()
        context = multiprocessing.get_context("fork")
        with context.Pool(self.args.workers) as pool:
            dropped = _drop_indexes(tables)
            pending: deque[AsyncResult[dict[str, list[tuple[Any, ...]]]]] = deque()
            queue = iter(specs)
            done = 0
            with _bulk_load_mode(self.vendor):
                for spec in queue:
                    pending.append(pool.apply_async(_generate_chunk, (spec,)))
                    if len(pending) < 2 * self.args.workers:
                        continue
                    done += self._insert(pending.popleft().get())
                    _progress(done, self.args.guests, start)
                while pending:
                    done += self._insert(pending.popleft().get())
                    _progress(done, self.args.guests, start)
        loaded = time.perf_counter() - start
        index_start = time.perf_counter()
        _create_indexes(dropped)
        with connection.cursor() as cursor:
            if self.vendor == "postgresql":
                for table in tables:
                    cursor.execute(f"VACUUM ANALYZE {table}")  # what autovacuum does after a load like this
            else:
                cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.close()  # measure on a connection with the deployed settings, not the bulk-load ones
        print(f"\ngenerated and inserted {self.args.guests:,} guests, {self.args.stays:,} stays (both copies) in "
              f"{loaded:.0f} s; indexes rebuilt{' and VACUUM ANALYZE' if self.vendor == 'postgresql' else ''} "
              f"in {time.perf_counter() - index_start:.0f} s")

    def _prewarm(self) -> None:
        """Read the database into the OS page cache, so every run measures a database held in RAM (this VM also
        reclaims pages left idle for a few minutes, which otherwise turns some lookups into disk reads)."""
        from django.db import connection

        start = time.perf_counter()
        if self.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
                cursor.execute(
                    "SELECT sum(pg_prewarm(c.oid, 'read')) FROM pg_class c JOIN pg_namespace n ON n.oid = "
                    "c.relnamespace WHERE n.nspname = 'public' AND c.relkind IN ('r', 'i', 't')")
        else:
            with Path(connection.settings_dict["NAME"]).open("rb") as database:
                while database.read(1 << 24):
                    pass
        print(f"read the database into the page cache in {time.perf_counter() - start:.0f} s")

    def _insert(self, rows: dict[str, list[tuple[Any, ...]]]) -> int:
        from django.db import connection, transaction

        columns = {
            "guests_guest": GUEST_COLUMNS, "guests_identitydocument": DOCUMENT_COLUMNS, "guests_stay": STAY_COLUMNS,
            "guests_blindindex": INDEX_COLUMNS, "bench_plain_guest": PLAIN_GUEST_COLUMNS,
            "bench_plain_document": DOCUMENT_COLUMNS, "bench_plain_stay": STAY_COLUMNS,
        }  # fmt: skip
        with transaction.atomic(), connection.cursor() as cursor:
            for table, table_rows in rows.items():
                names = ", ".join(columns[table])
                if self.vendor == "postgresql":
                    with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                        for row in table_rows:
                            copy.write_row(row)
                else:
                    marks = ", ".join(["%s"] * len(columns[table]))
                    cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", table_rows)  # noqa: S608
        return len(rows["guests_guest"])

    # --- checks ----------------------------------------------------------------------------------------------------

    def _check_read_back(self) -> None:
        """Read a sample back through the vault and compare it with the plaintext copy: same layout, same values."""
        from django.db import transaction

        from custody.guests import vault
        from custody.guests.models import Guest, IdentityDocument, Stay

        checked = 0
        for plain in self._random_plain_guests(25):
            document = self.plain_document.objects.get(guest=plain)
            stay = self.plain_stay.objects.filter(primary_guest=plain).first()
            with transaction.atomic():
                found = vault.find_guests(self.prop, "name", f"{plain.surname} {plain.given_names}")
                guest = next(g for g in found if g.pk == plain.pk)
                fields = vault.read_guest(guest, Guest.ENCRYPTED_FIELDS, authority=self.reader)
                expected = {name: _text(getattr(plain, name)) for name in Guest.ENCRYPTED_FIELDS}
                assert fields == expected, (fields, expected)
                [read_document] = vault.read_identity_documents(
                    guest, IdentityDocument.ENCRYPTED_FIELDS, authority=self.reader
                )
                assert read_document == {"id": str(document.pk), **{
                    name: _text(getattr(document, name)) for name in IdentityDocument.ENCRYPTED_FIELDS}}
                for kind, value in (("id_number", document.number), ("phone", plain.phone), ("email", plain.email)):
                    assert plain.pk in {g.pk for g in vault.find_guests(self.prop, kind, value)}, kind
                if stay is not None:
                    [found_stay] = vault.find_stays(self.prop, stay.booking_reference.lower())
                    assert found_stay.pk == stay.pk
                    assert vault.read_stay(found_stay, Stay.ENCRYPTED_FIELDS, authority=self.reader) == {
                        "booking_reference": stay.booking_reference, "special_requests": stay.special_requests}
            checked += 1
        print(f"read back {checked} random guests through the vault (find by name, ID number, phone, e-mail and "
              "booking reference; every field, document and stay field decrypted): equal to the plaintext copy")

    def _random_plain_guests(self, count: int) -> list[Any]:
        """Random guests: the first guest at or after a random UUID (primary keys are random UUIDs)."""
        picked: list[Any] = []
        while len(picked) < count:
            guest = self.plain_guest.objects.filter(pk__gte=uuid.UUID(int=self.rng.getrandbits(128))).order_by(
                "pk").first()
            if guest is not None:
                picked.append(guest)
        return picked

    def _samples(self, count: int) -> list[dict[str, Any]]:
        samples = []
        for guest in self._random_plain_guests(count):
            stay = self.plain_stay.objects.filter(primary_guest=guest).first()
            if stay is None:
                continue
            number = self.plain_document.objects.filter(guest=guest).values_list("number", flat=True).get()
            samples.append({"guest": guest.pk, "surname": guest.surname, "given_names": guest.given_names,
                            "id_number": number, "booking_reference": stay.booking_reference, "stay": stay.pk})
        return samples

    # --- lookups ---------------------------------------------------------------------------------------------------

    def _lookups(self, kind: str, samples: list[dict[str, Any]], warm_up: int = WARM_UP) -> Timings:
        timings = Timings()
        for number, sample in enumerate(samples):
            value = f"{sample['surname']} {sample['given_names']}" if kind == "name" else sample[kind]
            seconds, rows = _timed(partial(self._encrypted_db, kind, value))
            plain_seconds, plain_rows = _timed(partial(self._plain_db, kind, sample))
            e2e, names = _timed(partial(self._encrypted_e2e, kind, value))
            plain_e2e, plain_names = _timed(partial(self._plain_e2e, kind, sample))
            assert sample["guest"] in names, (kind, value)
            assert names[sample["guest"]] == plain_names[sample["guest"]]
            if number >= warm_up:
                for series, figure in zip(
                    (timings.encrypted_db, timings.plain_db, timings.encrypted_e2e, timings.plain_e2e),
                    (seconds, plain_seconds, e2e, plain_e2e), strict=True,
                ):
                    series.append(figure)
                timings.rows.append(len(rows))
            del plain_rows
        print(f"lookup by {kind}: {len(timings.rows)} lookups, {statistics.mean(timings.rows):.1f} rows on average "
              f"(max {max(timings.rows)}); db p95 {_p(timings.encrypted_db, 95)} vs plain {_p(timings.plain_db, 95)}; "
              f"e2e p95 {_p(timings.encrypted_e2e, 95)} vs plain {_p(timings.plain_e2e, 95)}")
        return timings

    def _encrypted_db(self, kind: str, value: str) -> list[Any]:
        """The queries vault.find_guests / find_stays run (candidates by blind index), evaluated; no decryption."""
        from custody.guests import vault
        from custody.guests.models import Guest, Stay

        if kind == "booking_reference":
            candidates = vault._candidates(self.prop, kind, value)
            return list(Stay.objects.filter(property=self.prop, pk__in=candidates.values("stay_id"))
                        .select_related("primary_guest"))
        wanted = vault.name_text(value) if kind == "name" else value
        candidates = vault._candidates(self.prop, kind, wanted)
        guests = Guest.objects.not_erased().filter(property=self.prop, pk__in=candidates.values("guest_id"))
        if kind == "id_number":
            guests = guests.prefetch_related("documents")
        return list(guests)

    def _plain_db(self, kind: str, sample: dict[str, Any]) -> list[Any]:
        guests = self.plain_guest.objects.filter(property=self.prop, erased_at__isnull=True)
        if kind == "booking_reference":
            return list(self.plain_stay.objects.filter(property=self.prop, booking_reference=sample[kind])
                        .select_related("primary_guest"))
        if kind == "name":
            return list(guests.filter(surname=sample["surname"], given_names=sample["given_names"]))
        numbers = self.plain_document.objects.filter(number=sample[kind]).values("guest_id")
        return list(guests.filter(pk__in=numbers).prefetch_related("documents"))

    def _encrypted_e2e(self, kind: str, value: str) -> dict[uuid.UUID, dict[str, str]]:
        """As the front desk's lookup does it: find, audit the lookup, decrypt the names (one audited list read)."""
        from django.db import transaction

        from custody.audit import gate
        from custody.audit.events import Action
        from custody.guests import vault
        from custody.guests.desk import NAME_FIELDS

        with transaction.atomic():
            if kind == "booking_reference":
                stays = vault.find_stays(self.prop, value)
                gate.record(Action.STAY_LOOKUP, actor=self.user, prop=self.prop, object_type="guests.stay",
                            purpose=PURPOSE_LOOKUP, details={"kind": kind, "stays": sorted(str(s.pk) for s in stays)})
                guests = list({stay.primary_guest_id: stay.primary_guest for stay in stays}.values())
            else:
                guests = vault.find_guests(self.prop, kind, value)
            if not guests:
                return {}
            return vault.read_guests(guests, NAME_FIELDS, authority=self.reader)

    def _plain_e2e(self, kind: str, sample: dict[str, Any]) -> dict[uuid.UUID, dict[str, str]]:
        from django.db import transaction

        from custody.audit import gate
        from custody.audit.events import Action

        with transaction.atomic():
            if kind == "booking_reference":
                stays = self._plain_db(kind, sample)
                gate.record(Action.STAY_LOOKUP, actor=self.user, prop=self.prop, object_type="guests.stay",
                            purpose=PURPOSE_LOOKUP, details={"kind": kind, "stays": sorted(str(s.pk) for s in stays)})
                guests = list({stay.primary_guest_id: stay.primary_guest for stay in stays}.values())
            else:
                guests = self._plain_db(kind, sample)
            if not guests:
                return {}
            return self._plain_names(guests, PURPOSE_LOOKUP)

    def _plain_names(self, guests: Sequence[Any], purpose: str) -> dict[uuid.UUID, dict[str, str]]:
        """What vault.read_guests returns and audits, from the plaintext rows."""
        from custody.audit import gate
        from custody.audit.events import Action
        from custody.guests.desk import NAME_FIELDS

        names = sorted(NAME_FIELDS)
        gate.record(Action.GUEST_LIST_READ, actor=self.user, prop=self.prop, object_type="guests.guest",
                    purpose=purpose, details={"guests": sorted({str(g.pk) for g in guests}), "fields": names})
        return {guest.pk: {name: getattr(guest, name) for name in names} for guest in guests}

    # --- window query -------------------------------------------------------------------------------------------

    def _windows(self, count: int) -> Timings:
        timings = Timings()
        for number in range(count + 1):
            start, end = self._window_of(WINDOW_ROWS)
            seconds, rows = _timed(partial(_listed, self._window_query(False, start, end)))
            plain_seconds, plain_rows = _timed(partial(_listed, self._window_query(True, start, end)))
            e2e, result = _timed(partial(self._encrypted_window, start, end))
            plain_e2e, plain_result = _timed(partial(self._plain_window, start, end))
            bounded, bounded_rows = _timed(partial(_listed, self._window_query(False, start, end, bounded=True)))
            bounded_e2e, bounded_result = _timed(partial(self._encrypted_window, start, end, bounded=True))
            assert len(rows) == len(plain_rows) == len(result) == len(plain_result) == len(bounded_rows)
            assert result == plain_result == bounded_result
            if number:  # the first is a warm-up
                for series, figure in zip(
                    (timings.encrypted_db, timings.plain_db, timings.encrypted_e2e, timings.plain_e2e,
                     timings.bounded_db, timings.bounded_e2e),
                    (seconds, plain_seconds, e2e, plain_e2e, bounded, bounded_e2e), strict=True,
                ):
                    series.append(figure)
                timings.rows.append(len(rows))
            print(f"window {start} .. {end}: {len(rows):,} stays; db {seconds:.3f} s (plain {plain_seconds:.3f} s, "
                  f"bounded {bounded:.3f} s), decrypted e2e {e2e:.3f} s (plain {plain_e2e:.3f} s, bounded "
                  f"{bounded_e2e:.3f} s){'' if number else ' [warm-up]'}")
        return timings

    def _window_query(self, plain: bool, start: dt.date, end: dt.date, *, bounded: bool = False) -> Any:
        """Stays overlapping [start, end] (an authority's "everyone who stayed between two dates")."""
        from custody.guests.models import Stay

        model = self.plain_stay if plain else Stay
        stays = model.objects.filter(property=self.prop, check_in_planned__lte=end, check_out_planned__gte=start)
        if bounded:
            stays = stays.filter(check_in_planned__gte=start - dt.timedelta(days=WINDOW_BOUND_DAYS))
        return stays.select_related("room", "primary_guest").order_by("check_in_planned", "id")

    def _window_of(self, rows: int) -> tuple[dt.date, dt.date]:
        """A window at a random place in the history, the shortest that holds at least `rows` stays."""
        from custody.guests.desk import property_today

        today = property_today(self.prop)
        first = today - dt.timedelta(days=self.args.history_days)
        start = first + dt.timedelta(days=self.rng.randint(10, max(10, self.args.history_days // 2)))
        low, high = 0, (today - start).days
        while low < high:
            middle = (low + high) // 2
            end = start + dt.timedelta(days=middle)
            # The bounded form counts the same rows here (no generated stay is that long) and is quicker.
            if self._window_query(True, start, end, bounded=True).count() >= rows:
                high = middle
            else:
                low = middle + 1
        return start, start + dt.timedelta(days=low)

    def _encrypted_window(self, start: dt.date, end: dt.date, *, bounded: bool = False) -> list[tuple[Any, ...]]:
        from django.db import transaction

        from custody.guests import vault
        from custody.guests.desk import NAME_FIELDS

        with transaction.atomic():
            stays = list(self._window_query(False, start, end, bounded=bounded))
            guests = list({stay.primary_guest_id: stay.primary_guest for stay in stays}.values())
            names = vault.read_guests(guests, NAME_FIELDS, authority=self.reader)
            return [_window_row(stay, names) for stay in stays]

    def _plain_window(self, start: dt.date, end: dt.date) -> list[tuple[Any, ...]]:
        from django.db import transaction

        with transaction.atomic():
            stays = list(self._window_query(True, start, end))
            guests = list({stay.primary_guest_id: stay.primary_guest for stay in stays}.values())
            names = self._plain_names(guests, PURPOSE_WINDOW)
            return [_window_row(stay, names) for stay in stays]

    # --- report ----------------------------------------------------------------------------------------------------

    def _size(self) -> str:
        from django.db import connection

        if self.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
                return str(cursor.fetchone()[0])
        return f"{Path(connection.settings_dict['NAME']).stat().st_size / 2**30:.1f} GiB"


def _lookup_table(results: dict[str, Timings]) -> None:
    print("| lookup | db layer, encrypted | db layer, plain | ratio | target db p95 <= 10 ms | "
          "e2e, encrypted | e2e, plain | ratio | target ratio <= 2 |")
    print("|---|---|---|---|---|---|---|---|---|")
    for kind, t in results.items():
        db_ratio = _ratio(t.encrypted_db, t.plain_db, 95)
        e2e_ratio = _ratio(t.encrypted_e2e, t.plain_e2e, 95)
        db_met = "met" if _pct(t.encrypted_db, 95) <= 0.010 else "NOT met"
        ratio_met = "met" if max(db_ratio, e2e_ratio) <= 2 else "NOT met"
        print(f"| by {kind.replace('_', ' ')} ({len(t.rows)} lookups, {statistics.mean(t.rows):.1f} rows) | "
              f"{_pp(t.encrypted_db)} | {_pp(t.plain_db)} | {db_ratio:.2f} | {db_met} | {_pp(t.encrypted_e2e)} | "
              f"{_pp(t.plain_e2e)} | {e2e_ratio:.2f} | {ratio_met} |")


def _window_table(w: Timings) -> None:
    ratio = _ratio(w.encrypted_e2e, w.plain_e2e, 50)
    print(f"\nwindow query: {len(w.rows)} windows of {min(w.rows):,} to {max(w.rows):,} stays (median / max, s; "
          "ratio at the median):\n")
    print("| query | db layer, encrypted | db layer, plain | e2e, encrypted | e2e, plain | ratio | target <= 1 s | "
          "target ratio <= 2 |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| stays overlapping the window | {_ps(w.encrypted_db)} | {_ps(w.plain_db)} | {_ps(w.encrypted_e2e)} | "
          f"{_ps(w.plain_e2e)} | {ratio:.2f} | {'met' if max(w.encrypted_e2e) <= 1 else 'NOT met'} | "
          f"{'met' if ratio <= 2 else 'NOT met'} |")
    print(f"| same, check-in bounded to {WINDOW_BOUND_DAYS} days before the window | {_ps(w.bounded_db)} | | "
          f"{_ps(w.bounded_e2e)} | | | {'met' if max(w.bounded_e2e) <= 1 else 'NOT met'} | |")


# --- generation (runs in the forked processes) ------------------------------------------------------------------------


def _chunk_specs(guests: int, stays: int) -> list[ChunkSpec]:
    specs = []
    for index, first in enumerate(range(0, guests, CHUNK_GUESTS)):
        count = min(CHUNK_GUESTS, guests - first)
        first_stay = stays * first // guests
        specs.append(ChunkSpec(index, first, count, first_stay, stays * (first + count) // guests - first_stay))
    return specs


def _generate_chunk(spec: ChunkSpec) -> dict[str, list[tuple[Any, ...]]]:
    """Rows of both copies for guests [first_guest, first_guest + guests) and their stays, ready to insert."""
    from custody.crypto.blind_index import blind_index
    from custody.crypto.fields import encrypt_field, new_data_key, wrap_data_key
    from custody.guests.vault import name_text

    setup = _SETUP
    assert setup is not None
    rng = random.Random(setup.seed * 1_000_003 + spec.index)
    sqlite = setup.vendor == "sqlite"

    def key(value: uuid.UUID) -> Any:
        return value.hex if sqlite else value

    def day(value: dt.date | None) -> Any:
        return value.isoformat() if sqlite and value is not None else value

    def moment(value: dt.datetime | None) -> Any:
        return value.replace(tzinfo=None).isoformat(" ") if sqlite and value is not None else value

    def new_id() -> uuid.UUID:
        return uuid.UUID(int=rng.getrandbits(128), version=4)

    rows: dict[str, list[tuple[Any, ...]]] = {table: [] for table in (
        "guests_guest", "guests_identitydocument", "guests_stay", "guests_blindindex", "bench_plain_guest",
        "bench_plain_document", "bench_plain_stay")}
    pid, stamp = setup.property_id, setup.stamp
    owners: list[tuple[uuid.UUID, bytes]] = []
    for n in range(spec.first_guest, spec.first_guest + spec.guests):
        fields, document = _person(rng, n, setup.today)
        guest_id, document_id = new_id(), new_id()
        pk, document_pk = str(guest_id), str(document_id)
        dek = new_data_key()
        wrapped, version = wrap_data_key(dek, owner=f"guests.guest:{pk}")
        texts = {name: _text(value) for name, value in fields.items()}
        sealed = [encrypt_field(dek, texts[name], table="guests_guest", column=name, pk=pk) for name in ENCRYPTED_GUEST]
        rows["guests_guest"].append((key(guest_id), pid, wrapped, version, *sealed, stamp, stamp, None))
        rows["bench_plain_guest"].append((key(guest_id), pid, *(day(fields[name]) if name == "date_of_birth" else
                                          fields[name] for name in ENCRYPTED_GUEST), stamp, stamp, None))
        document_sealed = [encrypt_field(dek, _text(document[name]), table="guests_identitydocument", column=name,
                                         pk=document_pk) for name in ENCRYPTED_DOCUMENT]
        rows["guests_identitydocument"].append((key(document_id), key(guest_id), *document_sealed, stamp))
        rows["bench_plain_document"].append((key(document_id), key(guest_id), *(
            day(document[name]) if name.endswith("_date") else document[name] for name in ENCRYPTED_DOCUMENT), stamp))
        for kind, text in (("name", name_text(texts["surname"], texts["given_names"])), ("phone", texts["phone"]),
                           ("email", texts["email"]), ("id_number", document["number"])):
            rows["guests_blindindex"].append((pid, kind, blind_index(kind, text), key(guest_id), None))
        owners.append((guest_id, dek))
    for j in range(spec.stays):
        n = spec.first_stay + j
        guest_id, dek = owners[j] if j < len(owners) else rng.choice(owners)
        stay = _stay(rng, n, setup)
        stay_id = new_id()
        pk = str(stay_id)
        sealed_reference = encrypt_field(dek, stay["booking_reference"], table="guests_stay",
                                         column="booking_reference", pk=pk)
        sealed_requests = encrypt_field(dek, stay["special_requests"], table="guests_stay", column="special_requests",
                                        pk=pk)
        common = (day(stay["check_in_planned"]), day(stay["check_out_planned"]), moment(stay["checked_in_at"]),
                  moment(stay["checked_out_at"]), stay["status"], stay["channel"])
        rows["guests_stay"].append((key(stay_id), pid, stay["room_id"], key(guest_id), sealed_reference, *common,
                                    sealed_requests, stamp, stamp))
        rows["bench_plain_stay"].append((key(stay_id), pid, stay["room_id"], key(guest_id), stay["booking_reference"],
                                         *common, stay["special_requests"], stamp, stamp))
        rows["guests_blindindex"].append((pid, "booking_reference", blind_index(
            "booking_reference", stay["booking_reference"]), key(guest_id), key(stay_id)))
    return rows


def _person(rng: random.Random, n: int, today: dt.date) -> tuple[dict[str, Any], dict[str, Any]]:
    """One synthetic guest and identity document, shaped like the demo data (custody.core.demo_guests)."""
    from custody.core import demo_guests as demo

    nationality = rng.choices(list(demo.NATIONALITIES), weights=list(demo.NATIONALITIES.values()))[0]
    sex = rng.choice("FM") if rng.random() < 0.98 else "X"
    born = today - dt.timedelta(days=rng.randint(18 * 365 + 5, 80 * 365))
    if nationality == "CN":
        surname = rng.choice(demo.CN_SURNAMES)
        chars = demo.CN_GIVEN_CHARS + CN_EXTRA_GIVEN
        given = "".join(rng.sample(chars, 2)) if rng.random() < 0.85 else rng.choice(chars)
        second_surname = ""
        region, street = rng.choice(demo.CN_CITIES)
        address = f"{street}{rng.randint(1, 300)}号{rng.randint(1, 30)}栋{rng.randint(101, 2808)}室"
        phone = f"+86 1{rng.choice('3578')}{rng.randint(0, 9)} {rng.randint(0, 9999):04d} {rng.randint(0, 9999):04d}"
        email = f"guest{n}@example.cn"
        odd_even = rng.choice("13579" if sex == "M" else "02468" if sex == "F" else "0123456789")
        body = f"{region}{born:%Y%m%d}{rng.randint(0, 99):02d}{odd_even}"
        weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
        number = body + "10X98765432"[sum(int(c) * w for c, w in zip(body, weights, strict=True)) % 11]
        doc_type = "national_id"
    else:
        surnames, female, male, two_surnames, street, city = demo.LATIN[nationality]
        surname = rng.choice(surnames) if rng.random() < 0.1 else _syllable_name(rng)
        second_surname = _syllable_name(rng) if two_surnames else ""
        given = rng.choice(female if sex == "F" else male if sex == "M" else female + male)
        address = f"{street} {rng.randint(1, 200)}\n{rng.randint(10000, 99999)} {city}"
        phone = (f"{demo.PHONE_PREFIX[nationality]} {rng.randint(100, 999)} {rng.randint(100, 999)} "
                 f"{rng.randint(0, 9999):04d}")
        email = f"guest{n}@example.com"
        letters = demo.PASSPORT_LETTERS[nationality]
        number = letters + "".join(rng.choice("0123456789") for _ in range(9 - len(letters)))
        doc_type = "passport"
    issued = today - dt.timedelta(days=rng.randint(30, 9 * 365))
    fields = {
        "surname": surname, "second_surname": second_surname, "given_names": given, "sex": sex,
        "date_of_birth": born, "nationality": nationality, "address": address, "phone": phone, "email": email,
        "preferences": rng.choice(demo.PREFERENCES), "special_needs": rng.choice(demo.SPECIAL_NEEDS), "notes": "",
        "consents": json.dumps({"data_processing": True, "marketing": rng.random() < 0.3}, ensure_ascii=False,
                               sort_keys=True, separators=(",", ":")),
    }  # fmt: skip
    document = {
        "doc_type": doc_type, "number": number, "issuing_country": nationality, "issue_date": issued,
        "expiry_date": issued.replace(year=issued.year + 10) if (issued.month, issued.day) != (2, 29) else
        issued.replace(year=issued.year + 10, day=28), "support_number": "",
    }  # fmt: skip
    return fields, document


def _syllable_name(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.choice((2, 3)))).capitalize()


def _stay(rng: random.Random, n: int, setup: Setup) -> dict[str, Any]:
    from custody.core import demo_guests as demo

    nights = rng.choices(list(demo.NIGHTS), weights=list(demo.NIGHTS.values()))[0]
    check_in = setup.today - dt.timedelta(days=rng.randint(nights + 1, setup.history_days))
    roll = rng.random()
    status = "cancelled" if roll < 0.03 else "no_show" if roll < 0.05 else "checked_out"
    arrived = left = None
    if status == "checked_out":
        arrived = dt.datetime.combine(check_in, dt.time(rng.randint(5, 14), rng.randint(0, 59)), dt.UTC)
        left = dt.datetime.combine(check_in + dt.timedelta(days=nights), dt.time(rng.randint(0, 3)), dt.UTC)
    return {
        "booking_reference": f"HV{check_in:%y%m}-{n:07d}{''.join(rng.choice(ALNUM) for _ in range(3))}",
        "special_requests": rng.choice(demo.SPECIAL_REQUESTS), "check_in_planned": check_in,
        "check_out_planned": check_in + dt.timedelta(days=nights), "checked_in_at": arrived, "checked_out_at": left,
        "status": status, "channel": rng.choices(list(demo.CHANNELS), weights=list(demo.CHANNELS.values()))[0],
        "room_id": None if status == "cancelled" else rng.choice(setup.room_ids),
    }  # fmt: skip


# --- database plumbing -------------------------------------------------------------------------------------------


def _prepare_postgres(url: str, *, fresh: bool) -> None:
    import psycopg

    name = urlsplit(url).path.lstrip("/")
    if "bench" not in name:
        raise SystemExit(f"refusing to use PostgreSQL database {name!r}: its name must contain 'bench' (it is "
                         "dropped and created again).")
    with psycopg.connect(_maintenance_url(url), autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and fresh:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        if fresh or not exists:
            admin.execute(f'CREATE DATABASE "{name}"')


def _drop_postgres(url: str) -> None:
    import psycopg

    with psycopg.connect(_maintenance_url(url), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{urlsplit(url).path.lstrip("/")}" WITH (FORCE)')


def _maintenance_url(url: str) -> str:
    return urlsplit(url)._replace(path="/postgres").geturl()


def _drop_indexes(tables: Sequence[str]) -> list[str]:
    """Drop the secondary indexes of the tables (rebuilt after the bulk load); returns their definitions."""
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = ANY(%s) AND NOT EXISTS "
                "(SELECT 1 FROM pg_constraint WHERE conname = indexname)", [list(tables)])
        else:
            marks = ", ".join(["%s"] * len(tables))
            cursor.execute(f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "  # noqa: S608
                           f"AND tbl_name IN ({marks})", list(tables))
        indexes = cursor.fetchall()
        for name, _definition in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
    return [definition for _name, definition in indexes]


def _create_indexes(definitions: Sequence[str]) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET maintenance_work_mem = '1GB'")
        for definition in definitions:
            cursor.execute(definition)


@contextmanager
def _bulk_load_mode(vendor: str) -> Iterator[None]:
    """No foreign-key checks while the (consistent, generated) rows go in; a big page cache on SQLite."""
    from django.db import connection

    with connection.cursor() as cursor:
        if vendor == "postgresql":
            cursor.execute("SET session_replication_role = replica")
        else:
            cursor.execute("PRAGMA foreign_keys = OFF")
            cursor.execute("PRAGMA cache_size = -2000000")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            if vendor == "postgresql":
                cursor.execute("SET session_replication_role = DEFAULT")
            else:
                cursor.execute("PRAGMA foreign_keys = ON")


def _fixtures() -> tuple[Any, Any]:
    from custody.accounts.models import RoleAssignment, User
    from custody.accounts.roles import Role
    from custody.properties.models import Floor, Property, Room

    prop, created = Property.objects.get_or_create(
        code="bench-hotel", defaults={"name": "Benchmark Hotel", "timezone": "Asia/Shanghai", "jurisdiction": "CN"})
    if created:
        floors = [Floor.objects.create(property=prop, level=level, name=f"Floor {level}") for level in range(1, 21)]
        Room.objects.bulk_create(Room(property=prop, floor=floor, number=f"{floor.level}{number:02d}",
                                      room_type="double") for floor in floors for number in range(1, 26))
    user, _ = User.objects.get_or_create(username="bench-desk")
    RoleAssignment.objects.get_or_create(user=user, property=prop, role=Role.FRONT_DESK)
    return prop, user


def _plain_models() -> tuple[Any, Any, Any]:
    """Unmanaged models over the plaintext copy: the same data as plain columns, ordinary b-tree indexes."""
    from django.db import connection, models

    from custody.properties.models import Property, Room

    def text() -> models.TextField[str, str]:
        return models.TextField()

    class PlainGuest(models.Model):
        id = models.UUIDField(primary_key=True)
        property = models.ForeignKey(Property, on_delete=models.PROTECT, related_name="+")
        surname, second_surname, given_names, sex = text(), text(), text(), text()
        date_of_birth = models.DateField()
        nationality, address, phone, email, preferences = text(), text(), text(), text(), text()
        special_needs, notes, consents = text(), text(), text()
        created_at, updated_at = models.DateTimeField(), models.DateTimeField()
        erased_at = models.DateTimeField(null=True)

        def __str__(self) -> str:
            return f"plain guest {self.pk}"

        class Meta:
            app_label = "guests"
            db_table = "bench_plain_guest"
            managed = False
            indexes = [models.Index(fields=["property", "surname", "given_names"], name="bench_plain_guest_name")]

    class PlainDocument(models.Model):
        id = models.UUIDField(primary_key=True)
        guest = models.ForeignKey(PlainGuest, on_delete=models.PROTECT, related_name="documents")
        doc_type, number, issuing_country = text(), text(), text()
        issue_date, expiry_date = models.DateField(), models.DateField()
        support_number = text()
        created_at = models.DateTimeField()

        def __str__(self) -> str:
            return f"plain document {self.pk}"

        class Meta:
            app_label = "guests"
            db_table = "bench_plain_document"
            managed = False
            indexes = [models.Index(fields=["number"], name="bench_plain_document_number")]

    class PlainStay(models.Model):
        id = models.UUIDField(primary_key=True)
        property = models.ForeignKey(Property, on_delete=models.PROTECT, related_name="+")
        room = models.ForeignKey(Room, on_delete=models.PROTECT, null=True, related_name="+")
        primary_guest = models.ForeignKey(PlainGuest, on_delete=models.PROTECT, related_name="+")
        booking_reference = text()
        check_in_planned, check_out_planned = models.DateField(), models.DateField()
        checked_in_at, checked_out_at = models.DateTimeField(null=True), models.DateTimeField(null=True)
        status, channel, special_requests = text(), text(), text()
        created_at, updated_at = models.DateTimeField(), models.DateTimeField()

        def __str__(self) -> str:
            return f"plain stay {self.pk}"

        class Meta:
            app_label = "guests"
            db_table = "bench_plain_stay"
            managed = False
            indexes = [
                models.Index(fields=["property", "booking_reference"], name="bench_plain_stay_reference"),
                models.Index(fields=["property", "check_in_planned"], name="bench_plain_stay_arrivals"),
                models.Index(fields=["property", "check_out_planned"], name="bench_plain_stay_departures"),
                models.Index(fields=["property", "status"], name="bench_plain_stay_status"),
            ]

    from custody.guests.models import BlindIndex, Guest, IdentityDocument, Stay

    for model, columns in ((Guest, GUEST_COLUMNS), (IdentityDocument, DOCUMENT_COLUMNS), (Stay, STAY_COLUMNS),
                           (BlindIndex, ("id", *INDEX_COLUMNS)), (PlainGuest, PLAIN_GUEST_COLUMNS),
                           (PlainDocument, DOCUMENT_COLUMNS), (PlainStay, STAY_COLUMNS)):
        actual = {field.column for field in model._meta.concrete_fields}
        if actual != set(columns):  # the generator must write every column the vault writes, and only those
            raise SystemExit(f"{model._meta.db_table} has columns {sorted(actual)}; the benchmark writes "
                             f"{sorted(columns)}: update benchmarks/guest_bench.py")
    if "bench_plain_guest" not in connection.introspection.table_names():
        with connection.schema_editor() as editor:
            for model in (PlainGuest, PlainDocument, PlainStay):
                model._meta.managed = True  # the schema editor adds indexes to managed models only
                editor.create_model(model)
                model._meta.managed = False
    return PlainGuest, PlainDocument, PlainStay


# --- small helpers -----------------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    """A value as the vault encrypts it (dates as YYYY-MM-DD)."""
    return value.isoformat() if isinstance(value, dt.date) else str(value)


def _window_row(stay: Any, names: dict[uuid.UUID, dict[str, str]]) -> tuple[Any, ...]:
    guest = names[stay.primary_guest_id]
    return (stay.room.number if stay.room else "", stay.check_in_planned, stay.check_out_planned,
            guest["surname"], guest["second_surname"], guest["given_names"])


def _listed(queryset: Any) -> list[Any]:
    return list(queryset)


def _timed(function: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def _pct(values: Sequence[float], percent: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[percent - 1]


def _p(values: Sequence[float], percent: int) -> str:
    return f"{_pct(values, percent) * 1000:.2f} ms"


def _pp(values: Sequence[float]) -> str:
    return f"{_pct(values, 50) * 1000:.2f} / {_pct(values, 95) * 1000:.2f}"


def _ps(values: Sequence[float]) -> str:
    return f"{statistics.median(values):.3f} / {max(values):.3f}"


def _ratio(encrypted: Sequence[float], plain: Sequence[float], percent: int) -> float:
    return _pct(encrypted, percent) / _pct(plain, percent)


def _progress(done: int, total: int, start: float) -> None:
    elapsed = time.perf_counter() - start
    print(f"\r  {done:,} / {total:,} guests with their stays, {elapsed:.0f} s", end="", flush=True)


if __name__ == "__main__":
    main()
