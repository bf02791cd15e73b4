"""The readable comparison: the fleet's scenarios, then the lines with the largest savings."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from accounting.compare import elsewhere_in_mix
from accounting.render import money

if TYPE_CHECKING:
    from accounting.compare import Comparison


def render_comparison(comparison: Comparison, top: int = 10) -> str:
    cur = comparison.currency
    out = [
        f"Offer comparison {comparison.customer}, {comparison.month} ({cur} HT, same usage on every choice)"
    ]
    cheapest = comparison.cheapest
    # (a run of part of the month: compared on its days' usage, the subscriptions a whole month's;
    # it said "saving N a month" of one day's usage, where its --json says `usage_covers`)
    c = comparison.covers
    if c is not None:
        out.append(f"  {c.describe()}: compared on these days' usage only, not a projected month")
    period, usage = ("a month", "this month's usage") if c is None else ("on these days", "these days' usage")
    out.append(f"Today: {money(comparison.today.total)} {cur}")
    if comparison.saving > 0:
        out.append(
            f"Cheapest: {cheapest.name}: {money(cheapest.total)} {cur}, saving {money(comparison.saving)} {cur} {period}"
        )
    else:
        out.append(f"Today's choices are already the cheapest for {usage}.")
    out.append("")
    out.append("Fleet scenarios (fleet discounts recomputed for each)")
    for s in sorted(comparison.scenarios, key=lambda s: (s.total, s.name)):
        disc = f"  [{', '.join(s.discounts)}]" if s.discounts else ""
        out.append(f"  {money(s.total):>14}  {s.name}  ({s.lines_moved} lines moved){disc}")
    mix = Counter(str(c) for c in comparison.best_mix_choices.values())
    if mix:
        out.append("")
        out.append("Best choice per line, by choice")
        out.extend(f"  {n:>7} lines  {label}" for label, n in mix.most_common())
    savers = sorted((lc for lc in comparison.lines if lc.saving > 0), key=lambda lc: (-lc.saving, lc.id))
    out.append("")
    if savers:
        out.append(
            f"Largest savings per line (top {min(top, len(savers))} of {len(savers)} lines that would save)"
        )
        best = comparison.best_mix_choices
        differ = 0
        for lc in savers[:top]:
            out.append(
                f"  {lc.id:<16} {lc.current!s:<34} {money(lc.current_total):>10} -> {lc.cheapest!s:<34} "
                f"{money(lc.cheapest_total):>10}  saves {money(lc.saving)}"
            )
            in_mix = elsewhere_in_mix(lc, best)
            if in_mix is not None:
                differ += 1
                out.append(f"  {'':<16} in the best mix: {in_mix}")
        if differ:
            # A line's own bill is priced with the fleet discounts as they stand; moved alone to its
            # cheapest it may take the fleet across a discount's threshold (49 Business lines lose
            # their 5% when the 50th leaves): the list alone would advise a move that costs more.
            out.append(
                "  (a line's own bill, with the fleet discounts as they stand; where the best mix puts it"
                " elsewhere, the fleet discounts change, moved alone or in the mix, and the other lines'"
                " bills with them: the best mix is the fleet's cheapest)"
            )
    else:
        out.append("No line would pay less on another choice (prices with today's fleet discounts).")
    left = comparison.left_out
    out.append("")
    if left["rows"] or left["lines"]:
        out.append(
            f"Left out of the comparison: {left['rows']:,} usage rows and {left['lines']:,} lines "
            "(the invoice's rejects and inventory errors; --json lists them by reason)"
        )
        out.extend(f"  {n:>10,} rows   {reason}" for reason, n in comparison.rows_left_out)
        out.extend(f"  {n:>10,} lines  {rule}" for rule, n in comparison.lines_left_out)
    else:
        out.append("Left out of the comparison: nothing (every usage row and every line is in it).")
    return "\n".join(out) + "\n"
