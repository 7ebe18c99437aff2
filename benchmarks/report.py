"""results.json -> results.md (tables, ratios, issue-7 targets) and PNG charts.

Medians over repetitions, with min-max as the spread. Ratios are taken between the
best server of each system (highest median req/s for that scenario, connection count
and database), against Flask-Security (the reference) and bare Quart (the ceiling).

usage: report.py [results/results.json]   (runner.py calls write() itself)
"""

from __future__ import annotations

import json
import math
import statistics
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

GET_SCENARIOS = ("public", "public_cookie", "me_cookie", "me_token")
TITLES = {
    "public": "public",
    "public_cookie": "public+cookie",
    "me_cookie": "me (cookie)",
    "me_token": "me (token)",
    "login_ok": "login ok",
    "login_bad": "login bad",
    "storm": "me during storm",
    "overload": "login overload",
    "flood": "logins during a flood",
}
# issue 7 targets for a candidate ("ours")
TARGET_GET_VS_FS = 1.5
TARGET_LOGIN_VS_FLOOR = 0.9
TARGET_STORM_P99_MS = 100.0


@dataclass
class Agg:
    n: int = 0
    n_valid: int = 0
    rps: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    db_cpu: list[float] = field(default_factory=list)
    p50: list[float] = field(default_factory=list)
    p99: list[float] = field(default_factory=list)
    rss: list[float] = field(default_factory=list)
    drain: list[float] = field(default_factory=list)
    neighbour: list[float] = field(default_factory=list)
    storm_logins: list[float] = field(default_factory=list)
    ok_per_s: list[float] = field(default_factory=list)
    answers: list[float] = field(default_factory=list)  # login kinds: every answer/s
    refused: list[float] = field(default_factory=list)  # login kinds: 503+429 per s
    status: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    sock_errors: int = 0
    reasons: list[str] = field(default_factory=list)

    def med(self, name: str) -> float:
        vals = [v for v in getattr(self, name) if not math.isnan(v)]
        return statistics.median(vals) if vals else float("nan")

    def spread(self, name: str) -> tuple[float, float]:
        vals = [v for v in getattr(self, name) if not math.isnan(v)]
        return (min(vals), max(vals)) if vals else (float("nan"), float("nan"))


Key = tuple[str, str, int]  # target, scenario, conns


def _nan(obj: Any) -> Any:
    """None (results.json's "no value") -> nan, so medians skip it."""
    if obj is None:
        return float("nan")
    if isinstance(obj, dict):
        return {k: _nan(v) for k, v in obj.items()}
    return obj


def aggregate(records: list[dict[str, Any]]) -> tuple[dict[Key, Agg], list[dict[str, Any]]]:
    aggs: dict[Key, Agg] = defaultdict(Agg)
    floors = []
    for r in records:
        if r["scenario"] == "argon2_floor":
            floors.append(r)
            continue
        a = aggs[(r["target"], r["scenario"], r["conns"])]
        a.n += 1
        if "rps" not in r:
            a.reasons.append(r.get("invalid_reason", "failed"))
            continue
        if not r["valid"]:
            a.reasons.append(r["invalid_reason"])
            continue
        a.n_valid += 1
        r = _nan(r)
        if "ok_per_s" in r:
            # login kinds: "rps" = logins that did what the scenario asks (200, or 400 for a
            # wrong password), CPU per such login; refusals and all answers kept apart
            a.rps.append(r["ok_per_s"])
            a.cpu.append(r.get("server_cpu_us_per_ok", r["server_cpu_us_per_req"]))
            a.answers.append(r["rps"])
            a.refused.append(r.get("refused_per_s", 0.0))
        else:
            a.rps.append(r["rps"])
            a.cpu.append(r["server_cpu_us_per_req"])
        a.db_cpu.append(r["db_cpu_us_per_req"])
        a.p50.append(r["latency_ms"]["p50"])
        a.p99.append(r["latency_ms"]["p99"])
        a.rss.append(r["rss_peak_mb"])
        a.drain.append(r["drain_s"])
        a.neighbour.append(r["neighbour_share"])
        if "ok_per_s" in r:
            a.ok_per_s.append(r["ok_per_s"])
        if "storm_logins_per_s" in r:
            a.storm_logins.append(r["storm_logins_per_s"])
        for k, v in (r.get("status") or {}).items():
            a.status[k] += v
        e = r.get("errors") or {}
        a.sock_errors += sum(e.get(k, 0) for k in ("connect", "read", "write", "timeout"))
    return aggs, floors


def fmt(v: float, digits: int = 0) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{v:,.{digits}f}"


def cell_rps(a: Agg | None, digits: int = 0) -> str:
    if a is None or not a.rps:
        return "-" if a is None else f"failed ({a.reasons[0][:40]})" if a.reasons else "-"
    lo, hi = a.spread("rps")
    if len(a.rps) == 1:
        return fmt(a.med("rps"), digits)
    return f"{fmt(a.med('rps'), digits)} [{fmt(lo, digits)}-{fmt(hi, digits)}]"


def ratio(a: float, b: float) -> str:
    if not a or not b or math.isnan(a) or math.isnan(b):
        return "-"
    return f"{a / b:.2f}x"


class Report:
    def __init__(self, results: dict[str, Any]) -> None:
        self.r = results
        self.meta = results["meta"]
        self.targets = results["targets"]
        self.aggs, self.floors = aggregate(results["records"])
        self.floor = (
            statistics.median([f["verifies_per_s"] for f in self.floors])
            if self.floors
            else float("nan")
        )
        self.floor_cpu_ms = (
            statistics.median([f["cpu_ms_per_verify_pinned"] for f in self.floors])
            if self.floors
            else float("nan")
        )
        cfg = self.meta["config"]
        self.get_conns: list[int] = cfg["get_conns"]
        self.login_conns: list[int] = cfg["login_conns"]
        self.storm_conns: list[int] = cfg["storm_conns"]
        self.overload_conns: list[int] = cfg["overload_conns"]
        self.dbs: list[str] = cfg["dbs"]

    def agg(self, target: str, scen: str, conns: int) -> Agg | None:
        return self.aggs.get((target, scen, conns))

    def targets_of(self, db: str) -> list[dict[str, Any]]:
        return [t for t in self.targets if t["db"] == db]

    def label(self, t: dict[str, Any]) -> str:
        return f"{t['system']} · {t['server_label']}"

    def best(
        self, db: str, role_or_system: str, scen: str, conns: int
    ) -> tuple[dict[str, Any], Agg] | None:
        """Best server (highest median req/s) of a system, or of the system with that role."""
        found = []
        for t in self.targets_of(db):
            if role_or_system not in (t["system"], t["role"]):
                continue
            a = self.agg(t["id"], scen, conns)
            if a is not None and a.rps:
                found.append((t, a))
        return max(found, key=lambda x: x[1].med("rps")) if found else None

    # ----- sections -------------------------------------------------------------------

    def header(self) -> list[str]:
        m = self.meta
        cfg = m["config"]
        out = [
            "# Benchmark results",
            "",
            f"Run {m['started']}, {m['elapsed_s'] / 60:.1f} min"
            + (
                " · **QUICK MODE (smoke check: 1 repetition, short runs; not for claims)**"
                if m["quick"]
                else ""
            )
            + (" · **TRUNCATED by the time budget**" if m["truncated"] else ""),
            "",
            f"Code: {m.get('source', 'not recorded')}.",
            "",
            f"Host: {m['host']['cpus']} CPUs, Python {m['host']['python']}, "
            f"kernel {m['host']['kernel']}, {m['host']['wrk']}.",
            "Versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()) + ".",
            f"Load: wrk 2 threads, {cfg['warmup_s']:g} s warm-up + "
            f"{cfg['duration_s']:g} s measured, "
            f"{cfg['reps']} repetition(s), targets interleaved; {cfg['users']} seeded users; "
            f"argon2id t={cfg['argon2']['time_cost']} m={cfg['argon2']['memory_cost']} KiB "
            f"p={cfg['argon2']['parallelism']} everywhere.",
            "Cells: median [min-max] over repetitions. CPU = server process tree CPU-seconds "
            "per request (the number least sensitive to neighbours).",
            "",
            "Systems: "
            + "; ".join(f"**{s['name']}** ({s['role']}: {s['note']})" for s in cfg["systems"])
            + ".",
            "",
        ]
        for db, info in m.get("seed", {}).items():
            out.append(
                f"Seed ({db}): {info['users']} users, "
                + ("hashes from cache" if info["cache_hit"] else "hashed now")
                + f" (hashing took {info['hash_seconds']:.0f} s when done), "
                f"DB built in {info['db_seconds']:.2f} s."
            )
        out.append("")
        return out

    def floor_section(self) -> list[str]:
        if not self.floors:
            return []
        rates = [f["verifies_per_s"] for f in self.floors]
        f0 = self.floors[0]
        neighbours = [r["neighbour_share"] for r in self.r["records"] if "neighbour_share" in r]
        wrk = [r["wrk_share"] for r in self.r["records"] if "wrk_share" in r]
        out = [
            "## argon2 floor (same run)",
            "",
            "| verifies/s on all cores (pinned, 1 process/core) | 1 verify, 1 core: wall / CPU ms "
            "| CPU ms per verify (pinned) | limit from CPU |",
            "|---|---|---|---|",
            f"| **{fmt(self.floor, 2)}** [{fmt(min(rates), 2)}-{fmt(max(rates), 2)}] "
            f"| {fmt(f0['verify_ms_wall_1core'], 0)} / {fmt(f0['verify_ms_cpu_1core'], 0)} "
            f"| {fmt(self.floor_cpu_ms, 0)} | {fmt(f0['limit_from_cpu_per_s'], 2)}/s |",
            "",
        ]
        if neighbours:
            out += [
                f"Noise: other processes took a median {100 * statistics.median(neighbours):.0f}% "
                f"(max {100 * max(neighbours):.0f}%) of the {self.meta['host']['cpus']} CPUs "
                f"during measurements; wrk took a median {100 * statistics.median(wrk):.0f}%.",
                "",
            ]
        return out

    def get_tables(self, db: str) -> list[str]:
        ts = self.targets_of(db)
        cols = [
            (s, c)
            for s in GET_SCENARIOS
            for c in self.get_conns
            if any(self.agg(t["id"], s, c) for t in ts)
        ]
        if not cols:
            return []
        head = "| target | " + " | ".join(f"{TITLES[s]} c={c}" for s, c in cols) + " |"
        sep = "|---|" + "---|" * len(cols)
        out = [f"### GET throughput, req/s ({db})", "", head, sep]
        for t in ts:
            out.append(
                f"| {self.label(t)} | "
                + " | ".join(cell_rps(self.agg(t["id"], s, c)) for s, c in cols)
                + " |"
            )
        out += [
            "",
            f"### Server CPU per request, µs ({db})"
            + (" — in brackets: PostgreSQL backend CPU per request" if db == "postgres" else ""),
            "",
            head,
            sep,
        ]
        for t in ts:
            cells = []
            for s, c in cols:
                a = self.agg(t["id"], s, c)
                if a is None or not a.cpu:
                    cells.append("-")
                elif db == "postgres":
                    cells.append(f"{fmt(a.med('cpu'))} (+{fmt(a.med('db_cpu'))})")
                else:
                    cells.append(fmt(a.med("cpu")))
            out.append(f"| {self.label(t)} | " + " | ".join(cells) + " |")
        out += ["", f"### Latency p50 / p99, ms ({db})", "", head, sep]
        for t in ts:
            cells = []
            for s, c in cols:
                a = self.agg(t["id"], s, c)
                cells.append(
                    "-"
                    if a is None or not a.p50
                    else f"{fmt(a.med('p50'), 1)} / {fmt(a.med('p99'), 1)}"
                )
            out.append(f"| {self.label(t)} | " + " | ".join(cells) + " |")
        return [*out, ""]

    def login_table(self, db: str) -> list[str]:
        ts = self.targets_of(db)
        rows = []
        for t in ts:
            for c in self.login_conns:
                ok, bad = self.agg(t["id"], "login_ok", c), self.agg(t["id"], "login_bad", c)
                if ok is None and bad is None:
                    continue
                okr = ok.med("rps") if ok and ok.rps else float("nan")
                rows.append(
                    f"| {self.label(t)} | {c} | {cell_rps(ok, 1)} | "
                    f"{fmt(100 * okr / self.floor, 0)}% | "
                    f"{fmt(ok.med('cpu') / 1000, 0) if ok and ok.cpu else '-'} | "
                    f"{ratio(ok.med('cpu') / 1000, self.floor_cpu_ms) if ok and ok.cpu else '-'} | "
                    f"{fmt(ok.med('p50') / 1000, 2) if ok and ok.p50 else '-'} / "
                    f"{fmt(ok.med('p99') / 1000, 2) if ok and ok.p99 else '-'} | "
                    f"{fmt(ok.med('refused'), 1) if ok and ok.refused else '-'} | "
                    f"{cell_rps(bad, 1)} | "
                    f"{fmt(bad.med('cpu') / 1000, 0) if bad and bad.cpu else '-'} |"
                )
        if not rows:
            return []
        return [
            f"### Logins vs the argon2 floor ({db}; floor {fmt(self.floor, 2)}/s)",
            "",
            "| target | conns | login ok /s | % of floor | CPU ms/login | ÷ verify CPU "
            "| p50 / p99 s | refused (503/429) /s | login bad /s | CPU ms/bad login |",
            "|---|---|---|---|---|---|---|---|---|---|",
            *rows,
            "",
        ]

    def storm_table(self, db: str) -> list[str]:
        rows = []
        for t in self.targets_of(db):
            for c in self.storm_conns:
                st = self.agg(t["id"], "storm", c)
                if st is None:
                    continue
                alone = self.agg(t["id"], "me_cookie", c)
                alone_rps = alone.med("rps") if alone and alone.rps else float("nan")
                alone_txt = (
                    "-"
                    if alone is None or not alone.rps
                    else f"{fmt(alone_rps)}, {fmt(alone.med('p50'), 1)} / "
                    f"{fmt(alone.med('p99'), 1)}"
                )
                if not st.rps:
                    during = "failed"
                elif not st.med("rps"):
                    during = "**0** (no GET answered in the window)"
                else:
                    p50, p99 = fmt(st.med("p50"), 1), fmt(st.med("p99"), 1)
                    during = f"{cell_rps(st, 1)}, {p50} / **{p99}**"
                rows.append(
                    f"| {self.label(t)} | {c} | {alone_txt} | {during} | "
                    f"{fmt(100 * st.med('rps') / alone_rps, 1) if st.rps else '-'}% | "
                    f"{fmt(st.med('storm_logins'), 1)} |"
                )
        if not rows:
            return []
        return [
            f"### Authenticated GET during a {self.meta['config']['storm_login_conns']}-connection "
            f"login storm ({db})",
            "",
            "| target | probe conns | alone: req/s, p50 / p99 ms "
            "| during storm: req/s, p50 / p99 ms "
            "| % of alone | storm logins/s |",
            "|---|---|---|---|---|---|",
            *rows,
            "",
        ]

    def overload_table(self, db: str) -> list[str]:
        rows = []
        for t in self.targets_of(db):
            for c in self.overload_conns:
                a = self.agg(t["id"], "overload", c)
                if a is None:
                    continue
                ok = self.agg(t["id"], "login_ok", self.login_conns[0])
                ok_rss = ok.med("rss") if ok and ok.rss else float("nan")
                st = a.status
                rows.append(
                    f"| {self.label(t)} | {c} | {fmt(a.med('answers'), 1)} | {cell_rps(a, 1)} | "
                    f"{st.get('200', 0)} | {st.get('503', 0) + st.get('429', 0)} | "
                    f"{st.get('400', 0) + st.get('401', 0) + st.get('other', 0)} | "
                    f"{a.sock_errors} | {fmt(a.med('p99') / 1000, 2) if a.p99 else '-'} | "
                    f"{fmt(a.med('rss'))} ({fmt(ok_rss)}) | {fmt(a.med('drain'), 1)} |"
                )
        if not rows:
            return []
        return [
            f"### Login overload: 10x the storm ({db})",
            "",
            "| target | conns | responses/s | logins/s | 200 | 503/429 | other status "
            "| socket errors/timeouts | p99 s "
            f"| peak RSS MB (at login c={self.login_conns[0]}) | drain s after |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
            *rows,
            "",
            "'drain' = seconds the server kept burning CPU after the load stopped: work queued "
            "for clients that had gone.",
            "",
        ]

    def flood_table(self, db: str) -> list[str]:
        """Issue 17: a second client's logins during one source's wrong-password flood."""
        rows = []
        for t in self.targets_of(db):
            recs = [
                _nan(r)
                for r in self.r["records"]
                if r["target"] == t["id"] and r["scenario"] == "flood" and r.get("valid")
            ]
            if not recs:
                continue

            def med(get: Any, recs: list[dict[str, Any]] = recs) -> float:
                vals = [v for v in (get(r) for r in recs) if v is not None]
                return statistics.median(vals) if vals else float("nan")

            def per_s(r: dict[str, Any], *codes: str) -> float:
                win = r["flood_window_status"]
                return float(sum(win.get(c, 0) for c in codes)) / max(1, r["window_s"])

            rows.append(
                f"| {self.label(t)} | {recs[0]['conns']} "
                f"| {fmt(med(lambda r: r['probe_alone']['ok_per_s']), 2)} "
                f"| {fmt(med(lambda r: r['probe_alone']['latency_ms']['p99']))} "
                f"| {fmt(med(lambda r: r['probe']['ok_per_s']), 2)} "
                f"| {fmt(100 * med(lambda r: r['probe']['success_rate']))} % "
                f"| {fmt(med(lambda r: r['probe']['latency_ms']['p50']))} "
                f"| {fmt(med(lambda r: r['probe']['latency_ms']['p99']))} "
                f"| {fmt(med(lambda r: per_s(r, '400')), 1)} "
                f"| {fmt(med(lambda r: per_s(r, '429')), 1)} "
                f"| {fmt(med(lambda r: per_s(r, '503')), 1)} |"
            )
        if not rows:
            return []
        return [
            f"### A second client during a wrong-password flood ({db})",
            "",
            "| target | flood conns | probe alone logins/s | alone p99 ms | in flood logins/s "
            "| in flood success | p50 ms | p99 ms | flood 400/s | flood 429/s | flood 503/s |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
            *rows,
            "",
            "The probe: one connection from its own address, right-password logins one after "
            "another; p50/p99 over all its attempts (refusals included). The flood: "
            "wrong-password logins from another address, counted in the probe's window.",
            "",
        ]

    def ratio_table(self, db: str) -> list[str]:
        systems = []
        for t in self.targets_of(db):
            if t["system"] not in systems:
                systems.append(t["system"])
        rows = []
        plans = [(s, c) for s in GET_SCENARIOS for c in self.get_conns]
        plans += [("login_ok", c) for c in self.login_conns]
        for scen, c in plans:
            ref = self.best(db, "reference", scen, c)
            ceil = self.best(db, "ceiling", scen, c)
            for name in systems:
                b = self.best(db, name, scen, c)
                if b is None:
                    continue
                t, a = b
                rows.append(
                    f"| {TITLES[scen]} c={c} | {name} | {t['server_label']} "
                    f"| {fmt(a.med('rps'), 1 if a.med('rps') < 100 else 0)} | "
                    f"{ratio(a.med('rps'), ref[1].med('rps')) if ref else '-'} | "
                    f"{ratio(a.med('rps'), ceil[1].med('rps')) if ceil else '-'} | "
                    f"{fmt(a.med('cpu'))} | "
                    f"{ratio(a.med('cpu'), ref[1].med('cpu')) if ref else '-'} | "
                    f"{ratio(a.med('cpu'), ceil[1].med('cpu')) if ceil else '-'} |"
                )
        if not rows:
            return []
        return [
            f"### Ratios, best server of each system ({db})",
            "",
            "req/s ratio > 1 is faster; CPU ratio < 1 is cheaper. "
            "FS = Flask-Security's best server, "
            "ceiling = bare Quart's best server (same scenario, connections, database).",
            "",
            "| scenario | system | best server | req/s | ÷ FS | ÷ ceiling | CPU µs/req "
            "| CPU ÷ FS | CPU ÷ ceiling |",
            "|---|---|---|---|---|---|---|---|---|",
            *rows,
            "",
        ]

    def targets_section(self) -> list[str]:
        cands = sorted({t["system"] for t in self.targets if t["role"] == "candidate"})
        out = ["## Issue 7 targets", ""]
        if not cands:
            return [
                *out,
                "No candidate system ('ours') is registered yet in runner.py's SYSTEMS; "
                "the targets below will be checked once it is.",
                "",
            ]
        out += ["| system | db | target | measured | met? |", "|---|---|---|---|---|"]
        c32 = self.get_conns[0]
        for name in cands:
            for db in self.dbs:
                b, ref = (
                    self.best(db, name, "me_cookie", c32),
                    self.best(db, "reference", "me_cookie", c32),
                )
                if b and ref:
                    r = b[1].med("rps") / ref[1].med("rps")
                    out.append(
                        f"| {name} | {db} | auth GET ≥ {TARGET_GET_VS_FS}x FS best (c={c32}) "
                        f"| {r:.2f}x | {'yes' if r >= TARGET_GET_VS_FS else '**no**'} |"
                    )
                b = self.best(db, name, "login_ok", self.login_conns[0])
                if b:
                    r = b[1].med("rps") / self.floor
                    out.append(
                        f"| {name} | {db} | login/s ≥ {TARGET_LOGIN_VS_FLOOR:.0%} of floor "
                        f"| {r:.0%} | {'yes' if r >= TARGET_LOGIN_VS_FLOOR else '**no**'} |"
                    )
                worst = []
                for t in self.targets_of(db):
                    if t["system"] == name:
                        a = self.agg(t["id"], "storm", self.storm_conns[0])
                        if a and a.p99:
                            worst.append((a.med("p99"), t["server_label"]))
                if worst:
                    p, lab = min(worst)
                    out.append(
                        f"| {name} | {db} | storm p99 ≤ {TARGET_STORM_P99_MS:.0f} ms (best server) "
                        f"| {p:.0f} ms ({lab}) "
                        f"| {'yes' if p <= TARGET_STORM_P99_MS else '**no**'} |"
                    )
                for t in self.targets_of(db):
                    if t["system"] != name:
                        continue
                    a = self.agg(t["id"], "overload", self.overload_conns[0])
                    if a and a.rps:
                        refused = a.status.get("503", 0) + a.status.get("429", 0)
                        out.append(
                            f"| {name} | {db} | overload: excess logins refused fast "
                            f"({t['server_label']}) | {refused} refusals, drain "
                            f"{a.med('drain'):.1f} s, peak RSS {a.med('rss'):.0f} MB "
                            f"| {'yes' if refused and a.med('drain') < 2 else '**no**'} |"
                        )
        return [*out, ""]

    def invalid_section(self) -> list[str]:
        bad = [(k, a) for k, a in self.aggs.items() if a.reasons]
        if not bad:
            return []
        out = ["## Invalid or failed measurements (excluded from medians)", ""]
        for (t, s, c), a in sorted(bad):
            out.append(f"- {t} {s} c={c}: {len(a.reasons)}/{a.n}: {a.reasons[0]}")
        return [*out, ""]

    def markdown(self) -> str:
        lines = self.header() + self.floor_section() + self.targets_section()
        for db in self.dbs:
            lines += [f"## {db}", ""]
            lines += self.get_tables(db) + self.login_table(db) + self.storm_table(db)
            lines += self.overload_table(db) + self.flood_table(db) + self.ratio_table(db)
        lines += self.invalid_section()
        return "\n".join(lines) + "\n"

    # ----- charts -------------------------------------------------------------------

    def charts(self, out: Path) -> list[Path]:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        written = []
        c = self.get_conns[0]
        for metric, fname, ylabel in (
            ("rps", "get_rps.png", f"req/s (median, c={c}; bars = min-max)"),
            ("cpu", "get_cpu.png", f"server CPU µs per request (c={c})"),
        ):
            fig, axes = plt.subplots(
                1, len(self.dbs), figsize=(6.5 * len(self.dbs), 5), squeeze=False
            )
            for ax, db in zip(axes[0], self.dbs, strict=True):
                ts = self.targets_of(db)
                scens = [s for s in GET_SCENARIOS if any(self.agg(t["id"], s, c) for t in ts)]
                width = 0.8 / max(1, len(ts))
                for i, t in enumerate(ts):
                    meds, lo, hi = [], [], []
                    for s in scens:
                        a = self.agg(t["id"], s, c)
                        m = a.med(metric) if a and getattr(a, metric) else 0.0
                        mn, mx = a.spread(metric) if a and getattr(a, metric) else (0.0, 0.0)
                        meds.append(m)
                        lo.append(max(0.0, m - mn))
                        hi.append(max(0.0, mx - m))
                    xs = [j + i * width for j in range(len(scens))]
                    ax.bar(xs, meds, width, yerr=[lo, hi], capsize=2, label=self.label(t))
                ax.set_xticks([j + 0.4 - width / 2 for j in range(len(scens))])
                ax.set_xticklabels([TITLES[s] for s in scens])
                ax.set_title(db)
                ax.set_ylabel(ylabel)
                ax.legend(fontsize=7)
            fig.tight_layout()
            fig.savefig(out / fname, dpi=110)
            plt.close(fig)
            written.append(out / fname)

        fig, axes = plt.subplots(1, 2, figsize=(13, 5))
        lc = self.login_conns[0]
        rows = []
        for db in self.dbs:
            for t in self.targets_of(db):
                a = self.agg(t["id"], "login_ok", lc)
                st = self.agg(t["id"], "storm", self.storm_conns[0])
                rows.append(
                    (
                        f"{self.label(t)} ({db})",
                        a.med("rps") if a and a.rps else 0.0,
                        st.med("p99") if st and st.p99 else float("nan"),
                    )
                )
        if rows:
            names = [r[0] for r in rows]
            axes[0].barh(names, [r[1] for r in rows])
            if not math.isnan(self.floor):
                axes[0].axvline(self.floor, color="red", linestyle="--", label="argon2 floor")
                axes[0].axvline(
                    TARGET_LOGIN_VS_FLOOR * self.floor,
                    color="orange",
                    linestyle=":",
                    label=f"{TARGET_LOGIN_VS_FLOOR:.0%} of floor",
                )
            axes[0].set_xlabel(f"logins/s (login ok, c={lc})")
            axes[0].legend(fontsize=7)
            p99s = [r[2] for r in rows]
            axes[1].barh(names, [0 if math.isnan(v) else v for v in p99s])
            for y, v in enumerate(p99s):
                if math.isnan(v):
                    axes[1].text(TARGET_STORM_P99_MS, y, "  no GET answered", va="center")
            axes[1].axvline(TARGET_STORM_P99_MS, color="red", linestyle="--", label="100 ms target")
            axes[1].set_xscale("log")
            axes[1].set_xlabel("auth GET p99 during login storm, ms (log)")
            axes[1].legend(fontsize=7)
            axes[1].set_yticklabels([])
        fig.tight_layout()
        fig.savefig(out / "logins_storm.png", dpi=110)
        plt.close(fig)
        written.append(out / "logins_storm.png")
        return written


def write(results: dict[str, Any], out: Path) -> None:
    rep = Report(results)
    (out / "results.md").write_text(rep.markdown())
    rep.charts(out)


def main() -> None:
    path = (
        Path(sys.argv[1])
        if len(sys.argv) > 1
        else Path(__file__).parent / "results" / "results.json"
    )
    write(json.loads(path.read_text()), path.parent)
    print(f"wrote {path.parent / 'results.md'} and charts")


if __name__ == "__main__":
    main()
