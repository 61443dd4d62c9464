"""Progress sinks: which one is chosen, and what the rich bars count.

Aspects under test:
- JSON logs get periodic events, a terminal gets bars, a pipe gets nothing, --no-progress nothing;
- the bars count the accounts of each shard.
"""

from __future__ import annotations

import io

from reconciler.progress import EventProgress, NoProgress, RichProgress, make_progress
from tests.factories import GD_EAST, SH_EAST


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_sink_follows_the_output() -> None:
    assert isinstance(make_progress(log_format="json", stream=FakeTerminal()), EventProgress)
    assert isinstance(make_progress(log_format="console", stream=FakeTerminal()), RichProgress)
    assert isinstance(make_progress(log_format="console", stream=io.StringIO()), NoProgress)
    assert isinstance(
        make_progress(log_format="json", stream=FakeTerminal(), enabled=False), NoProgress
    )


def test_rich_bars_count_accounts_per_shard() -> None:
    stream = FakeTerminal()
    bars = RichProgress(stream)
    bars.start({GD_EAST: 120, SH_EAST: 50})
    bars.advance(GD_EAST, 50)
    bars.advance(GD_EAST, 50)
    bars.advance(SH_EAST, 50)
    tasks = {task.description: (task.completed, task.total) for task in bars._bars.tasks}
    bars.finish()
    assert tasks == {"guardduty/us-east-1": (100, 120), "securityhub/us-east-1": (50, 50)}
