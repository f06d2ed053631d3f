"""The 5x7 bitmaps of the paper's classification tasks (Fig. 1a).

Each glyph is 7 rows of 5 pixels; a black pixel (``#``) is 1, a white one 0.
A bitmap is flattened row by row into one input vector of N1 = 35 values.
The glyph shapes are our reconstruction (a standard 5x7 dot-matrix font):
the paper shows its bitmaps only as a picture.

Examples:
    >>> from ensemble import patterns
    >>> print(patterns.render("A"))
    .###.
    #...#
    #...#
    #####
    #...#
    #...#
    #...#
    >>> X, Y = patterns.vowels()
    >>> X.shape, Y.shape, X.dtype.name
    ((5, 35), (5, 5), 'float32')
"""

from __future__ import annotations

import numpy as np

ROWS, COLS = 7, 5

GLYPHS: dict[str, tuple[str, ...]] = {
    "A": (".###.", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"),
    "E": ("#####", "#....", "#....", "####.", "#....", "#....", "#####"),
    "I": (".###.", "..#..", "..#..", "..#..", "..#..", "..#..", ".###."),
    "O": (".###.", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."),
    "U": ("#...#", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."),
    "0": (".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."),
    "1": ("..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."),
    "2": (".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"),
    "3": ("#####", "...#.", "..#..", "...#.", "....#", "#...#", ".###."),
    "4": ("...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."),
    "5": ("#####", "#....", "####.", "....#", "....#", "#...#", ".###."),
    "6": ("..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###."),
    "7": ("#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."),
    "8": (".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."),
    "9": (".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##.."),
}
"""The glyphs by character: 7 rows of 5 pixels, ``#`` black (1) and ``.`` white (0)."""

VOWELS = "AEIOU"
"""The five vowels, the patterns of task A (P = 5)."""
DIGITS = "0123456789"
"""The ten digits; with the vowels, the patterns of task B (P = 15)."""


def bitmap(char: str) -> np.ndarray:
    """The glyph of ``char`` as a ``(7, 5)`` float32 array of 0 and 1.

    Args:
        char: one of the characters of :data:`GLYPHS`.

    Raises:
        ValueError: ``char`` has no glyph.
    """
    if char not in GLYPHS:
        raise ValueError(f"char must be one of {''.join(GLYPHS)!r}, got {char!r}")
    return np.array([[c == "#" for c in row] for row in GLYPHS[char]], dtype=np.float32)


def dataset(chars: str) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and one-hot targets for the glyphs in ``chars``.

    Args:
        chars: a string of distinct characters of :data:`GLYPHS`, the patterns in order.

    Returns:
        ``X`` of shape ``(P, 35)`` with values in {0, 1} (row-major pixels) and
        ``Y`` of shape ``(P, P)``, the identity: output node p is 1 for pattern p (float32).

    Raises:
        ValueError: ``chars`` is empty, repeats a character, or has one without a glyph.
    """
    if not chars or len(set(chars)) != len(chars):
        raise ValueError(f"chars must be a non-empty string of distinct glyphs, got {chars!r}")
    X = np.stack([bitmap(c).reshape(-1) for c in chars])
    Y = np.eye(len(chars), dtype=np.float32)
    return X, Y


def vowels() -> tuple[np.ndarray, np.ndarray]:
    """Task A of the paper: the vowels A E I O U, ``(X, Y)`` of shapes ``(5, 35)`` and ``(5, 5)``."""
    return dataset(VOWELS)


def vowels_and_digits() -> tuple[np.ndarray, np.ndarray]:
    """Task B of the paper: the vowels and the digits 0-9, ``(X, Y)`` of shapes ``(15, 35)`` and ``(15, 15)``."""
    return dataset(VOWELS + DIGITS)


def render(char: str) -> str:
    """The glyph of ``char`` as text, seven lines of ``#`` and ``.``, for docs and notebooks.

    Args:
        char: one of the characters of :data:`GLYPHS`.

    Raises:
        ValueError: ``char`` has no glyph.
    """
    bitmap(char)  # validates
    return "\n".join(GLYPHS[char])


__all__ = ["GLYPHS", "VOWELS", "DIGITS", "bitmap", "dataset", "vowels", "vowels_and_digits", "render"]
