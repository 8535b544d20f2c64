"""Personal numbers at rest: AES-256-GCM for ID and phone numbers, HMAC-SHA256 to search by ID number.

Both keys are derived (HKDF) from the one ``GRIDGOV_PII_KEY``. A sealed value is its 12-byte nonce
followed by the ciphertext; the column's name is bound in as associated data, so a value copied
into another column does not open.
"""

import hashlib
import hmac
import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

NONCE_BYTES = 12


def _derive(key: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"gridgov " + purpose).derive(key)


class Protector:
    """Seals and opens personal numbers, and hashes ID numbers for search."""

    def __init__(self, hex_key: str) -> None:
        key = bytes.fromhex(hex_key)
        self._aead = AESGCM(_derive(key, b"pii encryption"))
        self._search_key = _derive(key, b"id search")

    def seal(self, value: str, column: str) -> bytes:
        """``value`` encrypted for ``column``."""
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, value.encode(), column.encode())

    def open(self, sealed: bytes, column: str) -> str:
        """The value sealed for ``column``; ``InvalidTag`` for another key or column than it was sealed with."""
        return self._aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], column.encode()).decode()

    def search_hash(self, id_number: str) -> str:
        """The keyed hash by which a person is found from their (normalised) ID number."""
        return hmac.digest(self._search_key, id_number.encode(), hashlib.sha256).hex()
