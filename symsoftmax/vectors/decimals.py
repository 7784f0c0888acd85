"""The exact values of a vector file, read back: decimal strings of at least 40 significant
digits (the generator's ``[-]d.ddd…e±X``, :data:`~symsoftmax.vectors.tokens.DECIMAL_DIGITS`), or
any other decimal spelling, parsed into an unevaluated float64 pair v = hi + lo (hi = v correctly
rounded to float64, lo = the rounded remainder), which carries v to about 2^−106 relative — far
below any ulp of the supported formats (:mod:`symsoftmax.validation.metrics` measures errors
with it).

A suite holds ~10⁵–10⁶ of them, so the generator's layout is parsed as arrays (below); what that
cannot settle goes to an exact parse one at a time (:func:`parse_exact_decimal`, in Python's
integers). :func:`symsoftmax.vectors.load` parses them while it checks a file
(the parse is the check of their grammar) and keeps them for the file
(:func:`remember_exact`), so that a validation does not parse them again.
"""

from __future__ import annotations

import functools
import math
import re
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from symsoftmax.errors import InputError
from symsoftmax.formats import Format
from symsoftmax.rounding import ulp
from symsoftmax.vectors.tokens import DECIMAL_DIGITS, joined_tokens, token_blocks

if TYPE_CHECKING:
    from symsoftmax.vectors.model import VectorFile

__all__ = [
    "EXACT_POWER",
    "EXACT_POWERS_OF_TEN",
    "ExactValues",
    "parse_exact_decimal",
    "parse_exact_tokens",
    "remember_exact",
    "remembered_exact",
]

FloatArray = npt.NDArray[np.float64]

EXACT_POWER = 22
"""10^22 is the largest power of ten that is a double (5^22 < 2^53): a decimal M·10^s with an
integer M < 2^53 and |s| ≤ this is one correctly rounded operation away (Clinger's fast path)."""
EXACT_POWERS_OF_TEN = np.array([float(10**k) for k in range(EXACT_POWER + 1)])
"""10^0 … 10^22, each exactly."""


@dataclass(frozen=True)
class ExactValues:
    """Exact values v = hi + lo of one output array (same shape as the output).

    lo is kept as ``lo_frac · 2^lo_exp`` (lo_frac near 1), so that it keeps its 53 bits even
    where lo itself would be a float64 subnormal (exact values near the float64 underflow).
    """

    hi: FloatArray
    lo_frac: FloatArray
    lo_exp: npt.NDArray[np.int64]

    @classmethod
    def of_values(cls, values: npt.ArrayLike) -> ExactValues:
        """Values that are exact as float64 (lo = 0)."""
        hi = np.asarray(values, dtype=np.float64)
        return cls(hi, np.zeros(hi.shape), np.zeros(hi.shape, dtype=np.int64))

    @classmethod
    def parse(
        cls, decimals: npt.NDArray[Any] | Iterable[str], *, where: str = "exact"
    ) -> ExactValues:
        """Parse decimal strings ("nan", "inf", "-inf" allowed) into the hi + lo pair.

        The strings the generator writes (``d.ddd…e±XX``) are parsed as arrays
        (:func:`_parse_canonical`); the few that it cannot settle, and any other spelling, one
        by one in rational arithmetic (:func:`parse_exact_decimal`). A malformed one is an
        InputError naming ``where`` and its index.
        """
        return cls.parse_many([decimals], [where])[0]

    @classmethod
    def parse_many(
        cls, arrays: Sequence[npt.NDArray[Any] | Iterable[str]], wheres: Sequence[str]
    ) -> list[ExactValues]:
        """:meth:`parse` of each array (``wheres``: their names for errors), all in one pass:
        the array parse costs about as much per call as per thousand values, and a suite's
        tests hold a few values each. Lenient as :meth:`parse` is: surrounding space and
        upper case are taken."""
        shaped = [np.asarray(array, dtype=object) for array in arrays]
        sizes = [array.size for array in shaped]
        offsets = np.cumsum([0, *sizes])
        flat = np.concatenate([array.reshape(-1) for array in shaped]) if shaped else np.empty(0)
        hi, lo_frac, lo_exp, pending = parse_exact_tokens(flat)
        for position in pending:
            text = str(flat[position]).strip().lower()
            try:
                hi[position], lo_frac[position], lo_exp[position] = parse_exact_decimal(text)
            except ValueError:
                which = int(np.searchsorted(offsets, position, side="right")) - 1
                inner = np.unravel_index(position - int(offsets[which]), shaped[which].shape)
                index = [int(i) for i in inner]
                message = f"{wheres[which]}{index}: malformed decimal {text[:40]!r}"
                raise InputError(message) from None
        return ExactValues(hi, lo_frac, lo_exp).split(sizes, [array.shape for array in shaped])

    def split(self, sizes: Sequence[int], shapes: Sequence[tuple[int, ...]]) -> list[ExactValues]:
        """A flat ExactValues cut into consecutive parts of ``sizes`` values, in ``shapes``."""
        bounds = np.cumsum([0, *sizes]).tolist()
        return [
            ExactValues(
                self.hi[start:end].reshape(shape),
                self.lo_frac[start:end].reshape(shape),
                self.lo_exp[start:end].reshape(shape),
            )
            for start, end, shape in zip(bounds[:-1], bounds[1:], shapes, strict=True)
        ]

    @property
    def lo(self) -> FloatArray:
        """The remainder v − hi (may lose bits where it is a float64 subnormal)."""
        with np.errstate(under="ignore"):
            return np.ldexp(self.lo_frac, self.lo_exp)

    def ulps(self, fmt: Format) -> FloatArray:
        """ulp(v) of ``fmt`` at each exact value v (NaN where v is not finite).

        hi may have rounded up to a power of two from just below it; then v lies in the binade
        below, whose spacing is that of the float64 just under hi.
        """
        below = (np.sign(self.hi) * np.sign(self.lo_frac) < 0) & np.isfinite(self.hi)
        at = np.where(below, np.nextafter(self.hi, 0.0), self.hi)
        return ulp(at, fmt)


_PLAIN = re.compile(r"([+-]?)([0-9]*)(?:\.([0-9]*))?(?:e([+-]?[0-9]+))?")


def parse_exact_decimal(text: str) -> tuple[float, float, int]:
    """(hi, lo_frac, lo_exp) of one decimal string ("nan", "inf", "-inf" too), exactly
    (ValueError if malformed; no space or upper case is taken).

    In rational arithmetic: the decimal is n/d (integers); hi = n/d correctly rounded
    (CPython's int / int is, subnormals included), and the remainder n/d − hi = r/(d·b) with
    hi = a/b exactly, whose leading 53 bits are lo_frac·2^lo_exp (lo_frac in [0.5, 1), one
    correctly rounded division of integers scaled to the same length)."""
    if text in ("nan", "inf", "+inf", "-inf"):
        return float(text), 0.0, 0
    match = _PLAIN.fullmatch(text)
    if match is None or not (match[2] or match[3]):
        raise ValueError(text)
    sign, whole, fraction, exponent = match[1], match[2], match[3] or "", match[4]
    negative = sign == "-"
    if exponent and _huge_exponent(exponent):
        # far outside float64 (e.g. e^−10^30): zero to within 2^−1074, or beyond any max
        tiny = exponent.lstrip("+").startswith("-")
        return (
            (-0.0 if negative else 0.0) if tiny else (-math.inf if negative else math.inf),
            0.0,
            0,
        )
    digits = int(whole + fraction)
    scale = int(exponent or 0) - len(fraction)
    numerator, denominator = (digits * 10**scale, 1) if scale >= 0 else (digits, 10**-scale)
    try:
        head = numerator / denominator
    except OverflowError:
        return (-math.inf if negative else math.inf), 0.0, 0
    a, b = head.as_integer_ratio()
    rest, below = numerator * b - a * denominator, denominator * b  # n/d − hi = rest/below
    if rest == 0:
        return (-head if negative else head), 0.0, 0
    shift = abs(rest).bit_length() - below.bit_length()  # 2^(shift−1) < |rest/below| < 2^(shift+1)
    fraction_value, more = math.frexp((rest << max(-shift, 0)) / (below << max(shift, 0)))
    sign_of = -1.0 if negative else 1.0
    return sign_of * head, sign_of * fraction_value, shift + more


def _huge_exponent(exponent: str) -> bool:
    digits = exponent.lstrip("+-")
    return not digits.isdigit() or len(digits) > 5 or int(digits) > 5000


def parse_exact_tokens(
    tokens: Sequence[Any] | npt.NDArray[Any],
) -> tuple[FloatArray, FloatArray, npt.NDArray[np.int64], list[int]]:
    """(hi, lo_frac, lo_exp, pending) of each token, flat: the array parse of the generator's
    layout (below), exact where it settles a token; ``pending``: the indices of the tokens it
    leaves (another spelling, a value it cannot settle, anything malformed; 0 there), for the
    caller to decide with :func:`parse_exact_decimal` or refuse."""
    hi, lo, done = _parse_canonical(tokens)
    lo_frac, lo_exp = np.frexp(lo)
    return hi, lo_frac, lo_exp.astype(np.int64), np.flatnonzero(~done).tolist()


ExactOfTests = list[dict[str, ExactValues]]
"""The exact values of each test of a file, in order, by output key."""

_REMEMBERED: dict[int, tuple[weakref.ref[VectorFile], ExactOfTests]] = {}


def remember_exact(vf: VectorFile, exact: ExactOfTests) -> None:
    """Keep the parsed exact values of ``vf``'s tests while ``vf`` is alive, for
    :func:`remembered_exact`: :func:`~symsoftmax.vectors.load` parses them as it checks the
    file, the suite cache stores them parsed, and a validation parsing them again cost as
    much as the rest of loading the file."""
    key = id(vf)
    _REMEMBERED[key] = (weakref.ref(vf, lambda _ref: _REMEMBERED.pop(key, None)), exact)


def remembered_exact(vf: VectorFile) -> ExactOfTests | None:
    """The exact values given to :func:`remember_exact` for ``vf`` (None if none were)."""
    entry = _REMEMBERED.get(id(vf))
    return entry[1] if entry is not None and entry[0]() is vf else None


# --- the array parse of the generator's decimals ---------------------------------------------
#
# A string ``[-]d.ddd…e±X`` (leading digit 1–9, at most _MAX_DIGITS digits, 1–3 exponent
# digits, |X| ≤ _MAX_EXPONENT) is v = D·10^(X − F), D its F + 1 digits. Two routes, both
# vectorized over the array:
#
# * short: D without its trailing zeros, D' < 2^53, times 10^E' with |E'| ≤ 22. 10^|E'| is a
#   double, so hi = D'·10^E' or D'/10^−E' is one correctly rounded operation (IEEE 754 §5.4.1)
#   and its error lo is found exactly (Dekker's product; the remainder of a division is a
#   double). Exact values that are doubles (0.5, 2^−15 = 3.0517578125e-05) get lo = 0, exactly.
# * long: D in chunks of 15 digits c_j (each a double), v = Σ c_j·10^k_j in double-double
#   arithmetic with 10^k as a double-double pair; the result is within 2^−96·|v| of v (each
#   product and sum errs by ~2^−105). hi = v rounded is right unless v lies within that of a
#   midpoint between two doubles, and lo's sign unless v lies within it of a double: those
#   (rare; exact doubles with long expansions like 2^−30) go to the exact parse, as does
#   anything else.

_MAX_DIGITS = 45
_MAX_LENGTH = _MAX_DIGITS + 6  # sign, point, 'e', exponent sign and 3 digits
_SPECIALS = {"0": 0.0, "-0": -0.0, "nan": math.nan, "inf": math.inf, "-inf": -math.inf}
_MAX_EXPONENT = 250  # 10^(X − 44) and its pair's low part stay float64 normal, v·2^−96 too
_CHUNK = 15  # digits per chunk: below 2^53, exactly a double
_ERROR = 2.0**-96  # bound on |v − (hi + lo)| / |v| of the long route
_SPLIT = 2.0**27 + 1  # Dekker's splitter for float64
_DIGITS = DECIMAL_DIGITS  # the generator's layout: other counts take the general path
_FIXED_COLUMNS = np.array([0, *range(2, _DIGITS + 1)])  # the digits around the point
_FIXED_CHUNKS = [(start, min(start + _CHUNK, _DIGITS)) for start in range(0, _DIGITS, _CHUNK)]
_BLOCK = 16384  # strings parsed together: temporaries of a few MB, reused


def _parse_canonical(
    flat: Sequence[Any] | npt.NDArray[Any],
) -> tuple[FloatArray, FloatArray, npt.NDArray[np.bool_]]:
    """(hi, lo, done): the strings of ``flat`` in the generator's form, parsed as arrays (see
    above); ``done`` is False where the exact parse must decide.

    The generator writes _DIGITS significant digits: such strings are read from the joined
    text, column by column (:func:`_parse_fixed`); the others (a hand-written file's) are cut
    into a byte matrix and grouped by layout (:func:`_parse_block`)."""
    n = len(flat)
    hi, lo, done = np.zeros(n), np.zeros(n), np.zeros(n, dtype=bool)
    buffer, start, length = _joined(flat)
    for i in np.flatnonzero(length <= 4).tolist():  # "0", "nan", "inf", "-inf"
        special = _SPECIALS.get(str(flat[i]))
        if special is not None:
            hi[i], done[i] = special, True
    negative = buffer[start] == ord("-")
    at = start + negative  # the leading digit
    exponent_length = length - negative - (_DIGITS + 3)  # "d." + 39 digits + "e±" before
    fixed = (exponent_length >= 1) & (exponent_length <= 3)
    at = np.where(fixed, at, buffer.size - _MAX_LENGTH)  # the others read the zero padding
    fixed &= (buffer[at + 1] == ord(".")) & (buffer[at + _DIGITS + 1] == ord("e"))
    for rows in np.array_split(np.flatnonzero(fixed), max(1, int(fixed.sum()) // _BLOCK)):
        value, error, ok = _parse_fixed(buffer, at[rows], exponent_length[rows])
        sign = np.where(negative[rows], -1.0, 1.0)
        hi[rows], lo[rows], done[rows] = sign * value, sign * error, ok
    rest = np.flatnonzero(~fixed & ~done & (length >= 5) & (length <= _MAX_LENGTH))
    if rest.size:
        tokens = [str(flat[i]) for i in rest.tolist()]
        for first, codes, part_length in token_blocks(tokens, _MAX_LENGTH):
            rows = rest[first : first + len(part_length)]
            hi[rows], lo[rows], done[rows] = _parse_block(codes, part_length)
    return hi, lo, done


def _joined(
    flat: Sequence[Any] | npt.NDArray[Any],
) -> tuple[npt.NDArray[np.unsignedinteger[Any]], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(codes, start, length): the character codes of all of ``flat``'s strings one after the
    other, followed by _MAX_LENGTH zeros; where each starts, and its length. A NumPy string
    array is read in place (its UTF-32 units, each string in its fixed-width slot); a list or
    object array by :func:`~symsoftmax.vectors.tokens.joined_tokens`."""
    if not isinstance(flat, np.ndarray):
        return joined_tokens(flat, _MAX_LENGTH)
    n = flat.size
    if flat.dtype.kind == "U":
        width = flat.dtype.itemsize // 4
        units = np.ascontiguousarray(flat).view(np.uint32).reshape(-1)
        buffer = np.concatenate([units, np.zeros(_MAX_LENGTH, dtype=np.uint32)])
        length = np.char.str_len(flat).astype(np.int64).reshape(-1)
        return buffer, np.arange(n, dtype=np.int64) * width, length
    return joined_tokens(flat.tolist(), _MAX_LENGTH)


def _parse_fixed(
    buffer: npt.NDArray[np.unsignedinteger[Any]],
    at: npt.NDArray[np.int64],
    exponent_length: npt.NDArray[np.int64],
) -> tuple[FloatArray, FloatArray, npt.NDArray[np.bool_]]:
    """(|hi|, |lo|, done) of strings "d.ddd…e±X" of _DIGITS digits whose leading digit is at
    ``at`` in ``buffer``, X of ``exponent_length`` digits (the point and the 'e' are checked).

    The digits are gathered digit-major, (_DIGITS, strings): the checks are then reductions
    across rows and each chunk's integer one matrix-vector product (per-string reductions
    over 40 digits cost several times more)."""
    codes = buffer[_FIXED_COLUMNS[:, None] + at[None, :]]
    codes -= codes.dtype.type(ord("0"))  # unsigned: a code below "0" wraps to a large one
    ok = (codes <= 9).all(axis=0) & (codes[0] > 0)
    sign = buffer[at + _DIGITS + 2]
    ok &= (sign == ord("+")) | (sign == ord("-"))
    exponent = np.zeros(at.size, dtype=np.int64)
    for place in range(3):
        inside = place < exponent_length
        digit = buffer[at + _DIGITS + 3 + place].astype(np.int64) - ord("0")
        ok &= ~inside | ((digit >= 0) & (digit <= 9))
        exponent = np.where(inside, exponent * 10 + digit, exponent)
    exponent = np.where(sign == ord("-"), -exponent, exponent)
    ok &= np.abs(exponent) <= _MAX_EXPONENT
    value, error, done = np.zeros(at.size), np.zeros(at.size), np.zeros(at.size, dtype=bool)
    # at most 16 significant digits: perhaps the short route (few: exact values like 0.5)
    few = np.flatnonzero(ok & (codes[16:] == 0).all(axis=0))
    if few.size:
        rows = codes[:, few].T.astype(np.int64)
        value[few], error[few], done[few] = _digits_value(rows, exponent[few], ok[few])
    long = np.flatnonzero(ok)
    long = long[~np.isin(long, few)] if few.size else long
    digits = codes[:, long].astype(np.float64)  # exact small integers
    chunks = [
        (_FLOAT_POWERS[end - start - 1 :: -1] @ digits[start:end], end - 1)
        for start, end in _FIXED_CHUNKS
    ]
    value[long], error[long], done[long] = _long_sum(chunks, exponent[long])
    return value, error, done


def _parse_block(
    codes: npt.NDArray[np.uint8], length: npt.NDArray[np.int64]
) -> tuple[FloatArray, FloatArray, npt.NDArray[np.bool_]]:
    """(hi, lo, done) of strings given as code points (zero-padded), grouped by layout."""
    hi, lo, done = np.zeros(len(codes)), np.zeros(len(codes)), np.zeros(len(codes), dtype=bool)
    # one 'e', and no NUL inside (the array pads with NULs: a string with one would be cut)
    is_e = codes == ord("e")
    candidate = (is_e.sum(axis=1) == 1) & ((codes != 0).sum(axis=1) == length)
    e_at = np.argmax(is_e, axis=1)
    negative = codes[:, 0] == ord("-")
    layouts = set(zip(negative[candidate].tolist(), e_at[candidate].tolist(), strict=True))
    for sign, e_position in layouts:
        group = np.flatnonzero(candidate & (negative == sign) & (e_at == e_position))
        value, error, ok = _parse_layout(codes[group], length[group], int(sign), e_position)
        hi[group] = -value if sign else value
        lo[group] = -error if sign else error
        done[group] = ok
    return hi, lo, done


def _parse_layout(
    codes: npt.NDArray[np.uint8], length: npt.NDArray[np.int64], offset: int, e_at: int
) -> tuple[FloatArray, FloatArray, npt.NDArray[np.bool_]]:
    """(|hi|, |lo|, done) of strings that have their sign in ``offset`` characters and their
    'e' at ``e_at``."""
    m, width = codes.shape
    nothing = (np.zeros(m), np.zeros(m), np.zeros(m, dtype=bool))
    positions = [offset, *range(offset + 2, e_at)]  # the digits, around the point
    if not 2 <= len(positions) <= _MAX_DIGITS or e_at + 2 >= width:
        return nothing
    digits = codes[:, positions].astype(np.int32) - ord("0")
    exponent_sign = codes[:, e_at + 1]
    exponent_length = length - (e_at + 2)
    ok = ((digits >= 0) & (digits <= 9)).all(axis=1) & (digits[:, 0] > 0)
    ok &= codes[:, offset + 1] == ord(".")
    ok &= (exponent_sign == ord("+")) | (exponent_sign == ord("-"))
    ok &= (exponent_length >= 1) & (exponent_length <= 3)
    exponent = np.zeros(m, dtype=np.int64)
    for column in range(e_at + 2, min(e_at + 5, width)):
        digit = codes[:, column].astype(np.int32) - ord("0")
        inside = column < length
        ok &= ~inside | ((digit >= 0) & (digit <= 9))
        exponent = np.where(inside, exponent * 10 + digit, exponent)
    exponent = np.where(exponent_sign == ord("-"), -exponent, exponent)
    ok &= np.abs(exponent) <= _MAX_EXPONENT
    return _digits_value(digits, exponent, ok)


def _digits_value(
    digits: npt.NDArray[Any], exponent: npt.NDArray[np.int64], ok: npt.NDArray[np.bool_]
) -> tuple[FloatArray, FloatArray, npt.NDArray[np.bool_]]:
    """(|hi|, |lo|, done) of d.ddd…·10^exponent for the rows of ``digits`` where ``ok`` (the
    leading digit not 0): the short route where it applies, else the long one (see above)."""
    m = digits.shape[0]
    value, error, done = np.zeros(m), np.zeros(m), np.zeros(m, dtype=bool)
    rows = np.flatnonzero(ok)
    digits, exponent = digits[rows], exponent[rows]
    count = digits.shape[1]
    significant = count - np.argmax(digits[:, ::-1] != 0, axis=1)  # the leading digit is not 0
    head = min(count, 16)  # below 10^16: int64
    short = significant <= head
    few = np.flatnonzero(short)  # the integer of their digits, only where it can be short
    number = _integer(digits[few, :head]) // _INTEGER_POWERS[head - significant[few]]
    scale = exponent[few] - (significant[few] - 1)  # v = number · 10^scale
    fits = (number < 2**53) & (np.abs(scale) <= EXACT_POWER)
    short[few] = fits
    taken = rows[few[fits]]
    value[taken], error[taken] = _short_route(number[fits], scale[fits])
    done[taken] = True
    long = rows[~short]
    value[long], error[long], done[long] = _long_route(digits[~short], exponent[~short])
    return value, error, done


def _integer(digits: npt.NDArray[Any]) -> npt.NDArray[np.int64]:
    """The integers that the rows of ``digits`` spell (at most 18 digits: int64)."""
    return digits.astype(np.int64) @ _INTEGER_POWERS[digits.shape[1] - 1 :: -1][: digits.shape[1]]


def _chunk_value(digits: npt.NDArray[Any]) -> FloatArray:
    """The integers that the rows of ``digits`` spell, at most 15 digits: a float64 product
    with the powers of ten, exact (every product and partial sum is an integer below 10^15 <
    2^53, whatever order BLAS adds them in)."""
    width = digits.shape[1]
    return np.asarray(digits, dtype=np.float64) @ _FLOAT_POWERS[width - 1 :: -1][:width]


def _short_route(
    number: npt.NDArray[np.int64], scale: npt.NDArray[np.int64]
) -> tuple[FloatArray, FloatArray]:
    """(hi, lo exactly) of number · 10^scale, number < 2^53 and |scale| ≤ 22 (see above)."""
    power = EXACT_POWERS_OF_TEN[np.abs(scale)]
    d = number.astype(np.float64)
    product = d * power
    quotient = d / power
    p = quotient * power
    remainder = (d - p) - _product_error(quotient, power, p)
    up = scale >= 0
    hi = np.where(up, product, quotient)
    lo = np.where(up, _product_error(d, power, product), remainder / power)
    return hi, lo


def _long_route(
    digits: npt.NDArray[Any], exponent: npt.NDArray[np.int64]
) -> tuple[FloatArray, FloatArray, npt.NDArray[np.bool_]]:
    """(hi, lo, settled): Σ chunk·10^k in double-double arithmetic (see above)."""
    count = digits.shape[1]
    chunks = [
        (
            _chunk_value(digits[:, start : min(start + _CHUNK, count)]),
            min(start + _CHUNK, count) - 1,
        )
        for start in range(0, count, _CHUNK)
    ]
    return _long_sum(chunks, exponent)


def _long_sum(
    chunks: Sequence[tuple[FloatArray, int]], exponent: npt.NDArray[np.int64]
) -> tuple[FloatArray, FloatArray, npt.NDArray[np.bool_]]:
    """:func:`_long_route` of its chunks: (the integer of ≤ 15 digits, the index of its last
    digit), most significant first; v = Σ chunk·10^(exponent − last)."""
    high, low = _powers_of_ten()
    s = t = np.zeros(exponent.shape[0])
    for chunk, last in chunks:
        k = exponent - last + _POWER_OFFSET
        x = chunk * high[k]
        y = _product_error(chunk, high[k], x) + chunk * low[k]
        total = s + x  # Knuth's two-sum: s + x = total + carry exactly
        back = total - s
        carry = (s - (total - back)) + (x - back)
        s, t = total, t + carry + y
    hi = s + t
    lo = t - (hi - s)
    error = _ERROR * np.abs(hi)
    with np.errstate(invalid="ignore"):
        neighbour = np.nextafter(hi, np.where(lo > 0, np.inf, -np.inf))
        settled = (np.abs(lo) > 2 * error) & (np.abs(lo) + error < np.abs(neighbour - hi) / 2)
    return hi, lo, settled & np.isfinite(hi)


def _product_error(a: FloatArray, b: FloatArray, product: FloatArray) -> FloatArray:
    """a·b − product exactly, for product = fl(a·b) (Dekker's algorithm, no FMA needed)."""
    a_hi, a_lo = _split(a)
    b_hi, b_lo = _split(b)
    return ((a_hi * b_hi - product) + a_hi * b_lo + a_lo * b_hi) + a_lo * b_lo


def _split(a: FloatArray) -> tuple[FloatArray, FloatArray]:
    """a = hi + lo with hi of 26 bits and lo of 27 (Veltkamp's splitting)."""
    scaled = _SPLIT * a
    hi = scaled - (scaled - a)
    return hi, a - hi


_INTEGER_POWERS = np.array([10**k for k in range(19)], dtype=np.int64)
_FLOAT_POWERS = _INTEGER_POWERS[:_CHUNK].astype(np.float64)
_POWER_OFFSET = _MAX_EXPONENT + _MAX_DIGITS  # index of 10^0 in the tables of _powers_of_ten


@functools.cache
def _powers_of_ten() -> tuple[FloatArray, FloatArray]:
    """10^k ≈ high[k + _POWER_OFFSET] + low[...] for −_POWER_OFFSET ≤ k ≤ _MAX_EXPONENT, each
    part correctly rounded (int / int division in Python is)."""
    high, low = [], []
    for k in range(-_POWER_OFFSET, _MAX_EXPONENT + 1):
        num, den = (10**k, 1) if k >= 0 else (1, 10**-k)
        first = num / den
        a, b = first.as_integer_ratio()
        high.append(first)
        low.append((num * b - a * den) / (den * b))
    return np.array(high), np.array(low)
