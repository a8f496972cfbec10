"""The simulated world: cards, terminals, the acquirer host and its settlement files.

Time runs in true UTC. Each device writes its log through its own clock (zone + RTC skew, NTP
steps), the host writes jPOS blocks in UTC, and settlement rows come from the host's ledger:
what the host approved and nobody reversed or voided, whatever the terminal believed.
Terminal behaviour follows ../shared/docs/domain.md (reversal file, SAF, batch, counters).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from forensics.ingest.cards import luhn_ok, mask_pan
from forensics.money import currency, minor_to_major
from forensics.simulate.vendors import APP_TAGS, VENDORS, Speaker

UTC = UTC
TIMEOUT_S = 30.0
# Test BINs only (network test ranges used by card schemes' test cards).
TEST_BINS = ("476173", "424242", "400000", "541333", "520082", "222300", "371449", "601100")
MTI_PROC = {
    "SALE": ("0200", "000000"),
    "REFUND": ("0200", "200000"),
    "VOID": ("0200", "020000"),
    "PREAUTH": ("0100", "300000"),
    "PREAUTH_COMPLETE": ("0220", "000000"),
    "PREAUTH_VOID": ("0400", "300000"),
    "TIP_ADJUST": ("0220", "020000"),
    "BALANCE": ("0100", "310000"),
}
ENTRY_DE22 = {"chip": "0051", "contactless": "0071", "swipe": "0021", "fallback": "0801", "manual": "0012"}
OTHER_APPS = [
    ("ActivityManager", "Start proc {n}:com.android.settings/1000 for service"),
    ("WifiStateMachine", "CMD_RSSI_POLL rssi=-{n}"),
    ("PowerManagerService", 'acquire lock={n}, flags=0x1, tag="View Lock"'),
    ("ConnectivityService", "NetworkAgentInfo [WIFI () - {n}] validation passed"),
    ("chatty", "uid=1000(system) Binder:{n} expire 3 lines"),
    ("AudioFlinger", "write blocked for {n} msecs"),
]
SYSLOG_OTHERS = [
    ("ntpd", "kernel reports TIME_ERROR: 0x{n}: Clock Unsynchronized"),
    ("dhclient", "DHCPREQUEST on eth0 to 10.0.0.1 port 67 (xid=0x{n})"),
    ("crond", "(root) CMD (run-parts /etc/cron.hourly {n})"),
    ("sshd", "Connection closed by 10.0.0.{n} port 22 [preauth]"),
]
GB18030_TEXT = "打印机状态正常 {n}"


class Card:
    """A test card: Luhn-valid PAN on a test BIN, with its EMV transaction counter."""

    def __init__(self, rng: random.Random) -> None:
        bin6 = rng.choice(TEST_BINS)
        length = 15 if bin6.startswith("37") else 16
        body = bin6 + "".join(rng.choice("0123456789") for _ in range(length - 7))
        check = next(d for d in "0123456789" if luhn_ok(body + d))
        self.pan = body + check
        self.masked = mask_pan(self.pan)
        self.atc = rng.randint(5, 900)

    def next_atc(self) -> str:
        self.atc += 1
        return f"{self.atc:04X}"


@dataclass
class HostItem:
    """One item in the host's ledger."""

    tid: str
    mid: str
    stan: str
    rrn: str
    auth: str
    proc: str
    amount: int
    cur: str
    card: str
    atc: str | None
    inv: str
    batch: str
    capture: datetime  # the host's clock for online approvals, the terminal's for offline advices
    capture_tz: str
    t: datetime
    state: str = "approved"  # approved | reversed | voided


class Host:
    """The acquirer host: approves, reverses, voids; writes jPOS blocks; clears at cut-off."""

    def __init__(self, rng: random.Random, realm: str = "server-channel/10.20.0.5:9000") -> None:
        self.rng = rng
        self.realm = realm
        self.lines: list[tuple[datetime, int, str]] = []
        self.items: list[HostItem] = []
        self.seq = 0
        self._n = 0
        self.cleared: list[tuple[str, HostItem]] = []  # (settle date, item)
        self.muted = False  # True while a terminal talks to the fallback host, whose log is not ours

    def _emit(self, t: datetime, block: str) -> None:
        if self.muted:
            return
        self._n += 1
        self.lines.append((t, self._n, block))

    def block(self, t: datetime, tag: str, fields: dict[str, str], lifespan: int, direction: str) -> None:
        at = t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}"
        rows = [
            f'<log realm="{self.realm}" at="{at}" lifespan="{lifespan}ms">',
            f"  <{tag}>",
            f'    <isomsg direction="{direction}">',
        ]
        for key in sorted(fields, key=lambda k: int(k.split(".")[0])):
            binary = ' type="binary"' if key == "55" else ""
            rows.append(f'      <field id="{key}" value="{fields[key]}"{binary}/>')
        rows += ["    </isomsg>", f"  </{tag}>", "</log>"]
        self._emit(t, "\n".join(rows))

    def again(self, t: datetime, block: str) -> None:
        """A block this host logged before, logged again at ``t`` (its ``at`` time set anew)."""
        at = t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}"
        self._emit(t, re.sub(r'at="[^"]*"', f'at="{at}"', block, count=1))

    def event(self, t: datetime, tag: str, inner: str) -> None:
        at = t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}"
        self._emit(
            t,
            f'<log realm="{self.realm}" at="{at}" lifespan="{self.rng.randint(1, 40)}ms">\n'
            f"  <{tag}>\n    {inner}\n  </{tag}>\n</log>",
        )

    def rrn(self, t: datetime) -> str:
        self.seq += 1
        return t.strftime("%y%j")[1:] + f"{t.hour:02d}" + f"{self.seq:06d}"

    def auth(self) -> str:
        return "".join(self.rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(6))

    def find(self, tid: str, stan: str) -> HostItem | None:
        for item in reversed(self.items):
            if item.tid == tid and item.stan == stan:
                return item
        return None

    def clear(self, day: datetime, items: list[HostItem] | None = None) -> str:
        """Clearing at cut-off for ``day``: every approved item captured up to then."""
        date = day.strftime("%Y-%m-%d")
        done = {id(i) for _, i in self.cleared}
        for item in items if items is not None else self.items:
            if item.state == "approved" and id(item) not in done and item.t <= day and item.proc[:2] != "30":
                self.cleared.append((date, item))
        return date

    def settlement_rows(self, date: str) -> list[str]:
        rows = ["settle_date,tid,mid,batch,stan,rrn,auth,proc,amount,currency,pan,atc,capture_ts"]
        for d, item in self.cleared:
            if d != date:
                continue
            exp = currency(item.cur).exponent  # type: ignore[union-attr]
            local = item.capture.astimezone(ZoneInfo(item.capture_tz))
            capture = local.strftime("%Y-%m-%dT%H:%M:%S%z")
            capture = capture[:-2] + ":" + capture[-2:]
            rows.append(
                ",".join(
                    [
                        d,
                        item.tid,
                        item.mid,
                        item.batch,
                        item.stan,
                        item.rrn,
                        item.auth,
                        item.proc,
                        minor_to_major(item.amount, exp),
                        item.cur,
                        item.card,
                        item.atc or "",
                        capture,
                    ]
                )
            )
        return rows


@dataclass
class Txn:
    """What one terminal transaction attempt became, for truth and for later steps."""

    device: str
    tid: str
    mid: str
    type: str
    inv: str
    stan: str
    amount: int
    cur: str
    card: Card | None
    atc: str | None
    t: datetime
    status: str = "APPROVED"
    rrn: str | None = None
    auth: str | None = None
    host_item: HostItem | None = None
    orig_inv: str | None = None
    adjusted: int | None = None  # total after a tip adjust, for the batch
    host_rc: str | None = None  # what the host answered, if the request reached it
    sent: int | None = None  # the amount the app put in DE4, if it sent a request

    def key(self) -> dict[str, str | None]:
        """The transaction keys as truth.json names them."""
        return {
            "device": self.device,
            "tid": self.tid,
            "stan": self.stan,
            "inv": self.inv,
            "rrn": self.rrn,
            "auth": self.auth,
        }

    def lifecycle(self, host: Host, exponent: int) -> dict[str, object]:
        """Keys plus what became of it: as the merchant saw it, at the host, in settlement."""
        item = self.host_item
        if self.host_rc is None:
            host_outcome = "NOT_SEEN"
        elif self.host_rc != "00":
            host_outcome = "DECLINED"
        elif item is not None and item.state == "reversed":
            host_outcome = "REVERSED"
        else:
            host_outcome = "APPROVED"
        return {
            **self.key(),
            "type": self.type,
            "amount_entered": minor_to_major(self.amount, exponent),
            "merchant_outcome": self.status,
            "host_outcome": host_outcome,
            "cleared": sum(1 for _, cleared in host.cleared if cleared is item) if item is not None else 0,
        }


@dataclass
class Device:
    """A payment terminal with its counters, reversal file, SAF queue, batch and log."""

    sim: World
    serial: str
    tid: str
    mid: str
    android: bool
    tz: str
    skew_s: float
    app: str = "1.01.22E"
    stan: int = 1
    inv: int = 1
    batch: int = 1
    style: str = "threadtime"  # threadtime | year | bsd | bsd_pri | bsd_program
    log_saved: bool = True
    pid: int = 2311
    lines: list[tuple[datetime, int, str]] = field(default_factory=list)
    pending_reversal: Txn | None = None
    reversal_tries: int = 0
    saf: list[Txn] = field(default_factory=list)
    open_batch: list[Txn] = field(default_factory=list)
    boot_t: datetime | None = None
    clock_steps: list[tuple[datetime, float]] = field(default_factory=list)
    online: bool = True
    timeout_s: float = TIMEOUT_S  # how long the app waits for a response
    de4_factor: int = 1  # an app version's amount bug: DE4 of a sale is this many times the amount
    speaker: Speaker | None = None  # the vendor style its app lines are said in (None: the reference app)
    model: str | None = None  # hardware model, logged on the TMS identity line when set (fleets)
    _n: int = 0

    # -- clock and writing -------------------------------------------------------------
    def local(self, t: datetime) -> datetime:
        skew = self.skew_s + sum(step for when, step in self.clock_steps if t >= when)
        return (t + timedelta(seconds=skew)).astimezone(ZoneInfo(self.tz))

    def write(
        self, t: datetime, tag: str, msg: str, level: str = "I", pid: int | None = None, thread: int | None = None
    ) -> None:
        if self.speaker is not None and tag in APP_TAGS:
            tag, msg = self.speaker.say(tag, msg)
        self._n += 1
        self.lines.append((t, self._n, self.format_line(t, tag, msg, level, pid, thread)))

    def format_line(self, t: datetime, tag: str, msg: str, level: str, pid: int | None, thread: int | None) -> str:
        lt = self.local(t)
        pid = self.pid if pid is None else pid
        if self.android:
            stamp = lt.strftime("%m-%d %H:%M:%S.") + f"{lt.microsecond // 1000:03d}"
            if self.style == "year":
                stamp = f"{lt.year:04d}-" + stamp
            thread = (pid + 87) if thread is None else thread
            return f"{stamp} {pid:5d} {thread:5d} {level} {tag:<8}: {msg}"
        stamp = lt.strftime("%b ") + f"{lt.day:2d}" + lt.strftime(" %H:%M:%S")
        if self.style != "bsd":
            stamp += f".{lt.microsecond:06d}"
        pri = ""
        if self.style in ("bsd_pri", "bsd_program"):
            pri = f"<{16 * 8 + {'E': 3, 'W': 4, 'I': 6, 'D': 7, 'F': 2}.get(level, 6)}>"
        if tag == "kernel":
            return f"{pri}{stamp} {self.serial} kernel: {msg}"
        if self.style == "bsd_program" or tag not in self.sim.dialect_tags:
            return f"{pri}{stamp} {self.serial} {tag}[{pid}]: {msg}"
        return f"{pri}{stamp} {self.serial} payapp[{pid}]: {tag}: {msg}"

    def raw(self, t: datetime, text: str) -> None:
        """A line as given (malformed or noise lines)."""
        self._n += 1
        self.lines.append((t, self._n, text))

    # -- counters ----------------------------------------------------------------------
    def next_stan(self) -> str:
        value = f"{self.stan:06d}"
        self.stan = self.stan % 999999 + 1
        return value

    def next_inv(self) -> str:
        value = f"{self.inv:06d}"
        self.inv += 1
        return value


class World:
    """Everything of one simulated case: devices, the host, cards, noise, malformed lines."""

    def __init__(
        self,
        seed: int,
        *,
        cur: str = "USD",
        tz: str = "UTC",
        start: datetime | None = None,
        wide: bool = False,
        vendor: str = "reference",
    ) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.vendor = vendor  # the app's logging style (forensics.simulate.vendors); the world is the same
        self.wide = wide  # wider timings and the noise of real shops (terminal.busy_hours, World.device)
        self.cur = cur
        self.exponent = currency(cur).exponent  # type: ignore[union-attr]
        self.tz = tz
        day = datetime(2026, 1, 5) + timedelta(days=self.rng.randint(0, 300))
        opening = datetime(day.year, day.month, day.day, 8, self.rng.randint(0, 45), tzinfo=ZoneInfo(tz))
        self.start = start or opening.astimezone(UTC)
        self.host = Host(self.rng)
        self.devices: list[Device] = []
        self.dialect_tags = {
            "TransProcess",
            "Comm",
            "Reversal",
            "SAF",
            "Batch",
            "Printer",
            "EmvProcess",
            "PinPad",
            "UI",
            "PowerFail",
            "TMS",
            "AndroidRuntime",
            "healthd",
        }
        self.malformed: list[dict[str, object]] = []
        self.duplicated: list[dict[str, object]] = []
        self.mid = f"{self.rng.randint(10**8, 10**9 - 1):015d}"
        self.median = {0: 1800, 2: 2450, 3: 9500}[self.exponent]
        self.traffic = self.rng.uniform(6, 16)  # transactions per hour on a terminal
        self.spread = self.rng.uniform(0.3, 0.5)  # log-normal sigma of basket amounts

    def card(self) -> Card:
        return Card(self.rng)

    def amount(self) -> int:
        """A basket amount in minor units, log-normal around the merchant's median."""
        value = self.median * self.rng.lognormvariate(0, self.spread)
        step = 10 if self.exponent == 0 else 1
        return max(step, round(value / step) * step)

    def major(self, amount: int) -> str:
        return minor_to_major(amount, self.exponent)

    def device(
        self,
        serial: str,
        *,
        android: bool = True,
        tid: str | None = None,
        mid: str | None = None,
        skew_s: float | None = None,
        style: str | None = None,
        stan: int | None = None,
        inv: int | None = None,
        batch: int | None = None,
    ) -> Device:
        rng = self.rng
        dev = Device(
            self,
            serial,
            tid or f"T{rng.randint(1000000, 9999999)}",
            mid or self.mid,
            android,
            self.tz,
            rng.uniform(-90, 90) if skew_s is None else skew_s,
            app=rng.choice(["1.01.22E", "1.01.24E", "1.02.03"]) if android else rng.choice(["3.2.1", "3.3.0"]),
            stan=stan if stan is not None else rng.randint(1, 900000),
            inv=inv if inv is not None else rng.randint(1, 5000),
            batch=batch if batch is not None else rng.randint(1, 400),
            style=style
            or (
                rng.choice(["threadtime", "threadtime", "year"])
                if android
                else rng.choice(["bsd", "bsd_pri", "bsd_program"])
            ),
            log_saved=rng.random() < 0.8,
            pid=rng.randint(1500, 9000),
        )
        speaker = VENDORS[self.vendor].speaker
        if speaker is not None:
            dev.speaker = speaker(self.cur, android)
        if self.wide:
            # real fleets: response timeouts from 15 s to 90 s, clocks minutes to an hour off, STANs near the wrap
            dev.timeout_s = float(rng.choice([15, 20, 30, 30, 45, 60, 90]))
            if skew_s is None:
                dev.skew_s = rng.choice([rng.uniform(-90, 90), rng.uniform(-1800, 1800), rng.uniform(-3900, 3900)])
            if stan is None and rng.random() < 0.25:
                dev.stan = rng.randint(999700, 999990)
        self.devices.append(dev)
        return dev
