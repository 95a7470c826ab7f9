"""Counts in prose: "1 document", "2,000 documents"."""


def plural(n: int, noun: str, many: str | None = None) -> str:
    """`n noun` with a thousands separator and the noun in the number's grammatical number."""
    return f"{n:,} {noun if n == 1 else (many or noun + 's')}"
