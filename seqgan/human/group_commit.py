"""Group commit: the answers of concurrent requests written in one transaction, so one disk sync for all."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from .store import Study


@dataclass
class _Pending:
    answer: tuple[int, str, bool, int | None]
    done: bool = False
    result: bool | None = None
    error: BaseException | None = None


class GroupCommit:
    """Writes the answers of concurrent requests together: one transaction, so one disk sync, for all of them.

    Each commit waits for the disk (synchronous=FULL), so answers written one by one queue up behind each
    other's syncs. Here every request queues its answer, then takes the write lock; whoever holds it writes
    everything queued so far. A request whose answer an earlier holder wrote returns at once. An answer is
    still acknowledged only after the commit that stored it.
    """

    def __init__(self) -> None:
        self._write = threading.Lock()
        self._queue_lock = threading.Lock()
        self._queue: list[_Pending] = []

    def record(self, study: Study, rater_id: int, item_code: str, human: bool, fluency: int | None) -> bool | None:
        """Store one answer; True if stored, False if already answered, None if the item is not the rater's.

        Args:
            study: this thread's open study.
            rater_id: the rater.
            item_code: the blinded item code.
            human: the answer.
            fluency: 1-5 or None.
        """
        entry = _Pending((rater_id, item_code, human, fluency))
        with self._queue_lock:
            self._queue.append(entry)
        with self._write:
            if not entry.done:
                with self._queue_lock:
                    batch, self._queue = self._queue, []
                try:
                    results = study.record_answers([e.answer for e in batch])
                except BaseException as err:
                    for e in batch:
                        e.error, e.done = err, True
                    raise
                for e, stored in zip(batch, results, strict=True):
                    e.result, e.done = stored, True
        if entry.error is not None:
            raise RuntimeError("storing a batch of answers failed") from entry.error
        return entry.result
