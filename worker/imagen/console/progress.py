"""One progress bar per try, for people watching a series render."""

from __future__ import annotations

from tqdm import tqdm


class TryBars:
    def __init__(self, tries: list[tuple[int, int]]) -> None:
        """tries: (series_idx, steps) in display order."""
        self.bars = {
            idx: tqdm(total=steps, desc=f"try {idx}", position=n, leave=True, unit="step", dynamic_ncols=True)
            for n, (idx, steps) in enumerate(tries)
        }

    def update(self, idx: int, step: int, status: str | None = None) -> None:
        bar = self.bars.get(idx)
        if bar is None:
            return
        if step != bar.n:
            bar.n = step
            bar.refresh()
        if status and bar.postfix != status:
            bar.set_postfix_str(status)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
