"""Personal numbers at rest: AES-256-GCM for ID and phone numbers, HMAC-SHA256 to search by ID number.

Both keys are derived (HKDF) from the one ``GRIDGOV_PII_KEY``. A sealed value is its 12-byte nonce
followed by the ciphertext; the column's name is bound in as associated data, so a value copied
into another column does not open.
"""

import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

NONCE_BYTES = 12


def _derive(key: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"gridgov " + purpose).derive(key)


class Protector:
    """Seals and opens personal numbers, and hashes ID numbers for search.

    ``old_keys``: keys being rotated away from (``gridgov registers rekey``). Values are sealed and hashed
    under the current key only; a value sealed under an old key still opens, and a search also tries
    the old keys' hashes, so reads work throughout a rotation.
    """

    def __init__(self, hex_key: str, old_keys: tuple[str, ...] = ()) -> None:
        self._keys = [_Key(bytes.fromhex(k)) for k in (hex_key, *old_keys)]

    def seal(self, value: str, column: str) -> bytes:
        """``value`` encrypted for ``column`` under the current key."""
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._keys[0].aead.encrypt(nonce, value.encode(), column.encode())

    def open(self, sealed: bytes, column: str) -> str:
        """The value sealed for ``column``; ``InvalidTag`` for another column, or a key not in this ring."""
        for key in self._keys[:-1]:
            try:
                return key.open(sealed, column)
            except InvalidTag:
                continue
        return self._keys[-1].open(sealed, column)

    def is_current(self, sealed: bytes, column: str) -> bool:
        """Whether ``sealed`` is sealed under the current key (a rotation has nothing left to do for it)."""
        try:
            self._keys[0].open(sealed, column)
        except InvalidTag:
            return False
        return True

    def search_hash(self, id_number: str) -> str:
        """The keyed hash by which a person is found from their (normalised) ID number, under the current key."""
        return self._keys[0].search_hash(id_number)

    def search_hashes(self, id_number: str) -> list[str]:
        """The ID number's hash under every key of the ring, the current one first (a rotation may be under way)."""
        return [key.search_hash(id_number) for key in self._keys]


class _Key:
    """One ``GRIDGOV_PII_KEY``'s derived keys: encryption and search."""

    def __init__(self, key: bytes) -> None:
        self.aead = AESGCM(_derive(key, b"pii encryption"))
        self._search_key = _derive(key, b"id search")

    def open(self, sealed: bytes, column: str) -> str:
        return self.aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], column.encode()).decode()

    def search_hash(self, id_number: str) -> str:
        return hmac.digest(self._search_key, id_number.encode(), hashlib.sha256).hex()
