"""X12 835 reading: bytes in, ``Remittance`` events and dead letters out."""

from streams.domain.x12.reader import ReaderLimits, ReadResult, read_835

__all__ = ["ReadResult", "ReaderLimits", "read_835"]
