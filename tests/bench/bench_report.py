"""bench_report.py: turn the rounds of compare-postfix into medians and print them as a
plain-text table (stdout) and, on request, as markdown (--markdown FILE).

Input: cells = [{"label", "sessions", "size", "rounds": {mta_name: [round results]}}],
each round result as returned by bench_round.run_round()."""

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


def text_table(cells):
    table = [HEADER] + rows(cells)
    widths = [max(len(r[i]) for r in table) for i in range(len(HEADER))]
    lines = []
    for n, r in enumerate(table):
        lines.append("  ".join(c.rjust(w) if i else c.ljust(w)
                               for i, (c, w) in enumerate(zip(r, widths))))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown(cells, machine, params, problems):
    lines = ["| " + " | ".join(HEADER) + " |",
             "|" + "|".join("---" for _ in HEADER) + "|"]
    for r in rows(cells):
        lines.append("| " + " | ".join(r) + " |")
    lines.append("")
    lines.append("Machine:")
    lines.append("")
    for k, v in machine:
        lines.append(f"- {k}: {v}")
    lines.append("")
    lines.append("Run: " + ", ".join(f"{k}={v}" for k, v in params))
    if problems:
        lines.append("")
        lines.append("Problems during the run:")
        lines.append("")
        for p in problems:
            lines.append(f"- {p}")
    return "\n".join(lines) + "\n"
