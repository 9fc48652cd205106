"""Contacts answering the responder cascade's question by SMS, as families and
key-holders sometimes do: some reply "1"/是 after a while, some "2"/否, some never;
and family accounts answering on the family page ("I am going" / "I cannot come").

It watches what the SMS stand-in took (simulators/sms_provider.py) and texts back
through it, so the answer reaches the server the way a real reply would (the
provider's up-link push). Every choice comes from a seeded ``random.Random``: a
run with the same seed answers the same way.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass

import httpx

from simulators.sms_provider import AliyunSmsStandIn

log = logging.getLogger(__name__)
YES = ("1", "是", "好的", "1")
NO = ("2", "否", "不行，在外地", "2")


@dataclass(frozen=True, slots=True)
class AnswerHabits:
    answer_share: float = 0.6  # of those asked, how many text back at all
    yes_share: float = 0.5  # of those who answer, how many can go
    delay_s: tuple[float, float] = (5.0, 40.0)  # how long they take to reply

    def __post_init__(self) -> None:
        for share in (self.answer_share, self.yes_share):
            if not 0.0 <= share <= 1.0:
                raise ValueError(f"a share is within [0, 1], got {share}")
        if not 0.0 <= self.delay_s[0] <= self.delay_s[1]:
            raise ValueError(f"delay_s must be (low, high) with 0 <= low <= high: {self.delay_s}")


def reply_to(rng: random.Random, habits: AnswerHabits) -> tuple[float, str] | None:
    """Whether an asked contact replies, after how long and what; None: silence."""
    if rng.random() >= habits.answer_share:
        return None
    text = rng.choice(YES if rng.random() < habits.yes_share else NO)
    return rng.uniform(*habits.delay_s), text


class ContactAnswers:
    """``await ContactAnswers(stand_in, template, habits, rng).run()`` until cancelled."""

    def __init__(
        self,
        stand_in: AliyunSmsStandIn,
        template: str,
        habits: AnswerHabits,
        rng: random.Random,
        every_s: float = 1.0,
    ) -> None:
        self.stand_in, self.template, self.habits, self.rng = stand_in, template, habits, rng
        self.every_s = every_s
        self._seen = 0
        self._replies: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        try:
            while True:
                self.look()
                await asyncio.sleep(self.every_s)
        finally:
            for task in self._replies:
                task.cancel()

    def look(self) -> int:
        """Decide for each question taken since the last look; how many will reply."""
        new = self.stand_in.sent[self._seen :]
        self._seen += len(new)
        replying = 0
        for message in new:
            if message["TemplateCode"] != self.template:
                continue
            decided = reply_to(self.rng, self.habits)
            if decided is None:
                continue
            replying += 1
            task = asyncio.create_task(self._reply(message["PhoneNumbers"], *decided))
            self._replies.add(task)
            task.add_done_callback(self._replies.discard)
        return replying

    async def _reply(self, phone: str, after_s: float, text: str) -> None:
        await asyncio.sleep(after_s)
        log.info("contact %s texts back %r", phone, text)
        await asyncio.to_thread(self.stand_in.reply, phone, text)


def page_answer(rng: random.Random, habits: AnswerHabits) -> tuple[float, str] | None:
    """Whether a family member answers on the family page, after how long and what
    ("going" or "cannot_come"); None: they only read it."""
    decided = reply_to(rng, habits)
    if decided is None:
        return None
    after_s, text = decided
    return after_s, "going" if text in YES else "cannot_come"


class FamilyPageAnswers:
    """A family account on the family page: reads its elders' alerts now and then
    and answers a share of the open ones, once each, as the page's buttons do."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        habits: AnswerHabits,
        rng: random.Random,
        every_s: float = 5.0,
        name: str = "",
    ) -> None:
        self.http, self.habits, self.rng, self.every_s = http, habits, rng, every_s
        self.name = name
        self._seen: set[str] = set()

    async def run(self) -> None:
        while True:
            try:
                await self.look()
            except httpx.HTTPError as exc:  # the server restarting: the next look tries again
                log.info("%s: family page unreachable (%s)", self.name, exc)
            await asyncio.sleep(self.every_s)

    async def look(self) -> int:
        """Answer (after a while) the open alerts not seen before; how many."""
        listed = await self.http.get("/api/v1/family/alerts")
        listed.raise_for_status()
        answering = 0
        for alert in listed.json():
            if not alert["open"] or alert["id"] in self._seen:
                continue
            self._seen.add(alert["id"])
            decided = page_answer(self.rng, self.habits)
            if decided is not None:
                answering += 1
                await asyncio.sleep(decided[0])
                answered = await self.http.post(
                    f"/api/v1/family/alerts/{alert['id']}/answer", json={"answer": decided[1]}
                )
                log.info("%s answers %s: %s", self.name, decided[1], answered.status_code)
        return answering
