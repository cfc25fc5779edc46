"""signmf.Error and one subclass per C status (signmf_status in signmf.h).

Each subclass also derives from the built-in exception a Python caller
would catch for that kind of failure (an unknown id is a KeyError, a
malformed file a ValueError, a failed open an OSError), so generic code
keeps working while signmf-aware code can catch the precise class.
"""

from __future__ import annotations


class Error(Exception):
    """A failure reported by the signmf C library.

    Attributes:
        message: the library's complete message, e.g.
            ``"ua.base:12:3: expected an integer user id, found 'x'"``.
        status: the numeric ``signmf_status`` (see ``signmf.h``).
        line, column: 1-based position in a text file, 0 when not applicable.
    """

    status: int = -1

    def __init__(self, message: str, line: int = 0, column: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column

    # KeyError would quote the message; every subclass prints it plainly.
    def __str__(self) -> str:
        return self.message


class InvalidArgumentError(Error, ValueError):
    """SIGNMF_EINVAL: an argument is out of its documented range."""
    status = 1


class OutOfMemoryError(Error, MemoryError):
    """SIGNMF_ENOMEM: an allocation failed."""
    status = 2


class SizeOverflowError(Error, OverflowError):
    """SIGNMF_EOVERFLOW: a size computation would overflow."""
    status = 3


class FileError(Error, OSError):
    """SIGNMF_EIO: open, read, write or rename failed (errno in the message)."""
    status = 4

    def __init__(self, message: str, line: int = 0, column: int = 0) -> None:
        Error.__init__(self, message, line, column)


class ParseError(Error, ValueError):
    """SIGNMF_EPARSE: a text file is malformed (file:line:col in the message)."""
    status = 5


class FormatError(Error, ValueError):
    """SIGNMF_EFORMAT: a binary file is malformed or truncated."""
    status = 6


class DuplicateError(Error, ValueError):
    """SIGNMF_EDUPLICATE: a (user, item) pair occurs twice."""
    status = 7


class RangeError(Error, ValueError):
    """SIGNMF_ERANGE: a value is outside its allowed range."""
    status = 8


class NonFiniteError(Error, ArithmeticError):
    """SIGNMF_ENONFINITE: training produced a non-finite loss or value."""
    status = 9


class VersionError(Error, ValueError):
    """SIGNMF_EVERSION: a model file from a newer signmf."""
    status = 10


class ChecksumError(Error, ValueError):
    """SIGNMF_ECHECKSUM: a model file whose checksum does not match."""
    status = 11


class NotFoundError(Error, KeyError):
    """SIGNMF_ENOTFOUND: an id the model or data set does not know."""
    status = 12


class UnsupportedError(Error, ValueError):
    """SIGNMF_EUNSUPPORTED: a valid but unsupported feature (dtype, ...)."""
    status = 13


class StoppedError(Error):
    """SIGNMF_EINTERRUPTED: a callback asked to stop."""
    status = 14


class EmptyError(Error, ValueError):
    """SIGNMF_EEMPTY: a file or data set holds no ratings."""
    status = 15


# Indexed by status; the extension raises ERRORS[status].
ERRORS = (Error, InvalidArgumentError, OutOfMemoryError, SizeOverflowError, FileError,
          ParseError, FormatError, DuplicateError, RangeError, NonFiniteError, VersionError,
          ChecksumError, NotFoundError, UnsupportedError, StoppedError, EmptyError)
assert all(c.status == i for i, c in enumerate(ERRORS) if i)
