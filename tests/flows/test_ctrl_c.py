"""Ctrl-C at the terminal is never lost: not to SIGINT inherited as ignored, nor to the line
the main thread happens to be on."""

from __future__ import annotations

import contextlib
import os
import signal

import pytest

from deployments.run_cli import CtrlC


def _swallowing(action) -> None:
    """Code that records whatever is raised in it, as some library calls do."""
    with contextlib.suppress(BaseException):  # KeyboardInterrupt too: that is the point
        action()


def test_a_press_inside_code_that_swallows_exceptions_is_still_acted_on():
    ctrl_c = CtrlC()
    before = signal.getsignal(signal.SIGINT)
    with ctrl_c.installed():
        _swallowing(lambda: os.kill(os.getpid(), signal.SIGINT))
        assert ctrl_c.unhandled() is True  # the follower stops new moves at its next step
        assert ctrl_c.unhandled() is False  # once per press
        _swallowing(lambda: os.kill(os.getpid(), signal.SIGINT))
        _swallowing(lambda: os.kill(os.getpid(), signal.SIGINT))
        assert [ctrl_c.unhandled() for _ in range(3)] == [True, True, False]
    assert signal.getsignal(signal.SIGINT) is before  # put back as it was


def test_a_press_while_the_operator_is_asked_interrupts_the_question_at_once():
    ctrl_c = CtrlC()
    with ctrl_c.installed(), pytest.raises(KeyboardInterrupt), ctrl_c.prompt():
        os.kill(os.getpid(), signal.SIGINT)
    assert ctrl_c.unhandled() is False  # answered by the prompt's own handling, not twice


def test_a_press_is_seen_even_where_sigint_was_ignored_on_start():
    """A background job of a non-interactive shell starts with SIGINT ignored."""
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        ctrl_c = CtrlC()
        with ctrl_c.installed():
            os.kill(os.getpid(), signal.SIGINT)
            assert ctrl_c.unhandled() is True
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN  # as it was
    finally:
        signal.signal(signal.SIGINT, before)
