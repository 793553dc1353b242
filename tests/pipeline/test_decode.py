"""Tests of maskgate.pipeline.decode: formats, hostile inputs, colour modes, EXIF orientation."""

from __future__ import annotations

import struct
import time
import warnings
import zlib
from concurrent.futures import ThreadPoolExecutor
from io import BytesIO
from typing import Any

import numpy as np
import pytest
from PIL import Image, features
from skimage import data as skdata

from maskgate.errors import (
    CorruptImage,
    EmptyImage,
    ImageError,
    ImageTooLarge,
    ImageTooSmall,
    UnsupportedMediaType,
)
from maskgate.pipeline.decode import DecodedImage, DecodeLimits, decode_batch, decode_image

ASTRONAUT: np.ndarray = skdata.astronaut()  # 512 x 512 x 3 uint8, a real photo
PORTRAIT = np.ascontiguousarray(ASTRONAUT[:, 64:448])  # 512 rows x 384 columns: not square

needs_webp = pytest.mark.skipif(not features.check("webp"), reason="Pillow built without WebP")


def encode(img: Image.Image | np.ndarray, fmt: str, **params: Any) -> bytes:
    if isinstance(img, np.ndarray):
        img = Image.fromarray(img)
    buf = BytesIO()
    img.save(buf, fmt, **params)
    return buf.getvalue()


def mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    assert a.shape == b.shape
    return float(np.mean(np.abs(a.astype(np.int16) - b.astype(np.int16))))


def check_decoded(img: DecodedImage, fmt: str, height: int, width: int) -> None:
    assert isinstance(img, DecodedImage)
    assert img.format == fmt
    assert img.rgb.dtype == np.uint8
    assert img.rgb.shape == (height, width, 3)
    assert img.rgb.flags.c_contiguous
    assert (img.height, img.width) == (height, width)


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def bomb_png(width: int, height: int) -> bytes:
    """A valid-looking greyscale PNG claiming width x height, holding a few KB of zlib data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(bytes(4_000_000), 9)  # 4 MB of zeros in ~4 KB
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def raises_code(exc_type: type[ImageError], data: bytes, **limits: int) -> ImageError:
    with pytest.raises(exc_type) as info:
        decode_image(data, DecodeLimits(**limits))
    assert info.value.code == exc_type.code
    return info.value


# --- round trips -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "params", "tolerance"),
    [
        pytest.param("jpeg", {"format": "JPEG", "quality": 95}, 3.0, id="jpeg"),
        pytest.param("png", {"format": "PNG"}, 0.0, id="png"),
        pytest.param("webp", {"format": "WEBP", "quality": 90}, 5.0, id="webp", marks=needs_webp),
        pytest.param(
            "webp", {"format": "WEBP", "lossless": True}, 0.0, id="webp-lossless", marks=needs_webp
        ),
        pytest.param("bmp", {"format": "BMP"}, 0.0, id="bmp"),
        pytest.param("tiff", {"format": "TIFF"}, 0.0, id="tiff"),
        pytest.param("tiff", {"format": "TIFF", "compression": "tiff_lzw"}, 0.0, id="tiff-lzw"),
        pytest.param("gif", {"format": "GIF"}, 5.0, id="gif"),
    ],
)
def test_round_trip(fmt: str, params: dict[str, Any], tolerance: float) -> None:
    data = encode(PORTRAIT, params.pop("format"), **params)
    img = decode_image(data)
    check_decoded(img, fmt, 512, 384)
    assert img.orientation == 1
    assert mean_abs_diff(img.rgb, PORTRAIT) <= tolerance


def test_gif_first_frame_of_animation() -> None:
    red = Image.new("RGB", (64, 48), (255, 0, 0))
    blue = Image.new("RGB", (64, 48), (0, 0, 255))
    data = encode(red, "GIF", save_all=True, append_images=[blue], duration=100, loop=0)
    img = decode_image(data)
    check_decoded(img, "gif", 48, 64)
    assert np.all(img.rgb == (255, 0, 0))


def test_result_array_is_writable_and_owned() -> None:
    img = decode_image(encode(PORTRAIT, "PNG"))
    img.rgb[0, 0] = 0  # downstream code may draw on it


# --- hostile and broken input ------------------------------------------------------------------


def test_zero_bytes() -> None:
    raises_code(EmptyImage, b"")


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"hello, this is a text file\n" * 20, id="text"),
        pytest.param(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\n", id="pdf"),
        pytest.param(b"<!DOCTYPE html><html><body><img src=x></body></html>", id="html"),
        pytest.param(b'<svg xmlns="http://www.w3.org/2000/svg" width="64"/>', id="svg"),
        pytest.param(b"BMW is a car, not a bitmap. " * 4, id="bm-text"),
        pytest.param(b"\xff\xd8", id="two-bytes-of-jpeg"),
        pytest.param(np.random.default_rng(7).bytes(5000), id="random"),
        pytest.param(encode(ASTRONAUT, "ICO"), id="ico"),  # Pillow reads it, we do not
    ],
)
def test_unsupported(data: bytes) -> None:
    raises_code(UnsupportedMediaType, data)


def test_truncated_jpeg() -> None:
    data = encode(ASTRONAUT, "JPEG", quality=90)
    err = raises_code(CorruptImage, data[: len(data) // 2])
    assert err.__cause__ is not None
    assert str(err.__cause__) not in err.detail  # no Pillow text in the message


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "BMP", "TIFF", "GIF"])
@pytest.mark.parametrize("keep", [0.02, 0.5, 0.9])
def test_truncated_any_format(fmt: str, keep: float) -> None:
    data = encode(ASTRONAUT, fmt)
    with pytest.raises(CorruptImage):
        decode_image(data[: max(40, int(len(data) * keep))])


@pytest.mark.parametrize(
    "magic",
    [b"\xff\xd8\xff\xe0", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"II*\x00", b"RIFF\x00\x00\x00\x00WEBP"],
)
def test_magic_followed_by_garbage(magic: bytes) -> None:
    raises_code(CorruptImage, magic + np.random.default_rng(3).bytes(3000))


@pytest.mark.parametrize(
    ("width", "height"),
    [
        pytest.param(7_000, 7_000, id="over-our-limit"),
        pytest.param(10_000, 10_000, id="over-pillow-warning"),
        pytest.param(20_000, 20_000, id="over-pillow-error"),
        pytest.param(2_000_000, 32, id="wide-strip"),
    ],
)
def test_decompression_bomb_png(width: int, height: int) -> None:
    data = bomb_png(width, height)
    assert len(data) < 20_000
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        err = raises_code(ImageTooLarge, data)
        elapsed = time.perf_counter() - start
    assert elapsed < 0.5, f"bomb took {elapsed:.2f}s: pixels were decoded"
    assert not [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)]
    assert err.extra["limit_pixels"] == 40_000_000


def webp_claiming(width: int, height: int) -> bytes:
    """A small lossless WebP whose VP8L header is patched to claim width x height."""
    data = bytearray(encode(Image.new("RGB", (64, 64), (10, 20, 30)), "WEBP", lossless=True))
    assert data[12:16] == b"VP8L"
    bits = int.from_bytes(data[21:25], "little") & ~0x0FFF_FFFF  # keep alpha/version bits
    data[21:25] = (bits | (width - 1) | ((height - 1) << 14)).to_bytes(4, "little")
    return bytes(data)


@needs_webp
@pytest.mark.parametrize("side", [7_000, 12_000, 16_384])
def test_decompression_bomb_webp(side: int) -> None:
    # Pillow allocates the WebP canvas while opening, so the size is read before Image.open.
    start = time.perf_counter()
    raises_code(ImageTooLarge, webp_claiming(side, side))
    assert time.perf_counter() - start < 0.5


def test_bomb_png_is_otherwise_well_formed() -> None:
    # The crafted file is a real PNG: with a generous limit Pillow gets past the header.
    with Image.open(BytesIO(bomb_png(100, 100))) as im:
        assert im.size == (100, 100)


def test_pixel_limit_is_inclusive() -> None:
    data = encode(ASTRONAUT, "PNG")
    decode_image(data, DecodeLimits(max_pixels=512 * 512))
    raises_code(ImageTooLarge, data, max_pixels=512 * 512 - 1)


def test_too_many_bytes() -> None:
    data = encode(ASTRONAUT, "PNG")
    raises_code(ImageTooLarge, data, max_bytes=len(data) - 1)
    decode_image(data, DecodeLimits(max_bytes=len(data)))


def test_byte_limit_checked_before_parsing() -> None:
    raises_code(ImageTooLarge, b"not an image at all" * 100, max_bytes=1000)


@pytest.mark.parametrize(("width", "height"), [(20, 100), (100, 20), (8, 8), (1, 1)])
def test_too_small(width: int, height: int) -> None:
    raises_code(ImageTooSmall, encode(np.zeros((height, width, 3), np.uint8), "PNG"))


def test_min_side_boundary() -> None:
    img = decode_image(encode(np.zeros((32, 500, 3), np.uint8), "PNG"))
    check_decoded(img, "png", 32, 500)
    raises_code(ImageTooSmall, encode(np.zeros((64, 64, 3), np.uint8), "PNG"), min_side=65)


def test_invalid_limits() -> None:
    with pytest.raises(ValueError, match="positive"):
        DecodeLimits(max_bytes=0)


# --- colour modes ------------------------------------------------------------------------------


def test_cmyk_jpeg() -> None:
    cmyk = Image.fromarray(ASTRONAUT).convert("CMYK")
    data = encode(cmyk, "JPEG", quality=95)
    img = decode_image(data)
    check_decoded(img, "jpeg", 512, 512)
    assert mean_abs_diff(img.rgb, ASTRONAUT) < 8  # plausible colours ...
    assert mean_abs_diff(img.rgb, 255 - ASTRONAUT) > 60  # ... and not inverted


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_grayscale(fmt: str) -> None:
    grey = np.asarray(Image.fromarray(ASTRONAUT).convert("L"))
    img = decode_image(encode(grey, fmt))
    check_decoded(img, fmt.lower(), 512, 512)
    assert np.array_equal(img.rgb[:, :, 0], img.rgb[:, :, 1])
    assert np.array_equal(img.rgb[:, :, 0], img.rgb[:, :, 2])
    assert mean_abs_diff(img.rgb[:, :, 0], grey) <= (0 if fmt == "PNG" else 3)


def test_bilevel() -> None:
    bits = np.zeros((40, 64), bool)
    bits[:, 32:] = True
    img = decode_image(encode(Image.fromarray(bits), "PNG"))
    check_decoded(img, "png", 40, 64)
    assert np.all(img.rgb[:, :32] == 0)
    assert np.all(img.rgb[:, 32:] == 255)


def blend(colour: np.ndarray, alpha: int) -> np.ndarray:
    return np.rint(colour * alpha / 255 + 128 * (1 - alpha / 255))


def test_rgba_composited_on_grey() -> None:
    rgba = np.zeros((48, 96, 4), np.uint8)
    rgba[..., :3] = (200, 40, 10)
    rgba[:, :32, 3], rgba[:, 32:64, 3], rgba[:, 64:, 3] = 0, 128, 255
    img = decode_image(encode(rgba, "PNG"))
    check_decoded(img, "png", 48, 96)
    colour = np.array([200, 40, 10])
    assert np.all(img.rgb[:, :32] == 128)
    assert np.abs(img.rgb[:, 32:64].astype(int) - blend(colour, 128)).max() <= 1
    assert np.all(img.rgb[:, 64:] == colour)


def test_la_composited_on_grey() -> None:
    la = np.zeros((40, 64, 2), np.uint8)
    la[..., 0] = 250
    la[:, 32:, 1] = 255
    img = decode_image(encode(la, "PNG"))
    check_decoded(img, "png", 40, 64)
    assert np.all(img.rgb[:, :32] == 128)
    assert np.all(img.rgb[:, 32:] == 250)


@pytest.mark.parametrize("fmt", ["PNG", "GIF"])
def test_palette_with_transparency(fmt: str) -> None:
    indices = np.zeros((40, 64), np.uint8)
    indices[:, 32:] = 1
    pal = Image.frombytes("P", (64, 40), indices.tobytes())
    pal.putpalette([255, 0, 0, 0, 0, 255] + [0, 0, 0] * 254)
    img = decode_image(encode(pal, fmt, transparency=0))
    check_decoded(img, fmt.lower(), 40, 64)
    assert np.all(img.rgb[:, :32] == 128)  # transparent red -> background
    assert np.all(img.rgb[:, 32:] == (0, 0, 255))


def test_rgb_with_transparency_key() -> None:
    rgb = np.zeros((40, 64, 3), np.uint8)
    rgb[:, :32] = (0, 255, 0)  # the key colour
    rgb[:, 32:] = (10, 20, 30)
    img = decode_image(encode(rgb, "PNG", transparency=(0, 255, 0)))
    assert np.all(img.rgb[:, :32] == 128)
    assert np.all(img.rgb[:, 32:] == (10, 20, 30))


def test_palette_without_transparency() -> None:
    pal = Image.fromarray(ASTRONAUT).quantize(64)
    img = decode_image(encode(pal, "PNG"))
    check_decoded(img, "png", 512, 512)
    assert np.array_equal(img.rgb, np.asarray(pal.convert("RGB")))


def test_16_bit_png() -> None:
    ramp = np.tile(np.linspace(0, 65535, 256).astype(np.uint16), (40, 1))
    data = encode(Image.fromarray(ramp), "PNG")
    with Image.open(BytesIO(data)) as im:
        assert im.mode.startswith("I")  # really stored and read as 16-bit
    img = decode_image(data)
    check_decoded(img, "png", 40, 256)
    expected = np.rint(ramp / 257.0).astype(np.uint8)
    assert np.abs(img.rgb[:, :, 0].astype(int) - expected).max() <= 1
    assert img.rgb[0, 0, 0] == 0
    assert img.rgb[0, -1, 0] == 255


def test_float_tiff() -> None:
    ramp = np.tile(np.linspace(0.0, 1.0, 128, dtype=np.float32), (40, 1))
    img = decode_image(encode(Image.fromarray(ramp), "TIFF"))
    check_decoded(img, "tiff", 40, 128)
    assert np.abs(img.rgb[:, :, 1].astype(int) - np.rint(ramp * 255)).max() <= 1


def test_int32_tiff_with_16_bit_values() -> None:
    ramp = np.tile(np.linspace(0, 65535, 128).astype(np.int32), (40, 1))
    img = decode_image(encode(Image.fromarray(ramp), "TIFF"))
    check_decoded(img, "tiff", 40, 128)
    assert np.abs(img.rgb[:, :, 2].astype(int) - np.rint(ramp / 257)).max() <= 1


# --- EXIF orientation --------------------------------------------------------------------------


def with_orientation(img: np.ndarray, fmt: str, orientation: int, **params: Any) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(img, fmt, exif=exif, **params)


ORIENTED = {  # what a viewer shows for each EXIF orientation of the stored pixels
    1: lambda a: a,
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1, :],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: np.rot90(a, k=-1),  # rotate 90 degrees clockwise
    7: lambda a: a.transpose(1, 0, 2)[::-1, ::-1],
    8: lambda a: np.rot90(a, k=1),  # rotate 90 degrees counter-clockwise
}


def test_exif_rotated_jpeg() -> None:
    data = with_orientation(PORTRAIT, "JPEG", 6, quality=95)
    img = decode_image(data)
    check_decoded(img, "jpeg", 384, 512)  # transposed shape
    assert img.orientation == 6
    assert mean_abs_diff(img.rgb, np.rot90(PORTRAIT, k=-1)) < 3
    assert mean_abs_diff(img.rgb, np.rot90(PORTRAIT, k=1)) > 20  # not the wrong way round


@pytest.mark.parametrize("orientation", sorted(ORIENTED))
def test_every_exif_orientation(orientation: int) -> None:
    img = decode_image(with_orientation(PORTRAIT, "PNG", orientation))
    expected = ORIENTED[orientation](PORTRAIT)
    check_decoded(img, "png", *expected.shape[:2])
    assert img.orientation == orientation
    assert np.array_equal(img.rgb, expected)


@pytest.mark.parametrize("orientation", [0, 9, 255])
def test_invalid_exif_orientation_is_ignored(orientation: int) -> None:
    img = decode_image(with_orientation(PORTRAIT, "JPEG", orientation, quality=95))
    check_decoded(img, "jpeg", 512, 384)
    assert img.orientation == 1


# --- batches -----------------------------------------------------------------------------------


def test_decode_batch_keeps_order() -> None:
    jpeg = encode(ASTRONAUT, "JPEG")
    items = [
        encode(PORTRAIT, "PNG"),
        b"",
        b"just text",
        jpeg,
        jpeg[: len(jpeg) // 2],
        bomb_png(20_000, 20_000),
        encode(np.zeros((8, 8, 3), np.uint8), "PNG"),
    ]
    results = decode_batch(items)
    assert len(results) == len(items)
    expected = [DecodedImage, EmptyImage, UnsupportedMediaType, DecodedImage, CorruptImage]
    expected += [ImageTooLarge, ImageTooSmall]
    assert [type(r) for r in results] == expected
    assert isinstance(results[0], DecodedImage)
    assert results[0].rgb.shape == (512, 384, 3)
    assert isinstance(results[3], DecodedImage)
    assert results[3].format == "jpeg"
    codes = [r.code for r in results if isinstance(r, ImageError)]
    assert codes == [
        "empty_image",
        "unsupported_media_type",
        "corrupt_image",
        "image_too_large",
        "image_too_small",
    ]


def test_threads_leave_warning_filters_alone() -> None:
    items = [bomb_png(10_000, 10_000), encode(PORTRAIT, "PNG"), bomb_png(20_000, 20_000)] * 8
    before = list(warnings.filters)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(decode_batch, [[item] for item in items]))
    assert warnings.filters == before
    assert [type(r) for (r,) in results] == [ImageTooLarge, DecodedImage, ImageTooLarge] * 8


def test_decode_batch_limits_and_empty() -> None:
    assert decode_batch([]) == []
    png = encode(ASTRONAUT, "PNG")
    (result,) = decode_batch([png], DecodeLimits(max_pixels=1000))
    assert isinstance(result, ImageTooLarge)
