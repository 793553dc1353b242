"""Safe decoding of untrusted image bytes into upright ``H x W x 3`` uint8 RGB arrays.

Format sniffed from magic bytes, Pillow restricted to it, pixel count checked from the header
before any pixel is decoded. Failures are ImageError subclasses without Pillow's text.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from io import BytesIO

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageFile, ImageOps

from maskgate.errors import (
    CorruptImage,
    EmptyImage,
    ImageError,
    ImageTooLarge,
    ImageTooSmall,
    UnsupportedMediaType,
)

__all__ = ["DecodeLimits", "DecodedImage", "decode_batch", "decode_image", "sniff_format"]

_ORIENTATION_TAG = 0x0112
_BMP_HEADER_SIZES = frozenset({12, 16, 40, 52, 56, 64, 108, 124})
# Our format name -> the Pillow plugin allowed to open it.
_PILLOW_FORMATS = {f.lower(): f for f in ("JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF")}
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
_WIDE_GREY_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I", "F"})
_BACKGROUND = 128  # neutral mid-grey behind transparent pixels
_OPEN_LOCK = threading.Lock()


@dataclass(frozen=True)
class DecodeLimits:
    max_bytes: int = 10_000_000
    max_pixels: int = 40_000_000
    min_side: int = 32

    def __post_init__(self) -> None:
        if self.max_bytes < 1 or self.max_pixels < 1 or self.min_side < 1:
            raise ValueError("decode limits must be positive")


@dataclass(frozen=True)
class DecodedImage:
    rgb: npt.NDArray[np.uint8]  # H x W x 3, C-contiguous, RGB
    format: str  # "jpeg", "png", "webp", "bmp", "tiff" or "gif" (sniffed, not Pillow's name)
    width: int  # after EXIF orientation
    height: int
    orientation: int  # EXIF orientation tag that was applied, 1 if none


def sniff_format(data: bytes) -> str | None:
    """Return our name of the format the magic bytes announce, or None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if data[:2] == b"BM" and int.from_bytes(data[14:18], "little") in _BMP_HEADER_SIZES:
        return "bmp"  # "BM" alone is too weak: also require a known DIB header size
    return None


def decode_image(data: bytes, limits: DecodeLimits = DecodeLimits()) -> DecodedImage:
    """Decode untrusted bytes; raise only :class:`ImageError` subclasses."""
    if len(data) == 0:
        raise EmptyImage()
    if len(data) > limits.max_bytes:
        raise ImageTooLarge(
            f"The image has {len(data)} bytes; the limit is {limits.max_bytes}",
            limit_bytes=limits.max_bytes,
        )
    fmt = sniff_format(data)
    if fmt is None:
        raise UnsupportedMediaType(
            "The bytes are not JPEG, PNG, WebP, BMP, TIFF or GIF",
            supported=sorted(_PILLOW_FORMATS),
        )
    try:
        return _decode(data, fmt, limits)
    except ImageError:
        raise
    except Image.DecompressionBombError as exc:
        raise _too_many_pixels(None, limits) from exc
    except MemoryError as exc:
        raise ImageTooLarge("The image needs too much memory to decode") from exc
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError, struct.error, ...
        raise CorruptImage(f"The {fmt.upper()} data could not be decoded") from exc


def decode_batch(
    items: Sequence[bytes],
    limits: DecodeLimits = DecodeLimits(),
) -> list[DecodedImage | ImageError]:
    """Decode each item; a bad item yields its error in place of a result."""
    results: list[DecodedImage | ImageError] = []
    for data in items:
        try:
            results.append(decode_image(data, limits))
        except ImageError as exc:
            results.append(exc)
    return results


def _too_many_pixels(size: tuple[int, int] | None, limits: DecodeLimits) -> ImageTooLarge:
    what = f"is {size[0]}x{size[1]} pixels" if size else "has too many pixels"
    return ImageTooLarge(
        f"The image {what}; the limit is {limits.max_pixels} pixels", limit_pixels=limits.max_pixels
    )


def _webp_size(data: bytes) -> tuple[int, int] | None:
    """Canvas size from a WebP header (Pillow allocates the canvas while opening a WebP)."""
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        return (
            int.from_bytes(data[26:28], "little") & 0x3FFF,
            int.from_bytes(data[28:30], "little") & 0x3FFF,
        )
    if chunk == b"VP8X" and len(data) >= 30:
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


def _open(data: bytes, fmt: str) -> ImageFile.ImageFile:
    """Parse the header only. Pillow's own bomb check warns above its global MAX_IMAGE_PIXELS
    (left alone here, our limit applies); the warning is silenced locally. catch_warnings swaps
    process-wide state, so our swaps are serialised; header parsing is quick."""
    with _OPEN_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        return Image.open(BytesIO(data), formats=[_PILLOW_FORMATS[fmt]])


def _decode(data: bytes, fmt: str, limits: DecodeLimits) -> DecodedImage:
    if fmt == "webp" and (size := _webp_size(data)) and size[0] * size[1] > limits.max_pixels:
        raise _too_many_pixels(size, limits)
    with _open(data, fmt) as im:
        header_size = im.size
        _check_size(header_size, limits)  # from the header; no pixel is decoded yet
        im.load()  # first frame only for GIF/TIFF
        if im.size != header_size:
            _check_size(im.size, limits)
        orientation = _orientation(im)
        rgb = _to_rgb(ImageOps.exif_transpose(im) if orientation != 1 else im)
    h, w = rgb.shape[:2]
    return DecodedImage(rgb=rgb, format=fmt, width=w, height=h, orientation=orientation)


def _check_size(size: tuple[int, int], limits: DecodeLimits) -> None:
    width, height = size
    if width <= 0 or height <= 0:
        raise CorruptImage("The image header declares no pixels")
    if width * height > limits.max_pixels:
        raise _too_many_pixels(size, limits)
    if min(width, height) < limits.min_side:  # EXIF rotation keeps the shorter side
        raise ImageTooSmall(
            f"The image is {width}x{height} pixels; its shorter side must be at least "
            f"{limits.min_side}",
            min_side=limits.min_side,
        )


def _orientation(im: Image.Image) -> int:
    """The EXIF orientation exif_transpose will apply (2..8), else 1; broken EXIF counts as 1."""
    try:
        value = im.getexif().get(_ORIENTATION_TAG, 1)
    except Exception:  # a damaged EXIF block must not sink an otherwise good photo
        return 1
    return value if isinstance(value, int) and 2 <= value <= 8 else 1


def _to_rgb(im: Image.Image) -> npt.NDArray[np.uint8]:
    """Any Pillow mode -> RGB; alpha (or a PNG/GIF transparency key) composited onto grey."""
    mode = im.mode
    if mode in _ALPHA_MODES or (mode in ("P", "L", "RGB") and "transparency" in im.info):
        rgba = np.asarray(im.convert("RGBA"), dtype=np.uint32)
        alpha = rgba[:, :, 3:4]
        blended = (rgba[:, :, :3] * alpha + _BACKGROUND * (255 - alpha) + 127) // 255
        return np.ascontiguousarray(blended, dtype=np.uint8)
    if mode in _WIDE_GREY_MODES:
        grey = _scale_to_uint8(np.asarray(im))
        return np.ascontiguousarray(np.repeat(grey[:, :, np.newaxis], 3, axis=2))
    # RGB is copied (writable, C order); L, 1, P, CMYK, YCbCr, ... use Pillow's conversion.
    return np.array(im if mode == "RGB" else im.convert("RGB"), dtype=np.uint8, order="C")


def _scale_to_uint8(values: npt.NDArray[np.generic]) -> npt.NDArray[np.uint8]:
    """Map 16-bit, 32-bit integer or float grey levels onto 0..255 (no data-dependent guessing
    inside the common ranges: 16-bit stays 16-bit even when the picture is dark)."""
    arr = np.nan_to_num(values.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 0.0)
    if values.dtype.kind == "f" and lo >= 0.0 and hi <= 1.0:
        scale, offset = 255.0, 0.0  # normalised float
    elif values.dtype.kind in "ui" and lo >= 0 and hi <= 65535:
        scale, offset = 255.0 / 65535.0, 0.0  # I;16, or 16-bit values in a 32-bit container
    else:
        scale, offset = (255.0 / (hi - lo) if hi > lo else 0.0), lo  # stretch min..max
    return np.clip(np.rint((arr - offset) * scale), 0, 255).astype(np.uint8)
