#!/usr/bin/env python3
"""Draw the MKASSA app icons into mkassa/static/icons/.

Run by hand when the mark changes (``python scripts/make_icons.py``) and commit
the output; the app never draws icons at run time. Pure standard library
(zlib + struct), so no imaging package joins the dependencies, and the output
is byte-for-byte reproducible.

The mark is a stylised QR code corner: three finder patterns and one alignment
pattern in white on the Bank's teal, drawn on a 15x15 module grid. Modules are
whole pixels at every size, so hard edges need no anti-aliasing.
"""

import struct
import zlib
from pathlib import Path

TEAL = (0x00, 0x79, 0x6B)  # white on this teal is 5.3:1
WHITE = (0xFF, 0xFF, 0xFF)
GRID = 15
OUT = Path(__file__).resolve().parent.parent / "mkassa" / "static" / "icons"

# (file, size in px, pixels per module). The mark sits centred on a full-bleed
# teal square. For the maskable icon the whole mark must fit the safe zone, a
# circle of radius 40% of the size: 15 modules x 18 px = 270 px, whose half
# diagonal (191 px) stays inside 0.4 x 512 = 205 px.
ICONS = [
    ("icon-192.png", 192, 8),
    ("icon-512.png", 512, 22),
    ("maskable-512.png", 512, 18),
    ("apple-touch-icon.png", 180, 8),
]


def squares():
    """Filled squares (column, row, side) in modules; later ones paint over
    earlier ones, alternating white and teal to make rings."""
    for col, row in ((0, 0), (8, 0), (0, 8)):  # finder patterns: 7, 5, 3
        yield col, row, 7, WHITE
        yield col + 1, row + 1, 5, TEAL
        yield col + 2, row + 2, 3, WHITE
    yield 10, 10, 5, WHITE  # alignment pattern: 5, 3, 1
    yield 11, 11, 3, TEAL
    yield 12, 12, 1, WHITE


def module_grid():
    grid = [[TEAL] * GRID for _ in range(GRID)]
    for col, row, side, colour in squares():
        for r in range(row, row + side):
            for c in range(col, col + side):
                grid[r][c] = colour
    return grid


def png(size, module):
    grid = module_grid()
    pad = (size - GRID * module) // 2
    rows = []
    for y in range(size):
        r = (y - pad) // module
        line = bytearray()
        for x in range(size):
            c = (x - pad) // module
            inside = 0 <= r < GRID and 0 <= c < GRID
            line += bytes(grid[r][c] if inside else TEAL)
        rows.append(b"\x00" + bytes(line))  # filter type 0 per scanline

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
        + chunk(b"IEND", b"")
    )


def svg():
    """The same mark for the favicon: one even-odd path draws the rings."""
    rects = "".join(f"M{c} {r}h{s}v{s}h-{s}z" for c, r, s, _ in squares())
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 21 21">'
        '<rect width="21" height="21" rx="4" fill="#00796b"/>'
        f'<path transform="translate(3 3)" fill="#fff" fill-rule="evenodd" d="{rects}"/>'
        "</svg>\n"
    )


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for name, size, module in ICONS:
        (OUT / name).write_bytes(png(size, module))
    (OUT / "favicon.svg").write_text(svg(), encoding="utf-8")


if __name__ == "__main__":
    main()
