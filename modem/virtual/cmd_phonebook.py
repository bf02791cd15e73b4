"""Phonebook basics (27.007 8.11-8.14): AT+CPBS storage, AT+CPBR read, AT+CPBW write and delete.

    AT+CPBW=,"+33612345678",145,"Depot"    -> written at the first free index
    AT+CPBR=1,5                            -> +CPBR: 1,"+33612345678",145,"Depot"
    AT+CPBW=1                              -> deletes entry 1

Storages "SM" (the SIM, 250 entries) and "ME" (the module, 100); numbers up to 40 digits, texts up to 14
characters, as SIM800 and Quectel modules report (`AT+CPBR=?`).  Errors as 27.007 9.2: invalid index 21,
memory full 20, text too long 24, dial string too long 26.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from modem.virtual.registry import StatefulSet
from modem.virtual.results import CmeError, Final
from modem.virtual.syntax import Cmd, Op

if TYPE_CHECKING:
    from modem.virtual.core import VirtualModem

CAPACITY = {"SM": 250, "ME": 100}
NUMBER_MAX, TEXT_MAX = 40, 14


@dataclass(slots=True)
class Entry:
    number: str
    toa: int
    text: str


@dataclass(slots=True)
class Phonebook:
    storage: str = "SM"
    books: dict[str, dict[int, Entry]] = field(default_factory=lambda: {name: {} for name in CAPACITY})

    @property
    def book(self) -> dict[int, Entry]:
        return self.books[self.storage]


PHONEBOOK = StatefulSet("phonebook", Phonebook)


@PHONEBOOK.command("+CPBS", sim=True)
def cpbs(m: VirtualModem, c: Cmd) -> Final | None:
    pb = PHONEBOOK.state(m)
    if c.op is Op.READ:
        m.info(f'+CPBS: "{pb.storage}",{len(pb.book)},{CAPACITY[pb.storage]}')
    elif c.op is Op.TEST:
        m.info("+CPBS: (" + ",".join(f'"{s}"' for s in CAPACITY) + ")")
    elif c.op is Op.SET:
        storage = c.str_at(0).upper()
        if storage not in CAPACITY:
            raise CmeError(50)
        pb.storage = storage
    else:
        raise CmeError(50)
    return None


@PHONEBOOK.command("+CPBR", sim=True)
def cpbr(m: VirtualModem, c: Cmd) -> Final | None:
    pb = PHONEBOOK.state(m)
    top = CAPACITY[pb.storage]
    if c.op is Op.TEST:
        m.info(f"+CPBR: (1-{top}),{NUMBER_MAX},{TEXT_MAX}")
        return None
    if c.op is not Op.SET:
        raise CmeError(50)
    first = c.int_at(0, None, 1, top)
    last = c.int_at(1, first, first, top)
    for i in range(first, last + 1):
        e = pb.book.get(i)
        if e is not None:
            m.info(f'+CPBR: {i},"{e.number}",{e.toa},"{e.text}"')
    return None


@PHONEBOOK.command("+CPBW", sim=True)
def cpbw(m: VirtualModem, c: Cmd) -> Final | None:
    pb = PHONEBOOK.state(m)
    top = CAPACITY[pb.storage]
    if c.op is Op.TEST:
        m.info(f"+CPBW: (1-{top}),{NUMBER_MAX},(129,145),{TEXT_MAX}")
        return None
    if c.op is not Op.SET:
        raise CmeError(50)
    params = c.params()
    raw = (params[0] or "").strip() if params else ""
    if raw and not raw.isdigit():
        raise CmeError(50)
    index = int(raw) if raw else None
    if index is not None and not 1 <= index <= top:
        raise CmeError(21)
    if len(params) < 2:  # AT+CPBW=<index>: delete
        if index is None:
            raise CmeError(50)
        pb.book.pop(index, None)
        return None
    number = c.str_at(1)
    toa = c.int_at(2, 145 if number.startswith("+") else 129, 0, 255)
    text = c.str_at(3, "")
    if len(number.lstrip("+")) > NUMBER_MAX or not all(ch.isdigit() or ch in "+*#" for ch in number):
        raise CmeError(26)
    if len(text) > TEXT_MAX:
        raise CmeError(24)
    if index is None:
        free = [i for i in range(1, top + 1) if i not in pb.book]
        if not free:
            raise CmeError(20)
        index = free[0]
    pb.book[index] = Entry(number, toa, text)
    return None
