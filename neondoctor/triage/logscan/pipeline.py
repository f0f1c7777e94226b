"""Read ahead in a second thread: reading and the Hyperscan pass release the GIL, so they overlap the
matcher and the line counting of the previous block on another core.

The reading thread fills buffer n+1 while the consumer works on buffer n; `blocks(..., buffers=3)`
makes that safe with a queue of one item (the consumer's buffer, the queued one, the one being read).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

DEPTH = 1  # items queued ahead; blocks() needs DEPTH + 2 buffers
BUFFERS = DEPTH + 2
_DONE = object()


def read_ahead(produce: Callable[[], Iterator[Any]]) -> Iterator[Any]:
    """The items of `produce()`, made in a daemon thread; its exceptions are raised here, in order."""
    items: queue.Queue[Any] = queue.Queue(maxsize=DEPTH)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        try:
            for item in produce():
                if not put(item):
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            put((_DONE, exc))
        else:
            put((_DONE, None))

    thread = threading.Thread(target=run, name="neondoctor-log-reader", daemon=True)
    thread.start()
    try:
        while True:
            item = items.get()
            if type(item) is tuple and item and item[0] is _DONE:
                if item[1] is not None:
                    raise item[1]
                return
            yield item
    finally:
        stop.set()
        # The thread notices `stop` after its current read (a pipe may keep it longer: it is a daemon).
        thread.join(timeout=2)
