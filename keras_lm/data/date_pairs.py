"""The embedded date-normalisation task, generated with no network and no
download: "3rd of March 2021", "March 3, 2021", "03/03/2021", ... ->
"2021-03-03". Each target is a single right answer, so exact match is a
meaningful accuracy."""

import datetime
import random

_MONTHS = ["January", "February", "March", "April", "May", "June", "July",
           "August", "September", "October", "November", "December"]
_WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday",
             "Saturday", "Sunday"]


def _ordinal(n):
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(
        n % 10, "th")
    return f"{n}{suffix}"


def date_formats(d):
    """Every surface form of date `d` (month and weekday names in English,
    built here rather than by `strftime`, which depends on the locale)."""
    month, mon = _MONTHS[d.month - 1], _MONTHS[d.month - 1][:3]
    weekday, wkd = _WEEKDAYS[d.weekday()], _WEEKDAYS[d.weekday()][:3]
    day, year = d.day, d.year
    return [
        f"{_ordinal(day)} of {month} {year}",          # 3rd of March 2021
        f"{month} {day}, {year}",                      # March 3, 2021
        f"{day:02d}/{d.month:02d}/{year}",             # 03/03/2021 (D/M/Y)
        f"{weekday} {day} {month} {year}",             # Wednesday 3 March 2021
        f"{day} {mon} {year}",                         # 3 Mar 2021
        f"{mon.lower()} {day} {year}",                 # mar 3 2021
        f"{wkd}, {mon} {day}, {year}",                 # Wed, Mar 3, 2021
        f"{day:02d}.{d.month:02d}.{year}",             # 03.03.2021
        f"the {_ordinal(day)} of {month.lower()}, {year}",
        f"{_ordinal(day)} {month} {year}",             # 3rd March 2021
        f"{year}/{d.month}/{day}",                     # 2021/3/3
        f"{weekday.upper()}, {month.upper()} {day}, {year}",
    ]


def date_pairs(num_pairs=20000, seed=0, first_year=1950, last_year=2049):
    """Generates `num_pairs` (written date, ISO date) pairs, the same for the
    same seed. Numeric forms are day first (`03/04/2021` is 3 April).

    Example:

    >>> date_pairs(2, seed=0) == date_pairs(2, seed=0)
    True
    >>> date_formats(datetime.date(2021, 3, 3))[:2]
    ['3rd of March 2021', 'March 3, 2021']
    """
    rng = random.Random(seed)
    first = datetime.date(first_year, 1, 1).toordinal()
    last = datetime.date(last_year, 12, 31).toordinal()
    pairs = []
    for _ in range(num_pairs):
        d = datetime.date.fromordinal(rng.randint(first, last))
        pairs.append((rng.choice(date_formats(d)), d.isoformat()))
    return pairs
