"""Vector tiles kept in the API's memory: a tile depends only on the boundary set, so it is built once.

A city's map asks every screen for the same few tiles; PostGIS builds a tile of 10,000 grids in tens of
milliseconds and the cache answers in microseconds. The key names the boundary generation, so a new set
of boundaries is never answered from the old one; the least recently used tiles go first once the cache
holds ``max_bytes``.
"""

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable


class TileCache:
    """Least recently used bytes by key, at most ``max_bytes`` in all (0 keeps nothing)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self.hits = 0
        self.misses = 0
        self._tiles: OrderedDict[Hashable, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, build: Callable[[], bytes]) -> bytes:
        """The tile of ``key``, built by ``build()`` the first time (outside the lock: slow builds overlap)."""
        with self._lock:
            tile = self._tiles.get(key)
            if tile is not None:
                self._tiles.move_to_end(key)
                self.hits += 1
                return tile
            self.misses += 1
        tile = build()
        if len(tile) <= self.max_bytes:
            with self._lock:
                if key not in self._tiles:
                    self._tiles[key] = tile
                    self.size += len(tile)
                while self.size > self.max_bytes:
                    _, old = self._tiles.popitem(last=False)
                    self.size -= len(old)
        return tile

    def __len__(self) -> int:
        return len(self._tiles)
