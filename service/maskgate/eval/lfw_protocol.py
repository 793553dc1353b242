"""Readers for the LFW View 2 protocol files ``pairs.txt`` and ``people.txt``.

Fields are whitespace-separated; image indices are 1-based as in the files, folds are
numbered from 0. Malformed input raises ``ValueError`` naming the file and line.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Pair", "read_pairs", "read_people"]


@dataclass(frozen=True)
class Pair:
    """One verification pair: two images of the same person (``same``) or of two people."""

    fold: int
    name_a: str
    index_a: int
    name_b: str
    index_b: int
    same: bool

    def paths(self, root: Path) -> tuple[Path, Path]:
        """Image paths under an LFW root: ``root/images/NAME/NAME_NNNN.jpg``."""
        return _image(root, self.name_a, self.index_a), _image(root, self.name_b, self.index_b)


def _image(root: Path, name: str, index: int) -> Path:
    return root / "images" / name / f"{name}_{index:04d}.jpg"


class _Lines:
    """Numbered, split lines of a file; trailing blank lines are ignored."""

    def __init__(self, path: Path) -> None:
        self.path = path
        lines = path.read_text(encoding="utf-8").splitlines()
        while lines and not lines[-1].strip():
            lines.pop()
        self._rows: Iterator[tuple[int, list[str]]] = (
            (n, line.split()) for n, line in enumerate(lines, start=1)
        )
        self.lineno = 0

    def error(self, message: str) -> ValueError:
        return ValueError(f"{self.path}:{self.lineno}: {message}")

    def next(self, expected: str) -> list[str]:
        row = next(self._rows, None)
        if row is None:
            self.lineno += 1
            raise self.error(f"unexpected end of file, expected {expected}")
        self.lineno, fields = row
        return fields

    def count(self, text: str, minimum: int) -> int:
        if not (text.isascii() and text.isdigit()):
            raise self.error(f"expected an integer >= {minimum}, got {text!r}")
        value = int(text)
        if value < minimum:
            raise self.error(f"expected an integer >= {minimum}, got {value}")
        return value

    def finish(self) -> None:
        if next(self._rows, None) is not None:
            self.lineno += 1
            raise self.error("unexpected extra line after the last fold")


def read_pairs(path: Path) -> list[Pair]:
    """Parse ``pairs.txt``: a ``folds per_class`` header, then per fold ``per_class`` lines
    ``name i j`` (same person) followed by ``per_class`` lines ``name1 i name2 j``."""
    lines = _Lines(path)
    header = lines.next("'folds pairs_per_class'")
    if len(header) != 2:
        raise lines.error(f"expected 'folds pairs_per_class', got {' '.join(header)!r}")
    n_folds, per_class = lines.count(header[0], 1), lines.count(header[1], 1)
    pairs: list[Pair] = []
    for fold in range(n_folds):
        for same in (True, False):
            for _ in range(per_class):
                expected = "'name i j'" if same else "'name1 i name2 j'"
                fields = lines.next(expected)
                if len(fields) != (3 if same else 4):
                    raise lines.error(f"expected {expected}, got {' '.join(fields)!r}")
                if same:
                    name_a, name_b = fields[0], fields[0]
                    index_a, index_b = lines.count(fields[1], 1), lines.count(fields[2], 1)
                else:
                    name_a, name_b = fields[0], fields[2]
                    index_a, index_b = lines.count(fields[1], 1), lines.count(fields[3], 1)
                    if name_a == name_b:
                        raise lines.error(f"a different-person pair names {name_a!r} twice")
                pairs.append(Pair(fold, name_a, index_a, name_b, index_b, same))
    lines.finish()
    return pairs


def read_people(path: Path) -> list[list[tuple[str, int]]]:
    """Parse ``people.txt``: a fold-count line, then per fold a count line and that many
    ``name n_images`` lines. Returns the ``(name, n_images)`` list of each fold."""
    lines = _Lines(path)
    header = lines.next("the number of folds")
    if len(header) != 1:
        raise lines.error(f"expected the number of folds, got {' '.join(header)!r}")
    folds: list[list[tuple[str, int]]] = []
    for _ in range(lines.count(header[0], 1)):
        fields = lines.next("the number of people in the fold")
        if len(fields) != 1:
            raise lines.error(f"expected the number of people, got {' '.join(fields)!r}")
        people: list[tuple[str, int]] = []
        for _ in range(lines.count(fields[0], 0)):
            fields = lines.next("'name n_images'")
            if len(fields) != 2:
                raise lines.error(f"expected 'name n_images', got {' '.join(fields)!r}")
            people.append((fields[0], lines.count(fields[1], 1)))
        folds.append(people)
    lines.finish()
    return folds
