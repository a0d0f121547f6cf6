"""bench_report.py: turn the rounds of compare-postfix into medians and print them as a
plain-text table (stdout) and, on request, as markdown (--markdown FILE).

Input: cells = [{"label", "sessions", "size", "rounds": {mta_name: [round results]}}],
each round result as returned by bench_round.run_round() (delivery workload) or
bench_relay_round.run_relay_round() (relay workload: pass relay=True)."""

import statistics

MTAS = ("postern", "Postfix")


def _median(rounds, key):
    vals = [r[key] for r in rounds if r.get("ok") and r.get(key) is not None]
    return statistics.median(vals) if vals else None


def _fmt(v, digits=0):
    if v is None:
        return "-"
    return f"{v:.{digits}f}"


def _ratio(a, b):
    if a is None or b is None or b == 0:
        return "-"
    return f"{a / b:.2f}"


def summarize(cell):
    """Medians per MTA and the ok/failed round counts."""
    out = {}
    for mta in MTAS:
        rounds = cell["rounds"].get(mta, [])
        out[mta] = {
            "acc": _median(rounds, "accepted_rate"),
            "dlv": _median(rounds, "delivered_rate"),
            "cpu": _median(rounds, "cpu_ms_per_msg"),
            "ok": sum(1 for r in rounds if r.get("ok")),
            "n": len(rounds),
        }
    return out


HEADER = ["cell (size x sessions)", "postern acc/s", "postern dlv/s", "Postfix acc/s",
          "Postfix dlv/s", "ratio acc", "ratio dlv", "postern CPU ms/msg",
          "Postfix CPU ms/msg", "rounds ok (postern, Postfix)"]


def rows(cells):
    out = []
    for cell in cells:
        s = summarize(cell)
        p, f = s["postern"], s["Postfix"]
        out.append([
            cell["label"], _fmt(p["acc"]), _fmt(p["dlv"]), _fmt(f["acc"]), _fmt(f["dlv"]),
            _ratio(p["acc"], f["acc"]), _ratio(p["dlv"], f["dlv"]),
            _fmt(p["cpu"], 2), _fmt(f["cpu"], 2),
            f"{p['ok']}/{p['n']}, {f['ok']}/{f['n']}",
        ])
    return out


RELAY_HEADER = ["cell (size x destinations x sessions)", "postern relayed/s",
                "Postfix relayed/s", "ratio relayed", "postern acc/s", "Postfix acc/s",
                "ratio acc", "postern CPU ms/msg", "Postfix CPU ms/msg",
                "postern connections", "Postfix connections", "msgs per sink (min-max)",
                "rounds ok (postern, Postfix)"]


def _sink_range(rounds):
    counts = [n for r in rounds if r.get("ok") for n in r.get("per_sink", ())]
    return f"{min(counts)}-{max(counts)}" if counts else "-"


def relay_rows(cells):
    out = []
    for cell in cells:
        med = {}
        for mta in MTAS:
            rounds = cell["rounds"].get(mta, [])
            med[mta] = {k: _median(rounds, k) for k in
                        ("relayed_rate", "accepted_rate", "cpu_ms_per_msg", "connections")}
            med[mta]["ok"] = f"{sum(1 for r in rounds if r.get('ok'))}/{len(rounds)}"
            med[mta]["sinks"] = _sink_range(rounds)
        p, f = med["postern"], med["Postfix"]
        out.append([
            cell["label"], _fmt(p["relayed_rate"]), _fmt(f["relayed_rate"]),
            _ratio(p["relayed_rate"], f["relayed_rate"]), _fmt(p["accepted_rate"]),
            _fmt(f["accepted_rate"]), _ratio(p["accepted_rate"], f["accepted_rate"]),
            _fmt(p["cpu_ms_per_msg"], 2), _fmt(f["cpu_ms_per_msg"], 2),
            _fmt(p["connections"]), _fmt(f["connections"]),
            f"{p['sinks']}, {f['sinks']}", f"{p['ok']}, {f['ok']}",
        ])
    return out


def _table(cells, relay):
    return (RELAY_HEADER, relay_rows(cells)) if relay else (HEADER, rows(cells))


def text_table(cells, relay=False):
    header, body = _table(cells, relay)
    table = [header] + body
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    lines = []
    for n, r in enumerate(table):
        lines.append("  ".join(c.rjust(w) if i else c.ljust(w)
                               for i, (c, w) in enumerate(zip(r, widths))))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown(cells, machine, params, problems, relay=False):
    header, body = _table(cells, relay)
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---" for _ in header) + "|"]
    for r in body:
        lines.append("| " + " | ".join(r) + " |")
    lines.append("")
    lines.append("Machine:")
    lines.append("")
    for k, v in machine:
        lines.append(f"- {k}: {v}")
    lines.append("")
    lines.append("Run: " + ", ".join(f"{k}={v}" for k, v in params
                                     if not k.endswith("settings")))
    settings = [(k, v) for k, v in params if k.endswith("settings")]
    if settings:
        lines.append("")
        lines.extend(f"- {k}: {v}" for k, v in settings)
    if problems:
        lines.append("")
        lines.append("Problems during the run:")
        lines.append("")
        for p in problems:
            lines.append(f"- {p}")
    return "\n".join(lines) + "\n"
