"""The write-ahead journal for remote stores: nothing accepted is lost to a crash, a kill or an outage.

``_format`` is the file format, ``_file`` writes and reads one file, ``_journal`` is the pipeline's
journal for one target, ``_replay`` ships pending journals (at the next start, or ``asynctrack sync``).
"""

from __future__ import annotations

from asynctrack.journal._file import JournalFullError, JournalState, read_journal
from asynctrack.journal._journal import Journal, journal_root, target_directory
from asynctrack.journal._replay import ReplayReport, journal_files, replay_journal, replay_pending

__all__ = [
    "Journal",
    "JournalFullError",
    "JournalState",
    "ReplayReport",
    "journal_files",
    "journal_root",
    "read_journal",
    "replay_journal",
    "replay_pending",
    "target_directory",
]
